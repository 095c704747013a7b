//! `/tenants/{name}`: one tenant's (or flow's) state, what to do when it fails, its last error in full, its
//! progress while it runs, and its history: every run kept, with its length, what it stored and what it added,
//! removed and changed.

use std::fmt::Write as _;

use super::{Health, MarkLabel, count, duration, escape, last_good, mark, page, progress_text, replica_of, span, success_and_age, when};
use crate::store::{RunRow, ScheduleRow};

/// Runs shown in a tenant's history.
pub const HISTORY: i64 = 50;

/// The page of `name`: its schedule row (none if the store has no such tenant) and its latest runs.
pub fn tenant(replica: &str, draining: bool, name: &str, read: Result<(Option<ScheduleRow>, Vec<RunRow>), String>, now_ms: i64) -> (bool, String) {
    let (row, runs) = match read {
        Ok((Some(row), runs)) => (row, runs),
        Ok((None, _)) => return (false, page(name, replica, draining, now_ms, &format!("<p>No tenant or flow <b>{}</b> is in the schedule.</p>\n", escape(name)))),
        Err(e) => return (true, page(name, replica, draining, now_ms, &format!("<p class=\"error\"><b>The store cannot be read:</b> {}</p>\n", escape(&e)))),
    };
    let health = Health::of(&row);
    let mut body = String::new();
    let _ = writeln!(body, "<h2>{} {}{}</h2>", escape(name), health.badge(&row), if row.enabled { "" } else { " <span class=\"muted\">(no live replica serves it)</span>" });
    let (success, age) = success_and_age(&row, now_ms);
    body.push_str("<table>\n");
    let facts = [
        ("Last success", success),
        ("Data age", age),
        (
            "Now",
            if health == Health::Running {
                escape(&format!("{}, on {}", progress_text(&row, last_good(&runs), now_ms), replica_of(row.lease_owner.as_deref().unwrap_or("?"))))
            } else {
                format!("next run {}", when(row.next_run_ms, now_ms))
            },
        ),
        ("Interval", span((row.interval_ms / 1000) as u64)),
        ("Failures in a row", row.failures.to_string()),
    ];
    for (label, value) in facts {
        let _ = writeln!(body, "<tr><th>{label}</th><td>{value}</td></tr>");
    }
    body.push_str("</table>\n");
    if health == Health::Failing {
        let error = row.last_error.as_deref().unwrap_or("");
        let _ = writeln!(body, "<h2>What to do</h2>\n<p class=\"advice\">{}</p>\n<h2>Last error</h2>\n<pre>{}</pre>", escape(&advice(&row.state, error, name)), escape(error));
    }
    let _ = writeln!(body, "<h2>History (the latest {} runs)</h2>", runs.len());
    if runs.is_empty() {
        body.push_str("<p class=\"muted\">No run has finished yet.</p>\n");
    } else {
        body.push_str("<table>\n<tr><th>Outcome</th><th>Started</th><th>Length</th><th>Replica</th><th>Requests</th><th>Stored</th><th>Added</th><th>Removed</th><th>Changed</th><th>Error</th></tr>\n");
        for run in &runs {
            let changes = |n: fn(&crate::store::DiffCounts) -> u64| run.changes.as_ref().map_or_else(|| "-".into(), |c| count(n(c) as i64));
            let _ = writeln!(
                body,
                "<tr><td>{mark}</td><td>{started}</td><td>{length}</td><td class=\"nowrap\">{replica}</td><td>{requests}</td><td>{stored}</td><td>{added}</td><td>{removed}</td><td>{changed}</td><td class=\"error\">{error}</td></tr>",
                mark = mark(run, MarkLabel::Outcome, now_ms),
                started = when(run.started_ms, now_ms),
                length = duration(run.duration_ms()),
                replica = escape(replica_of(&run.owner)),
                requests = count(run.requests),
                stored = escape(run.counts.as_deref().unwrap_or("-")),
                added = changes(|c| c.added),
                removed = changes(|c| c.removed),
                changed = changes(|c| c.changed),
                error = escape(run.error.as_deref().unwrap_or("")),
            );
        }
        body.push_str("</table>\n");
    }
    (true, page(name, replica, draining, now_ms, &body))
}

/// What a person can do about a failing tenant, from its state and the words of its error.
fn advice(state: &str, error: &str, name: &str) -> String {
    let retry = format!("then run it at once with `connector-harness trigger {name}` rather than wait for its backoff");
    let error = error.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| error.contains(w));
    if state == "quarantined" {
        return format!("A replica died while running this tenant's sync three times in a row. Look for out-of-memory kills or crashes in the replicas' logs and raise their memory limit (or the tenant's `memory_mib`), {retry}.");
    }
    if state == "backing-off" {
        return "A transient failure: the source was unavailable, throttled or too slow. The service retries on its own, backing off; nothing to do unless it persists, in which case check the source's status page and the network path to it.".into();
    }
    if has(&["authentication failed", "unauthenticated", "refused the client credentials", "invalid_client"]) {
        return format!("The source refused the tenant's credentials. Check its secrets (a rotated or expired client secret or token) and that the application is still enabled at the source; a fixed secret file is picked up without a restart, {retry}.");
    }
    if has(&["permission denied", "forbidden", "not granted"]) {
        return format!("The source, or this service's grants, refused an operation. Grant the application the scopes the connector needs (`connector-harness inspect` lists them) or the tenant the writes it makes, {retry}.");
    }
    if has(&["invalid config", "config `", "unknown config"]) {
        return format!("The tenant's configuration is refused. Fix its table in the tenants file (`connector-harness validate` checks it), {retry}.");
    }
    if has(&["the host stopped the component", "limit"]) {
        return format!("The sync reached one of the tenant's limits. Raise the limit named in the error in the tenant's `[limits]` if the source has grown, {retry}.");
    }
    format!("A failure a person must look at: read the error below and the replica's log lines for this tenant, fix the cause, {retry}.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advice_follows_the_state_and_the_error() {
        assert!(advice("needs-attention", "authentication failed: the token endpoint refused the client credentials (401)", "acme").starts_with("The source refused the tenant's credentials."));
        assert!(advice("backing-off", "source unavailable: …", "acme").starts_with("A transient failure"));
        assert!(advice("quarantined", "quarantined: …", "acme").contains("`connector-harness trigger acme`"));
        assert!(advice("needs-attention", "PERMISSION DENIED: scope missing", "acme").starts_with("The source, or this service's grants, refused"));
    }
}
