//! The command line: `--help` everywhere, `config check` naming refused settings, the key file
//! permission check, the one-process lock, offline tenant commands, and key rotation.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::{BIN, Client, Layout};

fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_command_has_help() {
    let commands: &[&[&str]] = &[
        &[],
        &["serve"],
        &["config", "check"],
        &["config", "show"],
        &["verify"],
        &["repair"],
        &["rebuild-state"],
        &["keys", "rotate"],
        &["keys", "list"],
        &["tenants", "create"],
        &["tenants", "list"],
        &["tenants", "show"],
        &["tenants", "suspend"],
        &["tenants", "resume"],
        &["tenants", "restore"],
        &["state", "digest"],
        &["admin", "create"],
        &["access-review"],
        &["audit", "pubkey"],
        &["audit", "verify"],
    ];
    for command in commands {
        let mut args = command.to_vec();
        args.push("--help");
        let (code, out, err) = run(&args, &[]);
        assert_eq!(code, 0, "{args:?} --help failed: {err}");
        assert!(out.contains("Usage:"), "{args:?}: {out}");
    }
    let (_, out, _) = run(&["serve", "--help"], &[]);
    for flag in ["--data", "--mirror", "--key-file", "--listen", "--config"] {
        assert!(out.contains(flag), "serve --help lacks {flag}");
    }
}

#[test]
fn config_check_refuses_unsafe_settings_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("d").display().to_string();
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case<'_>] = &[
        (&["--data", &data, "--mirror", &data], &[], "storage.mirror"),
        (
            &["--data", &data],
            &[("STRONGROOM_TLS_MIN_VERSION", "1.0")],
            "server.tls_min_version",
        ),
        (
            &["--data", &data],
            &[("STRONGROOM_HSTS_MAX_AGE_SECS", "600")],
            "server.hsts_max_age_secs",
        ),
        (
            &["--data", &data, "--key-file", &format!("{data}/master.key")],
            &[],
            "storage.key_file",
        ),
    ];
    for (flags, env, setting) in cases {
        let mut args = vec!["config", "check"];
        args.extend_from_slice(flags);
        let (code, out, err) = run(&args, env);
        assert_eq!(code, 2, "{args:?} {env:?} must be refused: {out}{err}");
        assert!(err.contains(setting), "refusal must name {setting}: {err}");
    }
    let toml = dir.path().join("s.toml");
    std::fs::write(&toml, "[server]\nlisten = \"127.0.0.1:9443\"\nnope = 1\n").expect("write");
    let (code, _, err) = run(
        &["config", "check", "--config", &toml.display().to_string()],
        &[],
    );
    assert_ne!(code, 0);
    assert!(err.contains("nope"), "{err}");
    let (code, _, err) = run(&["config", "check"], &[("STRONGROOM_LISTN", "x")]);
    assert_ne!(code, 0);
    assert!(err.contains("STRONGROOM_LISTN"), "{err}");
    let (code, out, _) = run(&["config", "check", "--data", &data], &[]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn serve_refuses_a_key_file_readable_by_others() {
    let layout = Layout::new();
    let server = layout.serve();
    assert_eq!(server.stop(), 0);
    std::fs::set_permissions(&layout.key_file, std::fs::Permissions::from_mode(0o644))
        .expect("chmod");
    let mut args = vec!["serve".to_owned()];
    args.extend(layout.args());
    args.extend(["--listen".to_owned(), "127.0.0.1:0".to_owned()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out, err) = run(&args, &[]);
    assert_ne!(code, 0, "must refuse: {out}");
    assert!(err.contains("chmod 600"), "{err}");
    assert!(!out.contains("listening on"), "{out}");
}

#[test]
fn a_second_process_on_the_same_data_is_refused() {
    let layout = Layout::new();
    let server = layout.serve();
    let (code, _, err) = layout.run(&["tenants", "list"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("locked by another strongroom process"),
        "{err}"
    );
    let (code, _, err) = layout.run(&["repair"]);
    assert_ne!(code, 0);
    assert!(err.contains("locked"), "{err}");
    drop(server);
}

#[test]
fn offline_tenant_commands_and_key_rotation() {
    let layout = Layout::new();
    let server = layout.serve();
    let token = server.token.clone();
    assert_eq!(server.stop(), 0);

    let (code, out, err) = layout.run(&["tenants", "create", "Offline Co"]);
    assert_eq!(code, 0, "{err}");
    let tenant: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    let id = tenant["id"].as_str().expect("id").to_owned();
    assert_eq!(tenant["name"], "Offline Co");

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_millis()
        .to_string();
    let (code, out, err) = layout.run(&["tenants", "restore", &id, "--at", &now]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("0 record(s)"), "{out}");
    assert!(out.contains("written as journal entry"), "{out}");
    let (code, _, err) = layout.run(&["tenants", "restore", &id, "--at", "2000-01-01T00:00:00Z"]);
    assert_ne!(code, 0, "a moment before the tenant must be refused");
    assert!(err.contains("did not exist yet"), "{err}");

    let (code, out, err) = layout.run(&["keys", "rotate", "--tenant", &id]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("key version 2"), "{out}");
    let (code, out, _) = layout.run(&["tenants", "suspend", &id]);
    assert_eq!(code, 0);
    assert!(out.contains("suspended"), "{out}");
    let (code, out, _) = layout.run(&["tenants", "show", &id]);
    assert_eq!(code, 0);
    assert!(out.contains("Offline Co"), "old version still opens: {out}");
    let (code, out, _) = layout.run(&["keys", "list"]);
    assert_eq!(code, 0);
    assert!(out.contains(&id), "{out}");

    let old_key = std::fs::read(&layout.key_file).expect("key");
    let (code, out, err) = layout.run(&["keys", "rotate", "--master"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_ne!(
        std::fs::read(&layout.key_file).expect("key"),
        old_key,
        "the master key changed"
    );
    let (code, out, err) = layout.run(&["tenants", "list"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Offline Co"), "{out}");

    // The old master key no longer opens anything.
    let stale = layout.root.path().join("stale.key");
    std::fs::write(&stale, &old_key).expect("write");
    std::fs::set_permissions(&stale, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let mut args: Vec<String> = vec!["tenants".into(), "list".into()];
    args.extend(["--data".into(), layout.data.display().to_string()]);
    args.extend(["--mirror".into(), layout.mirror.display().to_string()]);
    args.extend(["--key-file".into(), stale.display().to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, _, err) = run(&args, &[]);
    assert_ne!(code, 0, "the retired master key must not open the keyring");
    assert!(err.contains("does not open this keyring"), "{err}");

    // The server still serves the offline changes.
    let server = layout.serve();
    let mut client = Client::new(&layout, &server);
    client.token = token;
    let shown = client.request("GET", &format!("/api/v1/admin/tenants/{id}"), None);
    assert_eq!(shown.json()["status"], "suspended");
}
