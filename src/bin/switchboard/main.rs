//! The switchboard daemon.
//!
//! - `switchboard run --config FILE [--role all|access|worker] [--group NAME]...` runs
//!   the daemon (`--group`: only these worker groups' pools; default every group);
//!   `switchboard run --demo` runs the offline demo (emulator, memory vault,
//!   in-process bus, traffic generator) and prints a summary line every few seconds.
//!   SIGINT/SIGTERM shut down gracefully (exit 0; a second signal exits at once);
//!   SIGHUP reloads the registry. Under systemd (`NOTIFY_SOCKET`) it reports
//!   READY/STOPPING/WATCHDOG; exit codes are listed in `exit.rs` (78: configuration).
//! - `switchboard check-config FILE...` validates registry files.
//! - `switchboard sim --listen ADDR --config FILE` runs the local Discord emulator for
//!   the tenants of a registry.
//! - `switchboard vault-key new|worker` prints a new vault key, or the worker key
//!   derived from the vault key in `SWITCHBOARD_VAULT_KEY` (what worker nodes get).
//! - `switchboard redis-acl --role access|worker --user NAME --password-env VAR`
//!   prints a Redis ACL user for a node role (`switchboard::vault::setuser_args`).
//! - `switchboard store move-namespace --config FILE PROVIDER/TENANT [--to NS]`
//!   moves a tenant's stored rows to a new `storage.namespace`.

mod exit;
mod run;
mod service;
mod store_cmd;
mod tools;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use run::RunOptions;
use tools::{check_config, redis_acl, report, run_sim, vault_key};

/// mimalloc, not glibc's allocator: the daemon allocates per envelope and per Redis
/// frame on many threads, where glibc's arenas cost it about a seventh of its CPU
/// (`docs/performance.md`, "Allocator").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum RoleArg {
    All,
    Access,
    Worker,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum AclRoleArg {
    Access,
    Worker,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum AclFormat {
    /// A line for a Redis ACL file (`aclfile`).
    Aclfile,
    /// An `ACL SETUSER` command (for `redis-cli`).
    Setuser,
}

#[derive(Subcommand)]
enum StoreCommand {
    /// Move a tenant's stored rows (messages, attachments, embeddings) to a new
    /// namespace: by default the `storage.namespace` its registry entry names now.
    MoveNamespace {
        /// The registry file (its `runtime.store` and the tenant's namespace).
        #[arg(long)]
        config: PathBuf,
        /// The tenant, `provider/tenant`.
        tenant: String,
        /// The namespace to move to (default: the registry's).
        #[arg(long)]
        to: Option<String>,
    },
}

#[derive(Clone, Copy, Subcommand)]
pub(crate) enum KeyCommand {
    /// A new random vault key (64 hex digits) for access nodes.
    New,
    /// The worker key derived from the vault key in `--from-env` (give worker nodes
    /// this one only: it opens app secrets, never a provider credential).
    Worker,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum LogFormat {
    Pretty,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon.
    Run {
        /// The registry file.
        #[arg(long, required_unless_present = "demo")]
        config: Option<PathBuf>,
        /// Run the offline demo (uses `--config` if given, else the built-in
        /// `config/demo.yml`).
        #[arg(long)]
        demo: bool,
        /// What this node runs.
        #[arg(long, value_enum, default_value = "all")]
        role: RoleArg,
        /// Run only this worker group's pool (repeatable): `default` (the tenants'
        /// handlers) or a name of `runtime.groups`. Default: every group.
        #[arg(long = "group", value_name = "NAME")]
        groups: Vec<String>,
        /// This node's id (default: generated).
        #[arg(long)]
        node_id: Option<String>,
        /// Admin API address instead of `runtime.admin.listen`: `HOST:PORT` or
        /// `http://HOST:PORT` (the form `switchboardctl --admin` takes).
        #[arg(long, value_parser = parse_admin)]
        admin: Option<SocketAddr>,
        /// Seconds a graceful shutdown waits for handlers (default:
        /// `runtime.shutdown_grace_secs`, 30).
        #[arg(long)]
        grace: Option<u64>,
        /// Log format on stderr.
        #[arg(long, value_enum, default_value = "pretty")]
        log_format: LogFormat,
        /// Demo only: seconds between summary lines.
        #[arg(long, default_value_t = 3)]
        summary_every: u64,
    },
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
    /// Print vault keys: a new one, or the worker key derived from one.
    VaultKey {
        #[command(subcommand)]
        what: KeyCommand,
        /// The environment variable holding the vault key (`worker`).
        #[arg(long, default_value = switchboard::vault::VAULT_KEY_ENV)]
        from_env: String,
    },
    /// Print a Redis ACL user for a node role: an access node's user reaches every
    /// key under the prefix, a worker node's never a provider credential.
    RedisAcl {
        /// The node role.
        #[arg(long, value_enum)]
        role: AclRoleArg,
        /// The Redis user name.
        #[arg(long)]
        user: String,
        /// The environment variable holding the user's password (stored hashed).
        #[arg(long)]
        password_env: String,
        /// The key prefix (`runtime.redis_prefix`); default: read from `--config`,
        /// else `sb`.
        #[arg(long)]
        prefix: Option<String>,
        /// A registry file to read `runtime.redis_prefix` from.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Output form.
        #[arg(long, value_enum, default_value = "aclfile")]
        format: AclFormat,
    },
    /// Maintain the tenant-scoped store (`runtime.store`).
    Store {
        #[command(subcommand)]
        what: StoreCommand,
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
        Command::Run {
            config,
            demo,
            role,
            groups,
            node_id,
            admin,
            grace,
            log_format,
            summary_every,
        } => {
            init_logs(log_format);
            let opts = RunOptions {
                config,
                demo,
                role,
                groups,
                node_id,
                admin,
                summary_every: Duration::from_secs(summary_every.max(1)),
                grace: grace.map(Duration::from_secs),
            };
            match tokio::runtime::Runtime::new()
                .map_err(anyhow::Error::from)
                .and_then(|rt| rt.block_on(run::run(opts)))
            {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("switchboard: {e:#}");
                    exit::code_of(&e)
                }
            }
        }
        Command::VaultKey { what, from_env } => report("vault-key", vault_key(what, &from_env)),
        Command::Store {
            what: StoreCommand::MoveNamespace { config, tenant, to },
        } => report(
            "store move-namespace",
            store_cmd::move_namespace(&config, &tenant, to.as_deref()),
        ),
        Command::RedisAcl {
            role,
            user,
            password_env,
            prefix,
            config,
            format,
        } => report(
            "redis-acl",
            redis_acl(
                role,
                &user,
                &password_env,
                prefix,
                config.as_deref(),
                format,
            ),
        ),
        Command::Sim { listen, config } => match run_sim(&listen, &config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("switchboard sim: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

/// `--admin`: `HOST:PORT` (an IP address or a name such as `localhost`), with or
/// without `http://` and a trailing `/`.
fn parse_admin(s: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs as _;
    let addr = s.strip_prefix("http://").unwrap_or(s).trim_end_matches('/');
    let invalid = || format!("{s:?} is not HOST:PORT or http://HOST:PORT (e.g. 127.0.0.1:7878)");
    if let Ok(addr) = addr.parse() {
        return Ok(addr);
    }
    addr.to_socket_addrs()
        .map_err(|_| invalid())?
        .next()
        .ok_or_else(invalid)
}

pub(crate) fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal (and never when NO_COLOR is set): log files and
    // collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_takes_an_address_or_a_url() {
        let want: SocketAddr = ([127, 0, 0, 1], 7878).into();
        assert_eq!(parse_admin("127.0.0.1:7878"), Ok(want));
        assert_eq!(parse_admin("http://127.0.0.1:7878/"), Ok(want));
        assert!(parse_admin("localhost:7878").is_ok_and(|a| a.port() == 7878));
        let err = parse_admin("https://example.com").unwrap_err();
        assert!(err.contains("HOST:PORT"), "{err}");
    }
}
