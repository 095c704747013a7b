//! `trigger`: makes a scheduled tenant due now (lifting a quarantine); the next replica to poll runs it.

use anyhow::Result;
use clap::Args;

use super::Context;
use crate::display::printable;
use crate::store::{Store, StoreLocation};

/// Run a scheduled tenant's sync now (a serving replica picks it up at its next poll).
#[derive(Args)]
pub struct TriggerCommand {
    tenant: String,
    #[arg(long, env = "HARNESS_STORE")]
    store: StoreLocation,
}

impl TriggerCommand {
    pub fn execute(self, cx: &mut Context<'_>) -> Result<()> {
        if !self.store.exists() {
            anyhow::bail!("no store at {}", self.store);
        }
        Store::open(&self.store)?.trigger(&self.tenant)?;
        writeln!(cx.out, "tenant `{}` is due now", printable(&self.tenant, 256))?;
        Ok(())
    }
}
