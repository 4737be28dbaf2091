//! `rebuild-state` recomputes the derived state from the journal alone and yields a state whose
//! digest equals the live one.

mod common;

use common::{Client, Layout};

#[test]
fn rebuilt_state_is_identical_to_the_live_state() {
    let layout = Layout::new();
    let server = layout.serve();
    let client = Client::new(&layout, &server);
    let mut ids = Vec::new();
    for i in 0..40 {
        let r = client.request(
            "POST",
            "/api/v1/admin/tenants",
            Some(&format!(r#"{{"name":"t{i}"}}"#)),
        );
        assert_eq!(r.status, 201);
        ids.push(r.json()["id"].as_str().expect("id").to_owned());
    }
    for id in ids.iter().step_by(3) {
        let r = client.request("POST", &format!("/api/v1/admin/tenants/{id}/suspend"), None);
        assert_eq!(r.status, 200);
    }
    assert_eq!(server.stop(), 0);

    let (code, live, err) = layout.run(&["state", "digest"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = layout.run(&["rebuild-state"]);
    assert_eq!(
        code, 0,
        "rebuild-state reported a difference:\n{out}\n{err}"
    );
    assert!(out.contains("identical"), "{out}");
    assert!(
        out.contains(live.trim()),
        "rebuild output must show the live digest {live}: {out}"
    );
    let (code, after, _) = layout.run(&["state", "digest"]);
    assert_eq!(code, 0);
    assert_eq!(live.trim(), after.trim(), "digest after the swap");

    // The rebuilt state serves the same answers.
    let server = layout.serve();
    let mut again = Client::new(&layout, &server);
    again.token = client.token.clone();
    let list = again
        .request("GET", "/api/v1/admin/tenants?limit=100", None)
        .json();
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), ids.len());
    let suspended = items.iter().filter(|t| t["status"] == "suspended").count();
    assert_eq!(suspended, ids.iter().step_by(3).count());
    drop(server);
}
