//! Known-answer tests against published vectors. If one of these fails, the build is wrong, not
//! the vector: never edit an expected value to make a test pass.
//!
//! Sources:
//! - AES-256-GCM: D. McGrew and J. Viega, "The Galois/Counter Mode of Operation (GCM)", revised
//!   May 2005, Appendix B, Test Cases 13–16 (the AES-256 cases; the same values ship in NIST's
//!   GCM validation material).
//! - HMAC-SHA256: RFC 4231 §4.2, §4.3 and §4.7 (Test Cases 1, 2 and 6).
//! - HKDF-SHA256: RFC 5869 Appendix A.1 and A.3 (Test Cases 1 and 3).
//! - SHA-256: FIPS 180-2 Appendix B.1 (`"abc"`).

use crate::aead::{open, seal_with_nonce};
use crate::encoding::{hex, unhex};
use crate::hash::{hkdf_sha256, hmac_sha256, sha256};
use crate::key::Key256;

struct GcmCase {
    name: &'static str,
    key: &'static str,
    nonce: &'static str,
    aad: &'static str,
    plaintext: &'static str,
    ciphertext: &'static str,
    tag: &'static str,
}

const GCM_K15: &str = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
const GCM_P15: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
                       1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
const GCM_C15: &str = "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
                       8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad";

const GCM_CASES: [GcmCase; 4] = [
    GcmCase {
        name: "GCM spec test case 13 (empty)",
        key: "0000000000000000000000000000000000000000000000000000000000000000",
        nonce: "000000000000000000000000",
        aad: "",
        plaintext: "",
        ciphertext: "",
        tag: "530f8afbc74536b9a963b4f1c4cb738b",
    },
    GcmCase {
        name: "GCM spec test case 14 (one zero block)",
        key: "0000000000000000000000000000000000000000000000000000000000000000",
        nonce: "000000000000000000000000",
        aad: "",
        plaintext: "00000000000000000000000000000000",
        ciphertext: "cea7403d4d606b6e074ec5d3baf39d18",
        tag: "d0d1c8a799996bf0265b98b5d48ab919",
    },
    GcmCase {
        name: "GCM spec test case 15 (64 bytes, no AAD)",
        key: GCM_K15,
        nonce: "cafebabefacedbaddecaf888",
        aad: "",
        plaintext: GCM_P15,
        ciphertext: GCM_C15,
        tag: "b094dac5d93471bdec1a502270e3cc6c",
    },
    GcmCase {
        name: "GCM spec test case 16 (60 bytes, 20 bytes of AAD)",
        key: GCM_K15,
        nonce: "cafebabefacedbaddecaf888",
        aad: "feedfacedeadbeeffeedfacedeadbeefabaddad2",
        plaintext: "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
                    1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        ciphertext: "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
                     8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
        tag: "76fc6ece0f4e1768cddf8853bb2d551b",
    },
];

#[test]
fn aes_256_gcm_matches_the_gcm_specification() {
    for case in &GCM_CASES {
        let key = Key256::try_from_slice(&unhex(case.key)).unwrap_or_else(|e| panic!("{e}"));
        let nonce: [u8; 12] = unhex(case.nonce)
            .try_into()
            .unwrap_or_else(|_| panic!("nonce"));
        let aad = unhex(case.aad);
        let plaintext = unhex(case.plaintext);
        let sealed = seal_with_nonce(&key, nonce, &aad, &plaintext);

        let expected = [
            vec![0x01],
            unhex(case.nonce),
            unhex(case.ciphertext),
            unhex(case.tag),
        ]
        .concat();
        assert_eq!(
            hex(&sealed),
            hex(&expected),
            "{}: sealed output differs",
            case.name
        );
        let opened = open(&key, &aad, &sealed).map(|p| p.to_vec());
        assert_eq!(opened, Ok(plaintext), "{}: did not open back", case.name);
    }
}

#[test]
fn hmac_sha256_matches_rfc_4231() {
    let long_key = [0xaa_u8; 131];
    let cases: [(&str, &[u8], &[u8], &str); 3] = [
        (
            "RFC 4231 test case 1",
            &[0x0b; 20],
            b"Hi There",
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
        ),
        (
            "RFC 4231 test case 2",
            b"Jefe",
            b"what do ya want for nothing?",
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        ),
        (
            "RFC 4231 test case 6 (key longer than a block)",
            &long_key,
            b"Test Using Larger Than Block-Size Key - Hash Key First",
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
        ),
    ];
    for (name, key, data, want) in cases {
        assert_eq!(hex(hmac_sha256(key, &[data])), want, "{name}");
        // Feeding the message in pieces gives the same MAC.
        let (a, b) = data.split_at(data.len() / 2);
        assert_eq!(hex(hmac_sha256(key, &[a, b])), want, "{name} (split)");
    }
}

#[test]
fn hkdf_sha256_matches_rfc_5869() {
    struct HkdfCase {
        name: &'static str,
        salt: &'static str,
        ikm: [u8; 22],
        info: &'static str,
        okm: &'static str,
    }
    let cases = [
        HkdfCase {
            name: "RFC 5869 test case 1",
            salt: "000102030405060708090a0b0c",
            ikm: [0x0b; 22],
            info: "f0f1f2f3f4f5f6f7f8f9",
            okm: "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
        },
        HkdfCase {
            name: "RFC 5869 test case 3 (no salt, no info)",
            salt: "",
            ikm: [0x0b; 22],
            info: "",
            okm: "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
        },
    ];
    for case in cases {
        let mut okm = [0u8; 42];
        hkdf_sha256(&unhex(case.salt), &case.ikm, &unhex(case.info), &mut okm);
        assert_eq!(hex(okm), case.okm, "{}", case.name);
    }
}

#[test]
fn sha256_matches_fips_180_2() {
    assert_eq!(
        hex(sha256(b"abc")),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}
