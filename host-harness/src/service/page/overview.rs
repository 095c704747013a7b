//! `/`: a summary (how many tenants are healthy, failing, running and waiting, and the age of the oldest data),
//! then every tenant, failing first: its last runs as coloured marks, its last success and data age, its next
//! run or, while it runs, its progress; then the flows, and the SCIM gateway's writes of the last day.

use std::fmt::Write as _;

use super::{Health, MarkLabel, age, error_cell, escape, last_good, mark, page, progress_text, success_and_age, tenant_href, when};
use crate::store::{FLOW_JOB, RunRow, ScheduleRow, WriteActivity};

/// Runs shown as marks per row.
pub const MARKS: i64 = 12;

/// What the overview shows, read from the store.
pub struct Fleet {
    /// Every schedule row (tenants and flows).
    pub schedule: Vec<ScheduleRow>,
    /// Each one's latest `MARKS` runs, newest first.
    pub runs: Vec<RunRow>,
    /// The SCIM gateway's writes of the last day, by tenant (`scim:TENANT`).
    pub gateway: Vec<WriteActivity>,
}

/// The overview of this replica's store, or why it cannot be read.
pub fn overview(replica: &str, draining: bool, fleet: Result<Fleet, String>, now_ms: i64) -> String {
    let fleet = match fleet {
        Ok(fleet) => fleet,
        Err(e) => return page("status", replica, draining, now_ms, &format!("<p class=\"error\"><b>The store cannot be read:</b> {}</p>\n", escape(&e))),
    };
    let mut rows: Vec<&ScheduleRow> = fleet.schedule.iter().filter(|r| r.enabled).collect();
    rows.sort_by(|a, b| (Health::of(a), &a.tenant).cmp(&(Health::of(b), &b.tenant)));
    let (flows, tenants): (Vec<&ScheduleRow>, Vec<&ScheduleRow>) = rows.into_iter().partition(|r| r.tenant.starts_with(FLOW_JOB));
    let runs_of = |tenant| runs_of(&fleet.runs, tenant);

    let mut body = summary(&tenants, &flows, now_ms);
    body.push_str("<h2>Tenants</h2>\n");
    if tenants.is_empty() {
        body.push_str("<p class=\"muted\">No tenant is served: no replica of <code>serve</code> has been heard from with a tenants file.</p>\n");
    } else {
        body.push_str("<table>\n<tr><th>Tenant</th><th>State</th><th>Last runs (oldest first)</th><th>Last success</th><th>Data age</th><th>Next run, or now</th><th>Last error</th></tr>\n");
        for row in &tenants {
            let (success, age) = success_and_age(row, now_ms);
            let _ = writeln!(
                body,
                "<tr class=\"{class}\"><td><a href=\"{href}\">{tenant}</a></td><td>{badge}</td><td>{marks}</td><td>{success}</td><td>{age}</td><td>{next}</td><td class=\"error\">{error}</td></tr>",
                class = Health::of(row).class(),
                href = escape(&tenant_href(&row.tenant)),
                tenant = escape(&row.tenant),
                badge = Health::of(row).badge(row),
                marks = marks(runs_of(&row.tenant), now_ms),
                next = now_or_next(row, last_good(runs_of(&row.tenant)), now_ms),
                error = error_cell(row),
            );
        }
        body.push_str("</table>\n");
    }
    if !flows.is_empty() {
        body.push_str("<h2>Provisioning flows</h2>\n<table>\n<tr><th>Flow</th><th>State</th><th>Last cycles (oldest first)</th><th>Last cycle</th><th>Next run, or now</th><th>Last error</th></tr>\n");
        for row in &flows {
            let last = match (&row.last_outcome, row.last_finished_ms) {
                (Some(outcome), Some(at)) => format!("{} {}: {}", escape(outcome), when(at, now_ms), escape(row.last_counts.as_deref().unwrap_or("-"))),
                _ => "-".into(),
            };
            let _ = writeln!(
                body,
                "<tr class=\"{class}\"><td><a href=\"{href}\">{flow}</a></td><td>{badge}</td><td>{marks}</td><td>{last}</td><td>{next}</td><td class=\"error\">{error}</td></tr>",
                class = Health::of(row).class(),
                href = escape(&tenant_href(&row.tenant)),
                flow = escape(&row.tenant[FLOW_JOB.len()..]),
                badge = Health::of(row).badge(row),
                marks = marks(runs_of(&row.tenant), now_ms),
                next = now_or_next(row, None, now_ms),
                error = error_cell(row),
            );
        }
        body.push_str("</table>\n");
    }
    if !fleet.gateway.is_empty() {
        body.push_str("<h2>SCIM gateway: writes in the last 24 h</h2>\n<table>\n<tr><th>Tenant</th><th>Writes</th><th>Failed or refused</th><th>Last write</th><th>Its log</th></tr>\n");
        for activity in &fleet.gateway {
            let tenant = activity.name.strip_prefix(crate::gateway::LOG_PREFIX).unwrap_or(&activity.name);
            let _ = writeln!(
                body,
                "<tr class=\"{class}\"><td>{tenant}</td><td>{writes}</td><td>{failed}</td><td>{last}</td><td><code>connector-harness flow log {name}</code></td></tr>",
                class = if activity.failed > 0 { "failing" } else { "healthy" },
                tenant = escape(tenant),
                writes = activity.writes,
                failed = activity.failed,
                last = when(activity.last_ms, now_ms),
                name = escape(&activity.name),
            );
        }
        body.push_str("</table>\n");
    }
    page("status", replica, draining, now_ms, &body)
}

/// The summary cards: tenants by health, flows failing, and the age of the oldest tenant's data.
fn summary(tenants: &[&ScheduleRow], flows: &[&ScheduleRow], now_ms: i64) -> String {
    let of = |health: Health| tenants.iter().filter(|row| Health::of(row) == health).count();
    let mut cards = String::from("<div class=\"cards\">");
    for (health, label) in [(Health::Healthy, "healthy"), (Health::Failing, "failing"), (Health::Running, "running"), (Health::Waiting, "waiting for a first sync")] {
        let _ = write!(cards, "<div class=\"card {}\"><b>{}</b>{label}</div>", health.class(), of(health));
    }
    let oldest = tenants.iter().filter_map(|row| row.last_success_ms().map(|at| (at, &row.tenant))).min();
    let never = tenants.iter().filter(|row| row.last_success_at.is_none()).count();
    let age = match oldest {
        Some((at, tenant)) => format!("<b>{}</b>oldest data ({})", age(at, now_ms), escape(tenant)),
        None => "<b>-</b>no data yet".into(),
    };
    let never = if never > 0 { format!("; {never} without any") } else { String::new() };
    let _ = write!(cards, "<div class=\"card age\">{age}{never}</div>");
    let failing_flows = flows.iter().filter(|row| Health::of(row) == Health::Failing).count();
    if !flows.is_empty() {
        let class = if failing_flows > 0 { "failing" } else { "healthy" };
        let _ = write!(cards, "<div class=\"card {class}\"><b>{failing_flows} of {}</b>flows failing</div>", flows.len());
    }
    cards.push_str("</div>\n");
    cards
}

/// `tenant`'s runs among `runs`.
fn runs_of<'r>(runs: &'r [RunRow], tenant: &'r str) -> impl Iterator<Item = &'r RunRow> {
    runs.iter().filter(move |run| run.tenant == tenant)
}

/// The runs as marks, oldest first.
fn marks<'r>(runs: impl Iterator<Item = &'r RunRow>, now_ms: i64) -> String {
    let mut runs: Vec<&RunRow> = runs.collect();
    runs.reverse();
    if runs.is_empty() {
        return "<span class=\"muted\">none yet</span>".into();
    }
    runs.iter().map(|run| mark(run, MarkLabel::Length, now_ms)).collect()
}

/// While it runs, its progress; else when it runs next.
fn now_or_next(row: &ScheduleRow, last_good: Option<&RunRow>, now_ms: i64) -> String {
    if Health::of(row) == Health::Running { escape(&progress_text(row, last_good, now_ms)) } else { when(row.next_run_ms, now_ms) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RunProgress;

    fn row(tenant: &str, state: &str, outcome: Option<&str>) -> ScheduleRow {
        ScheduleRow {
            tenant: tenant.into(),
            enabled: true,
            interval_ms: 3_600_000,
            next_run_ms: 4_000_000,
            state: state.into(),
            lease_owner: None,
            lease_epoch: 3,
            lease_expires_ms: None,
            failures: 0,
            last_outcome: outcome.map(str::to_string),
            last_error: None,
            last_sync_id: None,
            last_counts: None,
            last_started_ms: None,
            last_finished_ms: None,
            last_success_at: None,
            progress: None,
        }
    }

    fn run(tenant: &str, epoch: i64, outcome: &str, state: &str, ms: i64) -> RunRow {
        RunRow {
            tenant: tenant.into(),
            epoch,
            owner: "pod-1:7:ab".into(),
            started_ms: 1_000_000 + epoch * 100_000,
            finished_ms: 1_000_000 + epoch * 100_000 + ms,
            state: state.into(),
            outcome: outcome.into(),
            error: None,
            sync_id: None,
            counts: None,
            records: Some(50_000),
            requests: 12,
            changes: None,
        }
    }

    #[test]
    fn failing_tenants_come_first_a_running_one_shows_its_progress_and_whatever_a_source_said_is_escaped() {
        let now = 2_000_000;
        let mut broken = row("broken", "needs-attention", Some("failed"));
        broken.last_error = Some("authentication failed: <script>alert(1)</script> \u{202e}gpj.exe".into());
        let mut busy = row("busy", "running", Some("synced"));
        (busy.last_started_ms, busy.progress, busy.last_success_at) = (Some(now - 123_000), Some(RunProgress { records: 31_000, requests: 1_204, pages: 120 }), Some("1970-01-01T00:20:00Z".into()));
        let mut fine = row("fine", "waiting", Some("synced"));
        fine.last_success_at = Some("1970-01-01T00:31:40Z".into());
        let runs = vec![run("busy", 2, "synced", "waiting", 200_000), run("broken", 5, "failed", "needs-attention", 850), run("broken", 4, "synced", "waiting", 3_200)];
        let fleet = Fleet { schedule: vec![busy, fine, broken, row("new", "waiting", None)], runs, gateway: Vec::new() };
        let html = overview("pod-1", false, Ok(fleet), now);
        let position = |text: &str| html.find(text).unwrap_or_else(|| panic!("{text} not in {html}"));
        assert!(position(">broken</a>") < position(">busy</a>") && position(">busy</a>") < position(">new</a>") && position(">new</a>") < position(">fine</a>"), "failing, running, waiting, healthy");
        assert!(html.contains("<div class=\"card healthy\"><b>1</b>healthy</div><div class=\"card failing\"><b>1</b>failing</div><div class=\"card running\"><b>1</b>running</div><div class=\"card waiting\"><b>1</b>waiting for a first sync</div><div class=\"card age\"><b>13m 20s</b>oldest data (busy); 2 without any</div>"), "{html}");
        assert!(html.contains("<td class=\"error\">authentication failed: &lt;script&gt;alert(1)&lt;/script&gt; \\u{202e}gpj.exe</td>"), "a bidi override shown, not obeyed: {html}");
        assert!(!html.contains("<script"));
        assert!(html.contains("running 2m 3s · 31,000 of ~50,000 records · 1,204 requests · 120 pages · about 1m 17s left"), "{html}");
        // The broken tenant's runs, oldest first, with their lengths.
        assert!(html.contains("<span class=\"mark ok\" title=\"synced at 1970-01-01T00:23:23Z (9m 56s ago), 3.2 s, 12 requests\">3.2 s</span><span class=\"mark fail\""), "{html}");
        assert!(html.contains("<a href=\"/tenants/broken\">broken</a>"));
    }
}
