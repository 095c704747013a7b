//! What provisioning flows keep between cycles (`flow/`): each flow's links, the target accounts it created or
//! matched by source id (a flow touches no other account), and its provisioning log, one row per action of a
//! cycle. The log names the fields an action wrote, never their values.

use std::collections::BTreeMap;

use anyhow::Result;

use super::Store;
use super::sql::args;

/// One row of a flow's provisioning log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// The flow's name.
    pub flow: String,
    /// The cycle, counted from 1 per flow.
    pub cycle: i64,
    /// The action's place in its cycle, from 1.
    pub seq: i64,
    /// The source user, when the action has one.
    pub source_id: Option<String>,
    /// The target account, when there is one.
    pub target_id: Option<String>,
    /// `create`, `adopt`, `update`, `disable`, `delete` or `skip`.
    pub action: String,
    /// The names of the fields written.
    pub fields: Vec<String>,
    /// `done`, `already` (it was so), `skipped` or `failed`.
    pub outcome: String,
    /// Why, for a skip or a failure: the reason, or the connector's error.
    pub detail: Option<String>,
    /// When, in milliseconds since the epoch.
    pub at_ms: i64,
}

impl Store {
    /// The accounts `flow` created or matched: source id → target id.
    pub fn flow_links(&self, flow: &str) -> Result<BTreeMap<String, String>> {
        let mut links = BTreeMap::new();
        self.db.for_each("SELECT source_id, target_id FROM flow_links WHERE flow = ?1", args![flow], |row| {
            links.insert(row.string(0)?, row.string(1)?);
            Ok(())
        })?;
        Ok(links)
    }

    /// Records that `flow`'s source user `source` is the target account `target`.
    pub fn link(&self, flow: &str, source: &str, target: &str) -> Result<()> {
        let now = self.db.now_ms()?;
        self.db.execute(
            "INSERT INTO flow_links (flow, source_id, target_id, linked_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (flow, source_id) DO UPDATE SET target_id = excluded.target_id, linked_ms = excluded.linked_ms",
            args![flow, source, target, now],
        )?;
        Ok(())
    }

    /// Forgets `flow`'s link of `source` (its account was deleted).
    pub fn unlink(&self, flow: &str, source: &str) -> Result<()> {
        self.db.execute("DELETE FROM flow_links WHERE flow = ?1 AND source_id = ?2", args![flow, source])?;
        Ok(())
    }

    /// The number of `flow`'s next cycle: one past the last it logged.
    pub fn next_flow_cycle(&self, flow: &str) -> Result<i64> {
        let last = self.db.row("SELECT MAX(cycle) FROM provisioning_log WHERE flow = ?1", args![flow])?;
        Ok(last.map(|row| row.opt_int(0)).transpose()?.flatten().unwrap_or(0) + 1)
    }

    /// Appends `entry` to its flow's log.
    pub fn log_action(&self, entry: &LogEntry) -> Result<()> {
        let fields = entry.fields.join(",");
        self.db.execute(
            "INSERT INTO provisioning_log (flow, cycle, seq, source_id, target_id, action, fields, outcome, detail, at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            args![
                entry.flow.as_str(),
                entry.cycle,
                entry.seq,
                entry.source_id.as_deref(),
                entry.target_id.as_deref(),
                entry.action.as_str(),
                fields.as_str(),
                entry.outcome.as_str(),
                entry.detail.as_deref(),
                entry.at_ms
            ],
        )?;
        Ok(())
    }

    /// Calls `each` with `flow`'s log, oldest first.
    pub fn for_each_log_entry(&self, flow: &str, mut each: impl FnMut(LogEntry) -> Result<()>) -> Result<()> {
        self.db.for_each(
            "SELECT flow, cycle, seq, source_id, target_id, action, fields, outcome, detail, at_ms FROM provisioning_log
             WHERE flow = ?1 ORDER BY cycle, seq",
            args![flow],
            |row| {
                let fields = row.text(6)?;
                each(LogEntry {
                    flow: row.string(0)?,
                    cycle: row.int(1)?,
                    seq: row.int(2)?,
                    source_id: row.opt_string(3)?,
                    target_id: row.opt_string(4)?,
                    action: row.string(5)?,
                    fields: if fields.is_empty() { Vec::new() } else { fields.split(',').map(str::to_string).collect() },
                    outcome: row.string(7)?,
                    detail: row.opt_string(8)?,
                    at_ms: row.int(9)?,
                })
            },
        )
    }
}
