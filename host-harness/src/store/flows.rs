//! What provisioning flows keep between cycles (`flow/`): each flow's last cycle (held under a lease while it
//! runs, so two processes never apply one flow at once), its links, the target accounts it created or matched
//! by source id (a flow touches no other account), and its provisioning log, one row per action of a cycle. The
//! log names the fields an action wrote, never their values.

use std::collections::BTreeMap;

use anyhow::{Result, bail};

use super::Store;
use super::lifecycle::{held_by_live_owner, new_owner, silence};
use super::sql::{Row, args};
use crate::records::GrantRow;

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
    /// `done`, `already` (it was so), `skipped`, `held` (the cycle stopped before it) or `failed`.
    pub outcome: String,
    /// Why, for a skip, a hold or a failure: the reason, or the connector's error.
    pub detail: Option<String>,
    /// When, in milliseconds since the epoch.
    pub at_ms: i64,
}

/// What a flow links: source users to target accounts, and (group push) source groups to target groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    /// Accounts.
    User,
    /// Groups.
    Group,
}

impl LinkKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Group => "group",
        }
    }
}

/// What an action did to its flow's links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkChange {
    /// Nothing.
    Keep,
    /// The source user (or group) is now this target account (or group).
    Link(LinkKind, String),
    /// The source user's account is gone.
    Unlink(LinkKind),
}

/// What a write made of a target's resource or grant, for the target's current view (`written.rs`).
#[derive(Debug, Clone, Copy)]
pub enum Written<'a> {
    /// A resource.
    Resource {
        /// The target tenant.
        tenant: &'a str,
        /// The resource's type.
        resource_type: &'a str,
        /// The resource's id.
        id: &'a str,
        /// Its export line as the connector read it back, or `None` once deleted.
        line: Option<&'a str>,
    },
    /// A grant.
    Grant {
        /// The target tenant.
        tenant: &'a str,
        /// The grant.
        grant: &'a GrantRow,
        /// Whether it is held now (granted) or not (revoked).
        present: bool,
    },
}

/// A flow's cycle held by this process: each action it logs and its end name the owner, and are refused once
/// another process has taken the flow over.
#[derive(Debug, Clone)]
pub struct CycleLease {
    /// The flow.
    pub flow: String,
    /// The cycle, counted from 1 per flow.
    pub cycle: i64,
    /// The cycle before this one, when it began and never ended (its process died mid-cycle).
    pub unfinished: Option<i64>,
    owner: String,
}

/// A flow's last cycle, as the store records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowState {
    /// The flow.
    pub flow: String,
    /// Its last cycle.
    pub cycle: i64,
    /// `running`, `ok` or `needs-attention`.
    pub state: String,
    /// When the cycle began, in epoch ms (the store's clock).
    pub started_ms: i64,
    /// When it ended, if it has.
    pub finished_ms: Option<i64>,
    /// Why it needs attention.
    pub error: Option<String>,
    /// Its counts per action and outcome, as JSON.
    pub counts: Option<String>,
    /// Cycles in a row that ended needing attention.
    pub failures: i64,
}

/// Writes logged under one name over a span of time (`Store::writes_since`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteActivity {
    /// The log name (`scim:TENANT`, or a flow's).
    pub name: String,
    /// Writes logged.
    pub writes: i64,
    /// Of them, failed or refused.
    pub failed: i64,
    /// When the last was (epoch ms).
    pub last_ms: i64,
}

impl Store {
    /// Begins `flow`'s next cycle, held by this process. Refused while another live process runs one; a cycle
    /// whose process died is taken over, and reported in `unfinished`.
    pub fn begin_cycle(&self, flow: &str) -> Result<CycleLease> {
        let owner = new_owner(self.service);
        self.db.transaction(|| {
            let now = self.db.now_ms()?;
            let last = self.db.row(&format!("SELECT cycle, state, owner, heartbeat_ms FROM flows WHERE flow = ?1{}", self.db.for_update()), args![flow])?;
            let (cycle, unfinished) = match &last {
                None => (1, None),
                Some(row) => {
                    let (cycle, state, holder, heartbeat) = (row.int(0)?, row.text(1)?, row.opt_text(2)?, row.opt_int(3)?);
                    if state == "running" && held_by_live_owner(holder, heartbeat, now) {
                        bail!("flow `{flow}` is running its cycle {cycle} in another process (last heard from {:.0} s ago)", silence(heartbeat, now).as_secs_f64());
                    }
                    (cycle + 1, (state == "running").then_some(cycle))
                }
            };
            self.db.execute(
                "INSERT INTO flows (flow, cycle, state, started_ms, failures, owner, heartbeat_ms) VALUES (?1, ?2, 'running', ?3, 0, ?4, ?3)
                 ON CONFLICT (flow) DO UPDATE SET cycle = excluded.cycle, state = 'running', started_ms = excluded.started_ms,
                 finished_ms = NULL, error = NULL, counts = NULL, owner = excluded.owner, heartbeat_ms = excluded.heartbeat_ms",
                args![flow, cycle, now, &owner],
            )?;
            Ok(CycleLease { flow: flow.to_string(), cycle, unfinished, owner: owner.clone() })
        })
    }

    /// Records what one action of the lease's cycle did, at once: its log entry (`entry.flow` and `entry.cycle`
    /// must be the lease's), the link it made or ended, and what it made of the target's resource. It also tells
    /// other processes the cycle is alive.
    pub fn record_action(&self, lease: &CycleLease, entry: &LogEntry, link: &LinkChange, written: Option<&Written>) -> Result<()> {
        if (entry.flow.as_str(), entry.cycle) != (lease.flow.as_str(), lease.cycle) {
            bail!("a log entry of flow `{}` cycle {} cannot be written under the lease of `{}` cycle {}", entry.flow, entry.cycle, lease.flow, lease.cycle);
        }
        self.db.transaction(|| {
            self.renew_cycle(lease)?;
            match (link, entry.source_id.as_deref()) {
                (LinkChange::Link(kind, target), Some(source)) => self.link(&lease.flow, *kind, source, target)?,
                (LinkChange::Unlink(kind), Some(source)) => self.unlink(&lease.flow, *kind, source)?,
                _ => {}
            }
            self.record_written_of(written)?;
            if !self.insert_log_entry(entry, entry.seq)? {
                bail!("flow `{}` cycle {} already has a log entry {}", entry.flow, entry.cycle, entry.seq);
            }
            Ok(())
        })
    }

    /// Each log name beginning with `prefix` (the SCIM gateway's `scim:`) that logged writes since `since_ms`:
    /// how many, how many failed or were refused, and when the last was.
    pub fn writes_since(&self, prefix: &str, since_ms: i64) -> Result<Vec<WriteActivity>> {
        let end = format!("{prefix}\u{10ffff}");
        let rows = self.db.rows(
            "SELECT flow, count(*), sum(CASE WHEN outcome IN ('failed', 'refused') THEN 1 ELSE 0 END), max(at_ms) FROM provisioning_log
             WHERE flow >= ?1 AND flow < ?2 AND at_ms >= ?3 GROUP BY flow ORDER BY flow",
            args![prefix, end.as_str(), since_ms],
        )?;
        rows.iter().map(|r| Ok(WriteActivity { name: r.string(0)?, writes: r.int(1)?, failed: r.int(2)?, last_ms: r.int(3)? })).collect()
    }

    /// Records one write made outside a flow's cycle (through the SCIM gateway, `gateway/`): its log entry, numbered
    /// next in `entry.flow`'s cycle `entry.cycle` whatever `entry.seq` says, and what it made of the tenant's
    /// resource or grant, in one transaction. Returns the entry's number.
    pub fn record_write(&self, entry: &LogEntry, written: Option<&Written>) -> Result<i64> {
        self.db.transaction(|| {
            self.record_written_of(written)?;
            // Another replica may take the same number at once: its insert wins, and this one takes the next.
            for _ in 0..100 {
                let next = self.db.row("SELECT coalesce(max(seq), 0) + 1 FROM provisioning_log WHERE flow = ?1 AND cycle = ?2", args![entry.flow.as_str(), entry.cycle])?;
                let seq = next.map(|row| row.int(0)).transpose()?.unwrap_or(1);
                if self.insert_log_entry(entry, seq)? {
                    return Ok(seq);
                }
            }
            bail!("cannot number a log entry of `{}`: too many writers at once", entry.flow)
        })
    }

    fn record_written_of(&self, written: Option<&Written>) -> Result<()> {
        match written {
            Some(Written::Resource { tenant, resource_type, id, line }) => self.record_written(tenant, resource_type, id, *line),
            Some(Written::Grant { tenant, grant, present }) => self.record_written_grant(tenant, grant, *present),
            None => Ok(()),
        }
    }

    /// Inserts `entry` as number `seq`; false when that number is taken.
    fn insert_log_entry(&self, entry: &LogEntry, seq: i64) -> Result<bool> {
        let fields = entry.fields.join(",");
        let inserted = self.db.execute(
            "INSERT INTO provisioning_log (flow, cycle, seq, source_id, target_id, action, fields, outcome, detail, at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (flow, cycle, seq) DO NOTHING",
            args![
                entry.flow.as_str(),
                entry.cycle,
                seq,
                entry.source_id.as_deref(),
                entry.target_id.as_deref(),
                entry.action.as_str(),
                fields.as_str(),
                entry.outcome.as_str(),
                entry.detail.as_deref(),
                entry.at_ms
            ],
        )?;
        Ok(inserted == 1)
    }

    /// Says the lease's cycle is alive; refused once another process took the flow over.
    pub fn renew_cycle(&self, lease: &CycleLease) -> Result<()> {
        let renewed = self.db.execute(
            &format!("UPDATE flows SET heartbeat_ms = {} WHERE flow = ?1 AND cycle = ?2 AND owner = ?3 AND state = 'running'", self.db.clock_sql()),
            args![lease.flow.as_str(), lease.cycle, lease.owner.as_str()],
        )?;
        if renewed == 0 {
            bail!("flow `{}` cycle {} was taken over by another process; this one stops", lease.flow, lease.cycle);
        }
        Ok(())
    }

    /// Ends the lease's cycle: `ok`, or `needs-attention` with why (which counts one more failure in a row).
    pub fn end_cycle(&self, lease: &CycleLease, error: Option<&str>, counts: &str) -> Result<()> {
        let state = if error.is_some() { "needs-attention" } else { "ok" };
        let ended = self.db.execute(
            &format!(
                "UPDATE flows SET state = ?4, finished_ms = {}, error = ?5, counts = ?6,
                 failures = CASE WHEN CAST(?5 AS TEXT) IS NULL THEN 0 ELSE failures + 1 END, owner = NULL
                 WHERE flow = ?1 AND cycle = ?2 AND owner = ?3 AND state = 'running'",
                self.db.clock_sql()
            ),
            args![lease.flow.as_str(), lease.cycle, lease.owner.as_str(), state, error, counts],
        )?;
        if ended == 0 {
            bail!("flow `{}` cycle {} was taken over by another process; this one leaves it alone", lease.flow, lease.cycle);
        }
        Ok(())
    }

    /// `flow`'s last cycle, if it ever ran one.
    pub fn flow_state(&self, flow: &str) -> Result<Option<FlowState>> {
        let row = self.db.row("SELECT flow, cycle, state, started_ms, finished_ms, error, counts, failures FROM flows WHERE flow = ?1", args![flow])?;
        row.map(|row| flow_state(&row)).transpose()
    }

    /// The target accounts (or groups) `flow` created or matched: source id → target id.
    pub fn flow_links(&self, flow: &str, kind: LinkKind) -> Result<BTreeMap<String, String>> {
        let mut links = BTreeMap::new();
        self.db.for_each("SELECT source_id, target_id FROM flow_links WHERE flow = ?1 AND kind = ?2", args![flow, kind.as_str()], |row| {
            links.insert(row.string(0)?, row.string(1)?);
            Ok(())
        })?;
        Ok(links)
    }

    /// Records that `flow`'s source user (or group) `source` is the target's `target`.
    pub fn link(&self, flow: &str, kind: LinkKind, source: &str, target: &str) -> Result<()> {
        let now = self.db.now_ms()?;
        self.db.execute(
            "INSERT INTO flow_links (flow, kind, source_id, target_id, linked_ms) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (flow, kind, source_id) DO UPDATE SET target_id = excluded.target_id, linked_ms = excluded.linked_ms",
            args![flow, kind.as_str(), source, target, now],
        )?;
        Ok(())
    }

    /// Forgets `flow`'s link of `source` (its account was deleted).
    pub fn unlink(&self, flow: &str, kind: LinkKind, source: &str) -> Result<()> {
        self.db.execute("DELETE FROM flow_links WHERE flow = ?1 AND kind = ?2 AND source_id = ?3", args![flow, kind.as_str(), source])?;
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

fn flow_state(row: &Row) -> Result<FlowState> {
    Ok(FlowState {
        flow: row.string(0)?,
        cycle: row.int(1)?,
        state: row.string(2)?,
        started_ms: row.int(3)?,
        finished_ms: row.opt_int(4)?,
        error: row.opt_string(5)?,
        counts: row.opt_string(6)?,
        failures: row.int(7)?,
    })
}
