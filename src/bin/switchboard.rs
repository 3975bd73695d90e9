//! The switchboard daemon.
//!
//! `switchboard check-config FILE...` validates registry files. (`run` and `sim`
//! arrive with the supervision tree and the emulator.)

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use switchboard::config::{LoadOptions, Registry};

#[derive(Parser)]
#[command(
    name = "switchboard",
    version,
    about = "Hosts many chat bots safely and at scale"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate registry files; exit 0 when every file is valid, 1 otherwise, with
    /// every problem listed.
    CheckConfig {
        /// Leave `${VAR}` references unresolved (checks everything else).
        #[arg(long)]
        no_env: bool,
        /// Require `${VAR}` references for every credential and secret.
        #[arg(long)]
        strict: bool,
        /// The files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig {
            no_env,
            strict,
            files,
        } => check_config(&files, no_env, strict),
    }
}

fn check_config(files: &[PathBuf], no_env: bool, strict: bool) -> ExitCode {
    let opts = LoadOptions {
        resolve_env: !no_env,
        strict,
        ..LoadOptions::default()
    };
    let mut ok = true;
    for file in files {
        match Registry::load_with(file, &opts) {
            Ok(registry) => {
                let tenants: Vec<String> = registry
                    .tenants
                    .iter()
                    .map(|t| t.id().to_string())
                    .collect();
                println!(
                    "{}: ok ({} tenant{}: {})",
                    file.display(),
                    tenants.len(),
                    if tenants.len() == 1 { "" } else { "s" },
                    tenants.join(", ")
                );
            }
            Err(e) => {
                ok = false;
                eprintln!("{}: {e}", file.display());
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
