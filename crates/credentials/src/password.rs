//! The password policy of promise P2, after NIST SP 800-63B §5.1.1.2: a minimum length (12, or
//! 15 for an account without a second factor), at least 64 characters accepted and never
//! truncated, no composition rules, and a check against a blocklist of common passwords, the
//! words of the account's context (tenant name, e-mail local part, ...) and repetitive or
//! sequential strings.
//!
//! Passwords are compared in Unicode NFKC (see [`normalize`]), and lengths count Unicode scalar
//! values of the normalised text. This module must never echo a password: a [`Rejection`] names
//! the rule that failed, never the password, and every copy of the password it makes is
//! zeroizing.

use std::fmt;

use zeroize::Zeroizing;

use crate::blocklist;
use crate::text::{lowercase, nfkc};

/// Input longer than this many times `max_len` (in Unicode scalar values, before normalisation)
/// is refused as [`Rejection::TooLong`] without further work. NFKC shrinks text by at most a
/// factor of three (a Hangul syllable from three jamo), so nothing acceptable is refused early.
const EARLY_REFUSAL_FACTOR: usize = 4;

/// Context words shorter than this (in Unicode scalar values) are ignored.
const MIN_CONTEXT_WORD_LEN: usize = 3;

/// The length limits of the policy. No composition rules exist, by design.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// Minimum length for an account that has a second factor (default 12).
    pub min_len: usize,
    /// Minimum length for an account without a second factor (default 15). The larger of this and
    /// `min_len` applies to such accounts.
    pub min_len_without_mfa: usize,
    /// Maximum length (default 1024). Must be at least 64 to follow SP 800-63B; longer passwords
    /// are refused, never truncated.
    pub max_len: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_len: 12,
            min_len_without_mfa: 15,
            max_len: 1024,
        }
    }
}

impl PasswordPolicy {
    /// The minimum length that applies to an account with or without a second factor.
    pub fn min_len_for(&self, has_mfa: bool) -> usize {
        if has_mfa {
            self.min_len
        } else {
            self.min_len.max(self.min_len_without_mfa)
        }
    }
}

/// What the policy knows about the account whose password is checked.
#[derive(Debug, Clone, Copy, Default)]
pub struct PolicyContext<'a> {
    /// Whether the account has a second factor (TOTP) enrolled.
    pub has_mfa: bool,
    /// Words the password must not contain: tenant name, user name, e-mail local part, the
    /// product name. Each entry is matched as a whole (split multi-word names yourself if each
    /// word matters); entries shorter than three characters are ignored.
    pub context_words: &'a [&'a str],
}

/// One failed rule of the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// Fewer than `min` Unicode scalar values after normalisation.
    TooShort { min: usize, got: usize },
    /// More than `max` Unicode scalar values after normalisation.
    TooLong { max: usize },
    /// The whole password (case-insensitively) is on the blocklist.
    Common,
    /// The password contains `word` from the account's context (case-insensitively).
    ContainsContext { word: String },
    /// The password is one short unit repeated ("aaaaaaaaaaaa", "abcabcabcabc") or one straight
    /// sequence ("abcdefghijklm", "9876543210987").
    Repetitive,
    /// The password contains control characters (Unicode category Cc: NUL, tab, newline, ...).
    ControlCharacters,
}

impl Rejection {
    /// A stable machine identifier of the rule, for API error bodies and metrics.
    pub fn rule(&self) -> &'static str {
        match self {
            Self::TooShort { .. } => "too_short",
            Self::TooLong { .. } => "too_long",
            Self::Common => "common",
            Self::ContainsContext { .. } => "contains_context",
            Self::Repetitive => "repetitive",
            Self::ControlCharacters => "control_characters",
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort { min, got } => write!(
                f,
                "the password is too short: it must have at least {min} characters (it has {got})"
            ),
            Self::TooLong { max } => write!(
                f,
                "the password is too long: it may have at most {max} characters"
            ),
            Self::Common => f.write_str(
                "the password is too common: it is on a list of frequently used passwords",
            ),
            Self::ContainsContext { word } => write!(
                f,
                "the password must not contain {word:?}, which belongs to this account or tenant"
            ),
            Self::Repetitive => f.write_str(
                "the password is repetitive: it repeats a character or a short pattern, \
                 or is a straight sequence",
            ),
            Self::ControlCharacters => {
                f.write_str("the password must not contain control characters")
            }
        }
    }
}

/// The form in which passwords are checked, hashed and compared: Unicode NFKC (SP 800-63B
/// §5.1.1.2), nothing else: no trimming, no case folding, no removal of spaces.
pub fn normalize(password: &str) -> Zeroizing<String> {
    nfkc(password)
}

/// Checks `password` against `policy` in the context `ctx`. Returns every failed rule, in the
/// order of the [`Rejection`] variants; `Ok(())` when none failed.
///
/// Input absurdly longer than `max_len` (more than four times, before normalisation) is refused
/// with [`Rejection::TooLong`] alone, without normalising it.
pub fn check(
    policy: &PasswordPolicy,
    password: &str,
    ctx: &PolicyContext,
) -> Result<(), Vec<Rejection>> {
    let early_limit = policy.max_len.saturating_mul(EARLY_REFUSAL_FACTOR);
    if password.chars().nth(early_limit).is_some() {
        return Err(vec![Rejection::TooLong {
            max: policy.max_len,
        }]);
    }
    let normalized = normalize(password);
    let lower = lowercase(&normalized);
    let len = normalized.chars().count();
    let mut rejections = Vec::new();

    let min = policy.min_len_for(ctx.has_mfa);
    if len < min {
        rejections.push(Rejection::TooShort { min, got: len });
    }
    if len > policy.max_len {
        rejections.push(Rejection::TooLong {
            max: policy.max_len,
        });
    }
    if blocklist::contains(&lower) {
        rejections.push(Rejection::Common);
    }
    rejections.extend(context_rejections(&lower, ctx.context_words));
    if is_repetitive(&lower) {
        rejections.push(Rejection::Repetitive);
    }
    if normalized.chars().any(char::is_control) {
        rejections.push(Rejection::ControlCharacters);
    }

    if rejections.is_empty() {
        Ok(())
    } else {
        Err(rejections)
    }
}

/// Whether the whole password, normalised and lower-cased, is on the blocklist.
pub fn is_common(password: &str) -> bool {
    blocklist::contains(&lowercase(&normalize(password)))
}

/// Number of entries on the blocklist.
pub fn blocklist_len() -> usize {
    blocklist::len()
}

/// One rejection per distinct context word (normalised, lower-cased, at least three characters)
/// found in `lower_password`.
fn context_rejections(lower_password: &str, words: &[&str]) -> Vec<Rejection> {
    let mut seen: Vec<Zeroizing<String>> = Vec::new();
    let mut rejections = Vec::new();
    for word in words {
        let needle = lowercase(&nfkc(word));
        if needle.chars().count() < MIN_CONTEXT_WORD_LEN || seen.contains(&needle) {
            continue;
        }
        if lower_password.contains(needle.as_str()) {
            rejections.push(Rejection::ContainsContext {
                word: (*word).to_owned(),
            });
        }
        seen.push(needle);
    }
    rejections
}

/// Whether `lower` is a short unit repeated at least three times, or a straight sequence.
fn is_repetitive(lower: &str) -> bool {
    let chars = Zeroizing::new(lower.chars().collect::<Vec<char>>());
    is_repeated_unit(&chars) || is_straight_sequence(&chars)
}

/// The whole text is one unit repeated at least three times ("aaaa", "abcabcabc").
fn is_repeated_unit(chars: &[char]) -> bool {
    let n = chars.len();
    (1..=n / 3)
        .filter(|unit| n.is_multiple_of(*unit))
        .any(|unit| chars.chunks(unit).all(|chunk| chunk == &chars[..unit]))
}

/// The whole text (at least three characters) steps by +1 or by −1 from each character to the
/// next ("abcdef", "54321"), digits wrapping around ("7890123", "3210987").
fn is_straight_sequence(chars: &[char]) -> bool {
    if chars.len() < 3 {
        return false;
    }
    [1i64, -1].into_iter().any(|step| {
        chars
            .windows(2)
            .all(|pair| next_in_sequence(pair[0], step) == Some(pair[1]))
    })
}

/// The character `step` (±1) after `c`, digits wrapping around between 9 and 0.
fn next_in_sequence(c: char, step: i64) -> Option<char> {
    if let Some(digit) = c.to_digit(10) {
        let next = (i64::from(digit) + step).rem_euclid(10);
        return char::from_digit(u32::try_from(next).ok()?, 10);
    }
    let next = i64::from(u32::from(c)) + step;
    char::from_u32(u32::try_from(next).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repetition_and_sequences() {
        let cases = [
            ("aaaaaaaaaaaa", true),
            ("abcabcabcabc", true),
            ("abababababab", true),
            ("passwordpasswordpassword", true),
            ("abcdefghijklm", true),
            ("zyxwvutsrqpo", true),
            ("789012345678", true),
            ("321098765432", true),
            ("αβγδεζηθικλμ", true),
            ("correcthorsecorrecthorse", false), // two repetitions only
            ("aaaaaaaaaaab", false),
            ("abcdefghijkm", false),
            ("ab", false),
            ("", false),
            ("battery staple horse", false),
        ];
        for (text, want) in cases {
            assert_eq!(is_repetitive(text), want, "is_repetitive({text:?})");
        }
    }

    #[test]
    fn min_len_without_mfa_never_lowers_the_minimum() {
        let policy = PasswordPolicy {
            min_len: 16,
            min_len_without_mfa: 15,
            max_len: 64,
        };
        assert_eq!(policy.min_len_for(true), 16);
        assert_eq!(policy.min_len_for(false), 16);
        let default = PasswordPolicy::default();
        assert_eq!(
            (default.min_len_for(true), default.min_len_for(false)),
            (12, 15)
        );
    }
}
