//! `strongroom export open FILE --to DIR`: the offline opener of a tenant export (P14), on
//! `export::open_archive` (the same code the tests use). The passphrase is read from the
//! terminal without echo, or from stdin with `--passphrase-stdin`; it is never printed.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use crypto::Zeroizing;

pub fn open(file: &Path, to: &Path, from_stdin: bool) -> anyhow::Result<ExitCode> {
    let passphrase = if from_stdin {
        read_line(&mut std::io::stdin().lock()).context("reading the passphrase from stdin")?
    } else {
        prompt().context("reading the passphrase from the terminal")?
    };
    match export::open_archive(file, &passphrase, to) {
        Ok(opened) => {
            let c = opened.manifest.counts;
            println!(
                "opened export {} of tenant {} into {}: {} collections, {} records, {} \
                 attachments, {} users, {} roles, {} audit events; every digest checked",
                opened.manifest.export,
                opened.manifest.tenant,
                opened.dir.display(),
                c.collections,
                c.records,
                c.attachments,
                c.users,
                c.roles,
                c.audit_events
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {e}; nothing was written");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn read_line(input: &mut impl BufRead) -> std::io::Result<Zeroizing<String>> {
    let mut line = Zeroizing::new(String::new());
    input.read_line(&mut line)?;
    Ok(line)
}

/// Asks on the terminal with echo off (restored afterwards, even on error).
fn prompt() -> anyhow::Result<Zeroizing<String>> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        anyhow::bail!("standard input is not a terminal: pass --passphrase-stdin");
    }
    eprint!("passphrase: ");
    std::io::stderr().flush()?;
    let saved = tcgetattr(&stdin).context("reading the terminal's settings")?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    tcsetattr(&stdin, OptionalActions::Now, &quiet).context("turning echo off")?;
    let line = read_line(&mut stdin.lock());
    let restored = tcsetattr(&stdin, OptionalActions::Now, &saved);
    eprintln!();
    restored.context("restoring the terminal's settings")?;
    Ok(line?)
}
