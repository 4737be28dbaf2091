//! Placeholders: the callers of the rows, the objects a path names (sentinels or scratch
//! objects), and the `{placeholders}` of body templates (fresh accounts and secrets as needed).

use common::Auth;
use serde_json::{Value, json};

use crate::payloads::enc;
use crate::world::{Cred, Filled, Mode, World, text};
use crate::{Row, Who, common};

impl World {
    /// A caller for a row.
    pub async fn caller(&self, who: Who) -> Cred {
        let plain = |auth| Cred {
            auth,
            email: String::new(),
            password: String::new(),
        };
        match who {
            Who::Anon => plain(Auth::None),
            Who::Root => plain(self.app.root()),
            Who::Owner => plain(self.owner()),
            Who::Fresh | Who::FreshTotp | Who::Pending => {
                let email = format!("caller{}@alpha.test", self.next());
                let (_, password) = self.app.add_user(&self.a.id, &email, "viewer").await;
                let r = self.app.login(&self.a.id, &email, &password, None).await;
                assert_eq!(r.status.as_u16(), 200, "{:?}", r.body);
                let auth = Auth::Bearer(text(&r.body["token"]));
                if who == Who::FreshTotp {
                    self.app.enroll_totp(&auth, &password).await;
                }
                if who == Who::Pending {
                    let body = json!({ "password": password });
                    self.ok("POST", "/api/v1/me/mfa/totp", &auth, Some(body), 200)
                        .await;
                }
                Cred {
                    auth,
                    email,
                    password,
                }
            }
        }
    }

    /// The value of a path placeholder.
    fn object(&self, name: &str, mode: Mode, path: &str) -> String {
        let sentinel = mode == Mode::Sentinel;
        match name {
            "tenant" => self.a.id.clone(),
            "id" => self.c.clone(),
            "user" if sentinel => self.a.viewer.clone(),
            "user" => self.scratch_svc.clone(),
            "token" => self.a.token.clone(),
            "role" if sentinel => self.a.role.clone(),
            "role" => self.scratch_role.clone(),
            "collection" if !sentinel && path.contains("/collections/") => "scratch".to_owned(),
            "collection" => "notes".to_owned(),
            "record" if sentinel => self.a.records[0].clone(),
            "record" => self.scratch_record.clone(),
            "attachment" => self.a.attachment.clone().expect("a sentinel attachment"),
            // No export is made (a job would change the state while the digests are compared):
            // an id no export has.
            "export" => "ex_0123456789abcdef0123456789abcdef".to_owned(),
            other => panic!("unknown path parameter {{{other}}}"),
        }
    }

    /// `template` (a path) with its `{params}` filled, percent-encoded, except `keep`.
    pub fn path(&self, template: &str, mode: Mode, keep: Option<&str>) -> String {
        let mut out = template.to_owned();
        for name in params(template) {
            if Some(name.as_str()) != keep {
                let value = enc(&self.object(&name, mode, template));
                out = out.replace(&format!("{{{name}}}"), &value);
            }
        }
        out
    }

    /// A body template with its placeholders filled (fresh secrets and accounts as needed).
    pub async fn fill(&self, template: &str, cred: &Cred, row: &Row) -> Filled {
        let (mut text, mut email) = (template.to_owned(), None);
        for _ in 0..8 {
            let Some((start, end)) = next_placeholder(&text) else {
                return Filled { text, email };
            };
            let name = text[start + 1..end - 1].to_owned();
            let value = self.placeholder(&name, cred, row, &mut email).await;
            // Placeholders stand inside JSON strings, except `{fields}` (JSON itself).
            let value = match name.as_str() {
                "fields" => value,
                _ => Value::String(value)
                    .to_string()
                    .trim_matches('"')
                    .to_owned(),
            };
            text.replace_range(start..end, &value);
        }
        panic!("placeholders nested too deep in {template}")
    }

    async fn placeholder(
        &self,
        name: &str,
        cred: &Cred,
        row: &Row,
        email: &mut Option<String>,
    ) -> String {
        let owner = self.owner();
        match name {
            "n" => self.next().to_string(),
            "tenant" => self.a.id.clone(),
            "refs_id" => self.a.refs_id.clone(),
            "fields" => crate::FIELDS.to_owned(),
            "email" => format!("new{}@alpha.test", self.next()),
            "unknown_email" => format!("nobody{}@alpha.test", self.next()),
            "password" => cred.password.clone(),
            "strong" => format!("violet tangerine harbour {}", self.next()),
            "invitation" => {
                let address = format!("invited{}@alpha.test", self.next());
                let body = json!({ "email": address, "role": "viewer" });
                let path = format!("{}/invitations", self.base());
                *email = Some(address);
                text(&self.ok("POST", &path, &owner, Some(body), 201).await["token"])
            }
            "reset" => {
                let path = format!("{}/users/{}/password-reset", self.base(), self.reset.0);
                *email = Some(self.reset.1.clone());
                text(&self.ok("POST", &path, &owner, None, 201).await["token"])
            }
            "challenge" => {
                // Every wrong code counts as a failed login: lift the count so the next password
                // step is not throttled.
                let (id, address, password) = &self.mfa;
                let (t, u) = (self.a.id.parse().ok(), id.parse().expect("user id"));
                self.app.state.identity.unlock(t, u).await.expect("unlock");
                let r = self.app.login(&self.a.id, address, password, None).await;
                assert_eq!(r.body["status"], "mfa_required", "{:?}", r.body);
                text(&r.body["challenge"])
            }
            other => panic!("unknown placeholder {{{other}}} in a body of {}", row.path),
        }
    }
}

/// The `{names}` of a path template.
pub fn params(template: &str) -> Vec<String> {
    template
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(str::to_owned)
        .collect()
}

/// The first `{name}` (lower case and `_`) of a template: (start, end) byte offsets.
fn next_placeholder(s: &str) -> Option<(usize, usize)> {
    s.match_indices('{').find_map(|(i, _)| {
        let len = s[i + 1..].find(|c: char| !(c.is_ascii_lowercase() || c == '_'))?;
        (len > 0 && s[i + 1 + len..].starts_with('}')).then_some((i, i + len + 2))
    })
}
