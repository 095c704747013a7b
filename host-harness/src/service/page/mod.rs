//! The status page, server-rendered HTML that refreshes itself: no JavaScript, no external asset, so it works
//! air-gapped and behind any proxy. `/` is every tenant, flow and gateway at a glance (`overview.rs`);
//! `/tenants/{name}` one tenant's or flow's history, last error and what to do about it (`tenant.rs`). Everything
//! from the store or a source is escaped. Times are the store's clock, shown as UTC clock times with the
//! relative ones.

mod overview;
mod tenant;

use std::fmt::Write as _;

use crate::store::{RunProgress, RunRow, ScheduleRow, TenantState};

pub use overview::{Fleet, MARKS, overview};
pub use tenant::{HISTORY, tenant};

/// `in 4m 10s`, `3m 2s ago` or `now`, from epoch milliseconds.
pub fn relative_time(at_ms: i64, now_ms: i64) -> String {
    let delta = at_ms - now_ms;
    if delta.abs() < 1000 {
        return "now".into();
    }
    let span = span((delta.abs() / 1000) as u64);
    if delta > 0 { format!("in {span}") } else { format!("{span} ago") }
}

/// `45s`, `4m 10s`, `2h 0m`, `1d 1h`.
fn span(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h {}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d {}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// A run's length: `850 ms`, `3.2 s`, then as `span` says it.
fn duration(ms: i64) -> String {
    match ms.max(0) {
        ms if ms < 1000 => format!("{ms} ms"),
        ms if ms < 60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        ms => span((ms / 1000) as u64),
    }
}

/// `31,000`.
fn count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// When the tenant syncs next, as a clock time (UTC) and from now; nothing while it runs.
pub fn next_run_text(row: &ScheduleRow, now_ms: i64) -> String {
    if row.state == TenantState::Running.as_str() { "-".into() } else { format!("{} ({})", crate::display::clock_time(row.next_run_ms), relative_time(row.next_run_ms, now_ms)) }
}

/// The lease as a person reads it: who holds it, its epoch, and when it lapses.
pub fn lease_text(row: &ScheduleRow, now_ms: i64) -> String {
    match (&row.lease_owner, row.lease_expires_ms) {
        (Some(owner), Some(expires)) => format!("{owner} (epoch {}, expires {})", row.lease_epoch, relative_time(expires, now_ms)),
        _ => "-".into(),
    }
}

/// A lease owner (`replica:pid:nonce`) as the replica's name.
fn replica_of(owner: &str) -> &str {
    owner.rsplitn(3, ':').nth(2).unwrap_or(owner)
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if crate::display::is_unsafe(c) && c != '\n' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// A tenant's page, from the overview: every byte but RFC 3986's unreserved characters percent-encoded.
fn tenant_href(tenant: &str) -> String {
    let path: String = tenant.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-._~:".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect();
    format!("/tenants/{path}")
}

/// An epoch-ms time as a clock time (UTC; the date too when it is not today's) with the relative one:
/// `09:12:03Z (3m 2s ago)`, `2026-12-01 09:12Z (3d 0h ago)`.
fn when(at_ms: i64, now_ms: i64) -> String {
    let (at, now) = (crate::display::clock_time(at_ms), crate::display::clock_time(now_ms));
    let shown = if at[..10] == now[..10] { at[11..].to_string() } else { format!("{} {}Z", &at[..10], &at[11..16]) };
    format!("<time datetime=\"{at}\">{shown}</time> <span class=\"rel\">({})</span>", relative_time(at_ms, now_ms))
}

/// A row's last success as a clock time, and the age of its data: `never` and `-` before its first.
fn success_and_age(row: &ScheduleRow, now_ms: i64) -> (String, String) {
    match row.last_success_ms() {
        Some(at) => (when(at, now_ms), age(at, now_ms)),
        None => ("never".into(), "-".into()),
    }
}

/// How long ago `at_ms` was, as `span` says it.
fn age(at_ms: i64, now_ms: i64) -> String {
    span(((now_ms - at_ms).max(0) / 1000) as u64)
}

/// The latest good run (a sync or a cycle) among `runs`, newest first: the estimate of a running one.
fn last_good<'r>(runs: impl IntoIterator<Item = &'r RunRow>) -> Option<&'r RunRow> {
    runs.into_iter().find(|run| matches!(run.outcome.as_str(), "synced" | "applied"))
}

/// A failing row's last error, cut to a table cell; nothing for a row that is not failing.
fn error_cell(row: &ScheduleRow) -> String {
    if Health::of(row) == Health::Failing { escape(&crate::display::printable(row.last_error.as_deref().unwrap_or(""), 160)) } else { String::new() }
}

/// How a tenant or flow stands, for the summary, the order of the rows and their colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Health {
    /// Its last run failed: needing attention, quarantined or backing off.
    Failing,
    Running,
    /// Never run yet.
    Waiting,
    /// Its last run succeeded (or was handed back to resume).
    Healthy,
}

impl Health {
    fn of(row: &ScheduleRow) -> Self {
        match row.state.as_str() {
            "running" => Self::Running,
            "needs-attention" | "quarantined" | "backing-off" => Self::Failing,
            _ if row.last_outcome.is_none() => Self::Waiting,
            _ => Self::Healthy,
        }
    }

    /// The badge's words: the state, or for a healthy row how its last run ended.
    fn badge(self, row: &ScheduleRow) -> String {
        let words = match self {
            Self::Healthy => row.last_outcome.as_deref().unwrap_or("synced"),
            Self::Waiting => "first run due",
            _ => row.state.as_str(),
        };
        format!("<span class=\"badge {}\">{}</span>", self.class(), escape(words))
    }

    fn class(self) -> &'static str {
        match self {
            Self::Failing => "failing",
            Self::Running => "running",
            Self::Waiting => "waiting",
            Self::Healthy => "healthy",
        }
    }
}

/// What a run's mark says.
#[derive(Clone, Copy)]
enum MarkLabel {
    Length,
    Outcome,
}

/// A run as a coloured mark saying its length or its outcome; its time, outcome, length and requests on hover.
fn mark(run: &RunRow, label: MarkLabel, now_ms: i64) -> String {
    let class = match (run.outcome.as_str(), run.state.as_str()) {
        ("synced" | "applied", _) => "ok",
        ("interrupted", _) => "interrupted",
        (_, "backing-off") => "retry",
        _ => "fail",
    };
    let title = format!(
        "{} at {} ({}), {}, {} requests{}",
        run.outcome,
        crate::display::clock_time(run.finished_ms),
        relative_time(run.finished_ms, now_ms),
        duration(run.duration_ms()),
        count(run.requests),
        run.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
    );
    let label = match label {
        MarkLabel::Length => duration(run.duration_ms()),
        MarkLabel::Outcome => escape(&run.outcome),
    };
    format!("<span class=\"mark {class}\" title=\"{}\">{label}</span>", escape(&title))
}

/// A running sync's elapsed time and progress, with an estimate from its last good run:
/// `running 2m 3s · 31,000 of ~50,000 records · 1,204 requests · 120 pages · about 1m left`.
fn progress_text(row: &ScheduleRow, last_good: Option<&RunRow>, now_ms: i64) -> String {
    let elapsed = row.last_started_ms.map_or(0, |at| now_ms - at);
    let mut parts = vec![format!("running {}", duration(elapsed))];
    let RunProgress { records, requests, pages } = row.progress.unwrap_or_default();
    let expected = last_good.and_then(|run| run.records).filter(|n| *n > 0);
    parts.push(match expected {
        Some(expected) => format!("{} of ~{} records", count(records), count(expected)),
        None => format!("{} records", count(records)),
    });
    parts.push(format!("{} requests", count(requests)));
    parts.push(format!("{} pages", count(pages)));
    if let Some(last) = last_good {
        let left = last.duration_ms() - elapsed;
        parts.push(if left > 0 { format!("about {} left", duration(left)) } else { format!("longer than the last ({})", duration(last.duration_ms())) });
    }
    parts.join(" · ")
}

const STYLE: &str = "\
body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1d2330;background:#f6f7f9}\
header{background:#1d2330;color:#fff;padding:.8em 1.5em;display:flex;gap:1.5em;align-items:baseline;flex-wrap:wrap}\
header h1{font-size:1.2em;margin:0}header a{color:#fff}main{padding:1em 1.5em}\
.cards{display:flex;gap:1em;flex-wrap:wrap;margin:.5em 0 1.2em}\
.card{background:#fff;border-radius:6px;padding:.6em 1em;min-width:9em;border-left:6px solid #9aa3b2;box-shadow:0 1px 2px #0002}\
.card b{display:block;font-size:1.8em}.card.healthy{border-color:#2e9d4f}.card.failing{border-color:#d23c3c}\
.card.running{border-color:#2f6fd6}.card.waiting{border-color:#9aa3b2}.card.age{border-color:#6b4fc0}\
table{border-collapse:collapse;background:#fff;box-shadow:0 1px 2px #0002;margin-bottom:1.5em;width:100%}\
th,td{padding:.45em .7em;text-align:left;vertical-align:top;border-bottom:1px solid #e3e6eb}\
th{background:#eceff3;font-weight:600;white-space:nowrap}tr.failing td:first-child{border-left:5px solid #d23c3c}\
tr.healthy td:first-child{border-left:5px solid #2e9d4f}tr.running td:first-child{border-left:5px solid #2f6fd6}\
tr.waiting td:first-child{border-left:5px solid #9aa3b2}\
.badge{display:inline-block;padding:.1em .5em;border-radius:1em;font-size:.85em;color:#fff;white-space:nowrap}\
.badge.healthy{background:#2e9d4f}.badge.failing{background:#d23c3c}.badge.running{background:#2f6fd6}.badge.waiting{background:#7d8696}\
.mark{display:inline-block;min-width:2.2em;margin:0 2px 2px 0;padding:0 .25em;border-radius:3px;font-size:.75em;text-align:center;color:#fff}\
.mark.ok{background:#2e9d4f}.mark.fail{background:#d23c3c}.mark.retry{background:#e0a100}.mark.interrupted{background:#9aa3b2}\
time,.rel,.nowrap{white-space:nowrap}.rel,.muted{color:#6b7280}.error{color:#a32020;max-width:40em}pre{white-space:pre-wrap;background:#fff;padding:1em;border-left:5px solid #d23c3c}\
.advice{background:#fff7e0;padding:.8em 1em;border-left:5px solid #e0a100;max-width:60em}h2{font-size:1.05em;margin:1.2em 0 .5em}";

/// The page around `body`: its title, the refresh, the style, and the header naming this replica.
fn page(title: &str, replica: &str, draining: bool, now_ms: i64, body: &str) -> String {
    let mut html = String::with_capacity(body.len() + 4096);
    let _ = write!(
        html,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"10\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{title} · connector-harness</title><style>{STYLE}</style></head><body>\n\
         <header><h1><a href=\"/\">connector-harness</a></h1><span>replica <b>{replica}</b>{draining}</span><span>{now} UTC, by the store's clock</span></header>\n<main>\n{body}</main>\n</body></html>\n",
        title = escape(title),
        replica = escape(replica),
        draining = if draining { ", <b>draining</b>" } else { "" },
        now = crate::display::clock_time(now_ms).replace('T', " ").trim_end_matches('Z'),
    );
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_lengths_and_counts_read_as_a_person_says_them() {
        assert_eq!(relative_time(10_500, 10_000), "now");
        assert_eq!(relative_time(260_000, 10_000), "in 4m 10s");
        assert_eq!(relative_time(10_000, 7_210_000), "2h 0m ago");
        assert_eq!(relative_time(90_000_000 + 10_000, 10_000), "in 1d 1h");
        assert_eq!([duration(850), duration(3_240), duration(125_000)], ["850 ms", "3.2 s", "2m 5s"]);
        assert_eq!([count(7), count(31_000), count(1_234_567)], ["7", "31,000", "1,234,567"]);
        assert_eq!(replica_of("pod-7:12:00ff"), "pod-7");
        assert_eq!(tenant_href("acme corp/eu"), "/tenants/acme%20corp%2Feu");
    }
}
