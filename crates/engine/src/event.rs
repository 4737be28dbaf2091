//! The events the journal records. An event is serialised to JSON and sealed whole; fields a
//! tenant or user typed are sealed a second time on their own (for the state row), so the state
//! can copy them verbatim and a rebuild is byte-identical.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use types::{TenantId, TokenId};

/// Bytes that travel as base64 inside the JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob(pub Vec<u8>);

impl serde::Serialize for Blob {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(&self.0))
    }
}

impl<'de> serde::Deserialize<'de> for Blob {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        STANDARD
            .decode(s.as_bytes())
            .map(Blob)
            .map_err(serde::de::Error::custom)
    }
}

/// Tenant lifecycle status as journaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Active,
    Suspended,
}

/// Who an API token acts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenPrincipal {
    SystemAdmin,
}

impl TokenPrincipal {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenPrincipal::SystemAdmin => "system_admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        (s == "system_admin").then_some(TokenPrincipal::SystemAdmin)
    }
}

/// Every durable change.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Event {
    /// A tenant came into being; `name` is sealed under the tenant key (field AAD).
    TenantCreated { tenant: TenantId, name: Blob },
    /// A tenant was suspended or resumed.
    TenantStatusChanged { tenant: TenantId, status: Status },
    /// An API token was issued; only its hash is kept.
    TokenIssued {
        token: TokenId,
        hash: Blob,
        principal: TokenPrincipal,
    },
    /// A scope's data key got a new version (journaled under the system scope).
    KeyRotated { scope: String, version: u32 },
}

impl Event {
    pub fn kind(&self) -> &'static str {
        match self {
            Event::TenantCreated { .. } => "tenant_created",
            Event::TenantStatusChanged { .. } => "tenant_status_changed",
            Event::TokenIssued { .. } => "token_issued",
            Event::KeyRotated { .. } => "key_rotated",
        }
    }
}
