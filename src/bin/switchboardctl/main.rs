//! `switchboardctl`: inspect and steer a running switchboard daemon through its admin
//! API.
//!
//! The daemon is found from `--admin`, `SWITCHBOARD_ADMIN`, or the
//! `runtime.admin.listen` of `--config FILE`. Every command prints the daemon's answer
//! as JSON with `--json`. Colours follow the terminal (off on pipes and with
//! `NO_COLOR`). Exit codes: 0 done, 1 other failure (a followed backfill that
//! failed, too), 2 usage, 3 no daemon answered, 4 the daemon refused the request
//! (see `api.rs`).

mod api;
mod render;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anstream::{print, println};
use anyhow::{Context as _, anyhow};
use clap::{CommandFactory as _, Parser, Subcommand};
use serde_json::Value;
use switchboard::admin::{ClusterStatus, RuntimeStatus};
use switchboard::config::{LoadOptions, Registry};

use api::{Api, base_url, tenant_path};
use render::{render, render_cluster};

#[derive(Parser)]
#[command(
    name = "switchboardctl",
    version,
    about = "Inspect and steer a running switchboard daemon"
)]
struct Cli {
    /// The daemon's admin address: `HOST:PORT` or a URL, e.g. `127.0.0.1:7878` or
    /// `http://127.0.0.1:7878` (the daemon's `--admin` takes both too).
    #[arg(long, env = "SWITCHBOARD_ADMIN", global = true)]
    admin: Option<String>,
    /// Print the daemon's answer as JSON (every command).
    #[arg(long, global = true)]
    json: bool,
    /// A registry file to read `runtime.admin.listen` from.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Bearer token for mutating commands (and for reads when the daemon sets
    /// `runtime.admin.auth_reads`); sent with every request.
    #[arg(
        long,
        env = "SWITCHBOARD_ADMIN_TOKEN",
        global = true,
        hide_env_values = true
    )]
    token: Option<String>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// The supervision tree: tenants, actors, shards, REST, bus, workers.
    Status {
        /// Refresh every `--interval` seconds until interrupted.
        #[arg(long)]
        watch: bool,
        /// Seconds between refreshes with `--watch`.
        #[arg(long, default_value_t = 2)]
        interval: u64,
        /// The whole cluster: nodes (role, heartbeat age, tenants held, standby) and
        /// the node holding each tenant.
        #[arg(long)]
        cluster: bool,
    },
    /// Manage tenants (files in `runtime.tenants_dir`).
    Tenants {
        #[command(subcommand)]
        command: TenantsCmd,
    },
    /// Re-read the registry and apply the changes.
    Reload,
    /// The dead-letter queue.
    Dlq {
        #[command(subcommand)]
        command: DlqCmd,
    },
    /// Vault lease counts.
    Leases,
    /// Page a channel's history into the tenant's store (`backfill TENANT CHANNEL`),
    /// or show how far it got (`backfill status TENANT CHANNEL`).
    Backfill(BackfillArgs),
    /// Print a shell completion script (e.g. `switchboardctl completions bash >
    /// /etc/bash_completion.d/switchboardctl`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand)]
enum TenantsCmd {
    /// List tenants.
    List,
    /// Add a tenant from a YAML file holding one tenant entry.
    Add {
        /// The file.
        file: PathBuf,
    },
    /// Add or replace a tenant from a YAML file holding one tenant entry (its
    /// `provider` and `tenant` name it).
    Put {
        /// The file.
        file: PathBuf,
    },
    /// Remove a tenant (`provider/tenant`).
    Remove {
        /// `provider/tenant`.
        id: String,
    },
}

/// `backfill TENANT CHANNEL [--limit N] [--follow]`, or `backfill status …`.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct BackfillArgs {
    #[command(subcommand)]
    command: Option<BackfillCmd>,
    #[command(flatten)]
    start: BackfillStart,
}

/// What starts a backfill.
#[derive(clap::Args)]
struct BackfillStart {
    /// The tenant, `provider/tenant`.
    #[arg(required = true)]
    tenant: Option<String>,
    /// The channel's id.
    #[arg(required = true)]
    channel: Option<String>,
    /// At most this many messages (the newest); default: the whole history.
    #[arg(long)]
    limit: Option<u64>,
    /// Poll the progress every second until the backfill is done; a run that fails
    /// (its job dead-lettered) stops it with the reason and exit code 1.
    #[arg(long)]
    follow: bool,
    /// With `--follow`: give up (exit 1) after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
}

#[derive(Subcommand)]
enum BackfillCmd {
    /// A channel's backfill progress and stored messages (needs a node with
    /// `runtime.store`).
    Status {
        /// The tenant, `provider/tenant`.
        tenant: String,
        /// The channel's id.
        channel: String,
    },
}

#[derive(Subcommand)]
enum DlqCmd {
    /// The newest dead letters.
    List {
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Publish a dead letter again.
    Replay {
        /// Its id.
        id: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Cmd::Completions { shell } = cli.command {
        clap_complete::generate(
            shell,
            &mut Cli::command(),
            "switchboardctl",
            &mut std::io::stdout(),
        );
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("switchboardctl: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            anstream::eprintln!("switchboardctl: {e:#}");
            api::exit_code(&e)
        }
    }
}

fn admin_url(cli: &Cli) -> anyhow::Result<String> {
    if let Some(a) = &cli.admin {
        return Ok(base_url(a));
    }
    if let Some(file) = &cli.config {
        let opts = LoadOptions {
            resolve_env: false,
            ..LoadOptions::default()
        };
        let reg = Registry::load_with(file, &opts).map_err(|e| anyhow!("{e}"))?;
        return Ok(base_url(&reg.runtime.admin.listen.to_string()));
    }
    Ok("http://127.0.0.1:7878".to_owned())
}

/// Whether coloured output reaches a terminal that wants it (`NO_COLOR`,
/// `CLICOLOR_FORCE`, pipes: anstream's rules).
fn color() -> bool {
    anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never
}

fn print_json(value: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let api = Api::new(admin_url(&cli)?, cli.token.clone())?;
    let json = cli.json;
    match cli.command {
        Cmd::Status {
            watch,
            interval,
            cluster,
        } => loop {
            let path = if cluster { "/v1/cluster" } else { "/v1/status" };
            let value = api.get(path).await?;
            if watch && !json {
                print!("\x1b[2J\x1b[H");
            }
            if json {
                print_json(&value)?;
            } else if cluster {
                let status: ClusterStatus =
                    serde_json::from_value(value).context("unexpected cluster shape")?;
                print!("{}", render_cluster(&status));
            } else {
                let status: RuntimeStatus =
                    serde_json::from_value(value).context("unexpected status shape")?;
                print!("{}", render(&status, color()));
            }
            if !watch {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_secs(interval.max(1))).await;
        },
        Cmd::Tenants { command } => tenants(&api, command, json).await,
        Cmd::Reload => print_report(&api.post("/v1/reload", None).await?, json),
        Cmd::Dlq { command } => dlq(&api, command, json).await,
        Cmd::Leases => print_json(&api.get("/v1/leases").await?),
        Cmd::Backfill(args) => backfill(&api, args, json).await,
        Cmd::Completions { .. } => Ok(()),
    }
}

async fn tenants(api: &Api, command: TenantsCmd, json: bool) -> anyhow::Result<()> {
    match command {
        TenantsCmd::List => {
            let list = api.get("/v1/tenants").await?;
            if json {
                return print_json(&list);
            }
            for t in list.as_array().into_iter().flatten() {
                println!(
                    "{:<28} {}{}",
                    t["id"].as_str().unwrap_or_default(),
                    t["source"].as_str().unwrap_or_default(),
                    if t["managed"].as_bool() == Some(true) {
                        ""
                    } else {
                        "  (not managed by the API)"
                    }
                );
            }
            Ok(())
        }
        TenantsCmd::Add { file } => {
            let body = read_entry(&file)?;
            print_report(&api.post("/v1/tenants", Some(body)).await?, json)
        }
        TenantsCmd::Put { file } => {
            let body = read_entry(&file)?;
            let entry: serde_yaml_ng::Value = serde_yaml_ng::from_str(&body)
                .with_context(|| format!("{} is not a YAML tenant entry", file.display()))?;
            let field = |k: &str| entry.get(k).and_then(serde_yaml_ng::Value::as_str);
            let (Some(provider), Some(tenant)) = (field("provider"), field("tenant")) else {
                return Err(anyhow!(
                    "{}: a tenant entry needs `provider` and `tenant`",
                    file.display()
                ));
            };
            let path = tenant_path(&format!("{provider}/{tenant}"))?;
            // PUT replaces an API-managed tenant; one that does not exist yet is added.
            let report = match api.put(&path, body.clone()).await {
                Err(e)
                    if e.downcast_ref::<api::Refused>()
                        .is_some_and(api::Refused::is_not_found) =>
                {
                    api.post("/v1/tenants", Some(body)).await?
                }
                other => other?,
            };
            print_report(&report, json)
        }
        TenantsCmd::Remove { id } => print_report(&api.delete(&tenant_path(&id)?).await?, json),
    }
}

fn read_entry(file: &std::path::Path) -> anyhow::Result<String> {
    std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))
}

async fn dlq(api: &Api, command: DlqCmd, json: bool) -> anyhow::Result<()> {
    match command {
        DlqCmd::List { limit } => {
            let list = api.get(&format!("/v1/dlq?limit={limit}")).await?;
            if json {
                return print_json(&list);
            }
            for d in list.as_array().into_iter().flatten() {
                println!(
                    "{}  {}  attempts {}  {}",
                    d["id"].as_str().unwrap_or_default(),
                    d["tenant"].as_str().unwrap_or("(undecodable)"),
                    d["attempts"],
                    d["error"].as_str().unwrap_or_default()
                );
            }
            Ok(())
        }
        DlqCmd::Replay { id } => {
            let answer = api
                .post_json("/v1/dlq/replay", &serde_json::json!({ "id": id }))
                .await?;
            if json {
                return print_json(&answer);
            }
            println!("replayed {id}");
            Ok(())
        }
    }
}

async fn backfill(api: &Api, args: BackfillArgs, json: bool) -> anyhow::Result<()> {
    if let Some(BackfillCmd::Status { tenant, channel }) = args.command {
        // The channel goes into the path: digits only, so it cannot name another route.
        if channel.is_empty() || !channel.bytes().all(|b| b.is_ascii_digit()) {
            return Err(anyhow!(
                "{channel:?} is not a channel id (a snowflake: digits)"
            ));
        }
        let view = api
            .get(&format!("{}/backfills/{channel}", tenant_path(&tenant)?))
            .await?;
        return print_backfill(&view, json);
    }
    let BackfillStart {
        tenant: Some(tenant),
        channel: Some(channel),
        limit,
        follow,
        timeout,
    } = args.start
    else {
        return Err(anyhow!(
            "expected TENANT CHANNEL (or `status TENANT CHANNEL`)"
        ));
    };
    let base = tenant_path(&tenant)?;
    let mut body = serde_json::json!({ "channel": channel });
    if let Some(limit) = limit {
        body["limit"] = limit.into();
    }
    let mut view = api.post_json(&format!("{base}/backfills"), &body).await?;
    if !follow {
        return print_backfill(&view, json);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    let status = format!("{base}/backfills/{channel}");
    // A failure recorded before this start is the previous run's: this run clears it
    // when it takes the channel up, and a failure of its own is a new record.
    let earlier_failure = view["progress"]["error"].clone();
    let mut shown = String::new();
    loop {
        let line = render_backfill(&view);
        if !json && line != shown {
            println!("{line}");
            shown = line;
        }
        if view["progress"]["done"].as_bool() == Some(true) {
            return if json { print_json(&view) } else { Ok(()) };
        }
        let failure = &view["progress"]["error"];
        if !failure.is_null() && *failure != earlier_failure {
            if json {
                print_json(&view)?;
            }
            return Err(api::BackfillFailed(format!(
                "the backfill of {tenant} #{channel} failed after {} deliveries: {}; start it again to resume from its cursor",
                failure["attempts"].as_u64().unwrap_or(0),
                failure["message"].as_str().unwrap_or("no reason recorded")
            ))
            .into());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(anyhow!(
                "the backfill is not done after {timeout} s ({}); it goes on in the daemon: `switchboardctl backfill status {tenant} {channel}`",
                render_backfill(&view)
            ));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        view = api.get(&status).await?;
    }
}

/// `discord/duck #123: fetched 250 messages in 3 pages · done · 250 stored`; a
/// failed one says `· failed: <why> ·`.
fn render_backfill(view: &Value) -> String {
    let p = &view["progress"];
    let progress = if p.is_null() {
        if view["stored"].is_null() {
            "progress unknown here (this node has no runtime.store)".to_owned()
        } else {
            "no page fetched yet · running".to_owned()
        }
    } else {
        let (fetched, pages) = (
            p["fetched"].as_u64().unwrap_or(0),
            p["pages"].as_u64().unwrap_or(0),
        );
        let state = match view["state"].as_str() {
            Some("failed") => format!(
                "failed: {}",
                p["error"]["message"]
                    .as_str()
                    .unwrap_or("no reason recorded")
            ),
            Some(state) => state.to_owned(),
            None if p["done"].as_bool() == Some(true) => "done".to_owned(),
            None => "running".to_owned(),
        };
        format!(
            "fetched {fetched} message{} in {pages} page{} · {state}",
            if fetched == 1 { "" } else { "s" },
            if pages == 1 { "" } else { "s" },
        )
    };
    let stored = view["stored"]
        .as_i64()
        .map(|n| format!(" · {n} stored"))
        .unwrap_or_default();
    format!(
        "{} #{}: {progress}{stored}",
        view["tenant"].as_str().unwrap_or_default(),
        view["channel"].as_str().unwrap_or_default()
    )
}

fn print_backfill(view: &Value, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(view);
    }
    println!("{}", render_backfill(view));
    Ok(())
}

/// What a change did: tenants added, removed, changed and unchanged.
fn print_report(report: &Value, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(report);
    }
    for key in ["added", "removed", "changed", "unchanged"] {
        let items: Vec<&str> = report[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if !items.is_empty() {
            println!("{key:<9} {}", items.join(", "));
        }
    }
    Ok(())
}
