//! CSV cells of the export: one column per record metadata field and per top-level field of the
//! collection's schema, every cell quoted (RFC 4180), and a cell a spreadsheet could run as a
//! formula (it begins with `=`, `+`, `-`, `@`, a tab or a carriage return) prefixed with `'`
//! (OWASP, "CSV injection").

use serde_json::{Map, Value};

/// Whether a spreadsheet could read `cell` as a formula.
fn is_formula(cell: &str) -> bool {
    cell.starts_with(['=', '+', '-', '@', '\t', '\r'])
}

/// `cell`, prefixed with `'` when a spreadsheet could run it.
pub fn escape(cell: &str) -> std::borrow::Cow<'_, str> {
    if is_formula(cell) {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

/// The record metadata columns, before the schema's fields.
pub const META: [&str; 5] = ["id", "version", "owner", "created_at", "updated_at"];

/// The text of a field's value in a cell: strings as they are, `null` and absent as nothing,
/// anything else as its JSON.
pub fn cell_of(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// A CSV writer with the export's quoting.
pub fn writer<W: std::io::Write>(out: W) -> csv::Writer<W> {
    csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Always)
        .terminator(csv::Terminator::CRLF)
        .from_writer(out)
}

/// Writes one record's row: its metadata, then `fields` of `data`, each cell escaped.
pub fn write_row<W: std::io::Write>(
    w: &mut csv::Writer<W>,
    meta: [String; 5],
    fields: &[String],
    data: &Map<String, Value>,
) -> csv::Result<()> {
    let cells = meta
        .into_iter()
        .chain(fields.iter().map(|f| cell_of(data.get(f))));
    for cell in cells {
        w.write_field(escape(&cell).as_bytes())?;
    }
    w.write_record(None::<&[u8]>)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_prefixed_and_every_cell_is_quoted() {
        let mut w = writer(Vec::new());
        let fields: Vec<String> = ["a", "b", "c", "d", "e", "f", "g", "h", "i"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let data: Map<String, Value> = serde_json::from_value(serde_json::json!({
            "a": "=HYPERLINK(\"http://evil\")", "b": "+1+1", "c": "-2", "d": "@SUM(A1)",
            "e": "\tTAB", "f": "\rCR", "g": "plain, \"quoted\"", "h": -5, "i": null
        }))
        .expect("data");
        let meta = ["rc_1", "1", "us_1", "0", "0"].map(str::to_owned);
        write_row(&mut w, meta, &fields, &data).expect("row");
        let text = String::from_utf8(w.into_inner().expect("flush")).expect("utf-8");
        assert_eq!(
            text,
            "\"rc_1\",\"1\",\"us_1\",\"0\",\"0\",\"'=HYPERLINK(\"\"http://evil\"\")\",\"'+1+1\",\
             \"'-2\",\"'@SUM(A1)\",\"'\tTAB\",\"'\rCR\",\"plain, \"\"quoted\"\"\",\"'-5\",\"\"\r\n"
        );
    }

    #[test]
    fn ordinary_cells_are_left_alone() {
        for cell in ["hello", "1+1", "a=b", " =x", "", "é"] {
            assert_eq!(escape(cell), cell);
        }
        for cell in ["=1", "+", "-", "@", "\t", "\r\n"] {
            assert_eq!(escape(cell), format!("'{cell}"));
        }
    }
}
