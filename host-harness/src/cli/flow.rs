//! `flow`: provisioning flows declared in a tenants file (`flow/`). `flow plan NAME` shows what the flow's next
//! cycle would do and changes nothing; `flow apply NAME` runs that cycle through the target's component;
//! `flow log NAME` prints what every cycle did.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Result, anyhow, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::Context;
use super::args::LimitArgs;
use crate::display::{clock_time, printable};
use crate::flow::cycle::{Choices, Cycle, CycleReport};
use crate::flow::inputs::{Planned, plan_from_store};
use crate::flow::plan::Action;
use crate::flow::FlowSpec;
use crate::fleet::Components;
use crate::options::LimitsSpec;
use crate::runtime::Runtime;
use crate::store::{LogEntry, Store, StoreLocation};
use crate::tenant::TenantSpec;

/// Provisioning flows: keep a target tenant's accounts in line with a source tenant's users.
#[derive(Args)]
pub struct FlowCommand {
    #[command(subcommand)]
    command: FlowSubcommand,
}

#[derive(Subcommand)]
enum FlowSubcommand {
    /// Show what the flow's next cycle would do, and change nothing.
    Plan(PlanCommand),
    /// Run the flow's next cycle: sync what is older than its interval, plan, and write through the target.
    Apply(ApplyCommand),
    /// Print the flow's provisioning log: every action of every cycle.
    Log(LogCommand),
}

impl FlowCommand {
    pub async fn execute(self, cx: &mut Context<'_>) -> Result<()> {
        match self.command {
            FlowSubcommand::Plan(command) => command.execute(cx).await,
            FlowSubcommand::Apply(command) => command.execute(cx).await,
            FlowSubcommand::Log(command) => command.execute(cx),
        }
    }
}

/// A flow of a tenants file, and the store its tenants sync into.
#[derive(Args)]
struct FlowArgs {
    /// The flow's name in the tenants file.
    name: String,
    /// The tenants file that declares the flow and the tenants it joins.
    #[arg(long)]
    tenants: PathBuf,
    #[arg(long)]
    store: StoreLocation,
    /// One JSON object, for scripts.
    #[arg(long)]
    json: bool,
}

/// A flow with its two tenants, as the tenants file declares them.
struct Declared {
    flow: FlowSpec,
    source: TenantSpec,
    target: TenantSpec,
}

impl FlowArgs {
    /// The flow and its tenants; the redactor learns both tenants' secrets before anything can fail.
    fn declared(&self, cx: &Context<'_>) -> Result<Declared> {
        let (tenants, flows) = TenantSpec::tenants_and_flows(&self.tenants)?;
        let names: Vec<String> = flows.iter().map(|f| f.name.clone()).collect();
        let Some(flow) = flows.into_iter().find(|f| f.name == self.name) else {
            bail!("tenants file {} has no flow `{}` (it has: {})", self.tenants.display(), self.name, if names.is_empty() { "none".into() } else { names.join(", ") });
        };
        let tenant = |name: &str| -> Result<TenantSpec> {
            let spec = tenants.iter().find(|(n, _)| n == name).ok_or_else(|| anyhow!("tenant `{name}` is not in {}", self.tenants.display()))?;
            let spec = spec.1.as_ref().map_err(|e| anyhow!("tenant `{name}`: {e:#}"))?.clone();
            cx.redactor.add_secrets(&spec.secrets);
            Ok(spec)
        };
        let (source, target) = (tenant(&flow.source)?, tenant(&flow.target)?);
        Ok(Declared { flow, source, target })
    }
}

#[derive(Args)]
struct PlanCommand {
    #[command(flatten)]
    flow: FlowArgs,
}

impl PlanCommand {
    async fn execute(self, cx: &mut Context<'_>) -> Result<()> {
        let declared = self.flow.declared(cx)?;
        let runtime = Runtime::new(cx.cache_dir.clone())?;
        let metadata = runtime.metadata(&runtime.load(declared.target.component_path()?)?).await?;
        let store = Store::open(&self.flow.store)?;
        let planned = plan_from_store(&store, &declared.flow, &metadata.write_schemas)?;
        if self.flow.json {
            writeln!(cx.out, "{}", plan_json(&declared.flow, &planned))?;
        } else {
            print_plan(cx.out, &declared.flow, &planned)?;
        }
        Ok(())
    }
}

#[derive(Args)]
struct ApplyCommand {
    #[command(flatten)]
    flow: FlowArgs,
    /// Sync both tenants first, however recent their data (by default, each is synced when its latest sync is
    /// older than the flow's interval).
    #[arg(long)]
    sync: bool,
    /// Let this cycle disable or delete up to N accounts, over the flow's max_deletions (this once).
    #[arg(long, value_name = "N")]
    allow_deletions: Option<u64>,
    #[command(flatten)]
    limits: LimitArgs,
}

impl ApplyCommand {
    async fn execute(self, cx: &mut Context<'_>) -> Result<()> {
        let declared = self.flow.declared(cx)?;
        let defaults = self.limits.options(&LimitsSpec::default(), cx.interrupt)?;
        let runtime = Arc::new(Runtime::with_pool(cx.cache_dir.clone(), 2 * defaults.concurrency as u32 + 2)?);
        let components = Components::load(&runtime, [&declared.source, &declared.target]).await;
        if let Some((path, e)) = components.failed().next() {
            bail!("cannot load component {}: {e}", path.display());
        }
        let cycle = Cycle { runtime: &runtime, components: &components, store: &self.flow.store, defaults: &defaults, redactor: cx.redactor, service: false };
        let choices = Choices { sync: self.sync, allow_deletions: self.allow_deletions };
        let report = cycle.run(&declared.flow, &declared.source, &declared.target, choices).await?;
        report.log.iter().try_for_each(|line| writeln!(cx.err, "{line}"))?;
        if self.flow.json {
            writeln!(cx.out, "{}", applied_json(&declared.flow, &report))?;
        } else {
            print_applied(cx.out, &declared.flow, &report)?;
        }
        match &report.attention {
            Some(why) => bail!("flow `{}` needs attention: {why}", declared.flow.name),
            None => Ok(()),
        }
    }
}

#[derive(Args)]
struct LogCommand {
    /// The flow's name, or `scim:TENANT` for the writes made through a tenant's SCIM gateway.
    name: String,
    #[arg(long)]
    store: StoreLocation,
    /// Only this cycle.
    #[arg(long)]
    cycle: Option<i64>,
    /// JSON lines, one per action, for scripts.
    #[arg(long)]
    json: bool,
}

impl LogCommand {
    fn execute(self, cx: &mut Context<'_>) -> Result<()> {
        let store = Store::open_existing(&self.store)?;
        if !self.name.starts_with(crate::gateway::LOG_PREFIX) && store.flow_state(&self.name)?.is_none() {
            bail!("flow `{}` has never run a cycle in this store", printable(&self.name, 128));
        }
        store.for_each_log_entry(&self.name, |entry| {
            if self.cycle.is_some_and(|c| c != entry.cycle) {
                return Ok(());
            }
            if self.json {
                writeln!(cx.out, "{}", entry_json(&entry))?;
            } else {
                writeln!(cx.out, "{}", entry_line(&entry))?;
            }
            Ok(())
        })
    }
}

/// The counts of a plan, by kind of action, in the order a person reads them (group push's, when the flow has it).
fn plan_counts(flow: &FlowSpec, planned: &Planned) -> Vec<(&'static str, usize)> {
    let count = |kind: &str| planned.plan.actions.iter().filter(|a| a.name() == kind).count();
    let mut kinds = vec!["create", "adopt", "update", "disable", "delete"];
    if flow.groups.is_some() {
        kinds.extend(["create-group", "adopt-group", "update-group", "add-member", "remove-member"]);
    }
    kinds.push("skip");
    let mut counts: Vec<(&'static str, usize)> = kinds.into_iter().map(|k| (k, count(k))).collect();
    counts.push(("unchanged", planned.plan.unchanged));
    counts
}

fn blocked(planned: &Planned) -> bool {
    planned.plan.removals() as u64 > planned.allowed
}

fn plan_json(flow: &FlowSpec, planned: &Planned) -> Value {
    json!({
        "flow": flow.name,
        "source": {"tenant": flow.source, "sync": planned.source_sync},
        "target": {"tenant": flow.target, "sync": planned.target_sync},
        "counts": plan_counts(flow, planned).into_iter().map(|(k, n)| (k.to_string(), json!(n))).collect::<serde_json::Map<_, _>>(),
        "max_deletions": planned.allowed,
        "blocked": blocked(planned),
        "actions": planned.plan.actions.iter().map(action_json).collect::<Vec<_>>(),
    })
}

fn print_plan(out: &mut dyn Write, flow: &FlowSpec, planned: &Planned) -> Result<()> {
    print_heading(out, flow, planned, None)?;
    let counts: Vec<String> = plan_counts(flow, planned).into_iter().map(|(k, n)| format!("{n} {k}")).collect();
    writeln!(out, "plan: {}", counts.join(", "))?;
    if blocked(planned) {
        writeln!(out, "stopped: {} removals exceed max_deletions ({}); `flow apply --allow-deletions N` lifts it once", planned.plan.removals(), planned.allowed)?;
    }
    for action in &planned.plan.actions {
        let what = match action {
            Action::Skip { why, .. } => printable(why, 512),
            Action::Remove { why, .. } => format!("the user {why}"),
            Action::AddMember { entitlement, .. } | Action::RemoveMember { entitlement, .. } => printable(entitlement, 256),
            _ => action.field_names().iter().map(|f| printable(f, 128)).collect::<Vec<_>>().join(", "),
        };
        writeln!(out, "  {:<8} {:<24} {:<24} {what}", action.name(), printable(action.source(), 256), printable(action.target().as_deref().unwrap_or("-"), 256))?;
    }
    Ok(())
}

fn print_heading(out: &mut dyn Write, flow: &FlowSpec, planned: &Planned, cycle: Option<i64>) -> Result<()> {
    let cycle = cycle.map(|c| format!(" cycle {c}")).unwrap_or_default();
    let p = |text: &str| printable(text, 256);
    writeln!(out, "flow `{}`{cycle}: {} (sync {}) → {} (sync {})", p(&flow.name), p(&flow.source), planned.source_sync, p(&flow.target), planned.target_sync)?;
    Ok(())
}

/// An action as JSON: the names of the fields it writes, never their values.
fn action_json(action: &Action) -> Value {
    let mut line = json!({"action": action.name(), "source": action.source()});
    if let Some(target) = action.target() {
        line["target"] = json!(target);
    }
    match action {
        Action::Skip { why, .. } => line["why"] = json!(why),
        Action::Remove { why, .. } => {
            line["fields"] = json!(action.field_names());
            line["why"] = json!(why);
        }
        _ => line["fields"] = json!(action.field_names()),
    }
    line
}

fn applied_json(flow: &FlowSpec, report: &CycleReport) -> Value {
    let mut applied = json!({
        "flow": flow.name,
        "cycle": report.cycle,
        "synced": report.synced.iter().map(|(tenant, r)| json!({"tenant": tenant, "sync": r.sync_id})).collect::<Vec<_>>(),
        "counts": report.counts(),
        "attention": report.attention,
        "actions": report.entries.iter().map(entry_json).collect::<Vec<_>>(),
    });
    if let Some(planned) = &report.planned {
        applied["source"] = json!({"tenant": flow.source, "sync": planned.source_sync});
        applied["target"] = json!({"tenant": flow.target, "sync": planned.target_sync});
        applied["unchanged"] = json!(planned.plan.unchanged);
    }
    applied
}

/// At most this many failed or skipped actions are printed after a cycle; `flow log` has them all.
const PRINTED_PROBLEMS: usize = 20;

fn print_applied(out: &mut dyn Write, flow: &FlowSpec, report: &CycleReport) -> Result<()> {
    for (tenant, synced) in &report.synced {
        writeln!(out, "{}", super::sync::synced_line(tenant, synced))?;
    }
    let Some(planned) = &report.planned else { return Ok(()) };
    print_heading(out, flow, planned, Some(report.cycle))?;
    let count = |action: &str, outcomes: &[&str]| report.entries.iter().filter(|e| e.action == action && outcomes.contains(&e.outcome.as_str())).count();
    let written = ["done", "already"];
    let words = [("create", "created"), ("adopt", "adopted"), ("update", "updated"), ("disable", "disabled"), ("delete", "deleted")];
    let mut parts: Vec<String> = words.iter().map(|(action, word)| format!("{} {word}", count(action, &written))).collect();
    for outcome in ["skipped", "failed", "held"] {
        parts.push(format!("{} {outcome}", report.with_outcome(outcome).count()));
    }
    writeln!(out, "applied: {}; {} unchanged", parts.join(", "), planned.plan.unchanged)?;
    let problems: Vec<&LogEntry> = report.entries.iter().filter(|e| e.outcome == "failed" || e.outcome == "skipped").collect();
    for entry in problems.iter().take(PRINTED_PROBLEMS) {
        writeln!(out, "  {}", entry_line(entry))?;
    }
    if problems.len() > PRINTED_PROBLEMS {
        writeln!(out, "  … and {} more: `flow log {} --cycle {}`", problems.len() - PRINTED_PROBLEMS, printable(&flow.name, 128), report.cycle)?;
    }
    Ok(())
}

fn entry_json(entry: &LogEntry) -> Value {
    json!({
        "flow": entry.flow,
        "cycle": entry.cycle,
        "seq": entry.seq,
        "at": clock_time(entry.at_ms),
        "action": entry.action,
        "source": entry.source_id,
        "target": entry.target_id,
        "fields": entry.fields,
        "outcome": entry.outcome,
        "detail": entry.detail,
    })
}

fn entry_line(entry: &LogEntry) -> String {
    let p = |text: Option<&str>| printable(text.unwrap_or("-"), 256);
    let fields = if entry.fields.is_empty() { String::new() } else { format!(" [{}]", entry.fields.iter().map(|f| printable(f, 128)).collect::<Vec<_>>().join(", ")) };
    let detail = entry.detail.as_deref().map(|d| format!(": {}", printable(d, 512))).unwrap_or_default();
    let line = format!("{} cycle {:<3} {:<8} {:<8} {:<24} {:<24}{fields}{detail}", clock_time(entry.at_ms), entry.cycle, entry.action, entry.outcome, p(entry.source_id.as_deref()), p(entry.target_id.as_deref()));
    line.trim_end().to_string()
}
