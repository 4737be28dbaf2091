//! [`Keyring`]: the per-scope data keys (versioned) and index keys, wrapped under a key derived
//! from the master key, MACed, and kept as `keyring.json` in two directories apart from the
//! journal.
//!
//! Every mutation writes both copies durably before it returns, with a generation number never
//! used before; reads unwrap on demand and cache the unwrapped keys in memory. This module must
//! never write an unwrapped key to disk, never hand out a key of a destroyed scope, and never
//! change its in-memory state unless both copies were written.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use crypto::{Key256, unwrap_key, wrap_key};
use serde::Serialize;

use crate::copies;
use crate::document::{
    Document, MasterKeys, ParentKey, SYSTEM_SCOPE, ScopeRecord, VersionRecord, data_aad, index_aad,
    validate_scope,
};
use crate::error::{Error, Result};
use crate::master::MasterKey;

/// What a caller may know about a scope: numbers and times, never key bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScopeInfo {
    pub scope: String,
    pub current: u32,
    pub versions: Vec<VersionInfo>,
    pub created_at: i64,
    pub destroyed_at: Option<i64>,
}

/// One key version of a scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct VersionInfo {
    pub version: u32,
    pub created_at: i64,
}

/// Which key of a scope a cache entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Slot {
    Data(u32),
    Index,
}

/// Removes every wrapped key of a scope record and marks it destroyed.
fn shred(record: &mut ScopeRecord, now: i64) {
    for version in &mut record.versions {
        version.wrapped = None;
    }
    record.index_key = None;
    record.destroyed_at = Some(now);
}

/// The keyring. Mutations take `&mut self` and persist to both locations before returning;
/// lookups take `&self` and may run concurrently.
pub struct Keyring {
    dirs: [PathBuf; 2],
    keys: MasterKeys,
    doc: Document,
    /// Highest generation ever attempted, so a failed write's number is never reused.
    last_generation: u64,
    cache: RwLock<HashMap<(String, Slot), Arc<Key256>>>,
}

impl Keyring {
    /// Creates a new, empty keyring (generation 1, no scopes) in both `dirs`; the caller then adds
    /// the `system` scope and tenant scopes with [`Keyring::add_scope`]. Refuses if a keyring
    /// file already exists in either directory.
    pub fn create(dirs: [PathBuf; 2], master: &MasterKey, now: i64) -> Result<Keyring> {
        copies::check_distinct(&dirs)?;
        for dir in &dirs {
            let path = copies::file_in(dir);
            if std::fs::symlink_metadata(&path).is_ok() {
                return Err(Error::AlreadyExists { path });
            }
        }
        let keys = MasterKeys::derive(master);
        let doc = Document::new(keys.fingerprint.clone(), now);
        let mut keyring = Keyring::assemble(dirs, keys, doc.clone());
        keyring.commit(doc, None)?;
        Ok(keyring)
    }

    /// Whether a keyring copy exists in either directory.
    pub fn exists(dirs: &[PathBuf; 2]) -> bool {
        dirs.iter()
            .any(|dir| std::fs::symlink_metadata(copies::file_in(dir)).is_ok())
    }

    /// Opens the keyring: reads both copies, keeps the newest valid one and rewrites the other if
    /// it is missing, unusable or behind. Returns one report line per repair.
    pub fn open(dirs: [PathBuf; 2], master: &MasterKey) -> Result<(Keyring, Vec<String>)> {
        copies::check_distinct(&dirs)?;
        let keys = MasterKeys::derive(master);
        let (doc, report) = copies::load(&dirs, &keys)?;
        Ok((Keyring::assemble(dirs, keys, doc), report))
    }

    fn assemble(dirs: [PathBuf; 2], keys: MasterKeys, doc: Document) -> Keyring {
        Keyring {
            dirs,
            keys,
            last_generation: doc.generation,
            doc,
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// The keyring as stored in its files (wrapped keys, MAC) and its generation: what a backup
    /// carries.
    pub fn stored(&self) -> Result<(u64, Vec<u8>)> {
        Ok((self.doc.generation, self.doc.encode(&self.keys)?))
    }

    /// The key that authenticates backup manifests ([`crate::backup_manifest_key`]).
    pub fn backup_manifest_key(&self) -> Key256 {
        Key256::from_bytes(*self.keys.backup_manifest.expose())
    }

    /// Adds a scope with data key version 1 and an index key. Returns the version (1).
    pub fn add_scope(&mut self, scope: &str, now: i64) -> Result<u32> {
        validate_scope(scope)?;
        if self.doc.scopes.contains_key(scope) {
            return Err(Error::ScopeExists(scope.to_owned()));
        }
        let data = Key256::generate();
        let index = Key256::generate();
        let record = ScopeRecord {
            created_at: now,
            current: 1,
            versions: vec![self.wrap_version(scope, 1, now, &data)],
            index_key: Some(self.wrap(&index_aad(scope), &index)),
            destroyed_at: None,
            parent: None,
        };
        let mut next = self.doc.clone();
        next.scopes.insert(scope.to_owned(), record);
        self.commit(next, None)?;
        self.remember(scope, Slot::Data(1), data);
        self.remember(scope, Slot::Index, index);
        Ok(1)
    }

    /// Starts a new data key version for `scope` and makes it current. Older versions stay
    /// readable; the index key is unchanged. Returns the new version.
    pub fn rotate(&mut self, scope: &str, now: i64) -> Result<u32> {
        let record = self.live(scope)?;
        if record.parent.is_some() {
            return Err(Error::ChildScope(scope.to_owned()));
        }
        let version = record.current.checked_add(1).ok_or_else(|| {
            Error::Corrupt(format!("scope `{scope}` has no version numbers left"))
        })?;
        let data = Key256::generate();
        let wrapped = self.wrap_version(scope, version, now, &data);
        let mut next = self.doc.clone();
        if let Some(record) = next.scopes.get_mut(scope) {
            record.versions.push(wrapped);
            record.current = version;
        }
        self.commit(next, None)?;
        self.remember(scope, Slot::Data(version), data);
        Ok(version)
    }

    /// The current version of `scope` and its data key: what new data is sealed under.
    pub fn current(&self, scope: &str) -> Result<(u32, Arc<Key256>)> {
        let version = self.live(scope)?.current;
        Ok((version, self.key(scope, version)?))
    }

    /// The data key `version` of `scope`, for opening data sealed under it.
    pub fn key(&self, scope: &str, version: u32) -> Result<Arc<Key256>> {
        let record = self.live(scope)?;
        if let Some(key) = self.cached(scope, Slot::Data(version)) {
            return Ok(key);
        }
        let wrapped = record
            .versions
            .iter()
            .find(|v| v.version == version)
            .and_then(|v| v.wrapped.as_deref())
            .ok_or_else(|| Error::UnknownVersion {
                scope: scope.to_owned(),
                version,
            })?;
        let key = self.unwrap_in(
            record,
            scope,
            &format!("version {version}"),
            &data_aad(scope, version),
            wrapped,
        )?;
        Ok(self.remember(scope, Slot::Data(version), key))
    }

    /// The index key of `scope` (blind indexes). Stable across data key rotations.
    pub fn index_key(&self, scope: &str) -> Result<Arc<Key256>> {
        let record = self.live(scope)?;
        if let Some(key) = self.cached(scope, Slot::Index) {
            return Ok(key);
        }
        let wrapped = record
            .index_key
            .as_deref()
            .ok_or_else(|| Error::Corrupt(format!("scope `{scope}` has no index key")))?;
        let key = self.unwrap_in(record, scope, "index", &index_aad(scope), wrapped)?;
        Ok(self.remember(scope, Slot::Index, key))
    }

    /// Every scope with its versions and times, destroyed ones included. No key material.
    pub fn scopes(&self) -> Vec<ScopeInfo> {
        self.doc
            .scopes
            .iter()
            .map(|(scope, record)| ScopeInfo {
                scope: scope.clone(),
                current: record.current,
                versions: record
                    .versions
                    .iter()
                    .map(|v| VersionInfo {
                        version: v.version,
                        created_at: v.created_at,
                    })
                    .collect(),
                created_at: record.created_at,
                destroyed_at: record.destroyed_at,
            })
            .collect()
    }

    /// Crypto-shredding: removes every wrapped key of `scope` (all data versions and the index
    /// key) from both copies and keeps a tombstone with the time. Afterwards every lookup fails
    /// with [`Error::Destroyed`]. Destroying a destroyed scope changes nothing. The `system`
    /// scope is refused.
    pub fn destroy_scope(&mut self, scope: &str, now: i64) -> Result<()> {
        validate_scope(scope)?;
        if scope == SYSTEM_SCOPE {
            return Err(Error::SystemScope);
        }
        let mut next = self.doc.clone();
        let record = next
            .scopes
            .get_mut(scope)
            .ok_or_else(|| Error::UnknownScope(scope.to_owned()))?;
        if record.destroyed_at.is_some() {
            return Ok(());
        }
        shred(record, now);
        // Its children (data subjects' keys) go with it: they are wrapped by its keys.
        let mut gone = vec![scope.to_owned()];
        for (child, record) in &mut next.scopes {
            let of_scope = record.parent.as_ref().is_some_and(|p| p.scope == scope);
            if of_scope && record.destroyed_at.is_none() {
                shred(record, now);
                gone.push(child.clone());
            }
        }
        self.commit(next, None)?;
        self.cache
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|(cached, _), _| !gone.contains(cached));
        Ok(())
    }

    /// Adds a child scope of `parent` (a live scope that is not a child itself): one data key
    /// version and an index key, both wrapped by the parent's current data key, so that they
    /// are useless without it and destroyed with it. Adding a child that exists changes
    /// nothing.
    pub fn add_child_scope(&mut self, scope: &str, parent: &str, now: i64) -> Result<()> {
        validate_scope(scope)?;
        if self.doc.scopes.contains_key(scope) {
            return Ok(());
        }
        if self.live(parent)?.parent.is_some() {
            return Err(Error::ChildScope(parent.to_owned()));
        }
        let (version, parent_key) = self.current(parent)?;
        let data = Key256::generate();
        let index = Key256::generate();
        let wrap =
            |aad: String, key: &Key256| STANDARD.encode(wrap_key(&parent_key, aad.as_bytes(), key));
        let record = ScopeRecord {
            created_at: now,
            current: 1,
            versions: vec![VersionRecord {
                version: 1,
                created_at: now,
                wrapped: Some(wrap(data_aad(scope, 1), &data)),
            }],
            index_key: Some(wrap(index_aad(scope), &index)),
            destroyed_at: None,
            parent: Some(ParentKey {
                scope: parent.to_owned(),
                version,
            }),
        };
        let mut next = self.doc.clone();
        next.scopes.insert(scope.to_owned(), record);
        self.commit(next, None)?;
        self.remember(scope, Slot::Data(1), data);
        self.remember(scope, Slot::Index, index);
        Ok(())
    }

    /// Whether `scope` is in the keyring (live or destroyed).
    pub fn contains(&self, scope: &str) -> bool {
        self.doc.scopes.contains_key(scope)
    }

    /// The scopes destroyed here, with when.
    pub fn destroyed(&self) -> Vec<(String, i64)> {
        self.doc
            .scopes
            .iter()
            .filter_map(|(scope, r)| r.destroyed_at.map(|at| (scope.clone(), at)))
            .collect()
    }

    /// The scopes destroyed here of which a stored copy (as [`Keyring::stored`] gave it at any
    /// time, under any master key) still holds a wrapped key: a copy for which this is not
    /// empty must go wherever it is kept (a backup destination), or a destroyed key lives on.
    pub fn destroyed_keys_in(&self, copy: &[u8]) -> Result<Vec<String>> {
        let held = crate::document::scopes_with_keys(copy)
            .map_err(|details| Error::NoValidCopy { details })?;
        Ok(held
            .into_iter()
            .filter(|scope| {
                self.doc
                    .scopes
                    .get(scope)
                    .is_some_and(|r| r.destroyed_at.is_some())
            })
            .collect())
    }

    /// Rewraps every key under `new_master` and writes both copies. The keys themselves do not
    /// change, so data sealed under them stays readable.
    pub fn rewrap(&mut self, new_master: &MasterKey) -> Result<()> {
        let new_keys = MasterKeys::derive(new_master);
        let mut next = self.doc.clone();
        next.master_fingerprint = new_keys.fingerprint.clone();
        for (scope, record) in &mut next.scopes {
            if record.parent.is_some() {
                // Wrapped by the parent's data key, which does not change.
                continue;
            }
            for version in &mut record.versions {
                if let Some(wrapped) = &mut version.wrapped {
                    let aad = data_aad(scope, version.version);
                    let key = self.unwrap(
                        scope,
                        &format!("version {}", version.version),
                        &aad,
                        wrapped,
                    )?;
                    *wrapped = STANDARD.encode(wrap_key(&new_keys.kek, aad.as_bytes(), &key));
                }
            }
            if let Some(wrapped) = &mut record.index_key {
                let aad = index_aad(scope);
                let key = self.unwrap(scope, "index", &aad, wrapped)?;
                *wrapped = STANDARD.encode(wrap_key(&new_keys.kek, aad.as_bytes(), &key));
            }
        }
        self.commit(next, Some(&new_keys))?;
        self.keys = new_keys;
        Ok(())
    }

    /// The generation of the document last written or read.
    pub fn generation(&self) -> u64 {
        self.doc.generation
    }

    /// Fingerprint of the master key the keyring is wrapped under.
    pub fn master_fingerprint(&self) -> &str {
        &self.doc.master_fingerprint
    }

    /// The two directories holding the copies.
    pub fn dirs(&self) -> &[PathBuf; 2] {
        &self.dirs
    }

    /// Writes `next` to both copies under a fresh generation, then adopts it. `keys` overrides
    /// the MAC key (for a rewrap).
    fn commit(&mut self, mut next: Document, keys: Option<&MasterKeys>) -> Result<()> {
        let generation = self.last_generation.max(self.doc.generation) + 1;
        self.last_generation = generation;
        next.generation = generation;
        copies::write_both(&self.dirs, &next, keys.unwrap_or(&self.keys))?;
        self.doc = next;
        Ok(())
    }

    /// The record of a scope that exists and is not destroyed.
    fn live(&self, scope: &str) -> Result<&ScopeRecord> {
        let record = self
            .doc
            .scopes
            .get(scope)
            .ok_or_else(|| Error::UnknownScope(scope.to_owned()))?;
        match record.destroyed_at {
            Some(at) => Err(Error::Destroyed {
                scope: scope.to_owned(),
                at,
            }),
            None => Ok(record),
        }
    }

    fn wrap(&self, aad: &str, key: &Key256) -> String {
        STANDARD.encode(wrap_key(&self.keys.kek, aad.as_bytes(), key))
    }

    fn wrap_version(&self, scope: &str, version: u32, now: i64, key: &Key256) -> VersionRecord {
        VersionRecord {
            version,
            created_at: now,
            wrapped: Some(self.wrap(&data_aad(scope, version), key)),
        }
    }

    /// Unwraps a key of `record`: under the KEK, or for a child scope under its parent's key.
    fn unwrap_in(
        &self,
        record: &ScopeRecord,
        scope: &str,
        what: &str,
        aad: &str,
        wrapped: &str,
    ) -> Result<Key256> {
        let Some(parent) = &record.parent else {
            return self.unwrap(scope, what, aad, wrapped);
        };
        let parent_key = self.key(&parent.scope, parent.version)?;
        let bytes = STANDARD.decode(wrapped).map_err(|_| Error::Unwrap {
            scope: scope.to_owned(),
            what: what.to_owned(),
            source: crypto::Error::Format("wrapped key is not base64"),
        })?;
        unwrap_key(&parent_key, aad.as_bytes(), &bytes).map_err(|source| Error::Unwrap {
            scope: scope.to_owned(),
            what: what.to_owned(),
            source,
        })
    }

    fn unwrap(&self, scope: &str, what: &str, aad: &str, wrapped: &str) -> Result<Key256> {
        let failed = |source| Error::Unwrap {
            scope: scope.to_owned(),
            what: what.to_owned(),
            source,
        };
        let bytes = STANDARD
            .decode(wrapped)
            .map_err(|_| failed(crypto::Error::Format("wrapped key is not base64")))?;
        unwrap_key(&self.keys.kek, aad.as_bytes(), &bytes).map_err(failed)
    }

    fn cached(&self, scope: &str, slot: Slot) -> Option<Arc<Key256>> {
        let cache = self.cache.read().unwrap_or_else(PoisonError::into_inner);
        cache.get(&(scope.to_owned(), slot)).cloned()
    }

    fn remember(&self, scope: &str, slot: Slot, key: Key256) -> Arc<Key256> {
        let mut cache = self.cache.write().unwrap_or_else(PoisonError::into_inner);
        cache
            .entry((scope.to_owned(), slot))
            .or_insert_with(|| Arc::new(key))
            .clone()
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("dirs", &self.dirs)
            .field("generation", &self.doc.generation)
            .field("master_fingerprint", &self.doc.master_fingerprint)
            .field("scopes", &self.doc.scopes.len())
            .finish_non_exhaustive()
    }
}
