//! Custom roles and tenant identity settings.

use access::{CollectionRights, RoleDef};
use engine::event::Event;
use engine::model::{RoleDoc, SettingsDoc};
use std::collections::BTreeMap;
use types::{RoleId, TenantId};

use crate::error::invalid;
use crate::tokens::valid_collection;
use crate::views::field;
use crate::{Error, Identity, Result, RoleView, SettingsView};

impl Identity {
    pub(crate) fn settings_doc(&self, tenant: TenantId) -> Result<SettingsDoc> {
        Ok(self
            .inner
            .engine
            .get_doc::<SettingsDoc>(&tenant.to_string())?
            .unwrap_or_else(|| SettingsDoc::defaults(tenant)))
    }

    pub fn settings(&self, tenant: TenantId) -> Result<SettingsView> {
        Ok(SettingsView::from(&self.settings_doc(tenant)?))
    }

    /// Changes settings: lockout threshold 1..=100, minimum password length 8..=64.
    pub async fn update_settings(
        &self,
        tenant: TenantId,
        new: SettingsView,
    ) -> Result<SettingsView> {
        if !(1..=100).contains(&new.lockout_threshold) {
            return Err(invalid("lockout_threshold", "must be 1 to 100"));
        }
        if !(8..=64).contains(&new.min_password_len) {
            return Err(invalid("min_password_len", "must be 8 to 64"));
        }
        if new
            .attachment_max_bytes
            .is_some_and(|n| !(1..=1 << 30).contains(&n))
        {
            return Err(invalid(
                "attachment_max_bytes",
                "must be 1 to 1073741824 bytes, or null for the system's limit",
            ));
        }
        let doc = SettingsDoc {
            tenant,
            mfa_required: new.mfa_required,
            lockout_threshold: new.lockout_threshold,
            min_password_len: new.min_password_len,
            attachment_max_bytes: new.attachment_max_bytes,
            updated_at: self.now(),
        };
        self.inner
            .engine
            .commit(
                engine::Scope::Tenant(tenant),
                &Event::SettingsChanged { doc: doc.clone() },
            )
            .await?;
        Ok(SettingsView::from(&doc))
    }

    fn check_role(name: &str, collections: &BTreeMap<String, CollectionRights>) -> Result<()> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(invalid(
                "name",
                "must be 1 to 100 characters without control characters",
            ));
        }
        if collections.len() > 200 {
            return Err(invalid("collections", "at most 200 entries"));
        }
        if let Some(bad) = collections.keys().find(|c| !valid_collection(c)) {
            return Err(invalid(
                "collections",
                format!(
                    "`{}` is not a collection name (letters, digits, _ or -, or *)",
                    bad.chars().take(64).collect::<String>()
                ),
            ));
        }
        Ok(())
    }

    fn role_doc(
        &self,
        tenant: TenantId,
        id: RoleId,
        name: &str,
        def: &RoleDef,
        created_at: i64,
    ) -> Result<RoleDoc> {
        let row = id.to_string();
        let json = serde_json::to_string(def).map_err(|e| Error::Credentials(e.to_string()))?;
        Ok(RoleDoc {
            id,
            tenant,
            name: self.seal_text(field(Some(tenant), "roles", &row, "name"), name.trim())?,
            def: self.seal_text(field(Some(tenant), "roles", &row, "def"), &json)?,
            created_at,
            updated_at: self.now(),
        })
    }

    pub async fn create_role(
        &self,
        tenant: TenantId,
        name: &str,
        collections: BTreeMap<String, CollectionRights>,
    ) -> Result<RoleView> {
        Self::check_role(name, &collections)?;
        let doc = self.role_doc(
            tenant,
            RoleId::random(),
            name,
            &RoleDef { collections },
            self.now(),
        )?;
        self.inner
            .engine
            .commit(
                engine::Scope::Tenant(tenant),
                &Event::RoleSaved { doc: doc.clone() },
            )
            .await?;
        self.role_view(&doc)
    }

    fn role(&self, tenant: TenantId, id: RoleId) -> Result<RoleDoc> {
        match self.inner.engine.get_doc::<RoleDoc>(&id.to_string())? {
            Some(r) if r.tenant == tenant => Ok(r),
            _ => Err(Error::NotFound("role")),
        }
    }

    pub fn get_role(&self, tenant: TenantId, id: RoleId) -> Result<RoleView> {
        self.role_view(&self.role(tenant, id)?)
    }

    pub async fn update_role(
        &self,
        tenant: TenantId,
        id: RoleId,
        name: &str,
        collections: BTreeMap<String, CollectionRights>,
    ) -> Result<RoleView> {
        Self::check_role(name, &collections)?;
        let old = self.role(tenant, id)?;
        let doc = self.role_doc(tenant, id, name, &RoleDef { collections }, old.created_at)?;
        self.inner
            .engine
            .commit(
                engine::Scope::Tenant(tenant),
                &Event::RoleSaved { doc: doc.clone() },
            )
            .await?;
        self.role_view(&doc)
    }

    /// Deletes a custom role that no user holds.
    pub async fn delete_role(&self, tenant: TenantId, id: RoleId) -> Result<()> {
        self.role(tenant, id)?;
        let role = id.to_string();
        if self.users_of(tenant)?.iter().any(|u| u.role == role) {
            return Err(Error::Conflict(
                "the role is still assigned; give its users another role first".into(),
            ));
        }
        self.inner
            .engine
            .commit(
                engine::Scope::Tenant(tenant),
                &Event::RoleDeleted { role: id },
            )
            .await?;
        Ok(())
    }

    pub fn list_roles(&self, tenant: TenantId) -> Result<Vec<RoleView>> {
        let docs = self
            .inner
            .engine
            .list_docs::<RoleDoc>(&tenant.to_string(), "", 500)?;
        docs.iter().map(|r| self.role_view(r)).collect()
    }
}
