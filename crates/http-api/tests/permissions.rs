//! The HTTP permission matrix: every route of the router × every kind of caller × own and other
//! tenant, each compared with an expected decision declared here (from
//! `docs/design/identity.md`, `docs/design/records.md` and each handler's **Permissions:** line).
//!
//! A case is *denied* when the answer is 401 or 403 (401 for anonymous callers, 403 for
//! everyone else) and *allowed* otherwise (404/409/422 after authorisation count as allowed).
//! Tenant routes run on tenant A's and tenant B's paths; routes naming an object also run with
//! someone else's object (the other tenant's, or for `/me` another user's), which an allowed
//! caller must get 404 (or 422) for. A refused case, or one on someone else's object, must leave
//! its target untouched. Destructive routes get a fresh target per case and routes that change
//! the caller's own credentials a fresh caller, so the order of cases cannot change an outcome.
//! Records: each tenant has the collections `notes`, `secrets` (same schema: a required, indexed
//! text `title`) and one only it has (`only_a`, `only_b`), which is the "someone else's" collection
//! on the other tenant's path. Records are made through the service with a chosen owner: someone
//! else's (the tenant's `target`, who never calls) or the caller's own, so owner-only rights are
//! tested both ways; someone else's record id on a path is the other tenant's record.
//! Reproduce with `cargo test -p http-api --test permissions -- --nocapture`.

mod common;
#[path = "common/routes.rs"]
mod routes;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use axum::http::{Method, StatusCode};
use common::{App, Auth};
use credentials::TotpSecret;
use serde_json::{Value, json};

const ORIGIN: &str = "https://strongroom.test";
const NEW_PASSWORD: &str = "an entirely different passphrase 4242";
/// The title of every record made for a case (a changed record no longer has it).
const ORIGINAL: &str = "original";
/// The schema of every collection of the fixture.
const SCHEMA: &str = r#"{"fields":[{"name":"title","type":"text","required":true,"indexed":true,"max_length":200}]}"#;

/// Index of a tenant in `World::t`: 0 = A, 1 = B.
type Tn = usize;

/// Callers. `Custom`: a custom role (notes read + create + update, owner only; nothing on other
/// collections). `SvcToken`: a token of a service account whose role is admin; `UserToken`: an
/// owner's own token (both `*` × all). `NarrowToken`: a token of the admin service account with
/// scopes notes × {read, create} (the scopes narrow the role). `DemotedToken`: a token issued
/// with notes × all to an editor service account that was made a viewer afterwards (the role
/// narrows the scopes). `Restricted`: an admin who has not enrolled TOTP. `CookieAdmin`: an
/// admin's browser session (cookie, CSRF token, same Origin); `CookieNoCsrf`: the same without
/// the CSRF token.
#[rustfmt::skip]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Anon, Root, SysAdmin, Owner, Admin, Editor, Viewer, Custom, SvcToken, UserToken, NarrowToken,
    DemotedToken, Restricted, CookieAdmin, CookieNoCsrf,
}

use Kind::*;

#[rustfmt::skip]
const CALLERS: [(Kind, Option<Tn>); 17] = [
    (Anon, None), (Root, None), (SysAdmin, None), (Owner, Some(0)), (Admin, Some(0)),
    (Editor, Some(0)), (Viewer, Some(0)), (Custom, Some(0)), (SvcToken, Some(0)),
    (UserToken, Some(0)), (NarrowToken, Some(0)), (DemotedToken, Some(0)), (Restricted, Some(0)),
    (CookieAdmin, Some(0)), (CookieNoCsrf, Some(0)), (Owner, Some(1)), (Admin, Some(1)),
];

impl Kind {
    fn role(self) -> &'static str {
        match self {
            Owner | UserToken => "owner",
            Admin | SvcToken | NarrowToken | Restricted | CookieAdmin | CookieNoCsrf => "admin",
            Editor => "editor",
            Viewer | DemotedToken => "viewer",
            Custom => "custom",
            Anon | Root | SysAdmin => "",
        }
    }

    fn is_session(self) -> bool {
        !matches!(
            self,
            Anon | Root | SvcToken | UserToken | NarrowToken | DemotedToken
        )
    }
}

/// Tenant administration rights (identity.md): owners hold all, admins all but `ManageOwners`
/// and `DeleteTenant`.
#[rustfmt::skip]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Adm {
    ReadUsers, ManageUsers, ManageOwners, ManageRoles, ManageTokens, ManageSettings, Review,
    /// `DeleteTenant` (data-rights.md: owners only).
    DeleteTenant,
    /// `EraseSubject` (data-rights.md: owners and admins).
    EraseSubject,
    /// `ManageCollections` (records.md: owner, admin).
    Collections,
    /// `ExportTenant` (data-rights.md: owner, admin).
    Export,
}

/// A record action (records.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    Read,
    Create,
    Update,
    Delete,
}

/// A caller's record rights on a collection of its own tenant — (read, create, update, delete)
/// and owner only — from identity.md's role table, for tokens narrowed to scopes ∩ role.
/// `notes`: the collection is `notes` (the one collection the custom role and the narrow
/// tokens name).
fn record_rights(kind: Kind, notes: bool) -> ([bool; 4], bool) {
    const ALL: [bool; 4] = [true; 4];
    const READ: [bool; 4] = [true, false, false, false];
    match kind {
        Owner | Admin | Editor | CookieAdmin | CookieNoCsrf | SvcToken | UserToken => (ALL, false),
        Viewer => (READ, false),
        Custom if notes => ([true, true, true, false], true),
        // notes × {read, create} ∩ admin.
        NarrowToken if notes => ([true, true, false, false], false),
        // notes × all ∩ viewer.
        DemotedToken if notes => (READ, false),
        // Restricted sessions: nothing (identity.md); system administrators: no right over
        // records; anonymous callers: nothing; the custom role and the tokens elsewhere: nothing.
        _ => ([false; 4], false),
    }
}

/// Who a route admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    Anyone,
    /// A system administrator (bootstrap token or session).
    System,
    /// Any credential with an account: sessions (restricted too) and member tokens.
    Account,
    /// Any session, restricted included (logout, MFA enrolment).
    AnySession,
    /// The caller's own account: unrestricted sessions only.
    Own,
    /// Own API tokens: unrestricted sessions of tenant members.
    OwnMember,
    /// Removing TOTP: unrestricted sessions of users for whom MFA is optional.
    OptionalMfa,
    /// The CSRF token: cookie sessions.
    Cookie,
    /// A tenant administration right in the path's tenant, through a session.
    Tenant(Adm),
    /// `ReadCollections`: any member of the path's tenant, sessions and tokens (not restricted
    /// sessions, which may do nothing but enrol).
    Member,
    /// A record right in the path's tenant (see [`record_rights`]).
    Record(Act),
}

/// What a records case works on: the collection is `notes` (not `secrets` or another tenant's
/// collection); the record is someone else's (owner-only rights refuse it).
#[derive(Debug, Clone, Copy, Default)]
struct Obj {
    notes: bool,
    theirs: bool,
}

fn expected(need: Need, method: &str, kind: Kind, tn: Option<Tn>, path_tn: Tn, obj: Obj) -> bool {
    if need == Need::Anyone {
        return true;
    }
    if kind == CookieNoCsrf && method != "GET" {
        return false; // the CSRF defence
    }
    let full = kind.is_session() && kind != Restricted;
    match need {
        Need::Anyone => true,
        Need::System => matches!(kind, Root | SysAdmin),
        Need::Account => !matches!(kind, Anon | Root),
        Need::AnySession => kind.is_session(),
        Need::Own => full,
        Need::OwnMember => full && kind != SysAdmin,
        Need::OptionalMfa => matches!(kind, Editor | Viewer | Custom),
        Need::Cookie => matches!(kind, CookieAdmin | CookieNoCsrf),
        Need::Tenant(a) => {
            let owner_only = matches!(a, Adm::ManageOwners | Adm::DeleteTenant);
            let grants = kind.role() == "owner" || (kind.role() == "admin" && !owner_only);
            full && tn == Some(path_tn) && grants
        }
        Need::Member => kind != Restricted && tn == Some(path_tn),
        Need::Record(act) => {
            let (rights, owner_only) = record_rights(kind, obj.notes);
            tn == Some(path_tn) && rights[act as usize] && !(owner_only && obj.theirs)
        }
    }
}

/// What a case creates before it runs: a fresh caller (`Fresh*`, `MySession`) or the object the
/// path names (`New*` fresh per case; `Target`, `Svc`, `Role` fixed and never changed).
/// `Coll`: a fixed collection (someone else's: the other tenant's own collection); `NewColl`: a
/// fresh empty collection; `Rec`: a record of a collection (someone else's: the other tenant's);
/// `Att`: an attachment of such a record (`Fixed`: the fixed record's, never deleted).
#[rustfmt::skip]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Set {
    No, Fresh, FreshTotp, MySession, MyToken, NewTenant, Target, NewViewer, NewOwner, Svc,
    NewToken, Role, NewRole, Coll(Cn), NewColl, Rec(Cn, Whose), Att(Cn, Whose),
    /// The tenant's fixed, completed export.
    Exp,
}

/// The fixed collections every tenant has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cn {
    Notes,
    Secrets,
}

impl Cn {
    fn name(self) -> &'static str {
        match self {
            Cn::Notes => "notes",
            Cn::Secrets => "secrets",
        }
    }
}

/// Whose record a case works on: `Fixed` (the tenant's target's, never changed), `New` (a fresh
/// one of the target's), `Mine` (a fresh one of the caller's; the target's when the caller has
/// no account in the tenant).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Whose {
    Fixed,
    New,
    Mine,
}

/// One route: name, method, path (`/t` stands for `/api/v1/tenants/{tenant}`), who may call it,
/// the set-up, and a body template whose `{placeholders}` are filled per case.
type Row = (
    &'static str,
    &'static str,
    &'static str,
    Need,
    Set,
    &'static str,
);

#[rustfmt::skip]
const ROUTES: [Row; 100] = {
    use {Adm::*, Cn::*, Need::*, Set::*, Whose::*};
    [
    ("healthz", "GET", "/healthz", Anyone, No, ""),
    ("readyz", "GET", "/readyz", Anyone, No, ""),
    ("openapi", "GET", "/api/v1/openapi.json", Anyone, No, ""),
    ("metrics", "GET", "/metrics", System, No, ""),
    ("login", "POST", "/api/v1/auth/login", Anyone, No, r#"{"tenant":"{a}","email":"{viewer_email}","password":"{viewer_password}"}"#),
    ("mfa", "POST", "/api/v1/auth/mfa", Anyone, No, r#"{"challenge":"{challenge}","recovery_code":"{recovery}"}"#),
    ("accept", "POST", "/api/v1/invitations/accept", Anyone, No, r#"{"token":"{invitation}","password":"{new_password}"}"#),
    ("reset finish", "POST", "/api/v1/password-reset", Anyone, No, r#"{"token":"{reset}","password":"{new_password}"}"#),
    ("create tenant", "POST", "/api/v1/admin/tenants", System, No, r#"{"name":"Tenant {n}"}"#),
    ("list tenants", "GET", "/api/v1/admin/tenants", System, No, ""),
    ("show tenant", "GET", "/api/v1/admin/tenants/{id}", System, No, ""),
    ("suspend", "POST", "/api/v1/admin/tenants/{id}/suspend", System, NewTenant, ""),
    ("resume", "POST", "/api/v1/admin/tenants/{id}/resume", System, NewTenant, ""),
    ("invite first owner", "POST", "/api/v1/admin/tenants/{id}/invitations", System, No, r#"{"email":"{email}"}"#),
    ("invite system admin", "POST", "/api/v1/admin/invitations", System, No, r#"{"email":"{email}"}"#),
    ("me", "GET", "/api/v1/me", Account, No, ""),
    ("my sessions", "GET", "/api/v1/me/sessions", Own, No, ""),
    ("revoke my session", "DELETE", "/api/v1/me/sessions/{id}", Own, MySession, ""),
    ("password", "POST", "/api/v1/me/password", Own, Fresh, r#"{"current_password":"{password}","new_password":"{new_password}"}"#),
    ("totp begin", "POST", "/api/v1/me/mfa/totp", AnySession, Fresh, r#"{"password":"{password}"}"#),
    ("totp confirm", "POST", "/api/v1/me/mfa/totp/confirm", AnySession, Fresh, r#"{"code":"{enrol_code}"}"#),
    ("totp remove", "POST", "/api/v1/me/mfa/totp/remove", OptionalMfa, FreshTotp, r#"{"password":"{password}","code":"{code}"}"#),
    ("recovery codes", "POST", "/api/v1/me/mfa/recovery-codes", Own, FreshTotp, r#"{"password":"{password}","code":"{code}"}"#),
    ("my tokens", "GET", "/api/v1/me/tokens", Own, No, ""),
    ("create my token", "POST", "/api/v1/me/tokens", OwnMember, No, r#"{"scopes":[{"collection":"notes","actions":["read"]}],"expires_in_days":30}"#),
    ("revoke my token", "DELETE", "/api/v1/me/tokens/{id}", Own, MyToken, ""),
    ("logout", "POST", "/api/v1/auth/logout", AnySession, Fresh, ""),
    ("csrf", "GET", "/api/v1/auth/csrf", Cookie, No, ""),
    ("users", "GET", "/t/users", Tenant(ReadUsers), No, ""),
    ("show user", "GET", "/t/users/{user}", Tenant(ReadUsers), Target, ""),
    ("delete user", "DELETE", "/t/users/{user}", Tenant(ManageUsers), NewViewer, ""),
    ("disable", "POST", "/t/users/{user}/disable", Tenant(ManageUsers), NewViewer, ""),
    ("enable", "POST", "/t/users/{user}/enable", Tenant(ManageUsers), NewViewer, ""),
    ("unlock", "POST", "/t/users/{user}/unlock", Tenant(ManageUsers), NewViewer, ""),
    ("set role", "PUT", "/t/users/{user}/role", Tenant(ManageUsers), NewViewer, r#"{"role":"editor"}"#),
    ("reset start", "POST", "/t/users/{user}/password-reset", Tenant(ManageUsers), NewViewer, ""),
    ("user tokens", "GET", "/t/users/{user}/tokens", Tenant(ManageTokens), Target, ""),
    ("invite", "POST", "/t/invitations", Tenant(ManageUsers), No, r#"{"email":"{email}","role":"viewer"}"#),
    ("create service", "POST", "/t/service-accounts", Tenant(ManageUsers), No, r#"{"name":"svc {n}","role":"viewer"}"#),
    ("service token", "POST", "/t/service-accounts/{user}/tokens", Tenant(ManageTokens), Svc, r#"{"scopes":[{"collection":"notes","actions":["read"]}],"expires_in_days":30}"#),
    ("revoke token", "DELETE", "/t/tokens/{token}", Tenant(ManageTokens), NewToken, ""),
    ("roles", "GET", "/t/roles", Tenant(ManageRoles), No, ""),
    ("create role", "POST", "/t/roles", Tenant(ManageRoles), No, r#"{"name":"role {n}","collections":{"*":{"read":true}}}"#),
    ("show role", "GET", "/t/roles/{role}", Tenant(ManageRoles), Role, ""),
    ("update role", "PUT", "/t/roles/{role}", Tenant(ManageRoles), NewRole, r#"{"name":"role {n}","collections":{"*":{"read":true}}}"#),
    ("delete role", "DELETE", "/t/roles/{role}", Tenant(ManageRoles), NewRole, ""),
    ("settings", "GET", "/t/settings", Tenant(ManageSettings), No, ""),
    ("put settings", "PUT", "/t/settings", Tenant(ManageSettings), No, "{settings}"),
    ("access review", "GET", "/t/access-review", Tenant(Review), No, ""),
    ("audit trail", "GET", "/t/audit", Tenant(Review), No, ""),
    ("system audit trail", "GET", "/api/v1/admin/audit", System, No, ""),
    ("audit export", "GET", "/api/v1/admin/audit/stream", System, No, ""),
    ("backup status", "GET", "/api/v1/admin/backups", System, No, ""),
    ("backup run", "POST", "/api/v1/admin/backups", System, No, r#"{"run":"ship"}"#),
    ("tenant restore", "POST", "/api/v1/admin/tenants/{id}/restore", System, No, r#"{"at":0}"#),
    ("disable owner", "POST", "/t/users/{user}/disable", Tenant(ManageOwners), NewOwner, ""),
    ("delete owner", "DELETE", "/t/users/{user}", Tenant(ManageOwners), NewOwner, ""),
    ("demote owner", "PUT", "/t/users/{user}/role", Tenant(ManageOwners), NewOwner, r#"{"role":"viewer"}"#),
    ("reset owner", "POST", "/t/users/{user}/password-reset", Tenant(ManageOwners), NewOwner, ""),
    ("promote to owner", "PUT", "/t/users/{user}/role", Tenant(ManageOwners), NewViewer, r#"{"role":"owner"}"#),
    ("invite owner", "POST", "/t/invitations", Tenant(ManageOwners), No, r#"{"email":"{email}","role":"owner"}"#),
    ("foreign role", "PUT", "/t/users/{user}/role", Tenant(ManageUsers), NewViewer, r#"{"role":"{other_custom}"}"#),
    ("collections", "GET", "/t/collections", Member, No, ""),
    ("create collection", "POST", "/t/collections", Tenant(Collections), No, r#"{"name":"c{n}","schema":{schema}}"#),
    ("show collection", "GET", "/t/collections/{collection}", Member, Coll(Notes), ""),
    ("update collection", "PUT", "/t/collections/{collection}", Tenant(Collections), NewColl, r#"{"schema":{"fields":[{"name":"title","type":"text","required":true},{"name":"extra","type":"number"}]}}"#),
    ("delete collection", "DELETE", "/t/collections/{collection}", Tenant(Collections), NewColl, ""),
    ("list records", "GET", "/t/records/{collection}", Record(Act::Read), Coll(Notes), ""),
    ("create record", "POST", "/t/records/{collection}", Record(Act::Create), Coll(Notes), r#"{"title":"case_{n}"}"#),
    ("show record", "GET", "/t/records/{collection}/{record}", Record(Act::Read), Rec(Notes, Fixed), ""),
    ("replace record", "PUT", "/t/records/{collection}/{record}", Record(Act::Update), Rec(Notes, New), r#"{"title":"replaced"}"#),
    ("patch record", "PATCH", "/t/records/{collection}/{record}", Record(Act::Update), Rec(Notes, New), r#"{"title":"patched"}"#),
    ("delete record", "DELETE", "/t/records/{collection}/{record}", Record(Act::Delete), Rec(Notes, New), ""),
    ("show own record", "GET", "/t/records/{collection}/{record}", Record(Act::Read), Rec(Notes, Mine), ""),
    ("replace own record", "PUT", "/t/records/{collection}/{record}", Record(Act::Update), Rec(Notes, Mine), r#"{"title":"replaced"}"#),
    ("patch own record", "PATCH", "/t/records/{collection}/{record}", Record(Act::Update), Rec(Notes, Mine), r#"{"title":"patched"}"#),
    ("delete own record", "DELETE", "/t/records/{collection}/{record}", Record(Act::Delete), Rec(Notes, Mine), ""),
    ("list records (secrets)", "GET", "/t/records/{collection}", Record(Act::Read), Coll(Secrets), ""),
    ("create record (secrets)", "POST", "/t/records/{collection}", Record(Act::Create), Coll(Secrets), r#"{"title":"case_{n}"}"#),
    ("show record (secrets)", "GET", "/t/records/{collection}/{record}", Record(Act::Read), Rec(Secrets, Fixed), ""),
    ("list attachments", "GET", "/t/records/{collection}/{record}/attachments", Record(Act::Read), Rec(Notes, Fixed), ""),
    ("upload attachment", "POST", "/t/records/{collection}/{record}/attachments?name=case.json", Record(Act::Update), Rec(Notes, New), r#"{"file":"{n}"}"#),
    ("download attachment", "GET", "/t/records/{collection}/{record}/attachments/{attachment}", Record(Act::Read), Att(Notes, Fixed), ""),
    ("delete attachment", "DELETE", "/t/records/{collection}/{record}/attachments/{attachment}", Record(Act::Update), Att(Notes, New), ""),
    ("upload own attachment", "POST", "/t/records/{collection}/{record}/attachments?name=case.json", Record(Act::Update), Rec(Notes, Mine), r#"{"file":"{n}"}"#),
    ("download own attachment", "GET", "/t/records/{collection}/{record}/attachments/{attachment}", Record(Act::Read), Att(Notes, Mine), ""),
    ("delete own attachment", "DELETE", "/t/records/{collection}/{record}/attachments/{attachment}", Record(Act::Update), Att(Notes, Mine), ""),
    ("download attachment (secrets)", "GET", "/t/records/{collection}/{record}/attachments/{attachment}", Record(Act::Read), Att(Secrets, Fixed), ""),
    // An allowed caller gets 400 (grace 0) before the password is checked: nothing changes.
    ("request deletion", "POST", "/t/deletion", Tenant(DeleteTenant), No, r#"{"password":"{password}","grace_days":0}"#),
    ("cancel deletion by code", "POST", "/t/deletion/cancel", Anyone, No, r#"{"cancel_code":"src_not-a-code"}"#),
    ("request deletion (admin)", "POST", "/api/v1/admin/tenants/{id}/deletion", System, No, r#"{"grace_days":0}"#),
    ("show deletion", "GET", "/api/v1/admin/tenants/{id}/deletion", System, No, ""),
    ("cancel deletion (admin)", "POST", "/api/v1/admin/tenants/{id}/deletion/cancel", System, No, ""),
    ("deletions", "GET", "/api/v1/admin/deletions", System, No, ""),
    // An allowed caller gets 404 (nobody was ever this subject): nothing changes.
    ("erase subject", "POST", "/t/subjects/erase", Tenant(EraseSubject), No, r#"{"subject":"nobody {n}"}"#),
    ("request export", "POST", "/t/exports", Tenant(Export), No, ""),
    ("exports", "GET", "/t/exports", Tenant(Export), No, ""),
    ("show export", "GET", "/t/exports/{export}", Tenant(Export), Exp, ""),
    ("export link", "POST", "/t/exports/{export}/link", Tenant(Export), Exp, ""),
    ("export download", "GET", "/api/v1/export-downloads/{token}", Anyone, No, ""),
    ]
};

fn full_path(row: &Row) -> String {
    row.2.replacen("/t/", "/api/v1/tenants/{tenant}/", 1)
}

/// A caller's credential and what the cases need to know about it.
#[derive(Debug, Clone)]
struct Cred {
    auth: Auth,
    /// The same session as a bearer (for set-up, which needs no CSRF dance).
    bearer: Auth,
    email: String,
    password: String,
    session_id: Option<String>,
    totp: Option<Arc<TotpSecret>>,
    recovery: Vec<String>,
    /// The account the credential acts for (records it creates are its own).
    user: Option<String>,
}

impl Cred {
    fn token(auth: Auth) -> Cred {
        let password = "nobody's password 1".to_owned();
        let (email, session_id, totp, recovery) = (String::new(), None, None, Vec::new());
        Cred {
            bearer: auth.clone(),
            auth,
            email,
            password,
            session_id,
            totp,
            recovery,
            user: None,
        }
    }

    fn of(auth: Auth, user: &str) -> Cred {
        Cred {
            user: Some(user.to_owned()),
            ..Cred::token(auth)
        }
    }
}

/// Fixed objects of one tenant: its owner, a viewer cases only read (`target`), a custom role
/// nobody holds (`role`), the custom role of `Custom` callers, service accounts (editor, admin),
/// the collection only this tenant has (`only`), and one record of the target's in `notes` and
/// in `secrets` (`fixed`, by `Cn`), each with one attachment (`fixed_att`).
#[derive(Default)]
struct Ten {
    id: String,
    owner: Option<Auth>,
    owner_id: String,
    target: String,
    role: String,
    custom: String,
    svc: String,
    svc_admin: String,
    only: String,
    fixed: [String; 2],
    fixed_att: [String; 2],
    /// A completed export.
    export: String,
}

struct World {
    app: App,
    n: AtomicU32,
    t: Vec<Ten>,
    callers: Vec<((Kind, Option<Tn>), Cred)>,
    settings: Value,
    /// A viewer of A who never calls: its session and its token (id, secret) are the objects
    /// of someone else that `/me` routes must not reach.
    victim: Cred,
    victim_token: (String, String),
}

/// Values of body placeholders found while filling one body; one case: caller, path, body.
type Memo = Vec<(String, String)>;
type Case = (Cred, String, Option<Value>);

fn text(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
        .to_owned()
}

fn scopes(collection: &str, actions: &[&str]) -> Value {
    json!([{ "collection": collection, "actions": actions }])
}

impl World {
    async fn new() -> World {
        let (app, n, t, callers) = (App::new().await, AtomicU32::new(0), Vec::new(), Vec::new());
        let (settings, victim, victim_token) =
            (Value::Null, Cred::token(Auth::None), <_>::default());
        let mut w = World {
            app,
            n,
            t,
            callers,
            settings,
            victim,
            victim_token,
        };
        for name in ["Alpha", "Bravo"] {
            let id = w.app.create_tenant(name).await;
            w.t.push(Ten {
                id,
                ..Ten::default()
            });
        }
        for i in 0..2 {
            let owner = w.make(Owner, Some(i), false).await;
            w.t[i].owner = Some(owner.bearer.clone());
            w.t[i].owner_id = owner.user.clone().expect("owner id");
            w.callers.push(((Owner, Some(i)), owner));
            w.t[i].target = w.fresh_user(i, "viewer").await;
            w.t[i].role = w.create_role(i, json!({ "notes": { "read": true } })).await;
            let notes = json!({ "notes": {
                "read": true, "create": true, "update": true, "owner_only": true
            } });
            w.t[i].custom = w.create_role(i, notes).await;
            w.t[i].svc = w.service_account(i, "editor").await;
            w.t[i].svc_admin = w.service_account(i, "admin").await;
            w.t[i].only = format!("only_{}", ["a", "b"][i]);
            for name in ["notes", "secrets", w.t[i].only.as_str()] {
                w.create_collection(i, name).await;
            }
            let target = w.t[i].target.clone();
            for cn in [Cn::Notes, Cn::Secrets] {
                let record = w.fresh_record(i, cn.name(), &target).await;
                w.t[i].fixed_att[cn as usize] = w.fresh_attachment(i, cn.name(), &record).await;
                w.t[i].fixed[cn as usize] = record;
            }
            w.t[i].export = w.fresh_export(i).await;
        }
        let path = format!("{}/settings", w.base(0));
        w.settings = w.expect("GET", &path, &w.owner(0), Value::Null, 200).await;
        for (kind, tn) in CALLERS {
            if w.callers.iter().all(|(k, _)| *k != (kind, tn)) {
                let cred = w.make(kind, tn, false).await;
                w.callers.push(((kind, tn), cred));
            }
        }
        // The custom-role user owns a record of A's notes: its owner-only listing is not empty.
        let custom = w.shared(Custom, Some(0)).user.clone().expect("custom user");
        w.fresh_record(0, "notes", &custom).await;
        let email = w.email();
        let (_, password) = w.app.add_user(&w.t[0].id, &email, "viewer").await;
        w.victim = w.sign_in(Some(&w.t[0].id), &email, &password, false).await;
        let body = json!({ "scopes": scopes("notes", &["read"]), "expires_in_days": 30 });
        let b = w.created("/api/v1/me/tokens", &w.victim.bearer, body).await;
        w.victim_token = (text(&b["token"]["id"]), text(&b["secret"]));
        w
    }

    fn next(&self) -> u32 {
        self.n.fetch_add(1, Ordering::Relaxed)
    }

    fn email(&self) -> String {
        format!("u{}@example.test", self.next())
    }

    fn owner(&self, tn: Tn) -> Auth {
        self.t[tn].owner.clone().expect("owner")
    }

    fn base(&self, tn: Tn) -> String {
        format!("/api/v1/tenants/{}", self.t[tn].id)
    }

    fn shared(&self, kind: Kind, tn: Option<Tn>) -> &Cred {
        let found = self.callers.iter().find(|(k, _)| *k == (kind, tn));
        &found.expect("shared caller").1
    }

    /// A request that must answer `want` (`body` Null: none); returns the body.
    async fn expect(&self, m: &str, path: &str, auth: &Auth, body: Value, want: u16) -> Value {
        let method = Method::from_bytes(m.as_bytes()).expect("method");
        let body = (!body.is_null()).then_some(body);
        let r = self.app.send(method, path, auth, body).await;
        assert_eq!(r.status.as_u16(), want, "{m} {path}: {}", r.body);
        r.body
    }

    async fn created(&self, path: &str, auth: &Auth, body: Value) -> Value {
        self.expect("POST", path, auth, body, 201).await
    }

    async fn fresh_user(&self, tn: Tn, role: &str) -> String {
        let (id, email) = (&self.t[tn].id, self.email());
        self.app.add_user(id, &email, role).await.0
    }

    async fn create_role(&self, tn: Tn, collections: Value) -> String {
        let body = json!({ "name": format!("role {}", self.next()), "collections": collections });
        let path = format!("{}/roles", self.base(tn));
        text(&self.created(&path, &self.owner(tn), body).await["id"])
    }

    async fn create_collection(&self, tn: Tn, name: &str) {
        let schema: Value = serde_json::from_str(SCHEMA).expect("schema");
        let path = format!("{}/collections", self.base(tn));
        let body = json!({ "name": name, "schema": schema });
        self.created(&path, &self.owner(tn), body).await;
    }

    /// A new, empty collection of `tn`; its name.
    async fn fresh_collection(&self, tn: Tn) -> String {
        let name = format!("c{}", self.next());
        self.create_collection(tn, &name).await;
        name
    }

    /// A new record (titled `ORIGINAL`) of `owner` in a collection of `tn`, made through the
    /// service (the owner need not be able to create it); its id.
    async fn fresh_record(&self, tn: Tn, collection: &str, owner: &str) -> String {
        let tenant: types::TenantId = self.t[tn].id.parse().expect("tenant id");
        let owner: types::UserId = owner.parse().expect("user id");
        let body = json!({ "title": ORIGINAL });
        let records = &self.app.state.records;
        let made = records.create_record(tenant, collection, owner, &body, None);
        made.await.expect("record").0.id.to_string()
    }

    /// A new attachment of a record of `tn`, made through the service; its id.
    async fn fresh_attachment(&self, tn: Tn, collection: &str, record: &str) -> String {
        let tenant: types::TenantId = self.t[tn].id.parse().expect("tenant id");
        let record: types::RecordId = record.parse().expect("record id");
        let records = &self.app.state.records;
        let made = records.add_attachment(tenant, collection, record, "f.txt", "text/plain", b"f");
        made.await.expect("attachment").id.to_string()
    }

    /// A completed export of `tn`, made through the service; its id.
    async fn fresh_export(&self, tn: Tn) -> String {
        let tenant: types::TenantId = self.t[tn].id.parse().expect("tenant id");
        let owner: types::UserId = self.t[tn].owner_id.parse().expect("owner id");
        let exports = &self.app.state.exports;
        let (view, _) = exports.request(tenant, owner).await.expect("export");
        let done = exports
            .finished(tenant, view.id)
            .await
            .expect("export ends");
        assert_eq!(done.status, "completed", "{done:?}");
        view.id.to_string()
    }

    async fn fresh_role(&self, tn: Tn) -> String {
        self.create_role(tn, json!({ "notes": { "read": true } }))
            .await
    }

    async fn service_account(&self, tn: Tn, role: &str) -> String {
        let body = json!({ "name": format!("svc {}", self.next()), "role": role });
        let path = format!("{}/service-accounts", self.base(tn));
        text(&self.created(&path, &self.owner(tn), body).await["id"])
    }

    /// A new token of a service account: (id, secret).
    async fn service_token(&self, tn: Tn, svc: &str, scopes: Value) -> (String, String) {
        let path = format!("{}/service-accounts/{svc}/tokens", self.base(tn));
        let body = json!({ "scopes": scopes, "expires_in_days": 30 });
        let b = self.created(&path, &self.owner(tn), body).await;
        (text(&b["token"]["id"]), text(&b["secret"]))
    }

    /// A new token (notes × read) of the editor service account of `tn`; its id.
    async fn fresh_token(&self, tn: Tn) -> String {
        let svc = &self.t[tn].svc;
        self.service_token(tn, svc, scopes("notes", &["read"]))
            .await
            .0
    }

    /// A new token of the session's own account (notes × read); its id.
    async fn own_token(&self, session: &Auth) -> String {
        let body = json!({ "scopes": scopes("notes", &["read"]), "expires_in_days": 30 });
        text(&self.created("/api/v1/me/tokens", session, body).await["token"]["id"])
    }

    /// Starts a TOTP enrolment through the bearer session; returns the secret.
    async fn begin(&self, cred: &Cred) -> TotpSecret {
        let body = json!({ "password": cred.password });
        let b = self
            .created_ok("/api/v1/me/mfa/totp", &cred.bearer, body)
            .await;
        TotpSecret::from_bytes(common::base32_decode(&text(&b["secret"]))).expect("secret")
    }

    async fn created_ok(&self, path: &str, auth: &Auth, body: Value) -> Value {
        self.expect("POST", path, auth, body, 200).await
    }

    /// Logs in with the password; with `enrol`, enrols TOTP on the new session (which lifts
    /// the restriction of a restricted session) and keeps the recovery codes.
    async fn sign_in(&self, tenant: Option<&str>, email: &str, pw: &str, enrol: bool) -> Cred {
        let body = json!({ "tenant": tenant, "email": email, "password": pw });
        let b = self
            .created_ok("/api/v1/auth/login", &Auth::None, body)
            .await;
        let mut cred = Cred::token(Auth::Bearer(text(&b["token"])));
        (cred.email, cred.password) = (email.to_owned(), pw.to_owned());
        cred.session_id = Some(text(&b["session"]["id"]));
        if enrol {
            let secret = self.begin(&cred).await;
            let code = json!({ "code": credentials::totp::code_at(&secret, self.app.now_secs()) });
            let b = self
                .created_ok("/api/v1/me/mfa/totp/confirm", &cred.bearer, code)
                .await;
            let codes = b["recovery_codes"].as_array().expect("codes");
            cred.recovery = codes.iter().map(text).collect();
            cred.totp = Some(Arc::new(secret));
        }
        cred
    }

    /// A new caller of `kind`; `totp` also enrols users for whom MFA is optional.
    async fn make(&self, kind: Kind, tn: Option<Tn>, totp: bool) -> Cred {
        let all = scopes("*", &["read", "create", "update", "delete"]);
        match kind {
            Anon => Cred::token(Auth::None),
            Root => Cred::token(self.app.root()),
            SysAdmin => {
                let (email, password) = (self.email(), "system administrator passphrase 7");
                let (root, invite) = (self.app.root(), json!({ "email": email }));
                let b = self
                    .created("/api/v1/admin/invitations", &root, invite)
                    .await;
                let body = json!({ "token": text(&b["token"]), "password": password });
                self.created("/api/v1/invitations/accept", &Auth::None, body)
                    .await;
                self.sign_in(None, &email, password, true).await
            }
            SvcToken | NarrowToken => {
                let tn = tn.expect("tenant");
                let scopes = match kind {
                    SvcToken => all,
                    _ => scopes("notes", &["read", "create"]),
                };
                let svc = &self.t[tn].svc_admin;
                let secret = self.service_token(tn, svc, scopes).await.1;
                Cred::of(Auth::Bearer(secret), svc)
            }
            DemotedToken => {
                let tn = tn.expect("tenant");
                let svc = self.service_account(tn, "editor").await;
                let notes = scopes("notes", &["read", "create", "update", "delete"]);
                let secret = self.service_token(tn, &svc, notes).await.1;
                let path = format!("{}/users/{svc}/role", self.base(tn));
                let role = json!({ "role": "viewer" });
                self.expect("PUT", &path, &self.owner(tn), role, 200).await;
                Cred::of(Auth::Bearer(secret), &svc)
            }
            UserToken => {
                let body = json!({ "scopes": all, "expires_in_days": 30 });
                let tn = tn.expect("tenant");
                let b = self
                    .created("/api/v1/me/tokens", &self.owner(tn), body)
                    .await;
                Cred::of(Auth::Bearer(text(&b["secret"])), &self.t[tn].owner_id)
            }
            _ => {
                let t = &self.t[tn.expect("tenant")];
                let custom = (kind == Custom).then(|| t.custom.clone());
                let (role, email) = (custom.unwrap_or(kind.role().to_owned()), self.email());
                let (user, password) = self.app.add_user(&t.id, &email, &role).await;
                let mandatory = matches!(kind.role(), "owner" | "admin");
                let enrol = kind != Restricted && (totp || mandatory);
                let mut cred = self.sign_in(Some(&t.id), &email, &password, enrol).await;
                cred.user = Some(user);
                if let (CookieAdmin | CookieNoCsrf, Auth::Bearer(session)) = (kind, &cred.bearer) {
                    let csrf = self.app.state.identity.csrf_token(session).expect("csrf");
                    let csrf = (kind == CookieAdmin).then_some(csrf);
                    let (session, origin) = (session.clone(), Some(ORIGIN.to_owned()));
                    cred.auth = Auth::Cookie {
                        session,
                        csrf,
                        origin,
                    };
                }
                cred
            }
        }
    }

    /// The value of one body placeholder (`memo` keeps values found on the way).
    async fn placeholder(&self, name: &str, cred: &Cred, memo: &mut Memo) -> String {
        if let Some((_, v)) = memo.iter().find(|(k, _)| k == name) {
            return v.clone();
        }
        let (a, viewer, owner_a) = (&self.t[0], self.shared(Viewer, Some(0)), self.owner(0));
        match name {
            "a" => a.id.clone(),
            "n" => self.next().to_string(),
            "email" => self.email(),
            "viewer_email" => viewer.email.clone(),
            "viewer_password" => viewer.password.clone(),
            "password" => cred.password.clone(),
            "new_password" => NEW_PASSWORD.to_owned(),
            "settings" => self.settings.to_string(),
            "schema" => SCHEMA.to_owned(),
            "invitation" => {
                let path = format!("{}/invitations", self.base(0));
                let body = json!({ "email": self.email(), "role": "viewer" });
                text(&self.created(&path, &owner_a, body).await["token"])
            }
            "reset" => {
                let user = self.fresh_user(0, "viewer").await;
                let path = format!("{}/users/{user}/password-reset", self.base(0));
                text(&self.created(&path, &owner_a, Value::Null).await["token"])
            }
            // A fresh challenge of a TOTP user of A; its recovery code goes to the memo.
            "challenge" => {
                let email = self.email();
                let (_, password) = self.app.add_user(&a.id, &email, "viewer").await;
                let fresh = self.sign_in(Some(&a.id), &email, &password, true).await;
                let body = json!({ "tenant": a.id, "email": email, "password": password });
                let b = self
                    .created_ok("/api/v1/auth/login", &Auth::None, body)
                    .await;
                assert_eq!(b["status"], "mfa_required", "{b}");
                memo.push(("recovery".to_owned(), fresh.recovery[0].clone()));
                text(&b["challenge"])
            }
            // Confirming needs a pending enrolment: start one for sessions without TOTP.
            "enrol_code" if cred.session_id.is_some() && cred.totp.is_none() => {
                let secret = self.begin(cred).await;
                credentials::totp::code_at(&secret, self.app.now_secs())
            }
            // A TOTP code in a step not used yet.
            "code" if cred.totp.is_some() => {
                self.app.advance_secs(31);
                let secret = cred.totp.as_ref().expect("totp");
                credentials::totp::code_at(secret, self.app.now_secs())
            }
            "enrol_code" | "code" => "000000".to_owned(),
            other => panic!("unknown placeholder {other}"),
        }
    }

    /// The caller, the path and the body of one case on tenant `p`'s paths. `foreign`: the ids
    /// in the path are someone else's (the other tenant's; the victim's for `/me`).
    async fn prepare(&self, row: &Row, kind: Kind, tn: Option<Tn>, p: Tn, foreign: bool) -> Case {
        let cred = match row.4 {
            Set::Fresh | Set::MySession => self.make(kind, tn, false).await,
            Set::FreshTotp => self.make(kind, tn, true).await,
            _ => self.shared(kind, tn).clone(),
        };
        let home = if foreign { 1 - p } else { p };
        let x = &self.t[home];
        let own_tokens = kind.is_session() && !matches!(kind, Restricted | SysAdmin) && !foreign;
        let victim_session = self.victim.session_id.clone().expect("session");
        let my_session = cred.session_id.clone().filter(|_| !foreign);
        let (name, value) = match row.4 {
            // Records: `{collection}`, and `{record}` below.
            Set::Coll(_) if foreign => ("{collection}", x.only.clone()),
            Set::Coll(cn) | Set::Rec(cn, _) | Set::Att(cn, _) => {
                ("{collection}", cn.name().to_owned())
            }
            Set::NewColl => ("{collection}", self.fresh_collection(home).await),
            Set::MySession => ("{id}", my_session.unwrap_or(victim_session)),
            Set::MyToken if own_tokens => ("{id}", self.own_token(&cred.bearer).await),
            Set::MyToken => ("{id}", self.victim_token.0.clone()),
            Set::NewTenant => (
                "{id}",
                self.app.create_tenant(&format!("T{}", self.next())).await,
            ),
            Set::Target => ("{user}", x.target.clone()),
            Set::NewViewer => ("{user}", self.fresh_user(home, "viewer").await),
            Set::NewOwner => ("{user}", self.fresh_user(home, "owner").await),
            Set::Svc => ("{user}", x.svc.clone()),
            Set::NewToken => ("{token}", self.fresh_token(home).await),
            Set::Role => ("{role}", x.role.clone()),
            Set::NewRole => ("{role}", self.fresh_role(home).await),
            Set::Exp => ("{export}", x.export.clone()),
            Set::No | Set::Fresh | Set::FreshTotp => ("{id}", x.id.clone()),
        };
        let record = match row.4 {
            Set::Rec(cn, Whose::Fixed) | Set::Att(cn, Whose::Fixed) => x.fixed[cn as usize].clone(),
            Set::Rec(cn, Whose::New) | Set::Att(cn, Whose::New) => {
                self.fresh_record(home, cn.name(), &x.target).await
            }
            Set::Rec(cn, Whose::Mine) | Set::Att(cn, Whose::Mine) => {
                let user = cred.user.as_ref().filter(|_| tn == Some(home));
                let owner = user.unwrap_or(&x.target);
                self.fresh_record(home, cn.name(), owner).await
            }
            _ => String::new(),
        };
        let path = full_path(row).replace("{tenant}", &self.t[p].id);
        let path = path.replace(name, &value).replace("{id}", &self.t[p].id);
        // No download link is ever made here: an unknown one (404, for everyone).
        let path = path.replace("{token}", "srx_no_such_link");
        let attachment = match row.4 {
            Set::Att(cn, Whose::Fixed) => x.fixed_att[cn as usize].clone(),
            Set::Att(cn, _) => self.fresh_attachment(home, cn.name(), &record).await,
            _ => String::new(),
        };
        let path = path.replace("{record}", &record);
        let path = path.replace("{attachment}", &attachment);
        let other_custom = ("other_custom".to_owned(), self.t[1 - p].custom.clone());
        let (mut body, mut memo) = (row.5.to_owned(), vec![other_custom]);
        while let Some((start, end)) = next_placeholder(&body) {
            let value = self.placeholder(&body[start + 1..end - 1], &cred, &mut memo);
            body.replace_range(start..end, &value.await);
        }
        let body = (!body.is_empty()).then(|| serde_json::from_str(&body).expect("template"));
        (cred, path, body)
    }

    /// After a refused case, or one on someone else's object: the target is as it was.
    async fn untouched(
        &self,
        row: &Row,
        home: Tn,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(), String> {
        if let Some(verdict) = self.records_untouched(row, home, path, body).await {
            return verdict;
        }
        let seg = |pre: &str| {
            path.split('/')
                .find(|s| s.starts_with(pre))
                .unwrap_or("-")
                .to_owned()
        };
        let (base, svc) = (self.base(home), &self.t[home].svc);
        let (url, want) = match row.4 {
            Set::NewViewer => (format!("{base}/users/{}", seg("us_")), "viewer active"),
            Set::NewOwner => (format!("{base}/users/{}", seg("us_")), "owner active"),
            Set::NewRole => (format!("{base}/roles/{}", seg("ro_")), ""),
            Set::NewTenant => (format!("/api/v1/admin/tenants/{}", seg("tn_")), "active"),
            Set::NewToken => (format!("{base}/users/{svc}/tokens"), "live"),
            Set::MyToken | Set::MySession => ("/api/v1/me".to_owned(), "live"),
            _ => return Ok(()),
        };
        let auth = match row.4 {
            Set::NewTenant => self.app.root(),
            Set::MyToken => Auth::Bearer(self.victim_token.1.clone()),
            Set::MySession => self.victim.bearer.clone(),
            _ => self.owner(home),
        };
        let r = self.app.send(Method::GET, &url, &auth, None).await;
        let s = |k: &str| r.body[k].as_str().unwrap_or("-").to_owned();
        let live = |t: &Value| path.ends_with(&text(&t["id"])) && t["revoked"] == false;
        let items = r.body["items"].as_array();
        let state = match row.4 {
            Set::NewViewer | Set::NewOwner => format!("{} {}", s("role"), s("status")),
            Set::NewTenant => s("status"),
            Set::NewToken if items.is_some_and(|v| v.iter().any(live)) => "live".to_owned(),
            Set::MyToken | Set::MySession => "live".to_owned(),
            _ => String::new(),
        };
        match r.status == StatusCode::OK && state == want {
            true => Ok(()),
            false => Err(format!(
                "yet the target changed: GET {url}: {} {}",
                r.status, r.body
            )),
        }
    }
}

impl World {
    /// The records part of `untouched`: a collection keeps version 1, a record keeps version 1
    /// and its title, a refused creation left nothing behind. None: not a records case.
    async fn records_untouched(
        &self,
        row: &Row,
        home: Tn,
        path: &str,
        body: Option<&Value>,
    ) -> Option<Result<(), String>> {
        let base = self.base(home);
        let last = path.rsplit('/').next().unwrap_or("-");
        let seg = |pre: &str| {
            path.split(['/', '?'])
                .find(|s| s.starts_with(pre))
                .unwrap_or("-")
        };
        let record = seg("rc_");
        let field = |k: &str| body.map_or_else(|| "-".to_owned(), |b| text(&b[k]));
        type Check = fn(&Value) -> bool;
        let (url, want, check): (String, u16, Check) = match row.4 {
            Set::NewColl => (format!("{base}/collections/{last}"), 200, |b| {
                b["version"] == 1
            }),
            // The attachment is still there (a refused deletion, or someone else's).
            Set::Att(cn, _) => {
                let att = seg("at_");
                let url = format!("{base}/records/{}/{record}/attachments/{att}", cn.name());
                (url, 200, |_| true)
            }
            // No upload of this case arrived.
            Set::Rec(cn, _) if path.contains("/attachments") => {
                let url = format!("{base}/records/{}/{record}/attachments", cn.name());
                (url, 200, |b| {
                    let items = b["items"].as_array();
                    items.is_some_and(|v| v.iter().all(|a| a["name"] != "case.json"))
                })
            }
            Set::Rec(cn, _) => (format!("{base}/records/{}/{last}", cn.name()), 200, |b| {
                b["version"] == 1 && b["data"]["title"] == ORIGINAL
            }),
            Set::Coll(_) if row.1 == "POST" => (
                format!("{base}/records/{last}?filter[title]={}", field("title")),
                200,
                |b| b["items"].as_array().is_some_and(Vec::is_empty),
            ),
            Set::No if row.0 == "create collection" => {
                (format!("{base}/collections/{}", field("name")), 404, |_| {
                    true
                })
            }
            _ => return None,
        };
        let r = self
            .app
            .send(Method::GET, &url, &self.owner(home), None)
            .await;
        Some(match r.status.as_u16() == want && check(&r.body) {
            true => Ok(()),
            false => Err(format!(
                "yet the target changed: GET {url}: {} {}",
                r.status, r.body
            )),
        })
    }
}

/// The first `{name}` (lower case and `_`) in a body template: (start, end) byte offsets.
fn next_placeholder(s: &str) -> Option<(usize, usize)> {
    s.match_indices('{').find_map(|(i, _)| {
        let len = s[i + 1..].find(|c: char| !(c.is_ascii_lowercase() || c == '_'))?;
        (len > 0 && s[i + 1 + len..].starts_with('}')).then_some((i, i + len + 2))
    })
}

fn caller_name(kind: Kind, tn: Option<Tn>) -> String {
    match tn {
        Some(t) => format!("{kind:?}@{}", ["A", "B"][t]),
        None => format!("{kind:?}"),
    }
}

/// The variants of a route: (tenant of the path, whether the ids are someone else's).
fn variants(row: &Row) -> Vec<(Tn, bool)> {
    let tenants: &[Tn] = if full_path(row).contains("{tenant}") {
        &[0, 1]
    } else {
        &[0]
    };
    // A caller's own record has no "someone else's" variant (`show record` and the others have).
    let ids = !matches!(
        row.4,
        Set::No
            | Set::Fresh
            | Set::FreshTotp
            | Set::NewTenant
            | Set::Rec(_, Whose::Mine)
            | Set::Att(_, Whose::Mine)
    );
    let foreign = tenants.iter().filter(|_| ids).map(|p| (*p, true));
    tenants.iter().map(|p| (*p, false)).chain(foreign).collect()
}

#[tokio::test]
async fn every_route_every_caller_own_and_other_tenant() {
    let w = World::new().await;
    let (mut cases, mut allows, mut denials, mut odd) = (0, Vec::new(), Vec::new(), Vec::new());
    for row in &ROUTES {
        for (p, foreign) in variants(row) {
            for (kind, tn) in CALLERS {
                let (cred, path, body) = w.prepare(row, kind, tn, p, foreign).await;
                let method = Method::from_bytes(row.1.as_bytes()).expect("method");
                let reply = w.app.send(method, &path, &cred.auth, body.clone()).await;
                cases += 1;
                // Someone else's user is not an owner *here*: the base right decides (then 404).
                let need = match row.3 {
                    Need::Tenant(Adm::ManageOwners) if foreign => Need::Tenant(Adm::ManageUsers),
                    need => need,
                };
                // Likewise someone else's record is not in this tenant: the right on the
                // collection decides, owner-only or not (then 404). Someone else's collection
                // is not `notes`.
                let obj = match row.4 {
                    Set::Coll(cn) => Obj {
                        notes: cn == Cn::Notes && !foreign,
                        theirs: false,
                    },
                    Set::Rec(cn, whose) | Set::Att(cn, whose) => Obj {
                        notes: cn == Cn::Notes,
                        theirs: whose != Whose::Mine && !foreign,
                    },
                    _ => Obj::default(),
                };
                let want = expected(need, row.1, kind, tn, p, obj);
                let status = reply.status;
                let denied = matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN);
                // Someone else's ids, or (row "foreign role") another tenant's role in the body.
                let reaches = foreign || row.0 == "foreign role";
                let line = format!(
                    "{} {} {path} (tenant {}{}) | caller {} | expected {} | got {} {}",
                    row.0,
                    row.1,
                    ["A", "B"][p],
                    if reaches { ", someone else's ids" } else { "" },
                    caller_name(kind, tn),
                    if want { "allow" } else { "deny" },
                    status.as_u16(),
                    reply.body
                );
                let refusal = if kind == Anon { 401 } else { 403 };
                let reached = reaches && want && !matches!(status.as_u16(), 404 | 422);
                // An owner-only reader lists its own records only (records.md), and it has one.
                let owner_only = record_rights(kind, obj.notes).1;
                if row.0.starts_with("list records") && status == StatusCode::OK && owner_only {
                    let items = reply.body["items"].as_array().cloned().unwrap_or_default();
                    let mine = cred.user.clone().map(Value::String);
                    if items.is_empty() || items.iter().any(|r| Some(&r["owner"]) != mine.as_ref())
                    {
                        odd.push(format!(
                            "{line}\n    lists someone else's records, or none of its own"
                        ));
                    }
                }
                match (want, denied) {
                    (false, false) => allows.push(line),
                    (true, true) => denials.push(line),
                    _ if status.is_server_error() || reached => odd.push(line),
                    _ if denied && status.as_u16() != refusal => odd.push(line),
                    _ if !want || reaches => {
                        let home = if foreign { 1 - p } else { p };
                        if let Err(why) = w.untouched(row, home, &path, body.as_ref()).await {
                            odd.push(format!("{line}\n    {why}"));
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    println!(
        "permission matrix: {cases} cases, {} unexpected allows, {} unexpected denials, {} other \
         mismatches (5xx, a wrong refusal status, someone else's object reached or changed)",
        allows.len(),
        denials.len(),
        odd.len()
    );
    let list = |v: &Vec<String>| v.join("\n  ");
    assert!(
        allows.is_empty() && denials.is_empty() && odd.is_empty(),
        "UNEXPECTED ALLOWS ({}):\n  {}\nUNEXPECTED DENIALS ({}):\n  {}\nOTHER ({}):\n  {}",
        allows.len(),
        list(&allows),
        denials.len(),
        list(&denials),
        odd.len(),
        list(&odd)
    );
}

#[test]
fn the_matrix_covers_every_route_of_the_router() {
    let source = routes::routes_in_source();
    let covered: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|row| {
            let path = full_path(row);
            let route = path.split('?').next().unwrap_or_default().to_owned();
            (row.1.to_owned(), route)
        })
        .collect();
    let missing: Vec<_> = source.difference(&covered).collect();
    let unknown: Vec<_> = covered.difference(&source).collect();
    println!(
        "router: {} routes, matrix: {} routes",
        source.len(),
        covered.len()
    );
    assert!(
        source.len() >= 40,
        "the source parser found only {source:?}"
    );
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "routes without a matrix entry: {missing:?}\nmatrix entries the router lacks: {unknown:?}"
    );
}
