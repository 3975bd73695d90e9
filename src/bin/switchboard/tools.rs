//! The daemon's one-shot commands: `check-config`, `vault-key`, `redis-acl` and
//! `sim` (the local Discord emulator).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use switchboard::config::{LoadOptions, Registry};

use crate::{AclFormat, AclRoleArg, KeyCommand, LogFormat, init_logs};

/// Exit 0 after `result`, or print its error and exit 1.
pub(crate) fn report(what: &str, result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchboard {what}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

pub(crate) fn vault_key(what: KeyCommand, from_env: &str) -> anyhow::Result<()> {
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

pub(crate) fn redis_acl(
    role: AclRoleArg,
    user: &str,
    password_env: &str,
    prefix: Option<String>,
    config: Option<&Path>,
    format: AclFormat,
) -> anyhow::Result<()> {
    use switchboard::vault::{AclRole, aclfile_line, setuser_args};
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

pub(crate) fn run_sim(listen: &str, config: &Path) -> anyhow::Result<()> {
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

pub(crate) fn check_config(files: &[PathBuf], no_env: bool, strict: bool) -> ExitCode {
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
