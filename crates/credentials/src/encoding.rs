//! Text encodings this crate writes: unpadded base32 (RFC 4648 §6, for TOTP secrets), unpadded
//! standard base64 (the PHC string's "B64"), and percent-encoding (RFC 3986, for otpauth URIs).
//!
//! Encoders of secret bytes return zeroizing strings sized up front, so they never leave a copy
//! behind by reallocating. This module must never decode or accept input leniently: it only
//! writes.

use zeroize::Zeroizing;

/// RFC 4648 base32 alphabet.
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// RFC 4648 standard base64 alphabet (the PHC string format's B64, without padding).
const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Unpadded RFC 4648 base32 of `bytes`.
pub(crate) fn base32(bytes: &[u8]) -> Zeroizing<String> {
    encode_unpadded(bytes, BASE32, 5)
}

/// Unpadded RFC 4648 standard base64 of `bytes`.
pub(crate) fn base64(bytes: &[u8]) -> Zeroizing<String> {
    encode_unpadded(bytes, BASE64, 6)
}

/// Encodes `bytes` `bits` at a time (5 or 6) with `alphabet`, most significant bits first, the
/// last symbol padded with zero bits and no padding characters.
fn encode_unpadded(bytes: &[u8], alphabet: &[u8], bits: u32) -> Zeroizing<String> {
    let mask = (1u32 << bits) - 1;
    let symbols = (bytes.len() * 8).div_ceil(bits as usize);
    let mut out = Zeroizing::new(String::with_capacity(symbols));
    let mut buffer = 0u32;
    let mut held = 0u32;
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        held += 8;
        while held >= bits {
            held -= bits;
            out.push(char::from(alphabet[((buffer >> held) & mask) as usize]));
        }
        buffer &= (1u32 << held) - 1;
    }
    if held > 0 {
        out.push(char::from(
            alphabet[((buffer << (bits - held)) & mask) as usize],
        ));
    }
    out
}

/// Percent-encodes every byte of `text` except RFC 3986's unreserved characters
/// (`A–Z a–z 0–9 - . _ ~`); a space becomes `%20`.
pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for &byte in text.as_bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX_UPPER[usize::from(byte >> 4)]));
            out.push(char::from(HEX_UPPER[usize::from(byte & 0x0F)]));
        }
    }
    out
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4648_base32_vectors_without_padding() {
        // RFC 4648 §10, padding removed.
        let cases = [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
            ("12345678901234567890", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"),
        ];
        for (input, want) in cases {
            assert_eq!(base32(input.as_bytes()).as_str(), want, "base32({input:?})");
        }
    }

    #[test]
    fn rfc4648_base64_vectors_without_padding() {
        let cases = [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
            ("\u{ff}\u{fe}", "w7/Dvg"),
        ];
        for (input, want) in cases {
            assert_eq!(base64(input.as_bytes()).as_str(), want, "base64({input:?})");
        }
    }

    #[test]
    fn percent_encoding_keeps_only_unreserved_characters() {
        let cases = [
            ("Strongroom", "Strongroom"),
            ("a-b.c_d~e", "a-b.c_d~e"),
            ("Acme Corp", "Acme%20Corp"),
            ("alice@example.com", "alice%40example.com"),
            ("a:b/c?d&e=f#g+h%", "a%3Ab%2Fc%3Fd%26e%3Df%23g%2Bh%25"),
            ("Zürich", "Z%C3%BCrich"),
        ];
        for (input, want) in cases {
            assert_eq!(percent_encode(input), want, "percent_encode({input:?})");
        }
    }
}
