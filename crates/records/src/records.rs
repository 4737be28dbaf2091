//! Records: create (idempotent with a key), read, replace or patch with a version check,
//! delete, and list with equality filters, sort and cursor.

use engine::event::{Blob, Event};
use engine::fields::FieldRef;
use engine::model::{AttachmentDoc, IdempotencyDoc};
use engine::{RecordQuery, RecordRow, Scope, Sort};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use types::{CollectionId, RecordId, TenantId, UserId};

use crate::collections::Collection;
use crate::error::invalid;
use crate::schema::{self, FieldType};
use crate::{Error, Records, Result};

/// How long an `Idempotency-Key` is remembered.
const IDEMPOTENCY_MS: i64 = 24 * 60 * 60 * 1000;
/// Largest page.
pub const MAX_PAGE: u32 = 200;

/// A record as its users see it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct RecordView {
    pub id: RecordId,
    pub collection: String,
    pub owner: UserId,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: u64,
    /// One member per declared field.
    #[schema(value_type = Object)]
    pub data: RecordData,
}

/// A record's data: the JSON object exactly as it was stored (the encoding of a validated
/// `Map`), kept as checked text so that reading or listing records does not parse every value
/// into a tree and encode it again. Serialises as that object.
#[derive(Debug, Clone)]
pub struct RecordData(Box<RawValue>);

impl RecordData {
    /// From the bytes [`RecordData::encode`] produced (checked to be one JSON object).
    fn from_stored(bytes: &[u8]) -> Result<RecordData> {
        let raw: Box<RawValue> = serde_json::from_slice(bytes)
            .map_err(|e| Error::Corrupt(format!("record body: {e}")))?;
        if !raw.get().starts_with('{') {
            return Err(Error::Corrupt("record body is not a JSON object".into()));
        }
        Ok(RecordData(raw))
    }

    /// The stored encoding of validated data.
    fn encode(data: &Map<String, Value>) -> Result<(Vec<u8>, RecordData)> {
        let text = serde_json::to_string(data).map_err(|e| Error::Corrupt(e.to_string()))?;
        let raw = RawValue::from_string(text).map_err(|e| Error::Corrupt(e.to_string()))?;
        Ok((raw.get().as_bytes().to_vec(), RecordData(raw)))
    }

    /// The data as a JSON object.
    pub fn to_map(&self) -> Result<Map<String, Value>> {
        serde_json::from_str(self.0.get()).map_err(|e| Error::Corrupt(format!("record body: {e}")))
    }

    /// The JSON text of the object.
    pub fn as_str(&self) -> &str {
        self.0.get()
    }
}

impl PartialEq for RecordData {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

impl serde::Serialize for RecordData {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// One page of a listing; `next` is an opaque cursor.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct RecordPage {
    pub items: Vec<RecordView>,
    pub next: Option<String>,
}

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// Only records of this owner (owner-only rights).
    pub owner: Option<UserId>,
    /// Equality filters: (field, value as text).
    pub filters: Vec<(String, String)>,
    /// `created` (default), `-created`, `updated`, `-updated`.
    pub sort: Option<String>,
    pub after: Option<String>,
    pub limit: Option<u32>,
}

/// A record located (collection and row read) but still sealed.
pub struct Found {
    tenant: TenantId,
    collection: Collection,
    row: RecordRow,
    /// Who owns it, for owner-only rights.
    pub owner: UserId,
}

/// A precondition from `If-Match`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfMatch {
    Any,
    Version(u64),
}

fn body_field(tenant: TenantId, row: &str) -> FieldRef<'_> {
    FieldRef {
        scope: Scope::Tenant(tenant),
        table: "records",
        row,
        field: "body",
    }
}

impl Records {
    fn index_hashes(
        &self,
        tenant: TenantId,
        c: &Collection,
        data: &Map<String, Value>,
    ) -> Result<Vec<Blob>> {
        let mut out = Vec::new();
        for f in c.schema.fields.iter().filter(|f| f.indexed) {
            if let Some(text) = data.get(&f.name).and_then(|v| schema::canonical(f, v)) {
                out.push(Blob(self.index_hash(tenant, c, &f.name, &text)?.to_vec()));
            }
        }
        Ok(out)
    }

    /// The index hash that finds a data subject's records in every collection of the tenant
    /// (field names can not contain `$`, so no field's index hash can equal it).
    pub(crate) fn subject_hash(&self, tenant: TenantId, subject: &str) -> Result<[u8; 32]> {
        Ok(self.engine.blind_index(
            Scope::Tenant(tenant),
            "strongroom/index/v1|records|$subject",
            subject.as_bytes(),
        )?)
    }

    fn index_hash(
        &self,
        tenant: TenantId,
        c: &Collection,
        field: &str,
        canonical: &str,
    ) -> Result<[u8; 32]> {
        let domain = format!("strongroom/index/v1|records|{}|{field}", c.doc.id);
        Ok(self
            .engine
            .blind_index(Scope::Tenant(tenant), &domain, canonical.as_bytes())?)
    }

    fn check_references(
        &self,
        tenant: TenantId,
        c: &Collection,
        data: &Map<String, Value>,
    ) -> Result<()> {
        for f in c
            .schema
            .fields
            .iter()
            .filter(|f| f.kind == FieldType::Reference)
        {
            let (Some(Value::String(id)), Some(target)) = (data.get(&f.name), f.collection) else {
                continue;
            };
            let ok = self
                .engine
                .state()
                .get_record(id)
                .map_err(engine::Error::from)?
                .is_some_and(|r| {
                    r.tenant == tenant.to_string() && r.collection == target.to_string()
                });
            if !ok {
                return Err(invalid(
                    &format!("/{}", f.name),
                    "no such record in the referenced collection",
                ));
            }
        }
        Ok(())
    }

    fn view(&self, tenant: TenantId, c: &Collection, row: &RecordRow) -> Result<RecordView> {
        let plain = self
            .engine
            .open_field(body_field(tenant, &row.id), &row.body)?;
        let data = RecordData::from_stored(&plain)?;
        Ok(RecordView {
            id: row.id.parse().map_err(|e| Error::Corrupt(format!("{e}")))?,
            collection: c.name.clone(),
            owner: row
                .owner
                .parse()
                .map_err(|e| Error::Corrupt(format!("{e}")))?,
            created_at: row.created_at,
            updated_at: row.updated_at,
            version: row.version as u64,
            data,
        })
    }

    /// Creates a record owned by `owner`. With `idempotency = Some((principal, key))`, a retry
    /// returns the record the first request created (`replayed = true`).
    pub async fn create_record(
        &self,
        tenant: TenantId,
        collection: &str,
        owner: UserId,
        body: &Value,
        idempotency: Option<(&str, &str)>,
    ) -> Result<(RecordView, bool)> {
        let c = self.collection(tenant, collection)?;
        let data = schema::validate(&c.schema, body).map_err(Error::Invalid)?;
        self.check_references(tenant, &c, &data)?;
        let Some((principal, key)) = idempotency else {
            return Ok((self.insert(tenant, &c, owner, data, None).await?, false));
        };
        if key.is_empty() || key.len() > 255 {
            return Err(invalid("Idempotency-Key", "must be 1 to 255 characters"));
        }
        let id = crypto::hex(self.engine.blind_index(
            Scope::Tenant(tenant),
            "strongroom/idempotency/v1",
            format!("{principal}\0{key}").as_bytes(),
        )?);
        let request = Blob(
            self.engine
                .blind_index(
                    Scope::Tenant(tenant),
                    "strongroom/idempotency-request/v1",
                    body.to_string().as_bytes(),
                )?
                .to_vec(),
        );
        let lock = self.idempotency_lock(&id);
        let _held = lock.lock().await;
        let now = self.engine.now().millis();
        if let Some(seen) = self
            .engine
            .get_doc::<IdempotencyDoc>(&id)?
            .filter(|d| now - d.created_at < IDEMPOTENCY_MS)
        {
            if seen.request != request {
                return Err(Error::IdempotencyMismatch);
            }
            return Ok((self.get_record(tenant, collection, seen.record)?, true));
        }
        let remember = IdempotencyDoc {
            id,
            tenant,
            record: RecordId::random(),
            request,
            created_at: now,
        };
        Ok((
            self.insert(tenant, &c, owner, data, Some(remember)).await?,
            false,
        ))
    }

    async fn insert(
        &self,
        tenant: TenantId,
        c: &Collection,
        owner: UserId,
        data: Map<String, Value>,
        idem: Option<IdempotencyDoc>,
    ) -> Result<RecordView> {
        let record = idem.as_ref().map_or_else(RecordId::random, |d| d.record);
        let row = record.to_string();
        let mut index = self.index_hashes(tenant, c, &data)?;
        let subject = match c.schema.subject_of(&data) {
            Some(subject) => {
                let scope = self.engine.subject_scope(tenant, subject)?;
                self.engine.ensure_subject_key(tenant, &scope)?;
                index.push(Blob(self.subject_hash(tenant, subject)?.to_vec()));
                Some(scope)
            }
            None => None,
        };
        let (plain, data) = RecordData::encode(&data)?;
        let body = Blob(self.engine.seal_field_for(
            subject.as_deref(),
            body_field(tenant, &row),
            &plain,
        )?);
        let mut events = vec![Event::RecordCreated {
            record,
            tenant,
            collection: c.doc.id,
            owner,
            body,
            index,
        }];
        if let Some(doc) = idem {
            events.push(Event::IdempotencySaved { doc });
        }
        let committed = self
            .engine
            .commit_all(Scope::Tenant(tenant), &events)
            .await?;
        let at = committed.at.millis();
        Ok(RecordView {
            id: record,
            collection: c.name.clone(),
            owner,
            created_at: at,
            updated_at: at,
            version: 1,
            data,
        })
    }

    pub(crate) fn row(&self, tenant: TenantId, c: &Collection, id: RecordId) -> Result<RecordRow> {
        match self
            .engine
            .state()
            .get_record(&id.to_string())
            .map_err(engine::Error::from)?
        {
            Some(r) if r.tenant == tenant.to_string() && r.collection == c.doc.id.to_string() => {
                Ok(r)
            }
            _ => Err(Error::NotFound("record")),
        }
    }

    /// Whether the record exists in that collection of the tenant (by the collection's id).
    pub(crate) fn record_exists(
        &self,
        tenant: TenantId,
        collection: CollectionId,
        id: RecordId,
    ) -> Result<()> {
        let c = self.collection_by_id(tenant, &collection.to_string())?;
        self.row(tenant, &c, id).map(drop)
    }

    /// The owner of a record (for the caller's authorisation before reading or changing it).
    pub fn owner_of(&self, tenant: TenantId, collection: &str, id: RecordId) -> Result<UserId> {
        let c = self.collection(tenant, collection)?;
        self.row(tenant, &c, id)?
            .owner
            .parse()
            .map_err(|e| Error::Corrupt(format!("{e}")))
    }

    pub fn get_record(
        &self,
        tenant: TenantId,
        collection: &str,
        id: RecordId,
    ) -> Result<RecordView> {
        let c = self.collection(tenant, collection)?;
        let row = self.row(tenant, &c, id)?;
        self.view(tenant, &c, &row)
    }

    /// A record found but not opened: the caller authorises on its `owner`, then
    /// [`Records::open_record`] unseals it (one lookup for both).
    pub fn find_record(&self, tenant: TenantId, collection: &str, id: RecordId) -> Result<Found> {
        let c = self.collection(tenant, collection)?;
        let row = self.row(tenant, &c, id)?;
        let owner = row
            .owner
            .parse()
            .map_err(|e| Error::Corrupt(format!("{e}")))?;
        Ok(Found {
            tenant,
            collection: c,
            row,
            owner,
        })
    }

    /// Unseals a record [`Records::find_record`] found.
    pub fn open_record(&self, found: &Found) -> Result<RecordView> {
        self.view(found.tenant, &found.collection, &found.row)
    }

    /// Replaces (`patch = false`) or merge-patches the body, when `if_match` holds.
    pub async fn update_record(
        &self,
        tenant: TenantId,
        collection: &str,
        id: RecordId,
        body: &Value,
        patch: bool,
        if_match: Option<IfMatch>,
    ) -> Result<RecordView> {
        let c = self.collection(tenant, collection)?;
        let row = self.row(tenant, &c, id)?;
        let current = row.version as u64;
        if let Some(IfMatch::Version(v)) = if_match
            && v != current
        {
            return Err(Error::PreconditionFailed { current });
        }
        let data = if patch {
            let old = self.view(tenant, &c, &row)?.data.to_map()?;
            schema::patch(&c.schema, &old, body).map_err(Error::Invalid)?
        } else {
            schema::validate(&c.schema, body).map_err(Error::Invalid)?
        };
        self.check_references(tenant, &c, &data)?;
        let mut index = self.index_hashes(tenant, &c, &data)?;
        // The data subject is the one the record was created with; naming another (or one
        // where it had none) is refused.
        let subject = engine::fields::subject_of(&row.body).map(|(s, _)| s.to_owned());
        let named = match c.schema.subject_of(&data) {
            Some(value) => Some(self.engine.subject_scope(tenant, value)?),
            None => None,
        };
        if c.schema.fields.iter().any(|f| f.subject) && named != subject {
            return Err(Error::Conflict(
                "a record's data subject is set when it is created and can not change".into(),
            ));
        }
        if let Some(value) = c.schema.subject_of(&data).filter(|_| named.is_some()) {
            index.push(Blob(self.subject_hash(tenant, value)?.to_vec()));
        }
        let (plain, data) = RecordData::encode(&data)?;
        let sealed = Blob(self.engine.seal_field_for(
            subject.as_deref(),
            body_field(tenant, &row.id),
            &plain,
        )?);
        let version = current + 1;
        let lock = self.version_lock(&row.id);
        let _guard = lock.lock().await;
        // Re-check under the lock: a concurrent update may have won.
        let latest = self.row(tenant, &c, id)?.version as u64;
        if latest != current {
            return Err(Error::PreconditionFailed { current: latest });
        }
        let committed = self
            .engine
            .commit(
                Scope::Tenant(tenant),
                &Event::RecordUpdated {
                    record: id,
                    version,
                    body: sealed,
                    index,
                },
            )
            .await?;
        Ok(RecordView {
            id,
            collection: c.name.clone(),
            owner: row
                .owner
                .parse()
                .map_err(|e| Error::Corrupt(format!("{e}")))?,
            created_at: row.created_at,
            updated_at: committed.at.millis(),
            version,
            data,
        })
    }

    pub async fn delete_record(
        &self,
        tenant: TenantId,
        collection: &str,
        id: RecordId,
        if_match: Option<IfMatch>,
    ) -> Result<()> {
        let c = self.collection(tenant, collection)?;
        let lock = self.version_lock(&id.to_string());
        let _guard = lock.lock().await;
        let row = self.row(tenant, &c, id)?;
        if let Some(IfMatch::Version(v)) = if_match
            && v != row.version as u64
        {
            return Err(Error::PreconditionFailed {
                current: row.version as u64,
            });
        }
        // The event removes the record's attachments with it; their files follow the commit.
        let attachments: Vec<_> = self
            .engine
            .children::<AttachmentDoc>(&id.to_string())?
            .into_iter()
            .map(|a| a.id)
            .collect();
        self.engine
            .commit(Scope::Tenant(tenant), &Event::RecordDeleted { record: id })
            .await?;
        self.remove_blobs(&attachments)
    }

    pub fn list_records(
        &self,
        tenant: TenantId,
        collection: &str,
        opts: &ListOptions,
    ) -> Result<RecordPage> {
        let c = self.collection(tenant, collection)?;
        let sort = match opts.sort.as_deref().unwrap_or("created") {
            "created" => Sort::Created { descending: false },
            "-created" => Sort::Created { descending: true },
            "updated" => Sort::Updated { descending: false },
            "-updated" => Sort::Updated { descending: true },
            _ => {
                return Err(invalid(
                    "sort",
                    "use created, -created, updated or -updated",
                ));
            }
        };
        let mut index = Vec::new();
        for (field, raw) in &opts.filters {
            let path = format!("filter[{field}]");
            let f = c
                .schema
                .field(field)
                .ok_or_else(|| invalid(&path, "is not a field of this collection"))?;
            if !f.indexed {
                return Err(invalid(&path, "is not an indexed field"));
            }
            let value = schema::parse_filter(f, raw)
                .ok_or_else(|| invalid(&path, "is not a valid value for this field"))?;
            let text = schema::canonical(f, &value)
                .ok_or_else(|| invalid(&path, "is not a valid value for this field"))?;
            index.push(self.index_hash(tenant, &c, field, &text)?.to_vec());
        }
        let after = match &opts.after {
            Some(cursor) => Some(parse_cursor(cursor)?),
            None => None,
        };
        let limit = opts.limit.unwrap_or(50).clamp(1, MAX_PAGE);
        let collection_id = c.doc.id.to_string();
        let owner = opts.owner.map(|o| o.to_string());
        let q = RecordQuery {
            collection: &collection_id,
            owner: owner.as_deref(),
            index: &index,
            sort,
            after: after.as_ref().map(|(ts, id)| (*ts, id.as_str())),
            limit: limit + 1,
        };
        let rows = self
            .engine
            .state()
            .list_records(&q)
            .map_err(engine::Error::from)?;
        let more = rows.len() > limit as usize;
        let rows = &rows[..rows.len().min(limit as usize)];
        let next = match (more, rows.last()) {
            (true, Some(last)) => {
                let ts = if matches!(sort, Sort::Created { .. }) {
                    last.created_at
                } else {
                    last.updated_at
                };
                Some(format!("{ts}.{}", last.id))
            }
            _ => None,
        };
        let items = rows
            .iter()
            .map(|r| self.view(tenant, &c, r))
            .collect::<Result<Vec<_>>>()?;
        Ok(RecordPage { items, next })
    }
}

fn parse_cursor(cursor: &str) -> Result<(i64, String)> {
    let bad = || invalid("after", "is not a cursor returned by this API");
    let (ts, id) = cursor.split_once('.').ok_or_else(bad)?;
    let ts: i64 = ts.parse().map_err(|_| bad())?;
    let id: RecordId = id.parse().map_err(|_| bad())?;
    Ok((ts, id.to_string()))
}
