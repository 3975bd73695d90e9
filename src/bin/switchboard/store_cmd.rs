//! `switchboard store move-namespace`: moves a tenant's stored rows to the namespace
//! its registry entry names now, so a renamed `storage.namespace` can start (the
//! runtime refuses a rename while rows carry the old one).

use std::path::Path;

use anyhow::Context as _;
use switchboard::config::Registry;
use switchboard::model::TenantId;
use switchboard::store::Store;

/// Moves `tenant`'s rows (`provider/tenant`) in the registry's `runtime.store` to
/// `to`, or to the namespace the registry gives the tenant.
pub(crate) fn move_namespace(config: &Path, tenant: &str, to: Option<&str>) -> anyhow::Result<()> {
    let registry = Registry::load(config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let Some(store_config) = registry.runtime.store.clone() else {
        anyhow::bail!("{} has no runtime.store", config.display());
    };
    let (provider, name) = tenant
        .split_once('/')
        .with_context(|| format!("{tenant:?}: expected provider/tenant"))?;
    let id = TenantId::parse(provider, name)?;
    let to = match to {
        Some(to) => to.to_owned(),
        None => registry
            .tenant(&id)
            .with_context(|| format!("tenant {id} is not in {}", config.display()))?
            .storage_namespace(),
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    runtime.block_on(async {
        let store = Store::connect(&store_config).await?;
        let moved = store.move_namespace(&id, &to).await;
        store.close().await;
        let moved = moved?;
        println!(
            "{id}: {moved} rows moved to namespace {to:?} in {}",
            store_config.describe()
        );
        Ok(())
    })
}
