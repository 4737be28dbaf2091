//! The permission matrix of `access::authorize`, exhaustively: every principal shape × every
//! action × every kind of resource, compared with an expected decision written out here from
//! `docs/design/identity.md` (the model below never calls the crate's rules).
//!
//! Where the note is terse, the model reads it strictly: a custom role's entry for a collection
//! replaces its `*` entry (no union); `owner_only` refuses every action on a record someone else
//! owns; token scopes grant record actions only, so a token holds no account or tenant right.
//!
//! Failure output lists every mismatch with the principal, action, resource, what was expected
//! and what came; "unexpected allows" (expected deny, got allow) are listed first and separately.
//! Reproduce with `cargo test -p access --test matrix -- --nocapture`.

use std::collections::BTreeMap;
use std::sync::Arc;

use access::{
    Action, CollectionRights, Principal, RecordAction, Resource, RoleDef, RoleRef, TokenScope, Via,
    authorize,
};
use types::{RoleId, TenantId, UserId};

const MY_TENANT: TenantId = TenantId::from_bytes([0x11; 16]);
const OTHER_TENANT: TenantId = TenantId::from_bytes([0x22; 16]);
const ME: UserId = UserId::from_bytes([0x33; 16]);
const SOMEONE_ELSE: UserId = UserId::from_bytes([0x44; 16]);
const CUSTOM_ROLE: RoleId = RoleId::from_bytes([0x55; 16]);

// ---------------------------------------------------------------------------------------------
// The model: plain data, independent of the crate's types.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Read,
    Create,
    Update,
    Delete,
}

const OPS: [Op; 4] = [Op::Read, Op::Create, Op::Update, Op::Delete];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    ManageTenants,
    InviteOwner,
    ReadUsers,
    ManageUsers,
    ManageOwners,
    ManageRoles,
    ManageTokens,
    ManageSettings,
    ReadAccessReview,
    ReadAudit,
    ManageBackups,
    DeleteTenant,
    EraseSubject,
    ManageCollections,
    ReadCollections,
    ManageOwnAccount,
    EnrollMfa,
    ExportTenant,
    Rec(Op),
}

/// Rights on one collection, as the design note lists them.
#[derive(Debug, Clone, Copy, Default)]
struct Rights {
    read: bool,
    create: bool,
    update: bool,
    delete: bool,
    owner_only: bool,
}

const ALL: Rights = Rights {
    read: true,
    create: true,
    update: true,
    delete: true,
    owner_only: false,
};
const READ: Rights = Rights {
    read: true,
    create: false,
    update: false,
    delete: false,
    owner_only: false,
};
const NOTES_OWN: Rights = Rights {
    read: true,
    create: true,
    update: false,
    delete: false,
    owner_only: true,
};

#[derive(Debug, Clone)]
enum Role {
    Owner,
    Admin,
    Editor,
    Viewer,
    /// A custom role; `None` when its definition is missing (deleted role).
    Custom(Option<Vec<(&'static str, Rights)>>),
}

#[derive(Debug, Clone, PartialEq)]
enum How {
    Session,
    Restricted,
    Token(Vec<(&'static str, Vec<Op>)>),
    Bootstrap,
}

#[derive(Debug, Clone)]
struct Who {
    /// None: a system administrator.
    role: Option<Role>,
    how: How,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Res {
    System,
    Tenant {
        mine: bool,
    },
    OwnAccount,
    Collection {
        mine: bool,
        coll: &'static str,
    },
    Record {
        mine: bool,
        coll: &'static str,
        own_record: bool,
    },
}

/// Tenant administration per built-in role (the table in identity.md, "tenant administration").
fn administers(role: &Role, act: Act) -> bool {
    use Act::*;
    let owner = [
        ReadUsers,
        ManageUsers,
        ManageOwners,
        ManageRoles,
        ManageTokens,
        ManageSettings,
        ReadAccessReview,
        ReadAudit,
        ManageCollections,
        DeleteTenant,
        EraseSubject,
        ExportTenant,
    ];
    let admin = [
        ReadUsers,
        ManageUsers,
        ManageRoles,
        ManageTokens,
        ManageSettings,
        ReadAccessReview,
        ReadAudit,
        ManageCollections,
        EraseSubject,
        ExportTenant,
    ];
    match role {
        Role::Owner => owner.contains(&act),
        Role::Admin => admin.contains(&act),
        Role::Editor | Role::Viewer | Role::Custom(_) => false,
    }
}

/// Record rights per role (the table's "records" column; custom roles as declared, the
/// collection's own entry first, then `*`, else nothing).
fn rights_on(role: &Role, coll: &str) -> Rights {
    match role {
        Role::Owner | Role::Admin | Role::Editor => ALL,
        Role::Viewer => READ,
        Role::Custom(None) => Rights::default(),
        Role::Custom(Some(def)) => def
            .iter()
            .find(|(c, _)| *c == coll)
            .or_else(|| def.iter().find(|(c, _)| *c == "*"))
            .map_or(Rights::default(), |(_, r)| *r),
    }
}

fn allows(r: Rights, op: Op) -> bool {
    match op {
        Op::Read => r.read,
        Op::Create => r.create,
        Op::Update => r.update,
        Op::Delete => r.delete,
    }
}

fn record_ok(role: &Role, how: &How, op: Op, coll: &str, own_record: Option<bool>) -> bool {
    let r = rights_on(role, coll);
    if !allows(r, op) {
        return false;
    }
    // owner_only rights apply only to records the principal's user owns.
    if r.owner_only && own_record == Some(false) {
        return false;
    }
    match how {
        How::Token(scopes) => scopes
            .iter()
            .any(|(c, ops)| (*c == "*" || *c == coll) && ops.contains(&op)),
        _ => true,
    }
}

/// The expected decision, rule by rule from identity.md § Authorisation.
fn expected(who: &Who, act: Act, res: Res) -> bool {
    // A restricted session may do nothing but enrol a second factor.
    if who.how == How::Restricted {
        return act == Act::EnrollMfa && res == Res::OwnAccount;
    }
    let session = who.how == How::Session;
    let Some(role) = &who.role else {
        // System administrators administer tenants; no right over records; tokens (the
        // bootstrap token included) hold no account rights.
        return match (act, res) {
            (Act::ManageTenants, Res::System | Res::Tenant { .. }) => true,
            (Act::InviteOwner, Res::Tenant { .. }) => true,
            (Act::ReadAudit, Res::System | Res::Tenant { .. }) => true,
            (Act::ManageBackups, Res::System | Res::Tenant { .. }) => true,
            (Act::DeleteTenant, Res::Tenant { .. }) => true,
            (Act::ManageOwnAccount | Act::EnrollMfa, Res::OwnAccount) => session,
            _ => false,
        };
    };
    // Nothing crosses from one realm to another.
    let foreign = matches!(
        res,
        Res::Tenant { mine: false }
            | Res::Collection { mine: false, .. }
            | Res::Record { mine: false, .. }
    );
    if foreign {
        return false;
    }
    match (act, res) {
        (Act::ManageOwnAccount | Act::EnrollMfa, Res::OwnAccount) => session,
        (Act::Rec(op), Res::Collection { coll, .. }) => record_ok(role, &who.how, op, coll, None),
        (
            Act::Rec(op),
            Res::Record {
                coll, own_record, ..
            },
        ) => record_ok(role, &who.how, op, coll, Some(own_record)),
        // records.md: every member, through a session or a token, reads its tenant's schemas.
        (Act::ReadCollections, Res::Tenant { mine: true }) => true,
        // Token scopes only ever grant record actions.
        (a, Res::Tenant { mine: true }) => session && administers(role, a),
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Enumeration and conversion to the crate's types.
// ---------------------------------------------------------------------------------------------

fn principals() -> Vec<Who> {
    let hows = || {
        vec![
            How::Session,
            How::Restricted,
            How::Token(vec![("notes", vec![Op::Read])]),
            How::Token(vec![("*", OPS.to_vec())]),
            How::Token(vec![
                ("notes", vec![Op::Create, Op::Update]),
                ("files", vec![Op::Read]),
            ]),
            How::Token(vec![]),
        ]
    };
    let roles = [
        Role::Owner,
        Role::Admin,
        Role::Editor,
        Role::Viewer,
        Role::Custom(Some(vec![("notes", NOTES_OWN), ("*", READ)])),
        Role::Custom(Some(vec![("notes", NOTES_OWN)])),
        Role::Custom(Some(vec![("*", READ)])),
        Role::Custom(Some(vec![])),
        Role::Custom(None),
    ];
    let mut out: Vec<Who> = [How::Bootstrap, How::Session, How::Restricted]
        .into_iter()
        .map(|how| Who { role: None, how })
        .collect();
    for role in roles {
        for how in hows() {
            out.push(Who {
                role: Some(role.clone()),
                how,
            });
        }
    }
    out
}

const ACTIONS: [Action; 22] = [
    Action::ManageTenants,
    Action::InviteOwner,
    Action::ReadUsers,
    Action::ManageUsers,
    Action::ManageOwners,
    Action::ManageRoles,
    Action::ManageTokens,
    Action::ManageSettings,
    Action::ReadAccessReview,
    Action::ReadAudit,
    Action::ManageBackups,
    Action::DeleteTenant,
    Action::EraseSubject,
    Action::ManageCollections,
    Action::ReadCollections,
    Action::ManageOwnAccount,
    Action::EnrollMfa,
    Action::ExportTenant,
    Action::Record(RecordAction::Read),
    Action::Record(RecordAction::Create),
    Action::Record(RecordAction::Update),
    Action::Record(RecordAction::Delete),
];

/// Exhaustive on purpose (no `_` arm): a new `Action` variant fails to compile here, and then
/// belongs in `ACTIONS` and in the model.
fn act_of(a: Action) -> Act {
    match a {
        Action::ManageTenants => Act::ManageTenants,
        Action::InviteOwner => Act::InviteOwner,
        Action::ReadUsers => Act::ReadUsers,
        Action::ManageUsers => Act::ManageUsers,
        Action::ManageOwners => Act::ManageOwners,
        Action::ManageRoles => Act::ManageRoles,
        Action::ManageTokens => Act::ManageTokens,
        Action::ManageSettings => Act::ManageSettings,
        Action::ReadAccessReview => Act::ReadAccessReview,
        Action::ReadAudit => Act::ReadAudit,
        Action::ManageBackups => Act::ManageBackups,
        Action::DeleteTenant => Act::DeleteTenant,
        Action::EraseSubject => Act::EraseSubject,
        Action::ManageCollections => Act::ManageCollections,
        Action::ReadCollections => Act::ReadCollections,
        Action::ManageOwnAccount => Act::ManageOwnAccount,
        Action::EnrollMfa => Act::EnrollMfa,
        Action::ExportTenant => Act::ExportTenant,
        Action::Record(r) => Act::Rec(match r {
            RecordAction::Read => Op::Read,
            RecordAction::Create => Op::Create,
            RecordAction::Update => Op::Update,
            RecordAction::Delete => Op::Delete,
        }),
    }
}

fn resources() -> Vec<Res> {
    let mut out = vec![
        Res::System,
        Res::Tenant { mine: true },
        Res::Tenant { mine: false },
        Res::OwnAccount,
    ];
    for (mine, coll) in [(true, "notes"), (true, "files"), (false, "notes")] {
        out.push(Res::Collection { mine, coll });
        for own_record in [true, false] {
            out.push(Res::Record {
                mine,
                coll,
                own_record,
            });
        }
    }
    out
}

fn record_action(op: Op) -> RecordAction {
    match op {
        Op::Read => RecordAction::Read,
        Op::Create => RecordAction::Create,
        Op::Update => RecordAction::Update,
        Op::Delete => RecordAction::Delete,
    }
}

fn principal_of(who: &Who) -> Principal {
    let via = match &who.how {
        How::Session => Via::Session { restricted: false },
        How::Restricted => Via::Session { restricted: true },
        How::Bootstrap => Via::BootstrapToken,
        How::Token(scopes) => Via::Token {
            scopes: scopes
                .iter()
                .map(|(c, ops)| TokenScope {
                    collection: (*c).to_owned(),
                    actions: ops.iter().map(|o| record_action(*o)).collect(),
                })
                .collect(),
        },
    };
    let Some(role) = &who.role else {
        let user = (who.how != How::Bootstrap).then_some(ME);
        return Principal::SystemAdmin { user, via };
    };
    let (role, custom) = match role {
        Role::Owner => (RoleRef::OWNER, None),
        Role::Admin => (RoleRef::ADMIN, None),
        Role::Editor => (RoleRef::EDITOR, None),
        Role::Viewer => (RoleRef::VIEWER, None),
        Role::Custom(def) => {
            let def = def.as_ref().map(|entries| {
                let collections: BTreeMap<String, CollectionRights> = entries
                    .iter()
                    .map(|(c, r)| {
                        let rights = CollectionRights {
                            read: r.read,
                            create: r.create,
                            update: r.update,
                            delete: r.delete,
                            owner_only: r.owner_only,
                        };
                        ((*c).to_owned(), rights)
                    })
                    .collect();
                Arc::new(RoleDef { collections })
            });
            (RoleRef::Custom(CUSTOM_ROLE), def)
        }
    };
    Principal::Member {
        tenant: MY_TENANT,
        user: ME,
        role,
        custom,
        via,
    }
}

fn resource_of(res: Res) -> Resource<'static> {
    let tenant = |mine: bool| if mine { MY_TENANT } else { OTHER_TENANT };
    match res {
        Res::System => Resource::System,
        Res::Tenant { mine } => Resource::Tenant(tenant(mine)),
        Res::OwnAccount => Resource::OwnAccount,
        Res::Collection { mine, coll } => Resource::Collection {
            tenant: tenant(mine),
            name: coll,
        },
        Res::Record {
            mine,
            coll,
            own_record,
        } => Resource::Record {
            tenant: tenant(mine),
            collection: coll,
            owner: if own_record { ME } else { SOMEONE_ELSE },
        },
    }
}

fn describe(who: &Who) -> String {
    let role = match &who.role {
        None => "system-admin".to_owned(),
        Some(Role::Custom(Some(def))) => format!(
            "custom{:?}",
            def.iter()
                .map(|(c, r)| (c, r.read, r.create, r.owner_only))
                .collect::<Vec<_>>()
        ),
        Some(r) => format!("{r:?}").to_lowercase(),
    };
    format!("{role} via {:?}", who.how)
}

#[test]
fn authorize_matches_the_documented_matrix() {
    let principals = principals();
    let resources = resources();
    let mut cases = 0usize;
    let mut allowed = 0usize;
    let mut unexpected_allows = Vec::new();
    let mut unexpected_denials = Vec::new();
    for who in &principals {
        let principal = principal_of(who);
        for action in ACTIONS {
            for res in &resources {
                cases += 1;
                let want = expected(who, act_of(action), *res);
                let got = authorize(&principal, action, &resource_of(*res));
                allowed += usize::from(got.is_ok());
                let line = format!(
                    "{} | {action:?} | {res:?}: expected {}, got {:?}",
                    describe(who),
                    if want { "allow" } else { "deny" },
                    got
                );
                match (want, got.is_ok()) {
                    (false, true) => unexpected_allows.push(line),
                    (true, false) => unexpected_denials.push(line),
                    _ => {}
                }
            }
        }
    }
    println!(
        "authorize matrix: {cases} cases ({allowed} allowed), {} unexpected allows, {} unexpected denials",
        unexpected_allows.len(),
        unexpected_denials.len()
    );
    assert_eq!(cases, 57 * ACTIONS.len() * 13, "the enumeration shrank");
    assert!(allowed > 0 && allowed < cases, "degenerate matrix");
    assert!(
        unexpected_allows.is_empty() && unexpected_denials.is_empty(),
        "{} of {cases} cases differ from identity.md\nUNEXPECTED ALLOWS ({}):\n  {}\nUNEXPECTED DENIALS ({}):\n  {}",
        unexpected_allows.len() + unexpected_denials.len(),
        unexpected_allows.len(),
        unexpected_allows.join("\n  "),
        unexpected_denials.len(),
        unexpected_denials.join("\n  "),
    );
}
