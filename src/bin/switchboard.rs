//! The switchboard daemon.
//!
//! - `switchboard run --config FILE [--role all|access|worker]` runs the daemon;
//!   `switchboard run --demo` runs the offline demo (emulator, memory vault,
//!   in-process bus, traffic generator) and prints a summary line every few seconds.
//!   SIGINT/SIGTERM shut down gracefully (exit 0); SIGHUP reloads the registry.
//! - `switchboard check-config FILE...` validates registry files.
//! - `switchboard sim --listen ADDR --config FILE` runs the local Discord emulator for
//!   the tenants of a registry.
//! - `switchboard vault-key new|worker` prints a new vault key, or the worker key
//!   derived from the vault key in `SWITCHBOARD_VAULT_KEY` (what worker nodes get).
//! - `switchboard redis-acl --role access|worker --user NAME --password-env VAR`
//!   prints a Redis ACL user for a node role (`switchboard::redis_acl`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

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

#[derive(Clone, Copy, clap::ValueEnum)]
enum RoleArg {
    All,
    Access,
    Worker,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum AclRoleArg {
    Access,
    Worker,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum AclFormat {
    /// A line for a Redis ACL file (`aclfile`).
    Aclfile,
    /// An `ACL SETUSER` command (for `redis-cli`).
    Setuser,
}

#[derive(Clone, Copy, Subcommand)]
enum KeyCommand {
    /// A new random vault key (64 hex digits) for access nodes.
    New,
    /// The worker key derived from the vault key in `--from-env` (give worker nodes
    /// this one only: it opens app secrets, never a provider credential).
    Worker,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
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
        /// This node's id (default: generated).
        #[arg(long)]
        node_id: Option<String>,
        /// Admin API address instead of `runtime.admin.listen`.
        #[arg(long)]
        admin: Option<std::net::SocketAddr>,
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
            node_id,
            admin,
            log_format,
            summary_every,
        } => {
            init_logs(log_format);
            let opts = RunOptions {
                config,
                demo,
                role,
                node_id,
                admin,
                summary_every: Duration::from_secs(summary_every.max(1)),
            };
            match tokio::runtime::Runtime::new()
                .map_err(anyhow::Error::from)
                .and_then(|rt| rt.block_on(run(opts)))
            {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("switchboard: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::VaultKey { what, from_env } => report("vault-key", vault_key(what, &from_env)),
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

/// Exit 0 after `result`, or print its error and exit 1.
fn report(what: &str, result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchboard {what}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn vault_key(what: KeyCommand, from_env: &str) -> anyhow::Result<()> {
    use secrecy::ExposeSecret as _;
    use switchboard::vault::VaultKey;
    let key = match what {
        KeyCommand::New => VaultKey::generate(),
        KeyCommand::Worker => {
            let text = std::env::var(from_env)
                .map_err(|_| anyhow::anyhow!("environment variable {from_env} is not set"))?;
            VaultKey::parse(&text)?.worker_key()
        }
    };
    println!("{}", key.to_hex().expose_secret());
    Ok(())
}

fn redis_acl(
    role: AclRoleArg,
    user: &str,
    password_env: &str,
    prefix: Option<String>,
    config: Option<&Path>,
    format: AclFormat,
) -> anyhow::Result<()> {
    use switchboard::redis_acl::{AclRole, aclfile_line, setuser_args};
    anyhow::ensure!(
        !user.is_empty()
            && user
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b)),
        "user name {user:?} must be letters, digits, '_', '-' or '.'"
    );
    let password = std::env::var(password_env)
        .ok()
        .filter(|p| !p.is_empty())
        .map(secrecy::SecretString::from)
        .ok_or_else(|| anyhow::anyhow!("environment variable {password_env} is not set"))?;
    let prefix = match (prefix, config) {
        (Some(p), _) => p,
        (None, Some(file)) => {
            let opts = LoadOptions {
                resolve_env: false,
                ..LoadOptions::default()
            };
            Registry::load_with(file, &opts)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?
                .runtime
                .redis_prefix
        }
        (None, None) => "sb".to_owned(),
    };
    let role = match role {
        AclRoleArg::Access => AclRole::Access,
        AclRoleArg::Worker => AclRole::Worker,
    };
    match format {
        AclFormat::Aclfile => println!("{}", aclfile_line(user, role, &prefix, &password)),
        AclFormat::Setuser => println!(
            "ACL SETUSER {}",
            setuser_args(user, role, &prefix, &password).join(" ")
        ),
    }
    Ok(())
}

fn init_logs(format: LogFormat) {
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

struct RunOptions {
    config: Option<PathBuf>,
    demo: bool,
    role: RoleArg,
    node_id: Option<String>,
    admin: Option<std::net::SocketAddr>,
    summary_every: Duration,
}

/// Resolves when SIGINT or SIGTERM arrives.
async fn terminate() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Reloads the registry on every SIGHUP.
fn reload_on_hup(runtime: switchboard::runtime::Runtime) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            return;
        };
        while hup.recv().await.is_some() {
            match runtime.reload().await {
                Ok(report) => tracing::info!(?report, "reloaded on SIGHUP"),
                Err(e) => {
                    tracing::error!(error = %e, "reload rejected; the running configuration stays");
                }
            }
        }
    });
}

async fn run(opts: RunOptions) -> anyhow::Result<()> {
    use switchboard::runtime::{Role, Runtime};
    let role = match opts.role {
        RoleArg::All => Role::All,
        RoleArg::Access => Role::Access,
        RoleArg::Worker => Role::Worker,
    };
    // A worker node holds no provider credential: it leaves `${VAR}`s unresolved.
    let load = LoadOptions {
        resolve_env: role != Role::Worker,
        ..LoadOptions::default()
    };
    let registry = match (&opts.config, opts.demo) {
        (Some(file), _) => Registry::load_with(file, &load).map_err(|e| anyhow::anyhow!("{e}"))?,
        (None, true) => switchboard::demo::demo_registry()?,
        (None, false) => anyhow::bail!("--config FILE is required (or --demo)"),
    };
    if opts.demo {
        let admin = opts.admin.or(Some(([127, 0, 0, 1], 7878).into()));
        let demo =
            switchboard::demo::Demo::start(registry, admin, Duration::from_millis(400)).await?;
        if let Some(addr) = demo.runtime.admin_addr().await {
            println!(
                "switchboard demo running · admin http://{addr} · emulator http://{} · Ctrl-C to stop",
                demo.sim.api_host()
            );
        }
        reload_on_hup(demo.runtime.clone());
        let mut tick = tokio::time::interval(opts.summary_every);
        tick.tick().await;
        let stop = terminate();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = tick.tick() => println!("{}", demo.summary()),
                () = &mut stop => break,
            }
        }
        println!("{}", demo.summary());
        demo.shutdown().await;
        return Ok(());
    }
    let mut builder = Runtime::builder().config(registry).role(role);
    if let Some(id) = opts.node_id {
        builder = builder.node_id(id);
    }
    if let Some(addr) = opts.admin {
        builder = builder.admin_listen(Some(addr));
    }
    let runtime = builder.build().await?;
    if let Some(addr) = runtime.admin_addr().await {
        println!(
            "switchboard running · role {} · admin http://{addr}",
            role.as_str()
        );
    }
    reload_on_hup(runtime.clone());
    runtime.wait_for_shutdown(terminate()).await;
    Ok(())
}

fn run_sim(listen: &str, config: &Path) -> anyhow::Result<()> {
    use anyhow::Context as _;
    init_logs(LogFormat::Pretty);
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
            Ok(registry) if let Err(e) = switchboard::runtime::check_commands(&registry) => {
                // The built-in handlers and the commands they declare.
                ok = false;
                eprintln!("{}: {e}", file.display());
            }
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
