//! Newtype ids. Every id is 128 random bits, printed as a short prefix plus 32 lowercase hex
//! digits (`tn_…`, `tk_…`, `en_…`), so an id of one kind can never be mistaken for another.

use std::fmt;
use std::str::FromStr;

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {kind} id (expected `{prefix}` followed by 32 hex digits)")]
pub struct IdError {
    pub kind: &'static str,
    pub prefix: &'static str,
    pub value: String,
}

fn random_128() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    // The OS random source failing is not recoverable: no id may be minted without it.
    #[allow(clippy::expect_used)]
    getrandom::getrandom(&mut bytes).expect("operating system random source unavailable");
    bytes
}

fn to_hex(bytes: &[u8; 16]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(32);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0x0f) as usize] as char);
    }
    out
}

fn from_hex(s: &str) -> Option<[u8; 16]> {
    let raw = s.as_bytes();
    if raw.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, pair) in raw.chunks_exact(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        if pair.iter().any(|c| c.is_ascii_uppercase()) {
            return None;
        }
        out[i] = ((hi << 4) | lo) as u8;
    }
    Some(out)
}

macro_rules! define_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name([u8; 16]);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// Mints a fresh random id.
            pub fn random() -> Self {
                Self(random_128())
            }

            pub const fn from_bytes(bytes: [u8; 16]) -> Self {
                Self(bytes)
            }

            pub const fn as_bytes(&self) -> &[u8; 16] {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}{}", $prefix, to_hex(&self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(s: &str) -> Result<Self, IdError> {
                s.strip_prefix($prefix)
                    .and_then(from_hex)
                    .map(Self)
                    .ok_or_else(|| IdError { kind: $kind, prefix: $prefix, value: s.chars().take(80).collect() })
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        /// In OpenAPI: a string of the prefix and 32 lowercase hex digits.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .pattern(Some(concat!("^", $prefix, "[0-9a-f]{32}$")))
                    .description(Some(concat!("A ", $kind, " id: `", $prefix, "` and 32 lowercase hex digits.")))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

define_id!(
    /// A tenant: one client organisation of the SaaS built on Strongroom.
    TenantId, "tenant", "tn_"
);
define_id!(
    /// An API token (its id, never its secret).
    TokenId, "token", "tk_"
);
define_id!(
    /// A journal entry, bound into the entry's associated data.
    EntryId, "entry", "en_"
);
define_id!(
    /// A user account (a person or a service account) in a tenant or the system realm.
    UserId, "user", "us_"
);
define_id!(
    /// A login session (its id, never its secret).
    SessionId, "session", "se_"
);
define_id!(
    /// A custom role of a tenant.
    RoleId, "role", "ro_"
);
define_id!(
    /// An invitation to join a tenant or the system realm.
    InvitationId, "invitation", "iv_"
);
define_id!(
    /// A collection of records in a tenant.
    CollectionId, "collection", "co_"
);
define_id!(
    /// One record of a collection.
    RecordId, "record", "rc_"
);
define_id!(
    /// A file attached to a record.
    AttachmentId, "attachment", "at_"
);
define_id!(
    /// An audit event.
    EventId, "audit event", "ev_"
);
define_id!(
    /// One HTTP request, as sent back in `X-Request-Id` and recorded in its audit events.
    RequestId, "request", "rq_"
);
define_id!(
    /// One firing of an alert rule.
    AlertId, "alert", "al_"
);
define_id!(
    /// A tenant export (P14): one archive of a tenant's data.
    ExportId, "export", "ex_"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text() {
        let id = TenantId::random();
        let text = id.to_string();
        assert!(text.starts_with("tn_") && text.len() == 35, "{text}");
        assert_eq!(text.parse::<TenantId>(), Ok(id));
    }

    #[test]
    fn malformed_ids_are_refused() {
        for bad in [
            "",
            "tn_",
            "tk_00000000000000000000000000000000",
            "tn_0000000000000000000000000000000g",
            "tn_0000000000000000000000000000000",
            "tn_00000000000000000000000000000000a",
            "tn_ABCDEF00000000000000000000000000",
            "tn_../../etc/passwd",
        ] {
            assert!(bad.parse::<TenantId>().is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn distinct_kinds_do_not_parse_as_each_other() {
        let token = TokenId::random().to_string();
        assert!(token.parse::<TenantId>().is_err());
    }
}
