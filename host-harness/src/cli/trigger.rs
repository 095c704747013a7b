//! `trigger`: makes a scheduled tenant due now (lifting a quarantine); the next replica to poll runs it, or, if it
//! is running, runs it again once that run ends.

use anyhow::Result;
use clap::Args;

use super::Context;
use crate::display::printable;
use crate::store::{Store, StoreLocation, Triggered};

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
        let tenant = printable(&self.tenant, 256);
        match Store::open(&self.store)?.trigger(&self.tenant)? {
            Triggered::DueNow => writeln!(cx.out, "tenant `{tenant}` is due now")?,
            Triggered::AfterCurrentRun { replica } => {
                writeln!(cx.out, "tenant `{tenant}` is running now on {}; it runs again as soon as that run ends", printable(&replica, 256))?
            }
        }
        Ok(())
    }
}
