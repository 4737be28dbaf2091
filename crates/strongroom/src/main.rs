//! `strongroom`: the one binary. `main` is thin: parse the command line, load the configuration,
//! run the chosen command. Commands live in their own modules; none keeps global state.

mod admin;
mod audit_cmd;
mod backup_cmd;
mod backups;
mod bench_build;
mod cli;
mod deletions;
mod export_cmd;
mod serve;
mod settings;
mod tls_files;
mod watch;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli.run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
