//! One cycle's plan: from the source's users (their export records, and which are in scope), the target's
//! accounts and the links the flow made before (source id → target id), what to create, update, adopt and take
//! away; with group push, the same for the pushed groups, then their members. Pure: it reads no store and calls
//! no component, so a plan can be shown before anything is written.
//!
//! - An enabled source user in scope with no account → **create** with the mapped fields; one whose account is
//!   found by the matching attribute but not linked → **adopt** (link it, and update what differs); a linked
//!   one → **update** the mapped fields whose values differ, enabling the account if it was disabled.
//! - A linked user who left scope, was disabled or is gone from the source → **remove** as `deprovision` says.
//! - A pushed source group gets its target group the same way (never removed); its target group's members are
//!   the accounts of its members the flow keeps, and no account the flow does not link is added or removed.
//! - An account the flow never created or matched is never touched.
//! - A user whose mapping fails is **skipped** with the reason; the others go on. A mapped field with no value
//!   for a user is left as the account holds it.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde_json::Value;

use super::spec::{FlowSpec, GroupPush, Mapping, Removal};
use crate::contract::model::{AccountDisable, Entitlement, FieldWrites, ResourceId, WriteSchema};

/// One thing a cycle does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Create an account (or, with `group`, a group) for `source` with these fields.
    Create {
        /// The source user's (or group's) id.
        source: String,
        /// Field and value, in the map's order.
        fields: Vec<(String, String)>,
        /// Whether it is a pushed group.
        group: bool,
    },
    /// Link `target`, found by the matching attribute, to `source`, and write the fields that differ.
    Adopt {
        /// The source user's (or group's) id.
        source: String,
        /// The target account's (or group's) id.
        target: String,
        /// The fields whose values differ.
        fields: Vec<(String, String)>,
        /// Whether it is a pushed group.
        group: bool,
    },
    /// Write the fields of a linked account (or group) that differ.
    Update {
        /// The source user's (or group's) id.
        source: String,
        /// The target account's (or group's) id.
        target: String,
        /// The fields whose values differ.
        fields: Vec<(String, String)>,
        /// Whether it is a pushed group.
        group: bool,
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
    /// Make an account a member of a pushed group's target group.
    AddMember {
        /// The source user's id.
        source: String,
        /// The target group's member entitlement.
        entitlement: String,
        /// The user's target account.
        account: ResourceId,
    },
    /// Take an account the flow links out of a pushed group's target group.
    RemoveMember {
        /// The source user's id.
        source: String,
        /// The target group's member entitlement.
        entitlement: String,
        /// The user's target account.
        account: ResourceId,
    },
    /// Leave a source user (or group) alone this cycle.
    Skip {
        /// The source user's id.
        source: String,
        /// Why, for the log.
        why: String,
    },
}

impl Action {
    /// The source user (or group) it is about.
    pub fn source(&self) -> &str {
        match self {
            Self::Create { source, .. }
            | Self::Adopt { source, .. }
            | Self::Update { source, .. }
            | Self::Remove { source, .. }
            | Self::AddMember { source, .. }
            | Self::RemoveMember { source, .. }
            | Self::Skip { source, .. } => source,
        }
    }

    /// The target account (or group, or for a membership the target's grant) it is about, when it has one
    /// before it runs.
    pub fn target(&self) -> Option<String> {
        match self {
            Self::Adopt { target, .. } | Self::Update { target, .. } | Self::Remove { target, .. } => Some(target.clone()),
            Self::AddMember { .. } | Self::RemoveMember { .. } => self.grant_id(),
            Self::Create { .. } | Self::Skip { .. } => None,
        }
    }

    /// For a membership, the target's grant: `<entitlement>:<account type>:<account>`.
    fn grant_id(&self) -> Option<String> {
        match self {
            Self::AddMember { entitlement, account, .. } | Self::RemoveMember { entitlement, account, .. } => {
                Some(format!("{entitlement}:{}:{}", account.resource_type, account.id))
            }
            _ => None,
        }
    }

    /// Whether it changes a pushed group's members.
    pub fn is_membership(&self) -> bool {
        matches!(self, Self::AddMember { .. } | Self::RemoveMember { .. })
    }

    /// `create`, `adopt`, `update`, `disable`, `delete`, `create-group`, `adopt-group`, `update-group`,
    /// `add-member`, `remove-member` or `skip`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Create { group: false, .. } => "create",
            Self::Adopt { group: false, .. } => "adopt",
            Self::Update { group: false, .. } => "update",
            Self::Create { group: true, .. } => "create-group",
            Self::Adopt { group: true, .. } => "adopt-group",
            Self::Update { group: true, .. } => "update-group",
            Self::Remove { removal: Removal::Disable { .. }, .. } => "disable",
            Self::Remove { removal: Removal::Delete, .. } => "delete",
            Self::AddMember { .. } => "add-member",
            Self::RemoveMember { .. } => "remove-member",
            Self::Skip { .. } => "skip",
        }
    }

    /// The names of the fields it writes, each once, never their values.
    pub fn field_names(&self) -> Vec<String> {
        let mut names: Vec<String> = match self {
            Self::Create { fields, .. } | Self::Adopt { fields, .. } | Self::Update { fields, .. } => fields.iter().map(|(f, _)| f.clone()).collect(),
            Self::Remove { removal: Removal::Disable { field, .. }, .. } => vec![field.clone()],
            _ => Vec::new(),
        };
        names.dedup();
        names
    }
}

/// What a cycle would do.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Users' actions in source id order, then pushed groups', then memberships'.
    pub actions: Vec<Action>,
    /// Linked users (and pushed groups) whose accounts already agree.
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

impl Source<'_> {
    /// Whether the flow keeps an account for `user`: enabled, and in scope.
    pub fn wanted(&self, user: &Value) -> bool {
        user["status"] == "enabled" && user["id"].as_str().is_some_and(|id| self.in_scope.is_none_or(|scope| scope.contains(id)))
    }
}

/// The target's records of one type, seen through SCIM paths (what a write schema names), with those the flow
/// does not link yet by their matching value: the only ones it may adopt.
struct Targets<'a> {
    views: HashMap<&'a str, Value>,
    unlinked: HashMap<String, &'a str>,
}

/// What becomes of one wanted source record.
enum Converge {
    Create(Vec<(String, String)>),
    Adopt(String, Vec<(String, String)>),
    Update(String, Vec<(String, String)>),
    Unchanged,
    Skip(String),
}

impl<'a> Targets<'a> {
    fn new(records: &'a [Value], mapping: &Mapping, schema: &WriteSchema, links: &BTreeMap<String, String>, view: impl Fn(&Value) -> Value) -> Self {
        let views: HashMap<&str, Value> = records.iter().filter_map(|r| Some((r["id"].as_str()?, view(r)))).collect();
        let linked: HashSet<&str> = links.values().map(String::as_str).collect();
        let mut unlinked: HashMap<String, &str> = HashMap::new();
        if let Some(path) = schema.field(&mapping.match_target).and_then(|f| f.scim_path.as_deref()) {
            for (id, view) in &views {
                if !linked.contains(id) {
                    for value in crate::scim_path::values(view, path) {
                        unlinked.entry(value.trim().to_lowercase()).or_insert(id);
                    }
                }
            }
        }
        Self { views, unlinked }
    }

    /// The linked target record, if it is still there.
    fn linked(&self, link: Option<&String>) -> Option<&Value> {
        link.and_then(|target| self.views.get(target.as_str()))
    }

    fn converge(&mut self, mapping: &Mapping, schema: &WriteSchema, record: &Value, link: Option<&String>) -> Converge {
        let fields = match mapping.fields(schema, record) {
            Ok(fields) => fields,
            Err(why) => return Converge::Skip(why),
        };
        if let (Some(target), Some(view)) = (link, self.linked(link)) {
            return match differing(schema, &fields, view) {
                changed if changed.is_empty() => Converge::Unchanged,
                changed => Converge::Update(target.clone(), changed),
            };
        }
        if let Some(target) = mapping.key(record).and_then(|key| self.unlinked.remove(&key)) {
            return Converge::Adopt(target.to_string(), differing(schema, &fields, &self.views[target]));
        }
        if let Some(missing) = schema.fields.iter().find(|f| f.required_on_create && !fields.iter().any(|(m, _)| *m == f.name)) {
            return Converge::Skip(format!("the map gives no `{}`, which the target requires", missing.name));
        }
        // An account is created enabled, said outright where a create may say it (SCIM leaves `active` unset
        // otherwise).
        let mut fields = fields;
        if let Some(AccountDisable::Field(disable)) = &schema.disable
            && schema.field(&disable.field).is_some_and(|f| f.writes != FieldWrites::UpdateOnly)
            && !fields.iter().any(|(f, _)| *f == disable.field)
        {
            fields.push((disable.field.clone(), disable.enabled.clone()));
        }
        Converge::Create(fields)
    }
}

impl Converge {
    fn action(self, source: &str, group: bool, plan: &mut Plan) {
        let source = source.to_string();
        let action = match self {
            Self::Create(fields) => Action::Create { source, fields, group },
            Self::Adopt(target, fields) => Action::Adopt { source, target, fields, group },
            Self::Update(target, fields) => Action::Update { source, target, fields, group },
            Self::Skip(why) => Action::Skip { source, why },
            Self::Unchanged => {
                plan.unchanged += 1;
                return;
            }
        };
        plan.actions.push(action);
    }
}

/// The users' part of one cycle of `flow` into a target whose accounts follow `schema`: `accounts` are the
/// target's export records of that type, `links` the accounts the flow created or matched before.
pub fn plan(flow: &FlowSpec, schema: &WriteSchema, source: &Source, accounts: &[Value], links: &BTreeMap<String, String>) -> Plan {
    let mut targets = Targets::new(accounts, &flow.users, schema, links, |a| crate::scim_export::user(a, Vec::new(), None));
    let removal = flow.removal(schema);
    let mut out = Plan::default();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut users: Vec<&Value> = source.users.iter().collect();
    users.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    for user in users {
        let Some(id) = user["id"].as_str() else { continue };
        seen.insert(id);
        let link = links.get(id);
        if !source.wanted(user) {
            if let (Some(target), Some(view), Some(removal)) = (link, targets.linked(link), &removal)
                && !already_removed(view, removal)
            {
                let why = if user["status"] == "enabled" { "left the flow's scope" } else { "is disabled at the source" };
                out.actions.push(Action::Remove { source: id.into(), target: target.clone(), removal: removal.clone(), why });
            }
            continue;
        }
        targets.converge(&flow.users, schema, user, link).action(id, false, &mut out);
    }
    // Linked users the source no longer has.
    if let Some(removal) = &removal {
        for (source_id, target) in links {
            if !seen.contains(source_id.as_str()) && targets.views.get(target.as_str()).is_some_and(|v| !already_removed(v, removal)) {
                out.actions.push(Action::Remove { source: source_id.clone(), target: target.clone(), removal: removal.clone(), why: "is gone from the source" });
            }
        }
    }
    out
}

/// The pushed groups' part of a cycle: `groups` are the source's export records of the pushed groups (a pushed
/// group the source does not have is skipped), `targets` the target's records of the group type, `links` the
/// groups the flow created or matched before.
pub fn plan_groups(push: &GroupPush, schema: &WriteSchema, groups: &[Value], targets: &[Value], links: &BTreeMap<String, String>, out: &mut Plan) {
    let mut targets = Targets::new(targets, &push.mapping, schema, links, |g| crate::scim_export::group(g, Vec::new()));
    for pushed in &push.push {
        let found = groups.iter().find(|g| g["resource_type"] == pushed.resource_type.as_str() && g["id"] == pushed.id.as_str());
        let Some(group) = found else {
            out.actions.push(Action::Skip { source: pushed.id.clone(), why: format!("the source has no {}:{} to push", pushed.resource_type, pushed.id) });
            continue;
        };
        targets.converge(&push.mapping, schema, group, links.get(&pushed.id)).action(&pushed.id, true, out);
    }
}

/// One pushed group's members, on both sides.
pub struct Members<'a> {
    /// The target group's member entitlement.
    pub entitlement: String,
    /// The target's account type.
    pub account_type: &'a str,
    /// The source users holding the source group's member entitlement.
    pub holders: &'a HashSet<String>,
    /// The target accounts holding the target group's.
    pub accounts: &'a BTreeSet<String>,
}

/// The memberships' part of a cycle: for each pushed group, the accounts of its wanted source members join its
/// target group, and the flow's other accounts leave it. `links` are the users' links as the cycle left them.
pub fn plan_members(groups: &[Members], wanted: &HashSet<String>, links: &BTreeMap<String, String>, out: &mut Plan) {
    let source_of: HashMap<&str, &str> = links.iter().map(|(s, t)| (t.as_str(), s.as_str())).collect();
    for group in groups {
        let mut joining: Vec<(&String, &String)> = group.holders.iter().filter(|u| wanted.contains(*u)).filter_map(|u| Some((u, links.get(u)?))).collect();
        joining.sort();
        for (user, account) in joining {
            if !group.accounts.contains(account) {
                let account = ResourceId { resource_type: group.account_type.to_string(), id: account.clone() };
                out.actions.push(Action::AddMember { source: user.clone(), entitlement: group.entitlement.clone(), account });
            }
        }
        for account in group.accounts {
            let Some(user) = source_of.get(account.as_str()) else { continue };
            if !(group.holders.contains(*user) && wanted.contains(*user)) {
                let account = ResourceId { resource_type: group.account_type.to_string(), id: account.clone() };
                out.actions.push(Action::RemoveMember { source: user.to_string(), entitlement: group.entitlement.clone(), account });
            }
        }
    }
}

/// The member entitlement of a target group.
pub fn member_entitlement(group_type: &str, id: &str) -> String {
    Entitlement::member_id(group_type, id)
}

/// The mapped fields whose values differ from what the target record holds, read through each field's SCIM
/// path (a field without one is written on create only), and the enabling value when the account is disabled.
fn differing(schema: &WriteSchema, fields: &[(String, String)], record: &Value) -> Vec<(String, String)> {
    let mut changed: Vec<(String, String)> = Vec::new();
    for (name, _) in fields {
        if changed.iter().any(|(c, _)| c == name) {
            continue;
        }
        let Some(path) = schema.field(name).and_then(|f| f.scim_path.as_deref()) else { continue };
        let wanted: Vec<&str> = fields.iter().filter(|(f, _)| f == name).map(|(_, v)| v.trim()).collect();
        let held = crate::scim_path::values(record, path);
        if held.iter().map(|v| v.trim()).ne(wanted.iter().copied()) {
            changed.extend(wanted.iter().map(|v| (name.clone(), v.to_string())));
        }
    }
    if let Some(AccountDisable::Field(disable)) = &schema.disable
        && record["active"] == false
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
                Action::Create { source: "s1".into(), fields: fields(&[("email", "ada@x.test"), ("first_name", "Ada"), ("job_title", "Analyst"), ("last_name", "Doe"), ("active", "true")]), group: false },
                // Matched case-insensitively; the title it holds is not mapped from anything, so it stays.
                Action::Adopt { source: "s2".into(), target: "t9".into(), fields: fields(&[("email", "BOB@x.test")]), group: false },
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
                Action::Update { source: "s1".into(), target: "t1".into(), fields: fields(&[("job_title", "Lead")]), group: false },
                Action::Remove { source: "s3".into(), target: "t3".into(), removal: off.clone(), why: "is disabled at the source" },
                Action::Update { source: "s4".into(), target: "t4".into(), fields: fields(&[("active", "true")]), group: false },
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

    #[test]
    fn a_pushed_group_is_created_or_matched_once_and_holds_exactly_the_flow_s_accounts_of_its_members() {
        let text = r#"[[flow]]
            name = "f"
            source = "dir"
            target = "app"
            match = { source = "user.login", target = "email" }
            [flow.map]
            email = "user.login"
            [flow.groups]
            push = ["group:g1", "group:g2", "group:gone"]
            match = { source = "display_name", target = "displayName" }
            [flow.groups.map]
            displayName = "display_name"
            "#;
        let mut file: toml::Table = toml::from_str(text).unwrap();
        let tables = file.remove("flow").unwrap().as_array().unwrap().iter().map(|t| t.as_table().unwrap().clone()).collect();
        let flow = FlowSpec::many_from_tables(tables, &["dir".into(), "app".into()]).unwrap().remove(0);
        let push = flow.groups.as_ref().unwrap();
        let schema = WriteSchema::new("group", vec![WriteField::new("displayName", "").required().scim("displayName")]);
        let group = |id: &str, name: &str| json!({"kind": "resource", "resource_type": "group", "id": id, "display_name": name, "status": "enabled"});
        let source = [group("g1", "Platform"), group("g2", "Data")];
        // g1 matches the target's "platform" (case aside); g2 has no target group yet; `gone` is not in the source.
        let targets = [group("t1", "platform"), group("t7", "Sales")];
        let mut out = Plan::default();
        plan_groups(push, &schema, &source, &targets, &BTreeMap::new(), &mut out);
        assert_eq!(
            out.actions,
            [
                Action::Adopt { source: "g1".into(), target: "t1".into(), fields: fields(&[("displayName", "Platform")]), group: true },
                Action::Create { source: "g2".into(), fields: fields(&[("displayName", "Data")]), group: true },
                Action::Skip { source: "gone".into(), why: "the source has no group:gone to push".into() },
            ]
        );

        // Members: s1 and s2 are in g1 at the source; t1 holds a1 (s1's), a3 (s3's, who left g1) and x (not the flow's).
        let links: BTreeMap<String, String> = [("s1", "a1"), ("s2", "a2"), ("s3", "a3")].iter().map(|(s, t)| (s.to_string(), t.to_string())).collect();
        let holders: HashSet<String> = ["s1", "s2", "s9"].iter().map(|s| s.to_string()).collect();
        let accounts: BTreeSet<String> = ["a1", "a3", "x"].iter().map(|s| s.to_string()).collect();
        let wanted: HashSet<String> = ["s1", "s2", "s3"].iter().map(|s| s.to_string()).collect();
        let mut out = Plan::default();
        plan_members(&[Members { entitlement: "group:t1:member".into(), account_type: "user", holders: &holders, accounts: &accounts }], &wanted, &links, &mut out);
        let account = |id: &str| ResourceId { resource_type: "user".into(), id: id.into() };
        assert_eq!(
            out.actions,
            [
                Action::AddMember { source: "s2".into(), entitlement: "group:t1:member".into(), account: account("a2") },
                Action::RemoveMember { source: "s3".into(), entitlement: "group:t1:member".into(), account: account("a3") },
            ],
            "s9 has no account; x is not the flow's to take out"
        );
        assert_eq!(out.actions[0].target().as_deref(), Some("group:t1:member:user:a2"));
    }
}
