//! `filter[field]=value` cases: in a collection holding a record per payload, each payload as
//! a filter value finds exactly the records whose field holds that exact value.

use std::collections::BTreeSet;

use serde_json::json;

use crate::Row;
use crate::payloads::{self, Payload, enc, show};
use crate::run::{Case, Run, cut};
use crate::world::Cred;

impl Run<'_> {
    /// `filter[field]=value`: in a collection holding a record per payload, each payload finds
    /// exactly the records whose field holds that exact value, before and after the others
    /// exist; a payload as a field name is refused; payloads on a number field find nothing.
    pub async fn filters(&mut self, row: &Row, cred: &Cred) {
        let w = self.w;
        let base = format!("{}/records/filtered", w.base());
        let payloads = payloads::all(200);
        let mut ledger: Vec<(String, String)> = Vec::new();
        for p in &payloads {
            self.filter_case(row, &base, p, &ledger, cred).await;
            let body = json!({ "title": p.value, "tag": p.value });
            let r = w
                .call("POST", &base, &cred.auth, &[], Some(&body))
                .await
                .expect("no header");
            match r.status.as_u16() {
                201 if !p.over => ledger.push((
                    r.body["id"].as_str().expect("id").to_owned(),
                    p.value.clone(),
                )),
                422 if p.over => {}
                s => self.fail(format!(
                    "POST {base} | body title and tag | {} {} | {s} {}",
                    p.name,
                    show(&p.value),
                    cut(&r.body.to_string())
                )),
            }
        }
        for p in &payloads {
            self.filter_case(row, &base, p, &ledger, cred).await;
        }
        self.listing_matches(&base, &ledger, cred).await;
        let notes = format!("{}/records/notes", w.base());
        for p in payloads::all(0) {
            for (key, value) in [
                (format!("filter[{}]", enc(&p.value)), "x".to_owned()),
                ("filter[n]".to_owned(), enc(&p.value)),
            ] {
                let r = w
                    .call(
                        "GET",
                        &format!("{notes}?{key}={value}"),
                        &cred.auth,
                        &[],
                        None,
                    )
                    .await
                    .expect("no header");
                self.cases += 1;
                let case = Case {
                    row,
                    place: format!("query `{key}`"),
                    payload: &p,
                };
                let empty = r.status.as_u16() == 200
                    && r.body["items"].as_array().is_some_and(Vec::is_empty);
                if !empty {
                    self.refused(&case, &r, &[400, 422], None);
                }
            }
        }
    }

    async fn filter_case(
        &mut self,
        row: &Row,
        base: &str,
        p: &Payload,
        ledger: &[(String, String)],
        cred: &Cred,
    ) {
        for field in ["title", "tag"] {
            let uri = format!("{base}?limit=200&filter[{field}]={}", enc(&p.value));
            let r = self
                .w
                .call("GET", &uri, &cred.auth, &[], None)
                .await
                .expect("no header");
            self.cases += 1;
            let want: BTreeSet<&str> = ledger
                .iter()
                .filter(|(_, v)| *v == p.value)
                .map(|(id, _)| id.as_str())
                .collect();
            let items = r.body["items"].as_array().cloned().unwrap_or_default();
            let got: BTreeSet<&str> = items.iter().filter_map(|i| i["id"].as_str()).collect();
            if r.status.as_u16() == 200 && got == want {
                self.verified += usize::from(!want.is_empty());
            } else {
                let case = Case {
                    row,
                    place: format!("query `filter[{field}]`"),
                    payload: p,
                };
                let titles: Vec<String> = items
                    .iter()
                    .map(|i| show(i["data"][field].as_str().unwrap_or("-")))
                    .collect();
                self.fail(case.line(&format!(
                    "expected {want:?}, got {} {got:?} holding {titles:?}",
                    r.status
                )));
            }
        }
    }

    /// The whole collection, page by page: exactly the ledger's records, each as sent.
    async fn listing_matches(&mut self, base: &str, ledger: &[(String, String)], cred: &Cred) {
        let mut seen = Vec::new();
        let mut after = String::new();
        for _ in 0..100 {
            let uri = format!("{base}?limit=200{after}");
            let r = self
                .w
                .call("GET", &uri, &cred.auth, &[], None)
                .await
                .expect("no header");
            for i in r.body["items"].as_array().cloned().unwrap_or_default() {
                let id = i["id"].as_str().unwrap_or("-").to_owned();
                seen.push((id, i["data"]["title"].as_str().unwrap_or("-").to_owned()));
            }
            match r.body["next"].as_str() {
                Some(next) => after = format!("&after={}", enc(next)),
                None => break,
            }
        }
        let (mut want, mut got) = (ledger.to_vec(), seen);
        want.sort();
        got.sort();
        if want != got {
            self.fail(format!(
                "GET {base}: the listing is not exactly the records made: {} made, {} listed",
                want.len(),
                got.len()
            ));
        }
    }
}
