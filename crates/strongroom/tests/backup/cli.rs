//! The offline commands of the backups' end-to-end test, run with the test's configuration file.

use super::common::Layout;

/// Runs `strongroom SUB… --config CONFIG` (and the layout's locations); panics unless it exits
/// 0; returns its standard output.
pub fn offline(layout: &Layout, config: &str, sub: &[&str]) -> String {
    let mut args = sub.to_vec();
    args.extend(["--config", config]);
    let (code, out, err) = layout.run(&args);
    assert_eq!(
        code,
        0,
        "strongroom {}: exit {code}\nstdout:\n{out}\nstderr:\n{err}",
        args.join(" ")
    );
    out
}

/// The text after `prefix` on the first line of `out` that starts with it.
pub fn after<'a>(out: &'a str, prefix: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{out}"))
}

/// What a restore reports.
#[derive(Debug)]
pub struct Restored {
    pub journal: u64,
    pub audit: u64,
    pub digest: String,
}

/// `strongroom restore --from DEST` into `name`, a new directory beside the layout's.
pub fn restore(layout: &Layout, config: &str, from: &str, name: &str) -> Restored {
    let to = layout.root.path().join(name);
    let audit_key = layout.root.path().join(format!("{name}-audit-signing.key"));
    let (to, audit_key) = (to.display().to_string(), audit_key.display().to_string());
    let out = offline(
        layout,
        config,
        &[
            "restore",
            "--from",
            from,
            "--to",
            &to,
            "--audit-key",
            &audit_key,
        ],
    );
    let number = |text: &str| -> Option<u64> {
        text.split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    };
    // `journal entry N (last entry sealed at …), audit entry M, …`
    let line = after(&out, "journal entry ");
    let (journal, audit) = (
        number(line),
        line.split_once("audit entry ")
            .and_then(|(_, rest)| number(rest)),
    );
    let (Some(journal), Some(audit)) = (journal, audit) else {
        panic!("no journal and audit entry in:\n{out}");
    };
    let restored = Restored {
        journal,
        audit,
        digest: after(&out, "state digest ").trim().to_owned(),
    };
    assert_eq!(restored.digest.len(), 64, "{out}");
    restored
}
