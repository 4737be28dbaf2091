//! The sentinels: markers that only their data holds, the reads that show all of it, and the
//! digests of the derived state (all of it, and all of tenant B's).

use engine::model::{
    AttachmentDoc, CollectionDoc, Document, IdempotencyDoc, RoleDoc, SettingsDoc, UserDoc,
};

use crate::world::{Tn, World};

impl World {
    /// The markers of tenant B's data and of A's sentinels, and the sentinel reads.
    pub fn markers(&mut self) {
        let (a, b) = (&self.a, &self.b);
        let ids = |t: &Tn| {
            let mut v = vec![
                t.viewer.clone(),
                t.role.clone(),
                t.svc.clone(),
                t.token.clone(),
                t.anchor.clone(),
            ];
            v.extend(t.records.iter().cloned());
            v.extend(t.attachment.iter().cloned());
            v
        };
        self.foreign = ids(b);
        self.foreign
            .extend([b.id.clone(), b.owner.clone(), "bravo-sentinel".to_owned()]);
        self.own = ids(a);
        self.own.push("alpha-sentinel".to_owned());
        let root = self.app.root();
        let mut reads = Vec::new();
        for (t, name) in [(a, "A"), (b, "B")] {
            let auth = t.owner_auth.clone().expect("owner");
            let base = format!("/api/v1/tenants/{}", t.id);
            reads.push((
                format!("{name} tenant"),
                format!("/api/v1/admin/tenants/{}", t.id),
                root.clone(),
            ));
            let mut paths = vec![
                format!("{base}/users/{}", t.owner),
                format!("{base}/users/{}", t.viewer),
                format!("{base}/users/{}", t.svc),
                format!("{base}/users/{}/tokens", t.svc),
                format!("{base}/roles/{}", t.role),
                format!("{base}/collections/notes"),
                format!("{base}/collections/refs"),
                format!("{base}/records/refs/{}", t.anchor),
                format!("{base}/settings"),
            ];
            paths.extend(
                t.records
                    .iter()
                    .map(|r| format!("{base}/records/notes/{r}")),
            );
            if let Some(file) = &t.attachment {
                let at = format!("{base}/records/notes/{}/attachments", t.records[0]);
                paths.extend([format!("{at}/{file}"), at]);
            }
            if name == "B" {
                paths.extend(
                    [
                        "users?limit=500",
                        "roles",
                        "collections",
                        "records/notes?limit=200",
                        "access-review",
                    ]
                    .map(|p| format!("{base}/{p}")),
                );
            }
            reads.extend(
                paths
                    .into_iter()
                    .map(|p| (format!("{name} {p}"), p, auth.clone())),
            );
        }
        self.reads = reads;
    }

    /// The digest of the whole derived state: unchanged means nothing was written.
    pub fn digest(&self) -> String {
        crypto::hex(self.app.state.engine.state().digest().expect("digest"))
    }

    /// A digest of everything the derived state holds for tenant `t`: its row, its documents
    /// (users with their sessions and tokens, invitations, roles, settings, collections with
    /// their records, idempotency entries, attachments).
    pub fn tenant_state(&self, t: &str) -> String {
        let state = self.app.state.engine.state();
        let id: types::TenantId = t.parse().expect("tenant id");
        let mut dump = format!("{:?}\n", state.find_tenant(id).expect("tenant"));
        let all = |kind, realm: &str| state.list_docs(kind, realm, "", u32::MAX).expect("docs");
        let kinds = [
            UserDoc::KIND,
            RoleDoc::KIND,
            SettingsDoc::KIND,
            CollectionDoc::KIND,
            IdempotencyDoc::KIND,
            AttachmentDoc::KIND,
        ];
        for kind in kinds {
            for doc in all(kind, t) {
                dump += &format!("{doc:?}\n");
                if kind == UserDoc::KIND {
                    for child in ["session", "token"] {
                        for c in state.children(child, &doc.id).expect("children") {
                            dump += &format!("{c:?}\n");
                        }
                    }
                }
                if kind == CollectionDoc::KIND {
                    let query = engine::RecordQuery {
                        collection: &doc.id,
                        owner: None,
                        index: &[],
                        sort: engine::Sort::Created { descending: false },
                        after: None,
                        limit: u32::MAX,
                    };
                    for r in state.list_records(&query).expect("records") {
                        dump += &format!("{r:?}\n");
                    }
                }
            }
        }
        for c in state.children("invitation", t).expect("invitations") {
            dump += &format!("{c:?}\n");
        }
        crypto::hex(crypto::sha256(dump.as_bytes()))
    }

    /// Every sentinel read back in full (status and body), and tenant B's derived state.
    pub async fn snapshot(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (label, path, auth) in &self.reads {
            let r = self
                .call("GET", path, auth, &[], None)
                .await
                .expect("request");
            out.push((label.clone(), format!("{} {}", r.status.as_u16(), r.body)));
        }
        out.push(("B derived state".to_owned(), self.tenant_state(&self.b.id)));
        out
    }
}
