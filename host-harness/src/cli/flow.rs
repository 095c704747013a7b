//! `flow`: provisioning flows declared in a tenants file (`flow/`). `flow plan NAME` shows what the flow's next
//! cycle would do, from the source's and the target's latest complete syncs and the accounts the flow linked
//! before, and changes nothing.

use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Result, anyhow, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::Context;
use crate::flow::plan::{Action, Plan, Source, plan};
use crate::flow::{FlowSpec, Removal};
use crate::runtime::Runtime;
use crate::store::{Store, StoreLocation};
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
}

impl FlowCommand {
    pub async fn execute(self, cx: &mut Context<'_>) -> Result<()> {
        match self.command {
            FlowSubcommand::Plan(command) => command.execute(cx).await,
        }
    }
}

#[derive(Args)]
struct PlanCommand {
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

/// A tenant's latest complete sync, and its resource type with the user trait.
struct Synced<'s> {
    store: &'s Store,
    sync: i64,
    user_type: String,
}

impl<'s> Synced<'s> {
    fn latest(store: &'s Store, tenant: &str) -> Result<Self> {
        let sync = store.latest_complete(tenant).map_err(|e| anyhow!("{e}: sync it first"))?.id;
        let mut user_type = None;
        store.for_each_resource_type(sync, |line| {
            let record: Value = serde_json::from_str(line)?;
            if user_type.is_none() && record["traits"].as_array().is_some_and(|t| t.iter().any(|t| t == "user")) {
                user_type = record["id"].as_str().map(str::to_string);
            }
            Ok(())
        })?;
        let user_type = user_type.ok_or_else(|| anyhow!("tenant `{tenant}` has no resource type with the user trait"))?;
        Ok(Self { store, sync, user_type })
    }

    /// The export records of its users.
    fn users(&self) -> Result<Vec<Value>> {
        let mut users = Vec::new();
        self.store.for_each_resource(self.sync, Some(&self.user_type), |line| {
            users.push(serde_json::from_str(line)?);
            Ok(())
        })?;
        Ok(users)
    }

    /// The ids of the users holding `entitlement`.
    fn holders(&self, entitlement: &str) -> Result<HashSet<String>> {
        let mut holders = HashSet::new();
        self.store.for_each_grant(self.sync, Some(entitlement), None, |g| {
            if g.principal_type == self.user_type {
                holders.insert(g.principal_id);
            }
            Ok(())
        })?;
        Ok(holders)
    }
}

impl PlanCommand {
    async fn execute(self, cx: &mut Context<'_>) -> Result<()> {
        let (tenants, flows) = TenantSpec::tenants_and_flows(&self.tenants)?;
        let Some(flow) = flows.iter().find(|f| f.name == self.name) else {
            let names: Vec<&str> = flows.iter().map(|f| f.name.as_str()).collect();
            bail!("tenants file {} has no flow `{}` (it has: {})", self.tenants.display(), self.name, if names.is_empty() { "none".into() } else { names.join(", ") });
        };
        let target_spec = tenants
            .into_iter()
            .find(|(name, _)| *name == flow.target)
            .map(|(_, spec)| spec)
            .ok_or_else(|| anyhow!("tenant `{}` is not in {}", flow.target, self.tenants.display()))??;
        cx.redactor.add_secrets(&target_spec.secrets);
        let runtime = Runtime::new(cx.cache_dir.clone())?;
        let metadata = runtime.metadata(&runtime.load(target_spec.component_path()?)?).await?;

        let store = Store::open(&self.store)?;
        let source = Synced::latest(&store, &flow.source)?;
        let target = Synced::latest(&store, &flow.target)?;
        let schema = metadata
            .write_schemas
            .iter()
            .find(|s| s.resource_type == target.user_type)
            .ok_or_else(|| anyhow!("flow `{}`: the target's component declares no write schema for `{}` (contract 0.5 on)", flow.name, target.user_type))?;
        flow.check_target(schema)?;
        let in_scope = flow.scope.as_deref().map(|scope| source.holders(scope)).transpose()?;
        let links = store.flow_links(&flow.name)?;
        let users = source.users()?;
        let planned = plan(flow, schema, &Source { users: &users, in_scope: in_scope.as_ref() }, &target.users()?, &links);
        let allowed = flow.max_deletions.allowed(links.len() as u64);
        let report = Report { flow, source_sync: source.sync, target_sync: target.sync, plan: &planned, allowed };
        if self.json {
            writeln!(cx.out, "{}", report.json())?;
        } else {
            report.print(cx.out)?;
        }
        Ok(())
    }
}

/// A plan, for people or for scripts.
struct Report<'a> {
    flow: &'a FlowSpec,
    source_sync: i64,
    target_sync: i64,
    plan: &'a Plan,
    /// The most removals the flow's threshold allows this cycle.
    allowed: u64,
}

impl Report<'_> {
    fn counts(&self) -> Vec<(&'static str, usize)> {
        let count = |kind: &str| self.plan.actions.iter().filter(|a| action_name(a) == kind).count();
        vec![
            ("create", count("create")),
            ("adopt", count("adopt")),
            ("update", count("update")),
            ("disable", count("disable")),
            ("delete", count("delete")),
            ("skip", count("skip")),
            ("unchanged", self.plan.unchanged),
        ]
    }

    fn blocked(&self) -> bool {
        self.plan.removals() as u64 > self.allowed
    }

    fn json(&self) -> Value {
        json!({
            "flow": self.flow.name,
            "source": {"tenant": self.flow.source, "sync": self.source_sync},
            "target": {"tenant": self.flow.target, "sync": self.target_sync},
            "counts": self.counts().into_iter().map(|(k, n)| (k.to_string(), json!(n))).collect::<serde_json::Map<_, _>>(),
            "max_deletions": self.allowed,
            "blocked": self.blocked(),
            "actions": self.plan.actions.iter().map(action_json).collect::<Vec<_>>(),
        })
    }

    fn print(&self, out: &mut dyn Write) -> Result<()> {
        let p = |text: &str| crate::display::printable(text, 256);
        writeln!(out, "flow `{}`: {} (sync {}) → {} (sync {})", p(&self.flow.name), p(&self.flow.source), self.source_sync, p(&self.flow.target), self.target_sync)?;
        let counts: Vec<String> = self.counts().into_iter().map(|(k, n)| format!("{n} {k}")).collect();
        writeln!(out, "plan: {}", counts.join(", "))?;
        if self.blocked() {
            writeln!(out, "stopped: {} removals exceed max_deletions ({}); `flow apply --allow-deletions N` lifts it once", self.plan.removals(), self.allowed)?;
        }
        for action in &self.plan.actions {
            let line = action_json(action);
            let target = line["target"].as_str().unwrap_or("-");
            let what = match action {
                Action::Skip { why, .. } => p(why),
                Action::Remove { why, .. } => format!("the user {why}"),
                _ => line["fields"].as_array().map(|f| f.iter().filter_map(|f| f.as_str()).map(p).collect::<Vec<_>>().join(", ")).unwrap_or_default(),
            };
            writeln!(out, "  {:<8} {:<24} {:<24} {what}", action_name(action), p(line["source"].as_str().unwrap_or("-")), p(target))?;
        }
        Ok(())
    }
}

fn action_name(action: &Action) -> &'static str {
    match action {
        Action::Create { .. } => "create",
        Action::Adopt { .. } => "adopt",
        Action::Update { .. } => "update",
        Action::Remove { removal: Removal::Disable { .. }, .. } => "disable",
        Action::Remove { removal: Removal::Delete, .. } => "delete",
        Action::Skip { .. } => "skip",
    }
}

/// An action as JSON: the names of the fields it writes, never their values.
fn action_json(action: &Action) -> Value {
    fn names(fields: &[(String, String)]) -> Vec<&str> {
        let mut names: Vec<&str> = fields.iter().map(|(f, _)| f.as_str()).collect();
        names.dedup();
        names
    }
    match action {
        Action::Create { source, fields } => json!({"action": "create", "source": source, "fields": names(fields)}),
        Action::Adopt { source, target, fields } | Action::Update { source, target, fields } => {
            json!({"action": action_name(action), "source": source, "target": target, "fields": names(fields)})
        }
        Action::Remove { source, target, removal, why } => {
            let fields = match removal {
                Removal::Disable { field, .. } => vec![field.as_str()],
                Removal::Delete => Vec::new(),
            };
            json!({"action": action_name(action), "source": source, "target": target, "fields": fields, "why": why})
        }
        Action::Skip { source, why } => json!({"action": "skip", "source": source, "why": why}),
    }
}
