//! Statements the audit signing key signs besides checkpoints: deletion receipts (P15). Each
//! kind has its own domain, which no checkpoint message starts with, so a signature made for one
//! can never pass as the other.

/// Domain of a deletion receipt's signature.
pub const DELETION_RECEIPT_DOMAIN: &[u8] = b"strongroom/deletion-receipt/v1\n";

/// The bytes a deletion receipt's signature covers: the domain, then the receipt's document.
pub fn deletion_receipt_message(document: &[u8]) -> Vec<u8> {
    [DELETION_RECEIPT_DOMAIN, document].concat()
}

/// Whether `signature` is `public_key`'s signature of the deletion receipt `document`.
pub fn verify_deletion_receipt(public_key: &[u8], document: &[u8], signature: &[u8]) -> bool {
    crypto::verify_signature(public_key, &deletion_receipt_message(document), signature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receipt_signature_is_bound_to_its_domain_and_document() {
        let key = crypto::SigningKey::generate().expect("key");
        let document = br#"{"tenant":"tn_1"}"#;
        let signature = key.sign(&deletion_receipt_message(document));
        assert!(verify_deletion_receipt(
            &key.public_key(),
            document,
            &signature
        ));
        assert!(!verify_deletion_receipt(
            &key.public_key(),
            br#"{"tenant":"tn_2"}"#,
            &signature
        ));
        // The same bytes signed without the domain (as another statement would be) do not pass.
        let bare = key.sign(document);
        assert!(!verify_deletion_receipt(&key.public_key(), document, &bare));
        let other = crypto::SigningKey::generate().expect("key");
        assert!(!verify_deletion_receipt(
            &other.public_key(),
            document,
            &signature
        ));
    }
}
