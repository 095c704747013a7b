//! The service's Prometheus metrics (`/metrics`, OpenMetrics text). Per-tenant series are bounded by the
//! tenants file; the schedule's gauges are refreshed from the store on every scheduler tick, so they show
//! every replica's work, not only this one's.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::store::{ScheduleRow, SyncCounts, TenantState};

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
struct BuildLabels {
    version: String,
}

pub struct Metrics {
    registry: Registry,
    syncs: Family<OutcomeLabels, Counter>,
    duration: Family<TenantLabel, Histogram, fn() -> Histogram>,
    requests: Family<TenantLabel, Counter>,
    records: Family<KindLabels, Counter>,
    pub in_progress: Gauge,
    pub leases_held: Gauge,
    pub lease_lost: Counter,
    pub takeovers: Counter,
    failures: Family<TenantLabel, Gauge>,
    next_run: Family<TenantLabel, Gauge>,
    state: Family<StateLabels, Gauge>,
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
            records: Family::default(),
            in_progress: Gauge::default(),
            leases_held: Gauge::default(),
            lease_lost: Counter::default(),
            takeovers: Counter::default(),
            failures: Family::default(),
            next_run: Family::default(),
            state: Family::default(),
            registry: Registry::default(),
        };
        registry.register("syncs", "Syncs run by this replica, by how they ended", metrics.syncs.clone());
        registry.register("sync_duration_seconds", "Wall time of this replica's syncs", metrics.duration.clone());
        registry.register("sync_requests", "Requests made to sources by this replica's syncs", metrics.requests.clone());
        registry.register("sync_records", "Records stored by this replica's complete syncs", metrics.records.clone());
        registry.register("syncs_in_progress", "Syncs running on this replica", metrics.in_progress.clone());
        registry.register("leases_held", "Tenant leases this replica holds", metrics.leases_held.clone());
        registry.register("lease_lost", "Leases this replica lost while syncing (its writes were then refused)", metrics.lease_lost.clone());
        registry.register("lease_takeovers", "Tenants this replica took over from a holder whose lease expired", metrics.takeovers.clone());
        registry.register("tenant_consecutive_failures", "Failed syncs in a row, per tenant", metrics.failures.clone());
        registry.register("tenant_next_run_timestamp_seconds", "When each tenant syncs next (Unix time)", metrics.next_run.clone());
        registry.register("tenant_state", "1 for each tenant's current state", metrics.state.clone());
        let build = Family::<BuildLabels, Gauge>::default();
        build.get_or_create(&BuildLabels { version: env!("CARGO_PKG_VERSION").into() }).set(1);
        registry.register("build_info", "This connector-harness's version", build);
        Self { registry, ..metrics }
    }

    pub fn sync_ended(&self, tenant: &str, outcome: &str, seconds: f64, requests: u64) {
        self.syncs.get_or_create(&OutcomeLabels { tenant: tenant.into(), outcome: outcome.into() }).inc();
        let label = TenantLabel { tenant: tenant.into() };
        self.duration.get_or_create(&label).observe(seconds);
        self.requests.get_or_create(&label).inc_by(requests);
    }

    pub fn records_stored(&self, tenant: &str, counts: &SyncCounts) {
        let resources = counts.resources.iter().map(|(_, n)| n).sum();
        for (kind, n) in [("resource", resources), ("entitlement", counts.entitlements), ("grant", counts.grants)] {
            self.records.get_or_create(&KindLabels { tenant: tenant.into(), kind: kind.into() }).inc_by(n);
        }
    }

    /// Sets the per-tenant gauges from the schedule. Tenants no longer listed keep their last values.
    pub fn observe_schedule(&self, rows: &[ScheduleRow]) {
        for row in rows.iter().filter(|r| r.enabled) {
            let label = TenantLabel { tenant: row.tenant.clone() };
            self.failures.get_or_create(&label).set(row.failures);
            self.next_run.get_or_create(&label).set(row.next_run_ms / 1000);
            for state in TenantState::ALL.map(TenantState::as_str) {
                self.state.get_or_create(&StateLabels { tenant: row.tenant.clone(), state: state.into() }).set(i64::from(row.state == state));
            }
        }
    }

    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}
