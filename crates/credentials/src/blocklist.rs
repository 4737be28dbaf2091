//! The blocklist of common passwords (NIST SP 800-63B §5.1.1.2, "passwords obtained from
//! previous breach corpuses"), compiled into the binary from `data/common-passwords.txt`
//! (provenance and licence in `data/README.md`).
//!
//! The set is built once, lazily, on first use. This module must never read the list from disk
//! at run time, and only answers "is this exact (lower-cased) password listed".

use std::collections::HashSet;
use std::sync::LazyLock;

/// One lower-case password per line.
const LIST: &str = include_str!("../data/common-passwords.txt");

static SET: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    LIST.lines()
        .map(|line| line.trim_end_matches('\r'))
        .filter(|line| !line.is_empty())
        .collect()
});

/// Whether `lowercase` (already normalised and lower-cased by the caller) is on the list.
pub(crate) fn contains(lowercase: &str) -> bool {
    SET.contains(lowercase)
}

/// Number of distinct entries on the list.
pub(crate) fn len() -> usize {
    SET.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_lower_case_and_has_no_blank_entries() {
        assert!(len() >= 10_000, "only {} entries", len());
        for entry in SET.iter() {
            assert!(!entry.trim().is_empty(), "blank entry");
            assert_eq!(
                entry.to_lowercase(),
                *entry,
                "entry not lower case: {entry:?}"
            );
        }
    }
}
