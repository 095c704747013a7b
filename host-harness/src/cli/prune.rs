//! `prune`: deletes old syncs on demand, as every complete sync does for its tenant (see `Store::prune`).

use anyhow::{Result, bail};
use clap::Args;

use super::Context;
use crate::display::printable;
use crate::store::{Store, StoreLocation};

/// Delete old syncs now: keep each tenant's newest complete ones, drop what nobody can read or resume.
#[derive(Args)]
pub struct PruneCommand {
    #[arg(long)]
    store: StoreLocation,
    /// Only this tenant [default: every tenant in the store].
    #[arg(long)]
    tenant: Option<String>,
    /// Complete syncs to keep per tenant (at least 2).
    #[arg(long, default_value_t = crate::options::DEFAULT_KEEP_SYNCS)]
    keep: usize,
}

impl PruneCommand {
    pub fn execute(self, cx: &mut Context<'_>) -> Result<()> {
        if self.keep < 2 {
            bail!("--keep must be at least 2: diff compares the last two complete syncs");
        }
        if !self.store.exists() {
            bail!("no store at {}", self.store);
        }
        let mut store = Store::open(&self.store)?;
        let tenants = match self.tenant {
            Some(tenant) => vec![tenant],
            None => store.tenants()?,
        };
        for tenant in tenants {
            let pruned = store.prune(&tenant, self.keep)?;
            let ids = pruned.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
            let listed = if ids.is_empty() { String::new() } else { format!(" ({ids})") };
            writeln!(cx.out, "tenant `{}`: pruned {} sync(s){listed}", printable(&tenant, 256), pruned.len())?;
        }
        Ok(())
    }
}
