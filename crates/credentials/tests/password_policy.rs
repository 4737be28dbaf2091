//! Promise P2, the policy half: every rule of `credentials::password::check` accepts and refuses
//! what NIST SP 800-63B says it should, table-driven, with the stable rule ids.

use credentials::password::{
    PasswordPolicy, PolicyContext, Rejection, blocklist_len, check, is_common, normalize,
};

/// The rule ids `check` reported for `password`, in order (empty when accepted).
fn rules(policy: &PasswordPolicy, password: &str, ctx: &PolicyContext) -> Vec<&'static str> {
    match check(policy, password, ctx) {
        Ok(()) => Vec::new(),
        Err(rejections) => {
            assert!(!rejections.is_empty(), "Err(vec![]) for {password:?}");
            rejections.iter().map(Rejection::rule).collect()
        }
    }
}

const MFA: PolicyContext<'static> = PolicyContext {
    has_mfa: true,
    context_words: &[],
};
const NO_MFA: PolicyContext<'static> = PolicyContext {
    has_mfa: false,
    context_words: &[],
};

#[test]
fn each_rule_accepts_and_refuses() {
    let policy = PasswordPolicy::default();
    let long = "x".repeat(1025);
    let cases: &[(&str, &PolicyContext, &str, &[&str])] = &[
        // (what, context, password, expected rules)
        ("12 chars with MFA", &MFA, "tulip-violin", &[]),
        ("11 chars with MFA", &MFA, "tulip-viola", &["too_short"]),
        (
            "12 chars without MFA",
            &NO_MFA,
            "tulip-violin",
            &["too_short"],
        ),
        (
            "14 chars without MFA",
            &NO_MFA,
            "tulip violin x",
            &["too_short"],
        ),
        ("15 chars without MFA", &NO_MFA, "tulip violin xy", &[]),
        ("no composition rules", &NO_MFA, "all lower case words", &[]),
        ("spaces are characters", &MFA, "   a   b   c   ", &[]),
        ("empty", &MFA, "", &["too_short"]),
        ("1024 chars", &MFA, &long[..1024], &["repetitive"]),
        ("1025 chars", &MFA, &long, &["too_long", "repetitive"]),
        ("common, long enough", &MFA, "qwerty123456", &["common"]),
        ("common, upper case", &MFA, "QWERTY123456", &["common"]),
        ("common, mixed case", &MFA, "LeaveMeAlone", &["common"]),
        (
            "common, fullwidth",
            &MFA,
            "ＦｉｎａｌＦａｎｔａｓｙ",
            &["common"],
        ),
        (
            "common prefix is fine",
            &MFA,
            "qwerty123456 but longer",
            &[],
        ),
        ("one char", &MFA, "aaaaaaaaaaaa", &["repetitive"]),
        ("one char, any case", &MFA, "aAaAaAaAaAaA", &["repetitive"]),
        ("short unit", &MFA, "abcabcabcabc", &["repetitive"]),
        ("sequence", &MFA, "abcdefghijklmnop", &["repetitive"]),
        ("digit sequence", &MFA, "3456789012345", &["repetitive"]),
        ("two repeats is fine", &MFA, "horse staplehorse staple", &[]),
        ("tab", &MFA, "tulip\tviolin-x", &["control_characters"]),
        ("newline", &MFA, "tulip-violin-x\n", &["control_characters"]),
        ("NUL", &MFA, "tulip\0violin-x", &["control_characters"]),
        ("DEL", &MFA, "tulip\u{7f}violin-x", &["control_characters"]),
        (
            "C1 control",
            &MFA,
            "tulip\u{85}violin-x",
            &["control_characters"],
        ),
        ("emoji", &MFA, "🦀🔐🦀 crab vault 🗝️", &[]),
        ("emoji ZWJ sequence", &MFA, "👩‍👩‍👧 family of three", &[]),
        ("CJK", &MFA, "我的密码很长很安全吗是的", &[]),
        (
            "CJK, 11 chars",
            &MFA,
            "我的密码很长很安全吗是",
            &["too_short"],
        ),
        ("Cyrillic", &NO_MFA, "съешь же ещё этих", &[]),
    ];
    for (what, ctx, password, want) in cases {
        assert_eq!(
            rules(&policy, password, ctx),
            *want,
            "{what}: check({password:?}, has_mfa: {})",
            ctx.has_mfa
        );
    }
}

#[test]
fn length_is_counted_in_scalar_values_after_nfkc() {
    let policy = PasswordPolicy::default();
    // "ﬃ" is one scalar value that NFKC expands to three: 10 + 2 = 12 after normalisation.
    assert_eq!(rules(&policy, "ﬃrst-klass", &MFA), Vec::<&str>::new());
    // "e" + combining acute (2 scalars) composes to "é" (1): 12 scalars before, 11 after.
    let decomposed = "cafe\u{301} au lai";
    assert_eq!(decomposed.chars().count(), 12);
    assert_eq!(
        check(&policy, decomposed, &MFA),
        Err(vec![Rejection::TooShort { min: 12, got: 11 }])
    );
}

#[test]
fn minimum_lengths_follow_mfa() {
    let policy = PasswordPolicy::default();
    assert_eq!(
        (policy.min_len, policy.min_len_without_mfa, policy.max_len),
        (12, 15, 1024)
    );
    for (len, has_mfa, accepted) in [
        (11, true, false),
        (12, true, true),
        (14, false, false),
        (15, false, true),
    ] {
        let password: String = "purple-kiwi-orbit".chars().take(len).collect();
        let ctx = PolicyContext {
            has_mfa,
            context_words: &[],
        };
        assert_eq!(
            check(&policy, &password, &ctx).is_ok(),
            accepted,
            "{len} chars, has_mfa {has_mfa}: {password:?}"
        );
    }
}

#[test]
fn long_passphrases_are_accepted_whole() {
    let policy = PasswordPolicy::default();
    let sixty_four = "correct horse battery staple, then a second sentence of words!!!";
    assert_eq!(sixty_four.chars().count(), 64);
    let two_hundred = format!("{sixty_four}{sixty_four}{sixty_four}01234567");
    assert_eq!(two_hundred.chars().count(), 200);
    for password in [sixty_four, two_hundred.as_str()] {
        assert_eq!(check(&policy, password, &NO_MFA), Ok(()), "{password:?}");
        assert_eq!(normalize(password).as_str(), password, "not truncated");
    }
}

#[test]
fn absurdly_long_input_is_refused_early_as_too_long_alone() {
    let policy = PasswordPolicy::default();
    let huge = "ab\t".repeat(2_000);
    assert_eq!(
        check(&policy, &huge, &MFA),
        Err(vec![Rejection::TooLong { max: 1024 }])
    );
}

#[test]
fn the_blocklist_is_large_and_case_insensitive() {
    assert!(blocklist_len() >= 10_000, "{} entries", blocklist_len());
    // Real entries of at least 12 characters from data/common-passwords.txt.
    let entries = [
        "password1234",
        "qwerty123456",
        "1qaz2wsx3edc",
        "leavemealone",
        "finalfantasy",
        "qwertyuiop123",
        "1qaz2wsx3edc4rfv",
    ];
    let policy = PasswordPolicy::default();
    for entry in entries {
        for variant in [entry.to_owned(), entry.to_uppercase(), capitalise(entry)] {
            assert!(is_common(&variant), "is_common({variant:?})");
            let got = rules(&policy, &variant, &MFA);
            assert!(got.contains(&"common"), "check({variant:?}) gave {got:?}");
        }
    }
    for fine in ["password1234!", "tulip-violin", ""] {
        assert!(!is_common(fine), "is_common({fine:?})");
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

#[test]
fn context_words_are_refused_case_insensitively() {
    let policy = PasswordPolicy::default();
    let words = ["Acme", "j.doe", "Zoë", "ab", "ACME"];
    let ctx = PolicyContext {
        has_mfa: true,
        context_words: &words,
    };
    let cases: &[(&str, &[&str])] = &[
        ("my acme password!", &["Acme"]),
        ("MY-ACME-PASSWORD!", &["Acme"]),
        ("hello J.DOE, welcome", &["j.doe"]),
        ("zoë's garden party", &["Zoë"]),
        // Decomposed "ë" in the password still matches the composed context word.
        ("zoe\u{308}'s garden party", &["Zoë"]),
        ("acme and j.doe both", &["Acme", "j.doe"]),
        // "ab" is shorter than three characters: ignored.
        ("absolutely unrelated", &[]),
    ];
    for (password, want_words) in cases {
        let got: Vec<String> = match check(&policy, password, &ctx) {
            Ok(()) => Vec::new(),
            Err(rejections) => rejections
                .into_iter()
                .map(|r| match r {
                    Rejection::ContainsContext { word } => word,
                    other => panic!("{password:?}: unexpected {other:?}"),
                })
                .collect(),
        };
        assert_eq!(&got, want_words, "check({password:?})");
    }
}

#[test]
fn all_failures_are_listed_together() {
    let policy = PasswordPolicy::default();
    let ctx = PolicyContext {
        has_mfa: false,
        context_words: &["aaa", "1111"],
    };
    assert_eq!(
        check(&policy, "aaaaaa\n", &ctx),
        Err(vec![
            Rejection::TooShort { min: 15, got: 7 },
            Rejection::ContainsContext {
                word: "aaa".to_owned()
            },
            Rejection::ControlCharacters,
        ])
    );
    assert_eq!(
        rules(&policy, "111111", &ctx),
        ["too_short", "common", "contains_context", "repetitive"]
    );
}

#[test]
fn rule_ids_are_stable_and_messages_never_echo_the_password() {
    let canary = "canary7f3a";
    let cases = [
        (Rejection::TooShort { min: 12, got: 5 }, "too_short", "12"),
        (Rejection::TooLong { max: 1024 }, "too_long", "1024"),
        (Rejection::Common, "common", "common"),
        (
            Rejection::ContainsContext {
                word: "acme".to_owned(),
            },
            "contains_context",
            "acme",
        ),
        (Rejection::Repetitive, "repetitive", "repe"),
        (
            Rejection::ControlCharacters,
            "control_characters",
            "control",
        ),
    ];
    for (rejection, rule, mentions) in cases {
        assert_eq!(rejection.rule(), rule);
        let message = rejection.to_string();
        assert!(message.contains(mentions), "{rule}: {message}");
        assert!(!message.contains(canary), "{rule}: {message}");
    }
    // A password that fails several rules, carrying the canary.
    let password = format!("{canary}\n");
    let Err(rejections) = check(&PasswordPolicy::default(), &password, &NO_MFA) else {
        panic!("{password:?} should be refused (too short without MFA, control character)");
    };
    assert_eq!(rejections.len(), 2, "{rejections:?}");
    for rejection in rejections {
        let shown = format!("{rejection} {rejection:?}");
        assert!(!shown.contains(canary), "{shown}");
    }
}

#[test]
fn normalize_is_nfkc_and_nothing_else() {
    let cases = [
        ("ﬁne", "fine"),
        ("cafe\u{301}", "café"),
        ("ＡＢＣ", "ABC"),
        ("  Trailing Spaces  ", "  Trailing Spaces  "),
        ("MiXeD CaSe", "MiXeD CaSe"),
        ("①②③", "123"),
    ];
    for (input, want) in cases {
        assert_eq!(normalize(input).as_str(), want, "normalize({input:?})");
    }
}
