//! `switchboard run`: the daemon (one node of any role) and the offline demo, from
//! start to a graceful stop.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use switchboard::config::{LoadOptions, Registry};
use switchboard::runtime::{Role, Runtime};

use crate::RoleArg;
use crate::exit::ConfigError;
use crate::service;

/// What `switchboard run` was asked to do.
pub(crate) struct RunOptions {
    pub(crate) config: Option<PathBuf>,
    pub(crate) demo: bool,
    pub(crate) role: RoleArg,
    /// `--group`: the worker groups this node runs (empty: all).
    pub(crate) groups: Vec<String>,
    pub(crate) node_id: Option<String>,
    pub(crate) admin: Option<SocketAddr>,
    pub(crate) summary_every: Duration,
    pub(crate) grace: Option<Duration>,
}

/// Runs the daemon (or the demo) until a stop signal, then shuts down gracefully.
pub(crate) async fn run(opts: RunOptions) -> anyhow::Result<()> {
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
        (Some(file), _) => Registry::load_with(file, &load)
            .map_err(|e| ConfigError(format!("{}: {e}", file.display())))?,
        (None, true) => switchboard::demo::demo_registry()?,
        (None, false) => {
            return Err(ConfigError("--config FILE is required (or --demo)".into()).into());
        }
    };
    let grace = opts
        .grace
        .unwrap_or(Duration::from_secs(registry.runtime.shutdown_grace_secs));
    if opts.demo {
        return run_demo(registry, opts.admin, opts.summary_every, grace).await;
    }
    if !opts.groups.is_empty() && role == Role::Access {
        return Err(
            ConfigError("--group needs a role that runs workers (worker or all)".into()).into(),
        );
    }
    let mut builder = Runtime::builder().config(registry).role(role);
    if !opts.groups.is_empty() {
        builder = builder.run_groups(opts.groups);
    }
    if let Some(id) = opts.node_id {
        builder = builder.node_id(id);
    }
    if let Some(addr) = opts.admin {
        builder = builder.admin_listen(Some(addr));
    }
    let runtime = builder.build().await.context("starting the runtime")?;
    let admin = runtime.admin_addr().await;
    let line = match admin {
        Some(addr) => format!(
            "switchboard running · role {} · admin http://{addr}",
            role.as_str()
        ),
        None => format!("switchboard running · role {}", role.as_str()),
    };
    println!("{line}");
    let _watchdog = service::ready(&line);
    service::reload_on_hup(runtime.clone());
    service::stop_requested(grace).await;
    runtime.shutdown(grace).await;
    Ok(())
}

async fn run_demo(
    registry: Registry,
    admin: Option<SocketAddr>,
    summary_every: Duration,
    grace: Duration,
) -> anyhow::Result<()> {
    let admin = admin.or(Some(([127, 0, 0, 1], 7878).into()));
    let demo =
        switchboard::demo::Demo::start(registry, admin, switchboard::demo::DEFAULT_EVERY).await?;
    let line = match demo.runtime.admin_addr().await {
        Some(addr) => format!(
            "switchboard demo running · admin http://{addr} · emulator http://{} · Ctrl-C to stop",
            demo.sim.api_host()
        ),
        None => "switchboard demo running · Ctrl-C to stop".to_owned(),
    };
    println!("{line}");
    let _watchdog = service::ready(&line);
    service::reload_on_hup(demo.runtime.clone());
    let mut tick = tokio::time::interval(summary_every);
    tick.tick().await;
    let stop = service::stop_requested(grace);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = tick.tick() => println!("{}", demo.summary()),
            () = &mut stop => break,
        }
    }
    println!("{}", demo.summary());
    demo.shutdown().await;
    Ok(())
}
