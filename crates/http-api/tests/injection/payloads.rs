//! The injection payloads: a fixed, readable list (SQL, JSON, path metacharacters, controls,
//! awkward Unicode), and long values made to measure for each field's limit. Also the
//! percent-encoding used to put a payload into a path or a query, and a short display form for
//! failure messages.

use std::fmt::Write;

/// The fixed payloads: (name, value).
pub const FIXED: [(&str, &str); 38] = [
    ("sql: quote tautology", "' OR '1'='1"),
    ("sql: stacked drop", "\"; DROP TABLE records; --"),
    ("sql: like any", "%"),
    ("sql: like one", "_"),
    ("sql: glob", "*"),
    ("sql: backslash", "\\"),
    ("sql: union", "' UNION SELECT id, body FROM records --"),
    ("sql: comment", "admin'--"),
    ("json: close object", "\"}"),
    ("json: operator", "{\"$ne\":null}"),
    ("json: escaped nul as text", "\\u0000"),
    ("control: nul", "a\u{0}b"),
    ("control: crlf header", "a\r\nSet-Cookie: x=1"),
    ("control: tab", "a\tb"),
    ("path: dot dot slash", "../"),
    ("path: traversal", "../../etc/passwd"),
    ("path: encoded slash after dots", "..%2F"),
    ("path: encoded dots", "%2e%2e/"),
    ("path: double encoded", "%252e%252e%252f"),
    ("path: slash", "/"),
    ("path: encoded slash", "%2F"),
    ("path: backslashes", "..\\..\\"),
    ("path: dot dot", ".."),
    ("path: dot", "."),
    ("path: question mark", "?"),
    ("path: hash", "#"),
    ("path: semicolon", ";"),
    ("query: smuggled filter", "x&filter[title]=y"),
    ("query: plus", "a+b"),
    ("unicode: rtl override", "abc\u{202E}fed"),
    ("unicode: emoji", "\u{1F510}\u{1F4A5}"),
    ("unicode: nfc e-acute", "caf\u{e9}"),
    ("unicode: nfd e-acute", "cafe\u{301}"),
    ("unicode: zero width space", "a\u{200B}b"),
    ("unicode: byte order mark", "\u{feff}x"),
    ("space: padded", "  padded  "),
    ("html: script", "<script>alert(1)</script>"),
    ("html: entity", "&lt;&#0;"),
];

/// Printable metacharacters, cycled to make long values.
const SOUP: &str = "' OR '1'='1\"; DROP TABLE records; --%_*\\{\"$ne\":null}../..%2F#?;caf\u{e9} \
                    cafe\u{301}\u{1F510}\u{202E}<x>&";

/// One payload as sent: its name, its value, and whether it is longer than the field allows.
#[derive(Debug, Clone)]
pub struct Payload {
    pub name: String,
    pub value: String,
    pub over: bool,
}

fn cycle(chars: impl Iterator<Item = char> + Clone, n: usize) -> String {
    chars.cycle().take(n).collect()
}

/// The fixed payloads, then values at `max` characters (metacharacters with and without
/// spaces, plain letters) and one character over it. `max` = 0: no known limit, so the long
/// values are 1,024 characters and none is "over".
pub fn all(max: usize) -> Vec<Payload> {
    let mut out: Vec<Payload> = FIXED
        .iter()
        .map(|(name, value)| Payload {
            name: (*name).to_owned(),
            value: (*value).to_owned(),
            over: max > 0 && value.chars().count() > max,
        })
        .collect();
    let n = if max == 0 { 1024 } else { max };
    let tight = SOUP.chars().filter(|c| !c.is_whitespace() && *c != '@');
    let long = [
        ("long: metacharacters at the limit", cycle(SOUP.chars(), n)),
        (
            "long: metacharacters without spaces at the limit",
            cycle(tight, n),
        ),
        ("long: letters at the limit", "x".repeat(n)),
    ];
    for (name, value) in long {
        out.push(Payload {
            name: format!("{name} ({n})"),
            value,
            over: false,
        });
    }
    if max > 0 {
        out.push(Payload {
            name: format!("long: one over the limit ({})", max + 1),
            value: "x".repeat(max + 1),
            over: true,
        });
    }
    out
}

/// Email-shaped variants of the payloads (`<payload>@i<n>.test`, unique per case), each cut to
/// the limit when it is long, so that the characters an address may hold reach storage.
pub fn emails(max: usize, mut n: impl FnMut() -> u32) -> Vec<Payload> {
    all(max)
        .into_iter()
        .map(|p| {
            let domain = format!("@i{}.test", n());
            let room = max.saturating_sub(domain.chars().count());
            let local: String = if p.over {
                "x".repeat(room + 1)
            } else {
                p.value.chars().take(room).collect()
            };
            Payload {
                name: format!("{} as an email", p.name),
                value: format!("{local}{domain}"),
                over: p.over,
            }
        })
        .collect()
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A payload for a failure message: escaped, and shortened when long.
pub fn show(s: &str) -> String {
    let n = s.chars().count();
    if n <= 48 {
        format!("{s:?}")
    } else {
        let head: String = s.chars().take(32).collect();
        format!("{head:?}… ({n} characters)")
    }
}
