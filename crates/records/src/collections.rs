//! Collections: create, change (a new schema version), delete when empty, find by name through
//! its blind index.

use engine::Scope;
use engine::event::{Blob, Event};
use engine::fields::FieldRef;
use engine::model::CollectionDoc;
use types::{CollectionId, TenantId};

use crate::error::invalid;
use crate::schema::{Schema, valid_name};
use crate::{Error, Records, Result};

const NAME_INDEX: &str = "strongroom/index/v1|collections|name";

/// Most collections kept opened in memory.
const MAX_CACHED: usize = 1_000;

/// Opened collections (name and schema unsealed) by tenant and name, so that a request on a
/// record does not look up, open and parse its collection each time. An entry holds the
/// [`engine::Engine::epoch`] read before the collection was read, and counts only while the
/// epoch has not moved: every collection change (and every other change of definitions) moves
/// it, so a cached schema never outlives a change. Bounded by [`MAX_CACHED`].
#[derive(Default)]
pub(crate) struct CollectionCache {
    map: std::sync::Mutex<std::collections::HashMap<(TenantId, String), (u64, Collection)>>,
}

impl CollectionCache {
    fn get(&self, tenant: TenantId, name: &str, epoch: u64) -> Option<Collection> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&(tenant, name.to_owned()))
            .filter(|(at, _)| *at == epoch)
            .map(|(_, c)| c.clone())
    }

    fn put(&self, tenant: TenantId, name: &str, epoch: u64, c: &Collection) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_CACHED {
            map.retain(|_, (at, _)| *at == epoch);
            if map.len() >= MAX_CACHED {
                map.clear();
            }
        }
        map.insert((tenant, name.to_owned()), (epoch, c.clone()));
    }
}

/// A collection as its users see it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct CollectionView {
    pub id: CollectionId,
    pub name: String,
    pub schema: Schema,
    pub version: u32,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A collection resolved for use: its document and its open schema.
#[derive(Debug, Clone)]
pub struct Collection {
    pub doc: CollectionDoc,
    pub name: String,
    pub schema: Schema,
}

fn field<'a>(tenant: TenantId, row: &'a str, name: &'static str) -> FieldRef<'a> {
    FieldRef {
        scope: Scope::Tenant(tenant),
        table: "collections",
        row,
        field: name,
    }
}

impl Records {
    fn name_index(&self, tenant: TenantId, name: &str) -> Result<Blob> {
        Ok(Blob(
            self.engine
                .blind_index(Scope::Tenant(tenant), NAME_INDEX, name.as_bytes())?
                .to_vec(),
        ))
    }

    fn open(&self, doc: CollectionDoc) -> Result<Collection> {
        let row = doc.id.to_string();
        let name = self
            .engine
            .open_field(field(doc.tenant, &row, "name"), &doc.name.0)?;
        let schema = self
            .engine
            .open_field(field(doc.tenant, &row, "schema"), &doc.schema.0)?;
        let schema: Schema =
            serde_json::from_slice(&schema).map_err(|e| Error::Corrupt(format!("schema: {e}")))?;
        Ok(Collection {
            name: String::from_utf8_lossy(&name).into_owned(),
            schema,
            doc,
        })
    }

    /// The collection named `name` in `tenant`.
    pub fn collection(&self, tenant: TenantId, name: &str) -> Result<Collection> {
        if !valid_name(name) {
            return Err(Error::NotFound("collection"));
        }
        // Read before the state: see `CollectionCache`.
        let epoch = self.engine.epoch();
        if let Some(c) = self.collections.get(tenant, name, epoch) {
            return Ok(c);
        }
        let index = self.name_index(tenant, name)?;
        let doc = self
            .engine
            .find_doc::<CollectionDoc>(&tenant.to_string(), &index.0)?
            .ok_or(Error::NotFound("collection"))?;
        let c = self.open(doc)?;
        self.collections.put(tenant, name, epoch, &c);
        Ok(c)
    }

    pub(crate) fn collection_by_id(&self, tenant: TenantId, id: &str) -> Result<Collection> {
        match self.engine.get_doc::<CollectionDoc>(id)? {
            Some(doc) if doc.tenant == tenant => self.open(doc),
            _ => Err(Error::NotFound("collection")),
        }
    }

    fn sealed(
        &self,
        tenant: TenantId,
        id: CollectionId,
        name: &str,
        schema: &Schema,
        version: u32,
        created_at: i64,
    ) -> Result<CollectionDoc> {
        let row = id.to_string();
        let json = serde_json::to_vec(schema).map_err(|e| Error::Corrupt(e.to_string()))?;
        Ok(CollectionDoc {
            id,
            tenant,
            name: Blob(
                self.engine
                    .seal_field(field(tenant, &row, "name"), name.as_bytes())?,
            ),
            name_index: self.name_index(tenant, name)?,
            schema: Blob(
                self.engine
                    .seal_field(field(tenant, &row, "schema"), &json)?,
            ),
            version,
            created_at,
            updated_at: self.engine.now().millis(),
        })
    }

    pub fn collection_view(c: &Collection) -> CollectionView {
        CollectionView {
            id: c.doc.id,
            name: c.name.clone(),
            schema: c.schema.clone(),
            version: c.doc.version,
            created_at: c.doc.created_at,
            updated_at: c.doc.updated_at,
        }
    }

    pub async fn create_collection(
        &self,
        tenant: TenantId,
        name: &str,
        schema: Schema,
    ) -> Result<CollectionView> {
        if !valid_name(name) {
            return Err(invalid("/name", "must match [a-z][a-z0-9_]{0,63}"));
        }
        schema.check().map_err(Error::Invalid)?;
        self.check_schema_references(tenant, &schema)?;
        if self.collection(tenant, name).is_ok() {
            return Err(Error::Conflict(format!(
                "a collection named {name} already exists"
            )));
        }
        let doc = self.sealed(
            tenant,
            CollectionId::random(),
            name,
            &schema,
            1,
            self.engine.now().millis(),
        )?;
        self.engine
            .commit(
                Scope::Tenant(tenant),
                &Event::CollectionSaved { doc: doc.clone() },
            )
            .await?;
        Ok(Self::collection_view(&self.open(doc)?))
    }

    fn check_schema_references(&self, tenant: TenantId, schema: &Schema) -> Result<()> {
        for (i, f) in schema.fields.iter().enumerate() {
            if let Some(target) = f.collection
                && self.collection_by_id(tenant, &target.to_string()).is_err()
            {
                return Err(invalid(
                    &format!("/schema/fields/{i}/collection"),
                    "no such collection in this tenant",
                ));
            }
        }
        Ok(())
    }

    /// Replaces the schema (a new version; existing records are not rewritten).
    pub async fn update_collection(
        &self,
        tenant: TenantId,
        name: &str,
        schema: Schema,
    ) -> Result<CollectionView> {
        schema.check().map_err(Error::Invalid)?;
        self.check_schema_references(tenant, &schema)?;
        let current = self.collection(tenant, name)?;
        let doc = self.sealed(
            tenant,
            current.doc.id,
            name,
            &schema,
            current.doc.version + 1,
            current.doc.created_at,
        )?;
        self.engine
            .commit(
                Scope::Tenant(tenant),
                &Event::CollectionSaved { doc: doc.clone() },
            )
            .await?;
        Ok(Self::collection_view(&self.open(doc)?))
    }

    /// Deletes an empty collection.
    pub async fn delete_collection(&self, tenant: TenantId, name: &str) -> Result<()> {
        let c = self.collection(tenant, name)?;
        let count = self
            .engine
            .state()
            .count_records(&c.doc.id.to_string())
            .map_err(engine::Error::from)?;
        if count > 0 {
            return Err(Error::Conflict(format!(
                "the collection still holds {count} records; delete them first"
            )));
        }
        self.engine
            .commit(
                Scope::Tenant(tenant),
                &Event::CollectionDeleted {
                    collection: c.doc.id,
                },
            )
            .await?;
        Ok(())
    }

    pub fn list_collections(&self, tenant: TenantId) -> Result<Vec<CollectionView>> {
        let docs = self
            .engine
            .list_docs::<CollectionDoc>(&tenant.to_string(), "", 1000)?;
        docs.into_iter()
            .map(|d| self.open(d).map(|c| Self::collection_view(&c)))
            .collect()
    }
}
