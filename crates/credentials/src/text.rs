//! Text transformations of secrets (NFKC, lower case) into zeroizing strings.
//!
//! A `String` that grows by reallocation leaves copies of its old contents in freed memory; the
//! helpers here grow by copying into a fresh zeroizing buffer, so every intermediate copy of a
//! password is wiped when dropped. This module must never return a plain `String` holding secret
//! text. (Best effort: the Unicode iterators keep a few characters in small internal buffers.)

use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

/// Collects `chars` into a zeroizing string, starting with `capacity` bytes.
pub(crate) fn collect_zeroizing(
    chars: impl Iterator<Item = char>,
    capacity: usize,
) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(capacity.max(16)));
    for c in chars {
        let needed = out.len() + c.len_utf8();
        if needed > out.capacity() {
            let mut bigger = Zeroizing::new(String::with_capacity(needed.max(out.capacity() * 2)));
            bigger.push_str(&out);
            // The old buffer is zeroized when it is dropped here.
            out = bigger;
        }
        out.push(c);
    }
    out
}

/// Unicode NFKC of `text`.
pub(crate) fn nfkc(text: &str) -> Zeroizing<String> {
    collect_zeroizing(text.nfkc(), text.len())
}

/// Unicode lower case of `text` (full mapping, e.g. `"ẞ"` → `"ß"`).
pub(crate) fn lowercase(text: &str) -> Zeroizing<String> {
    collect_zeroizing(text.chars().flat_map(char::to_lowercase), text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    type Transform = fn(&str) -> Zeroizing<String>;

    #[test]
    fn transformations() {
        let cases: &[(&str, Transform, &str)] = &[
            ("ﬁ", nfkc, "fi"),
            ("e\u{301}", nfkc, "é"),
            ("Ａｂｃ", nfkc, "Abc"),
            (" keep  spaces ", nfkc, " keep  spaces "),
            ("ÀBÇ Δ", lowercase, "àbç δ"),
            ("", lowercase, ""),
        ];
        for (input, f, want) in cases {
            assert_eq!(f(input).as_str(), *want, "input {input:?}");
        }
    }

    #[test]
    fn grows_past_the_initial_capacity() {
        // U+FDFA expands to 18 characters under NFKC: far beyond the initial capacity.
        let input = "\u{FDFA}".repeat(20);
        let out = nfkc(&input);
        assert_eq!(out.chars().count(), 18 * 20);
    }
}
