//! `status`: the service's schedule as a table (or JSON): every tenant's and flow's (`flow:NAME`) state, last
//! outcome, next run and lease, read from the store any replica writes.

use anyhow::Result;
use clap::Args;
use serde_json::json;

use super::Context;
use crate::display::printable;
use crate::service::{lease_text, next_run_text, relative_time};
use crate::store::{FLOW_JOB, Store, StoreLocation};

/// Show every scheduled tenant: state, last outcome, next run, lease and last error.
#[derive(Args)]
pub struct StatusCommand {
    #[arg(long, env = "HARNESS_STORE")]
    store: StoreLocation,
    /// One JSON object per tenant, one per line (as with `--log-format json`).
    #[arg(long)]
    json: bool,
}

impl StatusCommand {
    pub fn execute(self, cx: &mut Context<'_>) -> Result<()> {
        let store = Store::open_existing(&self.store)?;
        let rows = store.schedule().map_err(|_| anyhow::anyhow!("store {} has no schedule: no `serve` has run on it", self.store))?;
        // Times are the store's clock: this machine's may disagree.
        let now = store.clock_ms()?;
        if self.json || cx.json {
            for row in rows {
                let line = json!({
                    "tenant": row.tenant, "enabled": row.enabled, "state": row.state, "interval_ms": row.interval_ms,
                    "next_run_ms": row.next_run_ms, "failures": row.failures, "last_outcome": row.last_outcome,
                    "last_error": row.last_error, "last_sync_id": row.last_sync_id, "last_counts": row.last_counts,
                    "last_started_ms": row.last_started_ms, "last_finished_ms": row.last_finished_ms,
                    "lease": row.lease_owner.as_ref().map(|owner| json!({"owner": owner, "epoch": row.lease_epoch, "expires_ms": row.lease_expires_ms})),
                    "progress": row.progress.map(|p| json!({"records": p.records, "requests": p.requests, "pages": p.pages})),
                    "last_success_at": row.last_success_at,
                });
                writeln!(cx.out, "{line}")?;
            }
            return Ok(());
        }
        let mut table = vec![["TENANT", "STATE", "LAST", "NEXT RUN", "FAILURES", "LEASE", "LAST ERROR"].map(String::from)];
        for row in rows.iter().filter(|r| r.enabled) {
            table.push([
                printable(&row.tenant, 64),
                row.state.clone(),
                match (&row.last_outcome, row.last_finished_ms) {
                    // A flow's row says what its last cycle did.
                    (Some(outcome), Some(at)) if row.tenant.starts_with(FLOW_JOB) => {
                        format!("{outcome} {} ({})", relative_time(at, now), printable(row.last_counts.as_deref().unwrap_or("-"), 200))
                    }
                    (Some(outcome), Some(at)) => format!("{outcome} {}", relative_time(at, now)),
                    _ => "-".into(),
                },
                next_run_text(row, now),
                row.failures.to_string(),
                printable(&lease_text(row, now), 128),
                printable(row.last_error.as_deref().unwrap_or(""), 200),
            ]);
        }
        let widths: Vec<usize> = (0..7).map(|c| table.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
        for row in table {
            let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
            writeln!(cx.out, "{}", cells.join("  ").trim_end())?;
        }
        Ok(())
    }
}
