//! The service's Prometheus metrics (`/metrics`: OpenMetrics text, or the classic text format to a client that
//! does not ask for OpenMetrics, as `promtool` does not). Per-tenant and per-flow series are bounded by the
//! tenants file. The schedule's gauges (`tenant_*`, `flow_state`, `flow_next_run…`, `flow_consecutive_failures`)
//! are refreshed from the store on every scheduler tick, so every replica exports the same values for every
//! tenant: aggregate them with `max by (tenant)`, never `sum` (`deploy/prometheus/alerts.yaml` does).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::driver::Progress;
use crate::egress::{EgressCounts, EgressStats};
use crate::store::{FLOW_JOB, RunProgress, ScheduleRow, SyncCounts, TenantState};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TenantLabel {
    tenant: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    tenant: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    tenant: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    tenant: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FlowLabel {
    flow: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FlowOutcomeLabels {
    flow: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FlowActionLabels {
    flow: String,
    action: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FlowStateLabels {
    flow: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
}

pub struct Metrics {
    registry: Registry,
    syncs: Family<OutcomeLabels, Counter>,
    duration: Family<TenantLabel, Histogram, fn() -> Histogram>,
    requests: Family<TenantLabel, Counter>,
    bytes: Family<TenantLabel, Counter>,
    failures_by_kind: Family<KindLabels, Counter>,
    progress: Family<TenantLabel, Gauge>,
    records: Family<KindLabels, Counter>,
    pub in_progress: Gauge,
    pub leases_held: Gauge,
    pub lease_lost: Counter,
    pub takeovers: Counter,
    failures: Family<TenantLabel, Gauge>,
    next_run: Family<TenantLabel, Gauge>,
    last_success: Family<TenantLabel, Gauge>,
    interval: Family<TenantLabel, Gauge>,
    state: Family<StateLabels, Gauge>,
    cycles: Family<FlowOutcomeLabels, Counter>,
    cycle_duration: Family<FlowLabel, Histogram, fn() -> Histogram>,
    actions: Family<FlowActionLabels, Counter>,
    last_cycle: Family<FlowActionLabels, Gauge>,
    /// Each flow's series of `last_cycle`, so a later cycle without them sets them to 0.
    last_cycle_series: Mutex<HashMap<String, Vec<FlowActionLabels>>>,
    flow_failures: Family<FlowLabel, Gauge>,
    flow_next_run: Family<FlowLabel, Gauge>,
    flow_state: Family<FlowStateLabels, Gauge>,
}

fn duration_buckets() -> Histogram {
    // 0.5 s to about 2.3 hours.
    Histogram::new(exponential_buckets(0.5, 2.0, 15))
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("harness");
        let metrics = Self {
            syncs: Family::default(),
            duration: Family::new_with_constructor(duration_buckets as fn() -> Histogram),
            requests: Family::default(),
            bytes: Family::default(),
            failures_by_kind: Family::default(),
            progress: Family::default(),
            records: Family::default(),
            in_progress: Gauge::default(),
            leases_held: Gauge::default(),
            lease_lost: Counter::default(),
            takeovers: Counter::default(),
            failures: Family::default(),
            next_run: Family::default(),
            last_success: Family::default(),
            interval: Family::default(),
            state: Family::default(),
            cycles: Family::default(),
            cycle_duration: Family::new_with_constructor(duration_buckets as fn() -> Histogram),
            actions: Family::default(),
            last_cycle: Family::default(),
            last_cycle_series: Mutex::default(),
            flow_failures: Family::default(),
            flow_next_run: Family::default(),
            flow_state: Family::default(),
            registry: Registry::default(),
        };
        registry.register("syncs", "Syncs run by this replica, by how they ended", metrics.syncs.clone());
        registry.register("sync_duration_seconds", "Wall time of this replica's syncs", metrics.duration.clone());
        registry.register("sync_requests", "Requests made to sources by this replica's syncs, failed ones included", metrics.requests.clone());
        registry.register("sync_bytes_received", "Response bytes this replica's syncs received, failed ones included", metrics.bytes.clone());
        registry.register("sync_failures", "This replica's failed syncs, by kind: transient (backing off) or needs-attention", metrics.failures_by_kind.clone());
        registry.register("sync_progress_records", "Records the running sync of each tenant on this replica has stored so far (0 when none runs)", metrics.progress.clone());
        registry.register("sync_records", "Records stored by this replica's complete syncs", metrics.records.clone());
        registry.register("syncs_in_progress", "Syncs running on this replica", metrics.in_progress.clone());
        registry.register("leases_held", "Tenant leases this replica holds", metrics.leases_held.clone());
        registry.register("lease_lost", "Leases this replica lost while syncing (its writes were then refused)", metrics.lease_lost.clone());
        registry.register("lease_takeovers", "Tenants this replica took over from a holder whose lease expired", metrics.takeovers.clone());
        registry.register("tenant_consecutive_failures", "Failed syncs in a row, per tenant", metrics.failures.clone());
        registry.register("tenant_next_run_timestamp_seconds", "When each tenant syncs next (Unix time)", metrics.next_run.clone());
        registry.register("tenant_state", "1 for each tenant's current state", metrics.state.clone());
        registry.register(
            "tenant_last_success_timestamp_seconds",
            "When each tenant's latest complete sync ended (Unix time): the age of the data readers see",
            metrics.last_success.clone(),
        );
        registry.register("tenant_interval_seconds", "How often each tenant is synced", metrics.interval.clone());
        registry.register("flow_cycles", "Provisioning flow cycles run by this replica, by how they ended", metrics.cycles.clone());
        registry.register("flow_cycle_duration_seconds", "Wall time of this replica's flow cycles", metrics.cycle_duration.clone());
        registry.register("flow_actions", "Actions of this replica's flow cycles, by kind and outcome", metrics.actions.clone());
        registry.register("flow_last_cycle_actions", "Actions of each flow's last cycle on this replica, by kind and outcome", metrics.last_cycle.clone());
        registry.register("flow_consecutive_failures", "Flow cycles in a row that failed or needed attention, per flow", metrics.flow_failures.clone());
        registry.register("flow_next_run_timestamp_seconds", "When each flow runs its next cycle (Unix time)", metrics.flow_next_run.clone());
        registry.register("flow_state", "1 for each flow's current state", metrics.flow_state.clone());
        let build = Family::<BuildLabels, Gauge>::default();
        build.get_or_create(&BuildLabels { version: env!("CARGO_PKG_VERSION").into() }).set(1);
        registry.register("build_info", "This connector-harness's version", build);
        Self { registry, ..metrics }
    }

    /// Counts a sync by how it ended (`failure`: its kind, when it failed), with its traffic.
    pub fn sync_ended(&self, tenant: &str, outcome: &str, seconds: f64, egress: &EgressCounts, failure: Option<&str>) {
        self.syncs.get_or_create(&OutcomeLabels { tenant: tenant.into(), outcome: outcome.into() }).inc();
        let label = TenantLabel { tenant: tenant.into() };
        self.duration.get_or_create(&label).observe(seconds);
        self.requests.get_or_create(&label).inc_by(egress.requests);
        self.bytes.get_or_create(&label).inc_by(egress.bytes_received);
        self.progress.get_or_create(&label).set(0);
        if let Some(kind) = failure {
            self.failures_by_kind.get_or_create(&KindLabels { tenant: tenant.into(), kind: kind.into() }).inc();
        }
    }

    pub fn records_stored(&self, tenant: &str, counts: &SyncCounts) {
        let resources = counts.resources_total();
        for (kind, n) in [("resource", resources), ("entitlement", counts.entitlements), ("grant", counts.grants)] {
            self.records.get_or_create(&KindLabels { tenant: tenant.into(), kind: kind.into() }).inc_by(n);
        }
    }

    /// Counts a flow's cycle by how it ended, and its actions by kind and outcome (`CycleReport::tally`).
    pub fn flow_ended(&self, flow: &str, outcome: &str, seconds: f64, tally: &BTreeMap<(&str, &str), u64>) {
        self.cycles.get_or_create(&FlowOutcomeLabels { flow: flow.into(), outcome: outcome.into() }).inc();
        self.cycle_duration.get_or_create(&FlowLabel { flow: flow.into() }).observe(seconds);
        let mut series = self.last_cycle_series.lock().unwrap_or_else(|e| e.into_inner());
        let previous = series.entry(flow.to_string()).or_default();
        for labels in previous.drain(..) {
            self.last_cycle.get_or_create(&labels).set(0);
        }
        for (&(action, outcome), &n) in tally {
            let labels = FlowActionLabels { flow: flow.into(), action: action.into(), outcome: outcome.into() };
            self.actions.get_or_create(&labels).inc_by(n);
            self.last_cycle.get_or_create(&labels).set(n as i64);
            previous.push(labels);
        }
    }

    /// Sets the per-tenant and per-flow gauges from the schedule. Tenants and flows no longer listed keep their
    /// last values.
    pub fn observe_schedule(&self, rows: &[ScheduleRow]) {
        for row in rows.iter().filter(|r| r.enabled) {
            if let Some(flow) = row.tenant.strip_prefix(FLOW_JOB) {
                let label = FlowLabel { flow: flow.into() };
                self.flow_failures.get_or_create(&label).set(row.failures);
                self.flow_next_run.get_or_create(&label).set(row.next_run_ms / 1000);
                for state in TenantState::ALL.map(TenantState::as_str) {
                    self.flow_state.get_or_create(&FlowStateLabels { flow: flow.into(), state: state.into() }).set(i64::from(row.state == state));
                }
                continue;
            }
            let label = TenantLabel { tenant: row.tenant.clone() };
            self.failures.get_or_create(&label).set(row.failures);
            self.next_run.get_or_create(&label).set(row.next_run_ms / 1000);
            self.interval.get_or_create(&label).set(row.interval_ms / 1000);
            if let Some(at_ms) = row.last_success_ms() {
                self.last_success.get_or_create(&label).set(at_ms / 1000);
            }
            for state in TenantState::ALL.map(TenantState::as_str) {
                self.state.get_or_create(&StateLabels { tenant: row.tenant.clone(), state: state.into() }).set(i64::from(row.state == state));
            }
        }
    }

    /// The metrics in OpenMetrics text.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// A running sync's progress, as `sync_progress_records`.
pub struct SyncProgress<'m> {
    metrics: &'m Metrics,
    label: TenantLabel,
    live: &'m LiveProgress,
}

impl<'m> SyncProgress<'m> {
    /// Reports `tenant`'s sync to the metrics and to `live`, which its heartbeat writes to the schedule.
    pub fn new(metrics: &'m Metrics, tenant: &str, live: &'m LiveProgress) -> Self {
        Self { metrics, label: TenantLabel { tenant: tenant.into() }, live }
    }
}

impl Progress for SyncProgress<'_> {
    fn page(&self, _resource_type: &str, stored: &SyncCounts) {
        let records = stored.records() as i64;
        self.metrics.progress.get_or_create(&self.label).set(records);
        self.live.records.store(records, Ordering::Relaxed);
        self.live.pages.fetch_add(1, Ordering::Relaxed);
    }

    fn started(&self, egress: &Arc<EgressStats>) {
        let _ = self.live.egress.set(egress.clone());
    }
}

/// How far a running sync has got, shared by the sync and the heartbeat that records it (`service/mod.rs`).
#[derive(Debug, Default)]
pub struct LiveProgress {
    records: AtomicI64,
    pages: AtomicI64,
    egress: OnceLock<Arc<EgressStats>>,
}

impl LiveProgress {
    pub fn now(&self) -> RunProgress {
        let requests = self.egress.get().map_or(0, |egress| egress.requests.load(Ordering::Relaxed) as i64);
        RunProgress { records: self.records.load(Ordering::Relaxed), requests, pages: self.pages.load(Ordering::Relaxed) }
    }
}

/// OpenMetrics text as the classic Prometheus text format (0.0.4): no `# EOF` or `# UNIT`, a counter's `TYPE` and
/// `HELP` named as its `_total` samples, an info metric a gauge of its `_info` samples.
pub fn classic_text(openmetrics: &str) -> String {
    let mut renamed: HashMap<String, String> = HashMap::new();
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            match rest.split_once(' ') {
                Some((name, "counter")) => renamed.insert(name.to_string(), format!("{name}_total")),
                Some((name, "info")) => renamed.insert(name.to_string(), format!("{name}_info")),
                _ => None,
            };
        }
    }
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let meta = ["# TYPE ", "# HELP "].into_iter().find_map(|prefix| Some((prefix, line.strip_prefix(prefix)?)));
        match meta.and_then(|(prefix, rest)| Some((prefix, rest.split_once(' ')?))) {
            Some((prefix, (name, rest))) if renamed.contains_key(name) => {
                let rest = if prefix == "# TYPE " && rest == "info" { "gauge" } else { rest };
                out.push_str(&format!("{prefix}{} {rest}\n", renamed[name]));
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openmetrics_becomes_the_classic_text_format() {
        let openmetrics = "# HELP harness_syncs Syncs run.\n# TYPE harness_syncs counter\nharness_syncs_total{tenant=\"a\",outcome=\"synced\"} 2\n\
            # HELP harness_build Version.\n# TYPE harness_build info\nharness_build_info{version=\"0.1.0\"} 1\n\
            # HELP harness_sync_duration_seconds Wall time.\n# TYPE harness_sync_duration_seconds histogram\n# UNIT harness_sync_duration_seconds seconds\n\
            harness_sync_duration_seconds_sum{tenant=\"a\"} 1.5\n# EOF\n";
        assert_eq!(
            classic_text(openmetrics),
            "# HELP harness_syncs_total Syncs run.\n# TYPE harness_syncs_total counter\nharness_syncs_total{tenant=\"a\",outcome=\"synced\"} 2\n\
             # HELP harness_build_info Version.\n# TYPE harness_build_info gauge\nharness_build_info{version=\"0.1.0\"} 1\n\
             # HELP harness_sync_duration_seconds Wall time.\n# TYPE harness_sync_duration_seconds histogram\n\
             harness_sync_duration_seconds_sum{tenant=\"a\"} 1.5\n"
        );
    }
}
