//! `trigger`: makes a scheduled tenant (or `flow:NAME`) due now, lifting a quarantine; the next replica to poll
//! runs it, or, if it is running, runs it again once that run ends. It says so when no replica serving it has
//! been heard from lately.

use anyhow::Result;
use clap::Args;
use serde_json::json;

use super::Context;
use crate::display::printable;
use crate::service::relative_time;
use crate::store::{Store, StoreLocation, Triggered};

/// A replica polls every few seconds and says it is alive each time: one silent for longer is likely gone.
const HEARD_LATELY_MS: i64 = 120_000;

/// `12s`, `3m 4s`: a span as `relative_time` words it.
fn relative_span(ms: i64) -> String {
    if ms < 1000 { "under a second".into() } else { relative_time(ms, 0).trim_start_matches("in ").to_string() }
}

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
        let triggered = Store::open(&self.store)?.trigger(&self.tenant)?;
        let said = match &triggered {
            Triggered::DueNow { last_heard_ms: Some(ago) } if *ago <= HEARD_LATELY_MS => {
                format!("tenant `{tenant}` is due now; a replica serving it (heard from {} ago) runs it at its next poll", relative_span(*ago))
            }
            Triggered::DueNow { last_heard_ms: Some(ago) } => {
                format!("tenant `{tenant}` is due now, but no replica serving it has been heard from for {}: it runs once `serve` is up again", relative_span(*ago))
            }
            Triggered::DueNow { last_heard_ms: None } => {
                format!("tenant `{tenant}` is due now, but no replica of `serve` serves it: it runs once one with it in its tenants file is up")
            }
            Triggered::AfterCurrentRun { replica } => format!("tenant `{tenant}` is running now on {}; it runs again as soon as that run ends", printable(replica, 256)),
        };
        if !cx.json {
            writeln!(cx.out, "{said}")?;
            return Ok(());
        }
        let line = match triggered {
            Triggered::DueNow { last_heard_ms } => json!({"tenant": self.tenant, "runs": "at-next-poll", "replica_heard_ms_ago": last_heard_ms, "message": said}),
            Triggered::AfterCurrentRun { replica } => json!({"tenant": self.tenant, "runs": "after-current-run", "replica": replica, "message": said}),
        };
        writeln!(cx.out, "{line}")?;
        Ok(())
    }
}
