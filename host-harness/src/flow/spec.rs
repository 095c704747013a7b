//! A flow as the tenants file declares it (`[[flow]]`, beside the tenants it joins), read and checked: at load,
//! without a component, every name, duration, choice and expression; against the target's declared write
//! schema, every field it maps. Each refusal is one line naming the flow and what is wrong.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use serde::Deserialize;

use super::mapping::Expression;
use crate::contract::model::{AccountDisable, FieldWrites, ResourceId, WriteSchema};
use crate::options::parse_interval;

/// How often `serve` runs a flow that does not say: Entra's provisioning cycle.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(40 * 60);

/// At most this many disables and deletes in one cycle unless the flow says otherwise (Entra's default
/// accidental-deletions threshold).
pub const DEFAULT_MAX_DELETIONS: Threshold = Threshold::Count(500);

/// The `[[flow]]` table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FlowTable {
    name: String,
    source: String,
    target: String,
    scope: Option<String>,
    #[serde(rename = "match")]
    matching: MatchTable,
    interval: Option<String>,
    deprovision: Option<String>,
    max_deletions: Option<toml::Value>,
    #[serde(default)]
    map: BTreeMap<String, String>,
    groups: Option<GroupsTable>,
}

/// `[flow.groups]`: group push.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupsTable {
    push: Vec<String>,
    #[serde(rename = "type")]
    target_type: Option<String>,
    #[serde(rename = "match")]
    matching: MatchTable,
    #[serde(default)]
    map: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MatchTable {
    source: String,
    target: String,
}

/// What a cycle does to a target account whose source user left scope, or was disabled or deleted there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deprovision {
    /// Disable it, the way the target's write schema says (which, for a target without disabled accounts, is
    /// deleting it).
    Disable,
    /// Delete it.
    Delete,
    /// Leave it.
    None,
}

/// The most disables and deletes a cycle may make before it stops and asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threshold {
    /// This many.
    Count(u64),
    /// Of the accounts the flow has created or matched.
    Percent(u8),
}

impl Threshold {
    /// The most removals allowed when the flow knows `linked` accounts.
    pub fn allowed(self, linked: u64) -> u64 {
        match self {
            Self::Count(n) => n,
            Self::Percent(p) => linked * u64::from(p) / 100,
        }
    }
}

/// How source records become target records: the matching pair and the mapped fields.
#[derive(Debug, Clone)]
pub struct Mapping {
    /// The source's side of the matching attribute pair.
    pub match_source: Expression,
    /// The target field matched against it.
    pub match_target: String,
    /// Target field → expression over the source record, in field order.
    pub map: Vec<(String, Expression)>,
}

/// Group push: target groups kept for some source groups, their members those of the flow's accounts.
#[derive(Debug, Clone)]
pub struct GroupPush {
    /// The source groups pushed.
    pub push: Vec<ResourceId>,
    /// The target's resource type its groups are made as.
    pub target_type: String,
    /// How a source group becomes a target group.
    pub mapping: Mapping,
}

/// The target resource type a pushed group is made as, unless `[flow.groups]` says `type`.
pub const DEFAULT_GROUP_TYPE: &str = "group";

/// One flow: keep `target` in line with `source`.
#[derive(Debug, Clone)]
pub struct FlowSpec {
    /// Unique in its file.
    pub name: String,
    /// A tenant of the same file.
    pub source: String,
    /// A tenant of the same file, with provisioning.
    pub target: String,
    /// Only source users holding this entitlement, when set (an "assignment").
    pub scope: Option<String>,
    /// How a source user becomes a target account.
    pub users: Mapping,
    /// How often `serve` runs it.
    pub interval: Duration,
    /// What becomes of an account whose user leaves scope.
    pub deprovision: Deprovision,
    /// The most removals a cycle makes without being told to.
    pub max_deletions: Threshold,
    /// Group push, when the flow has it.
    pub groups: Option<GroupPush>,
}

impl FlowSpec {
    /// The flows of a tenants file's `[[flow]]` tables, each naming tenants of `tenants`.
    pub fn many_from_tables(tables: Vec<toml::Table>, tenants: &[String]) -> Result<Vec<FlowSpec>> {
        let mut flows: Vec<FlowSpec> = Vec::new();
        for (index, table) in tables.into_iter().enumerate() {
            let label = table.get("name").and_then(|n| n.as_str()).map(|n| format!("flow `{}`", crate::display::printable(n, 128))).unwrap_or_else(|| format!("flow #{}", index + 1));
            let table: FlowTable = toml::Value::Table(table).try_into().map_err(|e: toml::de::Error| anyhow!("{label}: {}", e.message()))?;
            let flow = Self::from_table(table, tenants).map_err(|e| anyhow!("{label}: {e:#}"))?;
            if flows.iter().any(|f| f.name == flow.name) {
                bail!("{label} is declared twice");
            }
            flows.push(flow);
        }
        Ok(flows)
    }

    fn from_table(table: FlowTable, tenants: &[String]) -> Result<Self> {
        if table.name.trim().is_empty() || table.name.chars().any(crate::display::is_unsafe) {
            bail!("a flow's name must be printable and not empty");
        }
        if table.name.starts_with(crate::gateway::LOG_PREFIX) {
            bail!("a flow's name may not begin with `{}`: the provisioning log keeps the SCIM gateway's writes under that prefix", crate::gateway::LOG_PREFIX);
        }
        for (role, tenant) in [("source", &table.source), ("target", &table.target)] {
            if !tenants.contains(tenant) {
                bail!("{role} `{}` is not a tenant of this file", crate::display::printable(tenant, 128));
            }
        }
        if table.source == table.target {
            bail!("source and target are the same tenant");
        }
        let deprovision = match table.deprovision.as_deref().map(str::trim) {
            None | Some("disable") => Deprovision::Disable,
            Some("delete") => Deprovision::Delete,
            Some("none") => Deprovision::None,
            Some(other) => bail!("deprovision `{other}` must be disable, delete or none"),
        };
        let groups = table.groups.map(GroupPush::from_table).transpose().map_err(|e| anyhow!("groups: {e:#}"))?;
        Ok(Self {
            name: table.name,
            source: table.source,
            target: table.target,
            scope: table.scope.filter(|s| !s.trim().is_empty()),
            users: Mapping::from_table(table.matching, table.map)?,
            interval: table.interval.as_deref().map(parse_interval).transpose().map_err(|e| anyhow!("interval: {e}"))?.unwrap_or(DEFAULT_INTERVAL),
            deprovision,
            max_deletions: table.max_deletions.as_ref().map(threshold).transpose()?.unwrap_or(DEFAULT_MAX_DELETIONS),
            groups,
        })
    }

    /// The flow against the target's write schemas: its account type's (`accounts`) and, with group push, its
    /// group type's.
    pub fn check_target(&self, accounts: &WriteSchema, schemas: &[WriteSchema]) -> Result<()> {
        self.users.check_target("", accounts).map_err(|e| anyhow!("flow `{}`: {e}", self.name))?;
        if self.deprovision == Deprovision::Disable && accounts.disable.is_none() {
            bail!("flow `{}`: deprovision is disable, but the target declares no way to disable a `{}`", self.name, accounts.resource_type);
        }
        if let Some(groups) = &self.groups {
            let schema = schemas
                .iter()
                .find(|s| s.resource_type == groups.target_type)
                .ok_or_else(|| anyhow!("flow `{}`: groups: the target declares no write schema for `{}` to push groups as", self.name, groups.target_type))?;
            groups.mapping.check_target("groups.", schema).map_err(|e| anyhow!("flow `{}`: groups: {e}", self.name))?;
        }
        Ok(())
    }

    /// What `deprovision` does to a target account, given how the target disables one.
    pub fn removal(&self, schema: &WriteSchema) -> Option<Removal> {
        match (self.deprovision, &schema.disable) {
            (Deprovision::None, _) => None,
            (Deprovision::Delete, _) | (Deprovision::Disable, Some(AccountDisable::Delete)) => Some(Removal::Delete),
            (Deprovision::Disable, Some(AccountDisable::Field(d))) => Some(Removal::Disable { field: d.field.clone(), value: d.disabled.clone() }),
            (Deprovision::Disable, None) => None,
        }
    }
}

impl Mapping {
    fn from_table(matching: MatchTable, map: BTreeMap<String, String>) -> Result<Self> {
        let map = map
            .into_iter()
            .map(|(field, text)| Expression::compile(&text).map(|e| (field.clone(), e)).map_err(|e| anyhow!("map `{field}`: {e}")))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { match_source: Expression::compile(&matching.source).map_err(|e| anyhow!("match.source: {e}"))?, match_target: matching.target, map })
    }

    /// The mapping against the write schema of the records it makes: every mapped field and the matching field
    /// declared, each one a create may set, every field a create requires mapped. `prefix` names the table
    /// (`groups.`) in messages.
    fn check_target(&self, prefix: &str, schema: &WriteSchema) -> Result<()> {
        let known: Vec<&str> = schema.fields.iter().map(|f| f.name.as_str()).collect();
        if let Some(field) = self.map.iter().map(|(f, _)| f.as_str()).chain([self.match_target.as_str()]).find(|f| !known.contains(f)) {
            bail!("the target does not declare the field `{field}` (it declares: {})", known.join(", "));
        }
        if let Some((field, _)) = self.map.iter().find(|(f, _)| schema.field(f).is_some_and(|f| f.writes == FieldWrites::UpdateOnly)) {
            bail!("{prefix}map `{field}` is a field the target sets only by an update, never on a create");
        }
        if let Some(missing) = schema.fields.iter().find(|f| f.required_on_create && !self.map.iter().any(|(m, _)| *m == f.name)) {
            bail!("the target requires `{}` on a create, and the {prefix}map does not set it", missing.name);
        }
        if !self.map.iter().any(|(m, _)| *m == self.match_target) {
            bail!("{prefix}match.target `{}` must also be mapped, so what the flow creates can be matched again", self.match_target);
        }
        Ok(())
    }

    /// The record's value for the matching attribute, lower-cased: what a target record is matched on.
    pub fn key(&self, record: &serde_json::Value) -> Option<String> {
        self.match_source.values(record).ok()?.into_iter().find(|v| !v.trim().is_empty()).map(|v| v.trim().to_lowercase())
    }

    /// The record's mapped fields for a target whose records follow `schema`, or why they cannot be written. A
    /// mapped field with no value for this record is left out.
    pub fn fields(&self, schema: &WriteSchema, record: &serde_json::Value) -> Result<Vec<(String, String)>, String> {
        let mut fields = Vec::new();
        for (field, expression) in &self.map {
            let values = expression.values(record).map_err(|why| format!("map `{field}`: {why}"))?;
            let multi = schema.field(field).is_some_and(|f| f.multi_valued);
            if values.len() > 1 && !multi {
                return Err(format!("map `{field}`: `{}` yields {} values, and the target takes one", expression.text(), values.len()));
            }
            fields.extend(values.into_iter().filter(|v| !v.trim().is_empty()).map(|v| (field.clone(), v)));
        }
        Ok(fields)
    }
}

impl GroupPush {
    fn from_table(table: GroupsTable) -> Result<Self> {
        let push = table
            .push
            .iter()
            .map(|item| match item.split_once(':') {
                Some((t, id)) if !t.is_empty() && !id.is_empty() => Ok(ResourceId { resource_type: t.into(), id: id.into() }),
                _ => bail!("push `{}` must be TYPE:ID, such as group:42", crate::display::printable(item, 128)),
            })
            .collect::<Result<Vec<_>>>()?;
        let target_type = table.target_type.unwrap_or_else(|| DEFAULT_GROUP_TYPE.into());
        Ok(Self { push, target_type, mapping: Mapping::from_table(table.matching, table.map)? })
    }
}

/// How a cycle takes away a target account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// An update writing `field` = `value`.
    Disable {
        /// The target's field that disables.
        field: String,
        /// The value that disables.
        value: String,
    },
    /// A delete.
    Delete,
}

fn threshold(value: &toml::Value) -> Result<Threshold> {
    let refuse = || anyhow!("max_deletions must be a count such as 500 or a percentage such as \"10%\"");
    match value {
        toml::Value::Integer(n) => u64::try_from(*n).map(Threshold::Count).map_err(|_| refuse()),
        toml::Value::String(text) => {
            let percent = text.trim().strip_suffix('%').ok_or_else(refuse)?;
            match percent.trim().parse::<u8>() {
                Ok(p) if p <= 100 => Ok(Threshold::Percent(p)),
                _ => Err(refuse()),
            }
        }
        _ => Err(refuse()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::model::WriteField;

    const EXAMPLE: &str = r#"
        [[flow]]
        name = "workforce"
        source = "acme-pingone"
        target = "acme-pingboard"
        scope = "group:9f2c:member"
        match = { source = "user.login", target = "email" }
        interval = "40m"
        deprovision = "disable"
        max_deletions = 500
        [flow.map]
        first_name = "user.name.given_name"
        last_name  = "user.name.family_name"
        email      = "user.emails[0].address"
        job_title  = "user.title"
    "#;

    fn tenants() -> Vec<String> {
        vec!["acme-pingone".into(), "acme-pingboard".into()]
    }

    fn flows(text: &str) -> Result<Vec<FlowSpec>> {
        let mut file: toml::Table = toml::from_str(text).unwrap();
        let tables = file.remove("flow").and_then(|f| f.as_array().cloned()).unwrap_or_default();
        FlowSpec::many_from_tables(tables.into_iter().map(|t| t.as_table().unwrap().clone()).collect(), &tenants())
    }

    fn pingboard_users() -> WriteSchema {
        WriteSchema::new(
            "user",
            vec![
                WriteField::new("first_name", "").required(),
                WriteField::new("last_name", "").required(),
                WriteField::new("email", "").required(),
                WriteField::new("job_title", ""),
            ],
        )
        .disabled_by_delete()
    }

    #[test]
    fn the_issue_s_example_reads_as_written() {
        let flow = flows(EXAMPLE).unwrap().remove(0);
        assert_eq!((flow.name.as_str(), flow.source.as_str(), flow.target.as_str()), ("workforce", "acme-pingone", "acme-pingboard"));
        assert_eq!(flow.scope.as_deref(), Some("group:9f2c:member"));
        assert_eq!((flow.users.match_source.text(), flow.users.match_target.as_str()), ("user.login", "email"));
        assert_eq!((flow.interval, flow.deprovision, flow.max_deletions), (Duration::from_secs(2400), Deprovision::Disable, Threshold::Count(500)));
        let fields: Vec<(&str, &str)> = flow.users.map.iter().map(|(f, e)| (f.as_str(), e.text())).collect();
        assert_eq!(fields, [("email", "user.emails[0].address"), ("first_name", "user.name.given_name"), ("job_title", "user.title"), ("last_name", "user.name.family_name")]);
        flow.check_target(&pingboard_users(), &[]).unwrap();
        assert_eq!(flow.removal(&pingboard_users()), Some(Removal::Delete), "Pingboard keeps no disabled profiles");
    }

    #[test]
    fn each_mistake_is_refused_at_load_in_one_line_naming_it() {
        let with = |from: &str, to: &str| {
            assert!(EXAMPLE.contains(from), "{from}");
            flows(&EXAMPLE.replace(from, to)).unwrap_err().to_string()
        };
        assert_eq!(with(r#"source = "acme-pingone""#, r#"source = "acme-okta""#), "flow `workforce`: source `acme-okta` is not a tenant of this file");
        assert_eq!(with(r#"target = "acme-pingboard""#, r#"target = "acme-pingone""#), "flow `workforce`: source and target are the same tenant");
        assert_eq!(with(r#""user.name.family_name""#, r#""user.name.""#).lines().count(), 1);
        assert!(with(r#""user.name.family_name""#, r#""user.name.""#).starts_with("flow `workforce`: map `last_name`: `user.name.` does not parse: "));
        assert_eq!(with(r#"deprovision = "disable""#, r#"deprovision = "suspend""#), "flow `workforce`: deprovision `suspend` must be disable, delete or none");
        assert_eq!(with("max_deletions = 500", r#"max_deletions = "10 percent""#), "flow `workforce`: max_deletions must be a count such as 500 or a percentage such as \"10%\"");
        assert_eq!(with(r#"interval = "40m""#, r#"interval = "soon""#).split(" (").next().unwrap(), "flow `workforce`: interval: `soon` is not a duration such as 40m or 1h");
        assert!(with("scope =", "scop =").starts_with("flow `workforce`: unknown field `scop`"), "{}", with("scope =", "scop ="));
        assert_eq!(flows(&format!("{EXAMPLE}{EXAMPLE}")).unwrap_err().to_string(), "flow `workforce` is declared twice");
    }

    #[test]
    fn the_target_s_write_schema_decides_which_fields_a_flow_may_map() {
        let flow = |from: &str, to: &str| flows(&EXAMPLE.replace(from, to)).unwrap().remove(0);
        let check = |flow: FlowSpec| flow.check_target(&pingboard_users(), &[]).unwrap_err().to_string();
        assert_eq!(
            check(flow("job_title  =", "shoe_size  =")),
            "flow `workforce`: the target does not declare the field `shoe_size` (it declares: first_name, last_name, email, job_title)"
        );
        assert_eq!(check(flow("last_name  =", "# last_name =")), "flow `workforce`: the target requires `last_name` on a create, and the map does not set it");
        let pingone = WriteSchema::new("user", vec![WriteField::new("email", "").required(), WriteField::new("first_name", ""), WriteField::new("last_name", ""), WriteField::new("job_title", "").update_only()]);
        assert_eq!(flow("", "").check_target(&pingone, &[]).unwrap_err().to_string(), "flow `workforce`: map `job_title` is a field the target sets only by an update, never on a create");
        let without_disable = WriteSchema { disable: None, ..pingboard_users() };
        assert_eq!(flow("", "").check_target(&without_disable, &[]).unwrap_err().to_string(), "flow `workforce`: deprovision is disable, but the target declares no way to disable a `user`");
        assert!(flow(r#"deprovision = "disable""#, r#"deprovision = "none""#).check_target(&without_disable, &[]).is_ok());
    }

    #[test]
    fn group_push_is_checked_like_the_users_map() {
        let groups = "[flow.groups]\npush = [\"group:g1\"]\nmatch = { source = \"display_name\", target = \"displayName\" }\n[flow.groups.map]\ndisplayName = \"display_name\"\n";
        let flow = flows(&format!("{EXAMPLE}{groups}")).unwrap().remove(0);
        let push = flow.groups.as_ref().unwrap();
        assert_eq!((push.push[0].resource_type.as_str(), push.push[0].id.as_str(), push.target_type.as_str()), ("group", "g1", DEFAULT_GROUP_TYPE));
        let no_groups = flow.check_target(&pingboard_users(), &[pingboard_users()]).unwrap_err().to_string();
        assert_eq!(no_groups, "flow `workforce`: groups: the target declares no write schema for `group` to push groups as");
        let named = WriteSchema::new("group", vec![WriteField::new("name", "").required()]);
        assert_eq!(
            flow.check_target(&pingboard_users(), &[named]).unwrap_err().to_string(),
            "flow `workforce`: groups: the target does not declare the field `displayName` (it declares: name)"
        );
        let bad = flows(&format!("{EXAMPLE}{}", groups.replace("group:g1", "g1"))).unwrap_err().to_string();
        assert_eq!(bad, "flow `workforce`: groups: push `g1` must be TYPE:ID, such as group:42");
    }

    #[test]
    fn a_threshold_is_a_count_or_a_share_of_the_linked_accounts() {
        assert_eq!(threshold(&toml::Value::String("10%".into())).unwrap().allowed(2000), 200);
        assert_eq!(threshold(&toml::Value::Integer(3)).unwrap().allowed(2000), 3);
        assert!(threshold(&toml::Value::String("101%".into())).is_err());
        assert!(threshold(&toml::Value::Integer(-1)).is_err());
    }
}
