//! A flow's turn in the service: the schedule's `flow:NAME` row, claimed and leased like a tenant's, runs one
//! cycle (`flow/cycle.rs`, which also holds the flow's own lease in the store), and records how it ended: the
//! next cycle an interval away, or after a cycle that needs attention (the deletion threshold, most writes
//! failing, a grant missing) a backoff as for a failing sync.

use std::time::Instant;

use crate::egress::EgressCounts;
use super::configuration::Configuration;
use super::{Ending, Shared, failed_run};
use crate::display::one_line;
use crate::failure::{Failure, FailureKind};
use crate::flow::FlowSpec;
use crate::flow::cycle::{Choices, Cycle, CycleReport};
use crate::interrupt::Interrupt;
use crate::options::SyncOptions;
use crate::store::{RunRecord, TenantState};

/// Runs flow `name`'s cycle for its claimed row (`failures` in a row before it).
pub(super) async fn run(shared: &Shared, configuration: &Configuration, name: &str, failures: i64, interrupt: Interrupt) -> Ending {
    let started = Instant::now();
    let Some(flow) = configuration.flows.get(name) else {
        return failed(shared, name, failures, FailureKind::NeedsAttention, shared.config.policy.interval, format!("flow `{name}` is not in this replica's tenants file"));
    };
    let outcome = cycle(shared, configuration, flow, interrupt.clone()).await;
    let metrics = &shared.observed.metrics;
    let seconds = started.elapsed().as_secs_f64();
    match outcome {
        Ok(report) => {
            for line in &report.log {
                tracing::info!(flow = name, "{line}");
            }
            let (summary, tally) = (report.summary(), report.tally());
            if interrupt.signalled().is_some() && report.attention.is_some() {
                metrics.flow_ended(name, "interrupted", seconds, &tally);
                tracing::info!(flow = name, cycle = report.cycle, "cycle interrupted ({summary}); the flow is handed back");
                return Ending::HandedBack { sync: None };
            }
            match report.attention.clone() {
                None => {
                    metrics.flow_ended(name, "applied", seconds, &tally);
                    tracing::info!(
                        flow = name, cycle = report.cycle, seconds, created = report.done("create"), adopted = report.done("adopt"), updated = report.done("update"),
                        disabled = report.done("disable"), deleted = report.done("delete"), skipped = report.ended("skipped"), failed = report.ended("failed"),
                        unchanged = report.unchanged(), "cycle applied: {summary}"
                    );
                    let next_in = shared.config.policy.after_success(flow.interval, &mut rand::rng());
                    let record = RunRecord { state: TenantState::Waiting, outcome: "applied", next_in, failures: 0, error: None, sync_id: None, counts: Some(summary), records: None, requests: 0, changes: None };
                    Ending::Recorded { record, egress: EgressCounts::default() }
                }
                Some(why) => {
                    metrics.flow_ended(name, "needs-attention", seconds, &tally);
                    let mut ending = failed(shared, name, failures, FailureKind::NeedsAttention, flow.interval, why);
                    if let Ending::Recorded { record, .. } = &mut ending {
                        record.counts = Some(summary);
                    }
                    ending
                }
            }
        }
        Err(e) => {
            metrics.flow_ended(name, "failed", seconds, &Default::default());
            failed(shared, name, failures, FailureKind::of(&e), flow.interval, one_line(&shared.redactor.redact(&format!("{e:#}"))))
        }
    }
}

async fn cycle(shared: &Shared, configuration: &Configuration, flow: &FlowSpec, interrupt: Interrupt) -> anyhow::Result<CycleReport> {
    let spec = |tenant: &str| match configuration.specs.get(tenant) {
        Some(Ok(spec)) => Ok(spec.clone()),
        Some(Err(e)) => Err(Failure::error(FailureKind::NeedsAttention, format!("tenant `{tenant}`: {e}"))),
        None => Err(Failure::error(FailureKind::NeedsAttention, format!("tenant `{tenant}` is not in this replica's tenants file"))),
    };
    let (source, target) = (spec(&flow.source)?, spec(&flow.target)?);
    let options = SyncOptions { interrupt, ..shared.config.options.clone() };
    let redactor = shared.redactor.child();
    let cycle = Cycle { runtime: &shared.runtime, components: &configuration.components, store: &shared.config.store, defaults: &options, redactor: &redactor, service: true };
    cycle.run(flow, &source, &target, Choices::default()).await
}

/// A cycle that failed or needs attention, recorded as a failed sync is (`failed_run`).
fn failed(shared: &Shared, name: &str, failures: i64, kind: FailureKind, interval: std::time::Duration, error: String) -> Ending {
    let record = failed_run(&shared.config.policy, kind, failures, interval, error);
    tracing::warn!(flow = name, failures = record.failures, kind = kind.name(), retry_in_secs = record.next_in.as_secs(), "cycle needs attention: {}", record.error.as_deref().unwrap_or(""));
    Ending::Recorded { record, egress: EgressCounts::default() }
}
