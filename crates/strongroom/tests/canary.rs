//! No plaintext at rest (P9): a unique canary written into tenant data is found, as plain bytes,
//! in no file under the data directory, the mirror or the key directory, and not in the logs.

mod common;

use common::{Client, Layout, contains, files_under};

#[test]
fn a_canary_in_tenant_data_is_in_no_file_and_no_log() {
    let layout = Layout::new();
    let mut server = layout.serve();
    let client = Client::new(&layout, &server);
    let canary = format!(
        "CANARY-{:016x}",
        common::Rng::new(common::seed("CANARY_SEED")).next_u64()
    );
    for i in 0..20 {
        let body = format!(r#"{{"name":"{canary} tenant {i}"}}"#);
        let r = client.request("POST", "/api/v1/admin/tenants", Some(&body));
        assert_eq!(r.status, 201, "{}", r.text());
        // The API gives it back: it is stored, just never in plain form.
        assert!(r.text().contains(&canary));
    }
    let log: String = server.drain_stderr().join("\n");
    assert_eq!(server.stop(), 0);
    // Offline CLI writes go through the same path.
    let (code, out, err) = layout.run(&["tenants", "create", &format!("{canary} offline")]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, _) = layout.run(&["keys", "rotate", "--system"]);
    assert_eq!(code, 0);

    let roots = [
        layout.data.clone(),
        layout.mirror.clone(),
        layout.key_file.parent().expect("key dir").to_owned(),
    ];
    let mut scanned = 0;
    for root in &roots {
        for file in files_under(root) {
            let bytes = std::fs::read(&file).expect("read");
            scanned += bytes.len();
            assert!(
                !contains(&bytes, canary.as_bytes()),
                "canary found in plain form in {}",
                file.display()
            );
        }
    }
    assert!(
        scanned > 10_000,
        "scanned only {scanned} bytes: the layout is not what the test expects"
    );
    assert!(!log.contains(&canary), "canary found in the server log");
    println!(
        "scanned {scanned} bytes in {} roots: no canary",
        roots.len()
    );
}
