//! The status page at `/`: every tenant's state, last sync and next run, as plain server-rendered HTML that
//! refreshes itself (no JavaScript). Everything from the store or a source is escaped.

use std::fmt::Write as _;

use crate::store::{ScheduleRow, TenantState};

/// `in 4m 10s`, `3m 2s ago` or `now`, from epoch milliseconds.
pub fn relative_time(at_ms: i64, now_ms: i64) -> String {
    let delta = at_ms - now_ms;
    if delta.abs() < 1000 {
        return "now".into();
    }
    let secs = (delta.abs() / 1000) as u64;
    let span = match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h {}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d {}h", s / 86_400, (s % 86_400) / 3600),
    };
    if delta > 0 { format!("in {span}") } else { format!("{span} ago") }
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

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if crate::display::is_unsafe(c) => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

pub fn render(replica: &str, draining: bool, rows: Result<Vec<ScheduleRow>, String>, now_ms: i64) -> String {
    let mut html = String::from(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"10\">\
         <title>connector-harness</title><style>body{font:14px system-ui,sans-serif;margin:1.5em}table{border-collapse:collapse}\
         th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}th{background:#f3f3f3}\
         .needs-attention,.quarantined{background:#fde2e2}.backing-off{background:#fff4d6}.running{background:#e2f0fd}</style></head><body>\n",
    );
    let _ = writeln!(html, "<h1>connector-harness</h1>\n<p>Replica <b>{}</b>{}.</p>", escape(replica), if draining { ", draining" } else { "" });
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) => {
            let _ = writeln!(html, "<p><b>The store cannot be read:</b> {}</p></body></html>", escape(&e));
            return html;
        }
    };
    html.push_str(
        "<table>\n<tr><th>Tenant or flow</th><th>State</th><th>Last outcome</th><th>Last sync or cycle</th><th>Finished</th><th>Next run</th>\
         <th>Failures in a row</th><th>Lease</th><th>Last error</th></tr>\n",
    );
    for row in rows.iter().filter(|r| r.enabled) {
        let last_sync = match (&row.last_sync_id, &row.last_counts) {
            (Some(id), Some(counts)) => format!("{id}: {counts}"),
            (Some(id), None) => id.to_string(),
            // A flow's row: its last cycle's counts.
            (None, Some(counts)) => counts.clone(),
            (None, None) => "-".into(),
        };
        let _ = writeln!(
            html,
            "<tr class=\"{state}\"><td>{tenant}</td><td>{state}</td><td>{outcome}</td><td>{last_sync}</td><td>{finished}</td><td>{next}</td>\
             <td>{failures}</td><td>{lease}</td><td>{error}</td></tr>",
            state = escape(&row.state),
            tenant = escape(&row.tenant),
            outcome = escape(row.last_outcome.as_deref().unwrap_or("-")),
            last_sync = escape(&last_sync),
            finished = row.last_finished_ms.map_or("-".into(), |at| relative_time(at, now_ms)),
            next = next_run_text(row, now_ms),
            failures = row.failures,
            lease = escape(&lease_text(row, now_ms)),
            error = escape(row.last_error.as_deref().unwrap_or("")),
        );
    }
    html.push_str("</table>\n</body></html>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_a_person_says_them() {
        assert_eq!(relative_time(10_500, 10_000), "now");
        assert_eq!(relative_time(260_000, 10_000), "in 4m 10s");
        assert_eq!(relative_time(10_000, 7_210_000), "2h 0m ago");
        assert_eq!(relative_time(90_000_000 + 10_000, 10_000), "in 1d 1h");
    }

    #[test]
    fn whatever_a_source_said_is_escaped() {
        let row = ScheduleRow {
            tenant: "acme".into(),
            enabled: true,
            interval_ms: 60_000,
            next_run_ms: 70_000,
            state: "needs-attention".into(),
            lease_owner: None,
            lease_epoch: 3,
            lease_expires_ms: None,
            failures: 2,
            last_outcome: Some("failed".into()),
            last_error: Some("authentication failed: <script>alert(1)</script> \u{202e}gpj.exe".into()),
            last_sync_id: None,
            last_counts: None,
            last_started_ms: None,
            last_finished_ms: Some(5_000),
            last_success_at: None,
            };
        let html = render("pod-1", false, Ok(vec![row]), 10_000);
        assert!(html.contains("<td>authentication failed: &lt;script&gt;alert(1)&lt;/script&gt; \u{fffd}gpj.exe</td>"), "{html}");
        assert!(html.contains("<tr class=\"needs-attention\"><td>acme</td><td>needs-attention</td><td>failed</td><td>-</td><td>5s ago</td><td>1970-01-01T00:01:10Z (in 1m 0s)</td><td>2</td><td>-</td>"), "{html}");
        assert!(!html.contains("<script"));
    }
}
