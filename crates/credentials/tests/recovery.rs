//! Promise P3, recovery codes: ten distinct codes of the form `xxxx-xxxx-xxxx`, at least 60 bits
//! each, hashed under a key after normalisation, and kept out of `Debug`.

use std::collections::HashSet;

use credentials::recovery::{
    ALPHABET, BITS, RECOVERY_CODES, SYMBOLS, generate_recovery_codes, recovery_code_hash,
};
use crypto::{Key256, ct_eq};

#[test]
fn ten_distinct_codes_in_the_documented_format() {
    assert_eq!(RECOVERY_CODES, 10);
    let codes = generate_recovery_codes();
    assert_eq!(codes.len(), RECOVERY_CODES);
    let distinct: HashSet<&str> = codes.iter().map(|c| c.expose().as_str()).collect();
    assert_eq!(distinct.len(), RECOVERY_CODES, "codes repeat");
    for code in &codes {
        let text = code.expose();
        let groups: Vec<&str> = text.split('-').collect();
        assert_eq!(groups.len(), 3, "{text:?}");
        for group in groups {
            assert_eq!(group.len(), 4, "{text:?}");
            assert!(group.bytes().all(|b| ALPHABET.contains(&b)), "{text:?}");
        }
        for look_alike in ['o', 'i', 'l', 'u'] {
            assert!(!text.contains(look_alike), "{text:?} contains {look_alike}");
        }
    }
}

#[test]
fn each_code_carries_at_least_60_bits() {
    let alphabet: HashSet<u8> = ALPHABET.iter().copied().collect();
    assert_eq!(alphabet.len(), ALPHABET.len(), "alphabet symbols repeat");
    let bits = (alphabet.len() as f64).log2() * SYMBOLS as f64;
    assert!(
        bits >= 60.0,
        "{} symbols ^ {SYMBOLS} = {bits:.2} bits",
        alphabet.len()
    );
    assert_eq!(BITS, 60);
    // Every symbol shows up over many codes: the generator uses the whole alphabet.
    let seen: HashSet<u8> = (0..30)
        .flat_map(|_| generate_recovery_codes())
        .flat_map(|code| {
            code.expose()
                .bytes()
                .filter(|b| *b != b'-')
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(seen, alphabet);
}

#[test]
fn the_hash_ignores_case_dashes_spaces_and_look_alikes() {
    let key = Key256::from_bytes([0x42; 32]);
    let reference = recovery_code_hash(&key, "abcdefgh2345");
    let same = [
        "ABCD-efgh-2345",
        "abcd-efgh-2345",
        "ABCDEFGH2345",
        "abcd efgh 2345",
        " abcd-efgh-2345 ",
        "ab-cd-ef-gh-23-45",
    ];
    for typed in same {
        assert!(
            ct_eq(&recovery_code_hash(&key, typed), &reference),
            "{typed:?} should hash like abcdefgh2345"
        );
    }
    let different = [
        "abcdefgh2346",
        "abcdefgh234",
        "abcdefgh23456",
        "bacdefgh2345",
        "",
    ];
    for typed in different {
        assert_ne!(recovery_code_hash(&key, typed), reference, "{typed:?}");
    }
    // Look-alikes decode to the digit they resemble.
    let digits = recovery_code_hash(&key, "0011-2345-6789");
    for typed in ["oOiI-2345-6789", "0OlL-2345-6789", "o01i-2345-6789"] {
        assert_eq!(recovery_code_hash(&key, typed), digits, "{typed:?}");
    }
}

#[test]
fn the_hash_depends_on_the_key_and_is_not_the_code() {
    let code = generate_recovery_codes().remove(0);
    let a = recovery_code_hash(&Key256::from_bytes([1; 32]), code.expose());
    let b = recovery_code_hash(&Key256::from_bytes([2; 32]), code.expose());
    assert_ne!(a, b);
    assert_ne!(a, crypto::sha256(code.expose().as_bytes()));
    assert_eq!(
        a,
        recovery_code_hash(&Key256::from_bytes([1; 32]), code.expose())
    );
}

#[test]
fn codes_stay_out_of_debug() {
    let codes = generate_recovery_codes();
    let shown = format!("{codes:?} {codes:#?}");
    for code in &codes {
        let text = code.expose();
        assert!(
            !shown.contains(text.as_str()),
            "Debug leaked {text}: {shown}"
        );
    }
}
