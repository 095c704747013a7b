//! One cycle's plan: from the source's users (their export records, and which are in scope), the target's
//! accounts and the links the flow made before (source id → target id), what to create, update, adopt and take
//! away. Pure: it reads no store and calls no component, so a plan can be shown before anything is written.
//!
//! - An enabled source user in scope with no account → **create** with the mapped fields; one whose account is
//!   found by the matching attribute but not linked → **adopt** (link it, and update what differs); a linked
//!   one → **update** the mapped fields whose values differ, enabling the account if it was disabled.
//! - A linked user who left scope, was disabled or is gone from the source → **remove** as `deprovision` says.
//! - An account the flow never created or matched is never touched.
//! - A user whose mapping fails is **skipped** with the reason; the others go on. A mapped field with no value
//!   for a user is left as the account holds it.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::Value;

use super::spec::{FlowSpec, Removal};
use crate::contract::model::{AccountDisable, WriteSchema};

/// One thing a cycle does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Create an account for `source` with these fields.
    Create {
        /// The source user's id.
        source: String,
        /// Field and value, in the map's order.
        fields: Vec<(String, String)>,
    },
    /// Link `target`, found by the matching attribute, to `source`, and write the fields that differ.
    Adopt {
        /// The source user's id.
        source: String,
        /// The target account's id.
        target: String,
        /// The fields whose values differ.
        fields: Vec<(String, String)>,
    },
    /// Write the fields of a linked account that differ.
    Update {
        /// The source user's id.
        source: String,
        /// The target account's id.
        target: String,
        /// The fields whose values differ.
        fields: Vec<(String, String)>,
    },
    /// Take a linked account away.
    Remove {
        /// The source user's id.
        source: String,
        /// The target account's id.
        target: String,
        /// How.
        removal: Removal,
        /// Why: the user left scope, was disabled, or is gone.
        why: &'static str,
    },
    /// Leave a source user alone this cycle.
    Skip {
        /// The source user's id.
        source: String,
        /// Why, for the log.
        why: String,
    },
}

impl Action {
    /// The source user it is about.
    pub fn source(&self) -> &str {
        match self {
            Self::Create { source, .. } | Self::Adopt { source, .. } | Self::Update { source, .. } | Self::Remove { source, .. } | Self::Skip { source, .. } => source,
        }
    }

    /// The target account it is about, when it has one before it runs.
    pub fn target(&self) -> Option<&str> {
        match self {
            Self::Adopt { target, .. } | Self::Update { target, .. } | Self::Remove { target, .. } => Some(target),
            Self::Create { .. } | Self::Skip { .. } => None,
        }
    }

    /// `create`, `adopt`, `update`, `disable`, `delete` or `skip`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Create { .. } => "create",
            Self::Adopt { .. } => "adopt",
            Self::Update { .. } => "update",
            Self::Remove { removal: Removal::Disable { .. }, .. } => "disable",
            Self::Remove { removal: Removal::Delete, .. } => "delete",
            Self::Skip { .. } => "skip",
        }
    }

    /// The names of the fields it writes, each once, never their values.
    pub fn field_names(&self) -> Vec<String> {
        let mut names: Vec<String> = match self {
            Self::Create { fields, .. } | Self::Adopt { fields, .. } | Self::Update { fields, .. } => fields.iter().map(|(f, _)| f.clone()).collect(),
            Self::Remove { removal: Removal::Disable { field, .. }, .. } => vec![field.clone()],
            Self::Remove { removal: Removal::Delete, .. } | Self::Skip { .. } => Vec::new(),
        };
        names.dedup();
        names
    }
}

/// What a cycle would do.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan {
    /// In source id order.
    pub actions: Vec<Action>,
    /// Linked users whose accounts already agree.
    pub unchanged: usize,
}

impl Plan {
    /// How many actions take an account away.
    pub fn removals(&self) -> usize {
        self.actions.iter().filter(|a| matches!(a, Action::Remove { .. })).count()
    }
}

/// The source's side of a cycle: every user's export record, and the ids in scope (all, without a scope).
pub struct Source<'a> {
    /// Export records of the source's user type.
    pub users: &'a [Value],
    /// The ids of the users holding the flow's scope entitlement, if it has one.
    pub in_scope: Option<&'a HashSet<String>>,
}

/// The plan for one cycle of `flow` into a target whose accounts follow `schema`: `accounts` are the target's
/// export records of that type, `links` the accounts the flow created or matched before.
pub fn plan(flow: &FlowSpec, schema: &WriteSchema, source: &Source, accounts: &[Value], links: &BTreeMap<String, String>) -> Plan {
    let accounts: HashMap<&str, &Value> = accounts.iter().filter_map(|a| Some((a["id"].as_str()?, a))).collect();
    let views: HashMap<&str, Value> = accounts.iter().map(|(id, a)| (*id, crate::scim_export::user(a, Vec::new(), None))).collect();
    let linked_targets: HashSet<&str> = links.values().map(String::as_str).collect();
    // Unlinked accounts by their matching value, lower-cased: the flow may adopt only these.
    let mut by_match: HashMap<String, &str> = HashMap::new();
    if let Some(path) = schema.field(&flow.match_target).and_then(|f| f.scim_path.as_deref()) {
        for (id, view) in &views {
            if !linked_targets.contains(id) {
                for value in crate::scim_path::values(view, path) {
                    by_match.entry(value.to_lowercase()).or_insert(id);
                }
            }
        }
    }
    let removal = flow.removal(schema);
    let mut out = Plan::default();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut users: Vec<&Value> = source.users.iter().collect();
    users.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    for user in users {
        let Some(id) = user["id"].as_str() else { continue };
        seen.insert(id);
        let link = links.get(id).filter(|t| accounts.contains_key(t.as_str()));
        let wanted = user["status"] == "enabled" && source.in_scope.is_none_or(|scope| scope.contains(id));
        if !wanted {
            if let (Some(target), Some(removal)) = (link, &removal) {
                let why = if user["status"] == "enabled" { "left the flow's scope" } else { "is disabled at the source" };
                if !already_removed(&views[target.as_str()], removal) {
                    out.actions.push(Action::Remove { source: id.into(), target: target.clone(), removal: removal.clone(), why });
                }
            }
            continue;
        }
        let fields = match mapped(flow, schema, user) {
            Ok(fields) => fields,
            Err(why) => {
                out.actions.push(Action::Skip { source: id.into(), why });
                continue;
            }
        };
        let key = fields.iter().find(|(f, _)| *f == flow.match_target).map(|(_, v)| v.to_lowercase());
        let adopt = if link.is_none() { key.as_ref().and_then(|k| by_match.remove(k)) } else { None };
        match (link, adopt) {
            (Some(target), _) => match differing(schema, &fields, &views[target.as_str()]) {
                changed if changed.is_empty() => out.unchanged += 1,
                changed => out.actions.push(Action::Update { source: id.into(), target: target.clone(), fields: changed }),
            },
            (None, Some(target)) => {
                let changed = differing(schema, &fields, &views[target]);
                out.actions.push(Action::Adopt { source: id.into(), target: target.into(), fields: changed });
            }
            (None, None) => match schema.fields.iter().find(|f| f.required_on_create && !fields.iter().any(|(m, _)| *m == f.name)) {
                Some(missing) => out.actions.push(Action::Skip { source: id.into(), why: format!("the map gives no `{}`, which the target requires", missing.name) }),
                None => out.actions.push(Action::Create { source: id.into(), fields }),
            },
        }
    }
    // Linked users the source no longer has.
    if let Some(removal) = &removal {
        for (source_id, target) in links {
            if !seen.contains(source_id.as_str()) && views.get(target.as_str()).is_some_and(|v| !already_removed(v, removal)) {
                out.actions.push(Action::Remove { source: source_id.clone(), target: target.clone(), removal: removal.clone(), why: "is gone from the source" });
            }
        }
    }
    out
}

/// The user's mapped fields, or why they cannot be written.
fn mapped(flow: &FlowSpec, schema: &WriteSchema, user: &Value) -> Result<Vec<(String, String)>, String> {
    let mut fields = Vec::new();
    for (field, expression) in &flow.map {
        let values = expression.values(user).map_err(|why| format!("map `{field}`: {why}"))?;
        let multi = schema.field(field).is_some_and(|f| f.multi_valued);
        if values.len() > 1 && !multi {
            return Err(format!("map `{field}`: `{}` yields {} values, and the target takes one", expression.text(), values.len()));
        }
        fields.extend(values.into_iter().filter(|v| !v.trim().is_empty()).map(|v| (field.clone(), v)));
    }
    Ok(fields)
}

/// The mapped fields whose values differ from what the account holds, read through each field's SCIM path (a
/// field without one is written on create only), and the enabling value when the account is disabled.
fn differing(schema: &WriteSchema, fields: &[(String, String)], account: &Value) -> Vec<(String, String)> {
    let mut changed: Vec<(String, String)> = Vec::new();
    for (name, _) in fields {
        if changed.iter().any(|(c, _)| c == name) {
            continue;
        }
        let Some(path) = schema.field(name).and_then(|f| f.scim_path.as_deref()) else { continue };
        let wanted: Vec<&str> = fields.iter().filter(|(f, _)| f == name).map(|(_, v)| v.trim()).collect();
        let held = crate::scim_path::values(account, path);
        if held.iter().map(|v| v.trim()).ne(wanted.iter().copied()) {
            changed.extend(wanted.iter().map(|v| (name.clone(), v.to_string())));
        }
    }
    if let Some(AccountDisable::Field(disable)) = &schema.disable
        && account["active"] == false
    {
        changed.push((disable.field.clone(), disable.enabled.clone()));
    }
    changed
}

/// Whether the account is already what `removal` makes of it (a delete leaves nothing to find).
fn already_removed(account: &Value, removal: &Removal) -> bool {
    matches!(removal, Removal::Disable { .. }) && account["active"] == false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::model::WriteField;
    use serde_json::json;

    fn flow(deprovision: &str) -> FlowSpec {
        let text = format!(
            r#"[[flow]]
            name = "f"
            source = "dir"
            target = "app"
            match = {{ source = "user.login", target = "email" }}
            deprovision = "{deprovision}"
            [flow.map]
            first_name = "user.name.given_name"
            last_name = "user.name.family_name"
            email = "user.emails[0].address"
            job_title = "user.title"
            "#
        );
        let mut file: toml::Table = toml::from_str(&text).unwrap();
        let tables = file.remove("flow").unwrap().as_array().unwrap().iter().map(|t| t.as_table().unwrap().clone()).collect();
        FlowSpec::many_from_tables(tables, &["dir".into(), "app".into()]).unwrap().remove(0)
    }

    fn schema(disable: Option<AccountDisable>) -> WriteSchema {
        let schema = WriteSchema::new(
            "user",
            vec![
                WriteField::new("first_name", "").required().scim("name.givenName"),
                WriteField::new("last_name", "").required().scim("name.familyName"),
                WriteField::new("email", "").required().scim("emails[type eq \"work\"].value"),
                WriteField::new("job_title", "").scim("title"),
                WriteField::new("active", "").scim("active"),
            ],
        );
        WriteSchema { disable, ..schema }
    }

    fn disabled_by_active() -> Option<AccountDisable> {
        schema(None).disabled_by("active", "false", "true").disable
    }

    fn person(id: &str, given: &str, email: &str, title: Option<&str>, status: &str) -> Value {
        let mut user = json!({"login": email, "emails": [{"address": email, "primary": true}], "name": {"given_name": given, "family_name": "Doe"}});
        if let Some(title) = title {
            user["title"] = json!(title);
        }
        json!({"kind": "resource", "resource_type": "user", "id": id, "display_name": given, "status": status, "user": user})
    }

    fn fields(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_first_cycle_creates_the_missing_and_adopts_the_matching_and_touches_nothing_else() {
        let users = [person("s1", "Ada", "ada@x.test", Some("Analyst"), "enabled"), person("s2", "Bob", "BOB@x.test", None, "enabled"), person("s3", "Cy", "cy@x.test", None, "disabled")];
        let accounts = [person("t9", "Bob", "bob@x.test", Some("Old"), "enabled"), person("t8", "Zed", "zed@x.test", None, "enabled")];
        let plan = plan(&flow("disable"), &schema(disabled_by_active()), &Source { users: &users, in_scope: None }, &accounts, &BTreeMap::new());
        assert_eq!(
            plan.actions,
            [
                Action::Create { source: "s1".into(), fields: fields(&[("email", "ada@x.test"), ("first_name", "Ada"), ("job_title", "Analyst"), ("last_name", "Doe")]) },
                // Matched case-insensitively; the title it holds is not mapped from anything, so it stays.
                Action::Adopt { source: "s2".into(), target: "t9".into(), fields: fields(&[("email", "BOB@x.test")]) },
            ]
        );
        assert_eq!(plan.unchanged, 0, "t8 was never the flow's, and the disabled s3 gets nothing");
    }

    #[test]
    fn later_cycles_update_what_changed_and_take_away_who_left() {
        let links: BTreeMap<String, String> = [("s1", "t1"), ("s2", "t2"), ("s3", "t3"), ("s4", "t4"), ("s5", "t5")].iter().map(|(s, t)| (s.to_string(), t.to_string())).collect();
        let users = [
            person("s1", "Ada", "ada@x.test", Some("Lead"), "enabled"),
            person("s2", "Bob", "bob@x.test", None, "enabled"),
            person("s3", "Cy", "cy@x.test", None, "disabled"),
            person("s4", "Di", "di@x.test", None, "enabled"),
        ];
        let accounts = [
            person("t1", "Ada", "ada@x.test", Some("Analyst"), "enabled"),
            person("t2", "Bob", "bob@x.test", None, "enabled"),
            person("t3", "Cy", "cy@x.test", None, "enabled"),
            person("t4", "Di", "di@x.test", None, "disabled"),
            person("t5", "Ed", "ed@x.test", None, "enabled"),
        ];
        let scope: HashSet<String> = ["s1", "s2", "s3", "s4"].iter().map(|s| s.to_string()).collect();
        let source = Source { users: &users, in_scope: Some(&scope) };
        let plan = plan(&flow("disable"), &schema(disabled_by_active()), &source, &accounts, &links);
        let off = Removal::Disable { field: "active".into(), value: "false".into() };
        assert_eq!(
            plan.actions,
            [
                Action::Update { source: "s1".into(), target: "t1".into(), fields: fields(&[("job_title", "Lead")]) },
                Action::Remove { source: "s3".into(), target: "t3".into(), removal: off.clone(), why: "is disabled at the source" },
                Action::Update { source: "s4".into(), target: "t4".into(), fields: fields(&[("active", "true")]) },
                Action::Remove { source: "s5".into(), target: "t5".into(), removal: off, why: "is gone from the source" },
            ]
        );
        assert_eq!((plan.unchanged, plan.removals()), (1, 2));
        let out_of_scope: HashSet<String> = ["s1", "s3", "s4"].iter().map(|s| s.to_string()).collect();
        let plan_none = super::plan(&flow("none"), &schema(disabled_by_active()), &Source { users: &users, in_scope: Some(&out_of_scope) }, &accounts, &links);
        assert_eq!(plan_none.removals(), 0, "deprovision = none takes nothing away");
        let by_delete = super::plan(&flow("disable"), &schema(Some(AccountDisable::Delete)), &Source { users: &users, in_scope: Some(&out_of_scope) }, &accounts, &links);
        let removed: Vec<(&str, &Removal, &str)> = by_delete.actions.iter().filter_map(|a| match a {
            Action::Remove { source, removal, why, .. } => Some((source.as_str(), removal, *why)),
            _ => None,
        }).collect();
        assert_eq!(removed, [("s2", &Removal::Delete, "left the flow's scope"), ("s3", &Removal::Delete, "is disabled at the source"), ("s5", &Removal::Delete, "is gone from the source")]);
    }

    #[test]
    fn a_user_the_map_cannot_write_is_skipped_with_the_reason_and_the_rest_go_on() {
        let mut no_email = person("s1", "Ada", "ada@x.test", None, "enabled");
        no_email["user"]["emails"] = json!([]);
        let users = [no_email, person("s2", "Bob", "bob@x.test", None, "enabled")];
        let plan = plan(&flow("disable"), &schema(disabled_by_active()), &Source { users: &users, in_scope: None }, &[], &BTreeMap::new());
        assert_eq!(plan.actions[0], Action::Skip { source: "s1".into(), why: "the map gives no `email`, which the target requires".into() });
        assert!(matches!(&plan.actions[1], Action::Create { source, .. } if source == "s2"));
    }

    #[test]
    fn a_cycle_right_after_a_complete_one_plans_nothing() {
        let users = [person("s1", "Ada", "ada@x.test", Some("Lead"), "enabled")];
        let accounts = [person("t1", "Ada", "ada@x.test", Some("Lead"), "enabled")];
        let links = BTreeMap::from([("s1".to_string(), "t1".to_string())]);
        let plan = plan(&flow("disable"), &schema(disabled_by_active()), &Source { users: &users, in_scope: None }, &accounts, &links);
        assert_eq!((plan.actions.len(), plan.unchanged), (0, 1));
    }
}
