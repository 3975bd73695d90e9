//! The switchboard daemon.
//!
//! - `switchboard check-config FILE...` validates registry files.
//! - `switchboard sim --listen ADDR --config FILE` runs the local Discord emulator for
//!   the tenants of a registry.

use std::path::{Path, PathBuf};
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
    /// Run the local Discord emulator (gateway and REST on one port) serving the bots of
    /// a registry; stops on Ctrl-C.
    Sim {
        /// Address to listen on (port 0 picks a free one).
        #[arg(long, default_value = "127.0.0.1:9000")]
        listen: String,
        /// The registry whose Discord tenants become the emulator's bots.
        #[arg(long)]
        config: PathBuf,
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
        Command::Sim { listen, config } => match run_sim(&listen, &config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("switchboard sim: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn run_sim(listen: &str, config: &Path) -> anyhow::Result<()> {
    use anyhow::Context as _;
    init_logs();
    let registry = Registry::load(config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let sim_config = switchboard::sim::SimConfig::from_registry(&registry)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    runtime.block_on(async {
        let sim = switchboard::sim::Sim::start(sim_config, listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        println!("switchboard sim listening on {}", sim.addr());
        println!("  REST:    http://{}/api/v10", sim.api_host());
        println!("  gateway: {}", sim.gateway_url());
        println!("  control: http://{}/__sim/", sim.api_host());
        tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?;
        sim.shutdown().await;
        Ok(())
    })
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
