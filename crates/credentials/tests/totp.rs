//! Promise P3, TOTP: the RFC 6238 vectors, the ±1 step window, single use of each code, strict
//! code syntax, the enrolment URI and QR code, and secrets kept out of `Debug`.

use credentials::Error;
use credentials::totp::{TotpSecret, code_at, otpauth_uri, qr_svg, step_of, verify};

/// RFC 6238 Appendix B's SHA-1 seed.
fn rfc_secret() -> TotpSecret {
    TotpSecret::from_bytes(b"12345678901234567890".to_vec()).expect("20-byte secret")
}

#[test]
fn rfc6238_appendix_b_sha1_vectors() {
    // (time, 8-digit TOTP from the RFC): our 6-digit code is its last six digits.
    let vectors = [
        (59, "94287082"),
        (1_111_111_109, "07081804"),
        (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"),
        (2_000_000_000, "69279037"),
        (20_000_000_000, "65353130"),
    ];
    let secret = rfc_secret();
    for (time, eight) in vectors {
        let code = code_at(&secret, time);
        assert_eq!(code, &eight[2..], "code_at(RFC secret, {time})");
        assert_eq!(verify(&secret, &code, time, None), Some(step_of(time)));
    }
}

#[test]
fn steps_are_thirty_seconds() {
    for (time, step) in [
        (0, 0),
        (29, 0),
        (30, 1),
        (59, 1),
        (60, 2),
        (1_111_111_111, 37_037_037),
    ] {
        assert_eq!(step_of(time), step, "step_of({time})");
    }
}

#[test]
fn codes_are_six_zero_padded_digits() {
    // 1111111109 gives "081804": the leading zero must stay.
    let secret = rfc_secret();
    assert_eq!(code_at(&secret, 1_111_111_109), "081804");
    let secret = TotpSecret::generate();
    for time in (0..100).map(|i| 1_700_000_000 + i * 30) {
        let code = code_at(&secret, time);
        assert!(
            code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()),
            "{code:?}"
        );
    }
}

#[test]
fn the_window_is_one_step_either_side() {
    let secret = rfc_secret();
    let now = 1_234_567_890;
    let step = step_of(now);
    // (offset of the code's time from now in seconds, expected matched step)
    let cases = [
        (-90, None),
        (-60, None),
        (-30, Some(step - 1)),
        (0, Some(step)),
        (30, Some(step + 1)),
        (60, None),
        (90, None),
    ];
    for (offset, want) in cases {
        let code = code_at(&secret, now.saturating_add_signed(offset));
        assert_eq!(
            verify(&secret, &code, now, None),
            want,
            "code from {offset:+} s (step {}) at step {step}",
            step_of(now.saturating_add_signed(offset))
        );
    }
}

#[test]
fn the_window_at_the_epoch_has_no_step_before_zero() {
    let secret = rfc_secret();
    assert_eq!(verify(&secret, &code_at(&secret, 5), 5, None), Some(0));
    assert_eq!(verify(&secret, &code_at(&secret, 35), 5, None), Some(1));
    assert_eq!(verify(&secret, &code_at(&secret, 65), 5, None), None);
}

#[test]
fn each_code_is_usable_once() {
    let secret = rfc_secret();
    let now = 1_111_111_111;
    let step = step_of(now);
    let code = |offset: i64| code_at(&secret, now.saturating_add_signed(offset));
    // (code, last used step, expected)
    let cases = [
        (code(0), None, Some(step)),
        (code(0), Some(step - 1), Some(step)),
        (code(0), Some(step), None),
        (code(0), Some(step + 1), None),
        (code(-30), Some(step - 2), Some(step - 1)),
        (code(-30), Some(step - 1), None),
        (code(-30), Some(step), None),
        (code(30), Some(step), Some(step + 1)),
        (code(30), Some(step + 1), None),
    ];
    for (code, last_used, want) in cases {
        assert_eq!(
            verify(&secret, &code, now, last_used),
            want,
            "code {code} at step {step} with last_used_step {last_used:?}"
        );
    }
    // The flow a caller follows: accept, store the step, refuse the replay.
    let first = verify(&secret, &code(0), now, None);
    assert_eq!(first, Some(step));
    assert_eq!(verify(&secret, &code(0), now + 10, first), None, "replay");
}

#[test]
fn malformed_codes_are_refused() {
    let secret = rfc_secret();
    let now = 1_111_111_111;
    let good = code_at(&secret, now);
    assert_eq!(verify(&secret, &good, now, None), Some(step_of(now)));
    let cases = [
        String::new(),
        "12345".to_owned(),
        "1234567".to_owned(),
        "12a456".to_owned(),
        " 123456".to_owned(),
        format!(" {good}"),
        format!("{good} "),
        format!("{good}0"),
        good[..5].to_owned(),
        format!("+{}", &good[1..]),
        "１２３４５６".to_owned(),
        "٠١٢٣٤٥".to_owned(),
    ];
    for code in cases {
        assert_eq!(verify(&secret, &code, now, None), None, "verify({code:?})");
    }
}

#[test]
fn secrets_have_accepted_lengths_and_stay_out_of_debug() {
    for (len, ok) in [
        (0, false),
        (15, false),
        (16, true),
        (20, true),
        (64, true),
        (65, false),
    ] {
        let result = TotpSecret::from_bytes(vec![7; len]);
        match (ok, result) {
            (true, Ok(secret)) => assert_eq!(secret.expose(), vec![7; len].as_slice()),
            (false, Err(Error::TotpSecretLength { got })) => assert_eq!(got, len),
            (_, other) => panic!("from_bytes({len} bytes) gave {other:?}"),
        }
    }
    let generated = TotpSecret::generate();
    assert_eq!(generated.expose().len(), 20);
    assert_ne!(generated.expose(), TotpSecret::generate().expose());

    let canary = TotpSecret::from_bytes(b"canary-7f3a9c2e-totp".to_vec()).expect("20 bytes");
    let base32 = canary.base32();
    for shown in [
        format!("{canary:?}"),
        format!("{canary:#?}"),
        format!("{:?}", Some(&canary)),
    ] {
        assert!(shown.contains("[REDACTED]"), "{shown}");
        for leak in ["canary", base32.as_str(), "99", "0x63"] {
            assert!(!shown.contains(leak), "Debug leaked {leak:?}: {shown}");
        }
    }
}

#[test]
fn base32_is_rfc4648_without_padding() {
    assert_eq!(
        rfc_secret().base32().as_str(),
        "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
    );
    let sixteen = TotpSecret::from_bytes(vec![0xFF; 16]).expect("16 bytes");
    assert_eq!(sixteen.base32().as_str(), "77777777777777777777777774");
}

#[test]
fn otpauth_uri_format_and_encoding() {
    let secret = rfc_secret();
    let cases = [
        (
            "Strongroom",
            "alice",
            "otpauth://totp/Strongroom:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Strongroom&algorithm=SHA1&digits=6&period=30",
        ),
        (
            "Acme Corp",
            "alice@example.com",
            "otpauth://totp/Acme%20Corp:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Acme%20Corp&algorithm=SHA1&digits=6&period=30",
        ),
        (
            "A&B: Zürich",
            "bob+mfa?x=1#y",
            "otpauth://totp/A%26B%3A%20Z%C3%BCrich:bob%2Bmfa%3Fx%3D1%23y\
             ?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=A%26B%3A%20Z%C3%BCrich&algorithm=SHA1&digits=6&period=30",
        ),
    ];
    for (issuer, account, want) in cases {
        assert_eq!(
            otpauth_uri(&secret, issuer, account),
            want,
            "{issuer:?} / {account:?}"
        );
    }
}

#[test]
fn qr_svg_draws_the_uri() {
    let uri = otpauth_uri(&TotpSecret::generate(), "Strongroom", "alice@example.com");
    let svg = qr_svg(&uri).expect("an otpauth URI fits a QR code");
    assert!(svg.contains("<svg"), "{svg}");
    assert!(svg.trim_end().ends_with("</svg>"), "{svg}");
    assert!(
        !svg.contains("secret="),
        "the URI text is drawn, not embedded"
    );
    assert!(matches!(qr_svg(&"x".repeat(8_000)), Err(Error::Qr(_))));
}
