//! Lowercase hexadecimal encoding for digests, fingerprints and test vectors.
//!
//! Must never be used to print key material: callers print only digests and fingerprints.

/// Lowercase hexadecimal, two digits per byte.
pub fn hex(bytes: impl AsRef<[u8]>) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let bytes = bytes.as_ref();
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Decodes lowercase hexadecimal, the one spelling [`hex`] writes; anything else (an odd
/// length, uppercase, another character) is `None`, so a value has exactly one encoding.
pub fn from_hex(text: &str) -> Option<Vec<u8>> {
    let digit = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    };
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

/// Decodes lowercase or uppercase hexadecimal (test vectors only).
#[cfg(test)]
pub(crate) fn unhex(text: &str) -> Vec<u8> {
    let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    assert!(text.len().is_multiple_of(2), "odd-length hex: {text}");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap_or_else(|e| panic!("{text}: {e}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips() {
        let bytes = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff];
        assert_eq!(hex(bytes), "00017f80feff");
        assert_eq!(unhex("00017F80feff"), bytes);
        assert_eq!(hex([]), "");
        assert_eq!(from_hex("00017f80feff"), Some(bytes.to_vec()));
        for bad in ["0", "00017F", "0g", " 00", "+1"] {
            assert_eq!(from_hex(bad), None, "{bad:?}");
        }
    }
}
