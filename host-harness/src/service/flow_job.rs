//! A flow's turn in the service: the schedule's `flow:NAME` row, claimed and leased like a tenant's, runs one
//! cycle (`flow/cycle.rs`, which also holds the flow's own lease in the store), and records how it ended: the
//! next cycle an interval away, or after a cycle that needs attention (the deletion threshold, most writes
//! failing, a grant missing) a backoff as for a failing sync.

use std::time::Instant;

use super::{Ending, Shared};
use crate::display::one_line;
use crate::failure::{Failure, FailureKind};
use crate::flow::cycle::{Choices, Cycle};
use crate::interrupt::Interrupt;
use crate::options::SyncOptions;
use crate::store::{RunRecord, TenantState};

/// Runs flow `name`'s cycle for its claimed row (`failures` in a row before it).
pub(super) async fn run(shared: &Shared, name: &str, failures: i64, interrupt: Interrupt) -> Ending {
    let started = Instant::now();
    let outcome = cycle(shared, name, interrupt.clone()).await;
    let (policy, metrics) = (&shared.config.policy, &shared.observed.metrics);
    let Some(flow) = shared.flows.get(name) else {
        return failed(shared, name, failures, FailureKind::NeedsAttention, format!("flow `{name}` is not in this replica's tenants file"));
    };
    let mut rng = rand::rng();
    let seconds = started.elapsed().as_secs_f64();
    match outcome {
        Ok(report) => {
            for line in &report.log {
                tracing::info!(flow = name, "{line}");
            }
            let summary = report.summary();
            if interrupt.signalled().is_some() && report.attention.is_some() {
                metrics.flow_ended(name, "interrupted", seconds, &report.entries);
                tracing::info!(flow = name, cycle = report.cycle, "cycle interrupted ({summary}); the flow is handed back");
                return Ending::HandedBack { sync: None };
            }
            match report.attention {
                None => {
                    metrics.flow_ended(name, "applied", seconds, &report.entries);
                    tracing::info!(flow = name, cycle = report.cycle, seconds, counts = %summary, "cycle applied");
                    let next_in = policy.after_success(flow.interval, &mut rng);
                    let record = RunRecord { state: TenantState::Waiting, outcome: "applied", next_in, failures: 0, error: None, sync_id: None, counts: Some(summary) };
                    Ending::Recorded { record, requests: 0 }
                }
                Some(why) => {
                    metrics.flow_ended(name, "needs-attention", seconds, &report.entries);
                    let mut ending = failed(shared, name, failures, FailureKind::NeedsAttention, why);
                    if let Ending::Recorded { record, .. } = &mut ending {
                        record.counts = Some(summary);
                    }
                    ending
                }
            }
        }
        Err(e) => {
            metrics.flow_ended(name, "failed", seconds, &[]);
            failed(shared, name, failures, FailureKind::of(&e), one_line(&shared.redactor.redact(&format!("{e:#}"))))
        }
    }
}

async fn cycle(shared: &Shared, name: &str, interrupt: Interrupt) -> anyhow::Result<crate::flow::cycle::CycleReport> {
    let flow = shared.flows.get(name).ok_or_else(|| Failure::error(FailureKind::NeedsAttention, format!("flow `{name}` is not in this replica's tenants file")))?;
    let spec = |tenant: &str| match shared.specs.get(tenant) {
        Some(Ok(spec)) => Ok(spec.clone()),
        Some(Err(e)) => Err(Failure::error(FailureKind::NeedsAttention, format!("tenant `{tenant}`: {e}"))),
        None => Err(Failure::error(FailureKind::NeedsAttention, format!("tenant `{tenant}` is not in this replica's tenants file"))),
    };
    let (source, target) = (spec(&flow.source)?, spec(&flow.target)?);
    let options = SyncOptions { interrupt, ..shared.config.options.clone() };
    let redactor = shared.redactor.child();
    let cycle = Cycle { runtime: &shared.runtime, components: &shared.components, store: &shared.config.store, defaults: &options, redactor: &redactor, service: true };
    cycle.run(flow, &source, &target, Choices::default()).await
}

/// A cycle that failed or needs attention: backing off by its kind and the failures in a row.
fn failed(shared: &Shared, name: &str, failures: i64, kind: FailureKind, error: String) -> Ending {
    let interval = shared.flows.get(name).map_or(shared.config.policy.interval, |f| f.interval);
    let failures = failures + 1;
    let next_in = shared.config.policy.after_failure(kind, failures as u32, interval, &mut rand::rng());
    let state = match kind {
        FailureKind::Transient => TenantState::BackingOff,
        FailureKind::NeedsAttention => TenantState::NeedsAttention,
    };
    tracing::warn!(flow = name, failures, kind = kind.name(), retry_in_secs = next_in.as_secs(), "cycle needs attention: {error}");
    Ending::Recorded { record: RunRecord { state, outcome: "failed", next_in, failures, error: Some(error), sync_id: None, counts: None }, requests: 0 }
}
