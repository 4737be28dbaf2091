//! Promise P2, the storage half: Argon2id at OWASP parameters, no truncation, NFKC-equivalent
//! passwords verify, salts differ, malformed hashes are errors, weaker parameters need a rehash.

use credentials::{
    Error, HashParams, OWASP, dummy_hash, hash_password, needs_rehash, verify_password,
};

/// Cheap parameters for tests that are about behaviour, not cost.
const CHEAP: HashParams = HashParams {
    m_kib: 64,
    t: 1,
    p: 1,
};

#[test]
fn owasp_parameters_and_phc_format() {
    assert_eq!(OWASP, HashParams::OWASP);
    assert_eq!(HashParams::default(), OWASP);
    assert_eq!((OWASP.m_kib, OWASP.t, OWASP.p), (19_456, 2, 1));
    let phc = hash_password("tulip violin orbit", &OWASP).expect("hash");
    assert!(
        phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "unexpected PHC string {phc}"
    );
    // $argon2id$v=19$params$salt$hash: 16-byte salt (22 B64 chars), 32-byte hash (43).
    let fields: Vec<&str> = phc.split('$').collect();
    assert_eq!(fields.len(), 6, "{phc}");
    assert_eq!((fields[4].len(), fields[5].len()), (22, 43), "{phc}");
    assert_eq!(verify_password("tulip violin orbit", &phc), Ok(true));
    assert_eq!(verify_password("tulip violin orbiT", &phc), Ok(false));
    assert!(!needs_rehash(&phc, &OWASP));
}

#[test]
fn verify_accepts_only_the_same_password() {
    let password = "correct horse battery staple";
    let phc = hash_password(password, &CHEAP).expect("hash");
    let cases = [
        (password, true),
        ("correct horse battery stapl", false),
        ("correct horse battery staple ", false),
        (" correct horse battery staple", false),
        ("Correct horse battery staple", false),
        ("", false),
    ];
    for (candidate, want) in cases {
        assert_eq!(
            verify_password(candidate, &phc),
            Ok(want),
            "verify({candidate:?})"
        );
    }
}

#[test]
fn long_passwords_are_never_truncated() {
    let long: String = "the quick brown fox jumps over the lazy dog; "
        .repeat(5)
        .chars()
        .take(200)
        .collect();
    assert_eq!(long.chars().count(), 200);
    let phc = hash_password(&long, &CHEAP).expect("hash");
    assert_eq!(verify_password(&long, &phc), Ok(true));
    let prefix: String = long.chars().take(199).collect();
    assert_eq!(verify_password(&prefix, &phc), Ok(false), "199-char prefix");
    let first_72: String = long.chars().take(72).collect();
    assert_eq!(
        verify_password(&first_72, &phc),
        Ok(false),
        "bcrypt-style cut"
    );
}

#[test]
fn nfkc_equivalent_forms_verify() {
    let cases = [
        ("ﬁne ﬁsh ﬁllets", "fine fish fillets"),
        (
            "caf\u{e9} au lait, s'il vous pla\u{ee}t",
            "cafe\u{301} au lait, s'il vous plai\u{302}t",
        ),
        ("ＦＵＬＬＷＩＤＴＨ ｐａｓｓ", "FULLWIDTH pass"),
        (
            "한국어 비밀번호 문장",
            "\u{1112}\u{1161}\u{11ab}국어 비밀번호 문장",
        ),
    ];
    for (stored, typed) in cases {
        let phc = hash_password(stored, &CHEAP).expect("hash");
        assert_eq!(
            verify_password(typed, &phc),
            Ok(true),
            "{stored:?} vs {typed:?}"
        );
        let phc = hash_password(typed, &CHEAP).expect("hash");
        assert_eq!(
            verify_password(stored, &phc),
            Ok(true),
            "{typed:?} vs {stored:?}"
        );
    }
    // Compatibility forms are equal, different letters are not.
    let phc = hash_password("ﬁne ﬁsh ﬁllets", &CHEAP).expect("hash");
    assert_eq!(verify_password("fine fish filets", &phc), Ok(false));
}

#[test]
fn emoji_and_cjk_passwords_round_trip() {
    for password in [
        "🦀🔐🦀 crab vault 🗝️",
        "我的密码很长很安全吗是的",
        "👩‍👩‍👧 family",
    ] {
        let phc = hash_password(password, &CHEAP).expect("hash");
        assert_eq!(verify_password(password, &phc), Ok(true), "{password:?}");
    }
}

#[test]
fn the_same_password_hashes_differently_each_time() {
    let a = hash_password("same password twice", &CHEAP).expect("hash");
    let b = hash_password("same password twice", &CHEAP).expect("hash");
    assert_ne!(a, b, "salts must differ");
    assert_eq!(verify_password("same password twice", &a), Ok(true));
    assert_eq!(verify_password("same password twice", &b), Ok(true));
}

#[test]
fn malformed_or_foreign_hashes_are_errors() {
    let good = hash_password("x", &CHEAP).expect("hash");
    let argon2i = good.replacen("$argon2id$", "$argon2i$", 1);
    let no_hash = good
        .rsplit_once('$')
        .map(|(head, _)| head.to_owned())
        .expect("fields");
    let short_output = format!("{no_hash}$AAAAAAAAAAA");
    let cases = [
        ("empty", String::new()),
        ("not PHC", "hunter2".to_owned()),
        (
            "bcrypt",
            "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW".to_owned(),
        ),
        ("argon2i", argon2i),
        ("no hash field", no_hash),
        ("8-byte output", short_output),
        ("bad params", good.replacen("m=64", "m=zz", 1)),
        ("too little memory", good.replacen("m=64", "m=1", 1)),
        ("bad base64", format!("{}!", good)),
    ];
    for (what, phc) in cases {
        assert!(
            matches!(verify_password("x", &phc), Err(Error::MalformedHash(_))),
            "{what}: verify_password(\"x\", {phc:?}) gave {:?}",
            verify_password("x", &phc)
        );
        assert!(needs_rehash(&phc, &CHEAP), "{what}: needs_rehash");
    }
}

#[test]
fn needs_rehash_when_parameters_differ() {
    let phc = hash_password("rehash me please", &CHEAP).expect("hash");
    let cases = [
        (CHEAP, false),
        (
            HashParams {
                m_kib: 128,
                ..CHEAP
            },
            true,
        ),
        (HashParams { t: 2, ..CHEAP }, true),
        (
            HashParams {
                p: 2,
                m_kib: 64,
                t: 1,
            },
            true,
        ),
        (HashParams { m_kib: 32, ..CHEAP }, true),
        (OWASP, true),
    ];
    for (params, want) in cases {
        assert_eq!(
            needs_rehash(&phc, &params),
            want,
            "needs_rehash for {params:?}"
        );
    }
    // A weaker stored hash against the OWASP target.
    let weak = hash_password("rehash me please", &CHEAP).expect("hash");
    assert!(needs_rehash(&weak, &OWASP));
}

#[test]
fn invalid_parameters_are_refused() {
    let cases = [
        HashParams {
            m_kib: 64,
            t: 0,
            p: 1,
        },
        HashParams {
            m_kib: 64,
            t: 1,
            p: 0,
        },
        HashParams {
            m_kib: 7,
            t: 1,
            p: 1,
        },
        HashParams {
            m_kib: 64,
            t: 1,
            p: 9,
        },
    ];
    for params in cases {
        assert!(
            matches!(hash_password("x", &params), Err(Error::HashParams(_))),
            "{params:?}"
        );
    }
}

#[test]
fn the_dummy_hash_is_valid_and_matches_nothing() {
    let dummy = dummy_hash(&OWASP);
    assert!(
        dummy.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{dummy}"
    );
    assert!(!needs_rehash(&dummy, &OWASP), "same cost as real hashes");
    for guess in ["", "password", "correct horse battery staple"] {
        assert_eq!(verify_password(guess, &dummy), Ok(false), "{guess:?}");
    }
    assert_ne!(dummy, dummy_hash(&OWASP), "fresh secret and salt each time");
}
