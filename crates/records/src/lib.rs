//! The records service (P5, P9): collections with declared schemas, records sealed under the
//! tenant key, equality filters through keyed blind indexes, optimistic concurrency (versions)
//! and idempotent creation.
//!
//! Knows neither HTTP nor SQL. Callers authorise with `access::authorize` before calling; this
//! crate applies owner-only rules to what it returns. It never stores a value a person typed
//! unsealed, and never lets a client name a storage location.

pub mod schema;
