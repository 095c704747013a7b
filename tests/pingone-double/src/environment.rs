//! The environment a double serves: plain data, generated deterministically, with the membership rules
//! PingOne applies (direct, dynamic through `userFilter`, and through nested groups) computed here once, so
//! tests compare a sync against this ground truth.

use std::collections::BTreeMap;

use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: String,
    pub username: String,
    pub email: String,
    pub given: String,
    pub family: String,
    pub title: Option<String>,
    pub mobile_phone: Option<String>,
    pub primary_phone: Option<String>,
    pub external_id: Option<String>,
    pub population_id: String,
    pub enabled: bool,
    pub locked: bool,
    /// A custom attribute some environments define (`costCenter`): it must land in the profile.
    pub cost_center: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Population {
    pub id: String,
    pub name: String,
    pub default: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    /// A population-level group: only that population's users may be members.
    pub population_id: Option<String>,
    /// A dynamic group: every user matching it is a member (`title eq "…"` in this double).
    pub user_filter: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    pub id: String,
    pub name: String,
    pub description: String,
    /// `PLATFORM` (built in, from `/v1/roles`) or `CUSTOM` (from the environment's `/roles`).
    pub kind: &'static str,
    pub applicable_to: Vec<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Principal {
    User(String),
    Group(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    pub id: String,
    pub role_id: String,
    pub scope_type: &'static str,
    pub scope_id: String,
    pub principal: Principal,
}

/// How a user is a member of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Membership {
    Direct,
    /// Matches the group's `userFilter`.
    Dynamic,
    /// A member of this (directly nested) child group.
    Nested { child_id: String },
}

#[derive(Debug, Clone)]
pub struct Environment {
    pub id: String,
    pub organization_id: String,
    pub users: Vec<User>,
    pub populations: Vec<Population>,
    pub groups: Vec<Group>,
    pub roles: Vec<Role>,
    pub assignments: Vec<Assignment>,
    /// (group id, user id) of direct memberships.
    pub direct: Vec<(String, String)>,
    /// (child group id, parent group id).
    pub nesting: Vec<(String, String)>,
    /// Every group's members, worked out from the above by `refresh` (after generating, and after each write).
    members: BTreeMap<String, BTreeMap<String, Membership>>,
}

#[derive(Debug, Clone, Copy)]
pub struct EnvironmentSpec {
    pub users: usize,
    pub groups: usize,
    pub populations: usize,
    /// Every this-many-th group (from the 3rd) is dynamic; 0 for none.
    pub dynamic_every: usize,
    /// Whether groups nest (chains of three: the 5th of every 6 in the 4th, the 4th in the 3rd).
    pub nested: bool,
}

impl EnvironmentSpec {
    pub fn sized(users: usize, groups: usize) -> Self {
        Self { users, groups, populations: 4, dynamic_every: 10, nested: true }
    }
}

/// A UUID-shaped id, the same for the same kind and number in every run.
pub fn uuid(kind: u8, n: usize) -> String {
    let mixed = (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ ((kind as u64) << 56);
    format!("{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}", (mixed >> 32) as u32, kind as u16 * 0x101, (n >> 12) & 0xfff, n & 0xfff, mixed & 0xffff_ffff_ffff)
}

const GIVEN: [&str; 12] = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Margaret", "Dennis", "Frances", "Tim", "Radia", "Jean"];
const FAMILY: [&str; 10] = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson", "Hamilton", "Ritchie", "Allen", "Lee"];
const TITLES: [&str; 5] = ["Engineer", "Manager", "Analyst", "Designer", "Director"];
pub const ENVIRONMENT_ID: &str = "7d3c7d2e-5a41-4c3f-9c1e-2f1b8e0d6a55";

impl Environment {
    pub fn generate(spec: EnvironmentSpec) -> Self {
        let populations: Vec<Population> = (0..spec.populations.max(1))
            .map(|p| Population { id: uuid(1, p), name: ["Workforce", "Contractors", "Partners", "Interns", "Alumni", "Vendors"][p % 6].to_string() + &suffix(p, 6), default: p == 0 })
            .collect();
        let users: Vec<User> = (0..spec.users)
            .map(|i| {
                let (given, family) = (GIVEN[i % GIVEN.len()], FAMILY[(i / GIVEN.len()) % FAMILY.len()]);
                User {
                    id: uuid(2, i),
                    username: format!("{}.{}{i}", given.to_lowercase(), family.to_lowercase()),
                    email: format!("{}.{}{i}@example.com", given.to_lowercase(), family.to_lowercase()),
                    given: given.into(),
                    family: family.into(),
                    title: (i % 9 != 8).then(|| TITLES[i % TITLES.len()].to_string()),
                    mobile_phone: (i % 2 == 0).then(|| format!("+1.555{:07}", i)),
                    primary_phone: (i % 3 == 0).then(|| format!("+1.444{:07}", i)),
                    external_id: (i % 4 != 3).then(|| format!("E{i:06}")),
                    population_id: populations[i % populations.len()].id.clone(),
                    enabled: i % 50 != 49,
                    locked: i % 70 == 13,
                    cost_center: (i % 10 == 0).then(|| format!("CC-{}", i % 7)),
                    created_at: format!("2024-{:02}-{:02}T08:00:00.000Z", 1 + i % 12, 1 + i % 28),
                }
            })
            .collect();
        let is_dynamic = |k: usize| spec.dynamic_every > 0 && k >= 2 && k % spec.dynamic_every == 2;
        let groups: Vec<Group> = (0..spec.groups)
            .map(|k| Group {
                id: uuid(3, k),
                name: format!("Group {k:03}"),
                description: (k % 2 == 0).then(|| format!("Generated group {k}")),
                // Every 8th group (from the 8th) belongs to a population.
                population_id: (k % 8 == 7 && !is_dynamic(k)).then(|| populations[k % populations.len()].id.clone()),
                user_filter: is_dynamic(k).then(|| format!("title eq \"{}\"", TITLES[k % TITLES.len()])),
            })
            .collect();
        // Each user is a direct member of at most one static group, so a nested group's members are never also
        // direct members of its parents (telling the two apart costs a request per member; see the connector's
        // README).
        let statics: Vec<usize> = (0..groups.len()).filter(|&k| groups[k].user_filter.is_none()).collect();
        let mut direct = Vec::new();
        if !statics.is_empty() {
            for (i, user) in users.iter().enumerate() {
                // Every 11th static group stays empty.
                let k = statics[i % statics.len()];
                let group = &groups[k];
                if k % 11 == 10 || group.population_id.as_ref().is_some_and(|p| p != &user.population_id) {
                    continue;
                }
                direct.push((group.id.clone(), user.id.clone()));
            }
        }
        let mut nesting = Vec::new();
        if spec.nested {
            for k in 0..groups.len() {
                let nestable = |k: usize| groups[k].user_filter.is_none() && groups[k].population_id.is_none();
                if k % 6 >= 4 && nestable(k) && nestable(k - 1) {
                    nesting.push((groups[k].id.clone(), groups[k - 1].id.clone()));
                }
            }
        }
        let role = |n: usize, name: &str, kind: &'static str, applicable_to: &[&'static str]| Role {
            id: uuid(4, n),
            name: name.into(),
            description: format!("{name} role"),
            kind,
            applicable_to: applicable_to.to_vec(),
        };
        let roles = vec![
            role(0, "Organization Admin", "PLATFORM", &["ORGANIZATION"]),
            role(1, "Environment Admin", "PLATFORM", &["ORGANIZATION", "ENVIRONMENT"]),
            role(2, "Identity Data Admin", "PLATFORM", &["ENVIRONMENT", "POPULATION"]),
            role(3, "Identity Data Read Only", "PLATFORM", &["ENVIRONMENT", "POPULATION"]),
            role(4, "Client Application Developer", "PLATFORM", &["ENVIRONMENT"]),
            role(5, "Help Desk Admin", "CUSTOM", &["ENVIRONMENT", "POPULATION"]),
            role(6, "Population Auditor", "CUSTOM", &["POPULATION"]),
        ];
        let mut assignments = Vec::new();
        let mut assign = |role: usize, scope_type: &'static str, scope_id: &str, principal: Principal| {
            let n = assignments.len();
            assignments.push(Assignment { id: uuid(5, n), role_id: uuid(4, role), scope_type, scope_id: scope_id.to_string(), principal });
        };
        for (i, user) in users.iter().enumerate() {
            if i % 97 == 0 {
                assign(2, "ENVIRONMENT", ENVIRONMENT_ID, Principal::User(user.id.clone()));
            }
            if i % 89 == 1 {
                assign(5, "POPULATION", &user.population_id, Principal::User(user.id.clone()));
            }
            if i % 211 == 2 {
                assign(6, "POPULATION", &populations[(i + 1) % populations.len()].id, Principal::User(user.id.clone()));
            }
            if i == 0 {
                assign(0, "ORGANIZATION", &uuid(9, 0), Principal::User(user.id.clone()));
            }
        }
        if let Some(first) = groups.first() {
            assign(3, "ENVIRONMENT", ENVIRONMENT_ID, Principal::Group(first.id.clone()));
        }
        if let Some(second) = groups.get(1) {
            assign(5, "POPULATION", &populations[0].id, Principal::Group(second.id.clone()));
            assign(4, "ENVIRONMENT", ENVIRONMENT_ID, Principal::Group(second.id.clone()));
        }
        let mut environment =
            Self { id: ENVIRONMENT_ID.into(), organization_id: uuid(9, 0), users, populations, groups, roles, assignments, direct, nesting, members: BTreeMap::new() };
        environment.refresh();
        environment
    }

    /// Works every group's members out again from the direct memberships, filters and nesting.
    pub fn refresh(&mut self) {
        let mut direct: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (g, u) in &self.direct {
            direct.entry(g.as_str()).or_default().push(u.as_str());
        }
        let mut members = BTreeMap::new();
        for group in &self.groups {
            members.insert(group.id.clone(), self.compute_members(&group.id, &direct));
        }
        self.members = members;
    }

    pub fn user(&self, id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    pub fn group(&self, id: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.id == id)
    }

    /// Whether `user` matches a `title eq "…"` filter.
    fn matches(filter: &str, user: &User) -> bool {
        filter.strip_prefix("title eq \"").and_then(|rest| rest.strip_suffix('"')).is_some_and(|title| user.title.as_deref() == Some(title))
    }

    /// Every member of `group_id` and how: direct, dynamic, or through a directly nested child (a member of
    /// a child's child counts as the child's). A direct membership wins over the others.
    pub fn members(&self, group_id: &str) -> &BTreeMap<String, Membership> {
        static NONE: BTreeMap<String, Membership> = BTreeMap::new();
        self.members.get(group_id).unwrap_or(&NONE)
    }

    fn compute_members(&self, group_id: &str, direct: &BTreeMap<&str, Vec<&str>>) -> BTreeMap<String, Membership> {
        let mut out = BTreeMap::new();
        let Some(group) = self.group(group_id) else { return out };
        for (child, parent) in &self.nesting {
            if parent == group_id {
                for user in self.compute_members(child, direct).into_keys() {
                    out.insert(user, Membership::Nested { child_id: child.clone() });
                }
            }
        }
        if let Some(filter) = &group.user_filter {
            for user in self.users.iter().filter(|u| Self::matches(filter, u)) {
                out.insert(user.id.clone(), Membership::Dynamic);
            }
        }
        for u in direct.get(group_id).into_iter().flatten() {
            out.insert(u.to_string(), Membership::Direct);
        }
        out
    }

    /// The groups `child_id` is nested in, each with `DIRECT` (a parent) or `INDIRECT` (further up).
    pub fn ancestors(&self, child_id: &str) -> Vec<(String, &'static str)> {
        let mut out: Vec<(String, &'static str)> = Vec::new();
        let mut frontier = vec![(child_id.to_string(), "DIRECT")];
        while let Some((at, kind)) = frontier.pop() {
            for (child, parent) in &self.nesting {
                if child == &at && !out.iter().any(|(p, _)| p == parent) {
                    out.push((parent.clone(), kind));
                    frontier.push((parent.clone(), "INDIRECT"));
                }
            }
        }
        out
    }

    pub fn user_json(&self, u: &User) -> Value {
        let mut user = json!({
            "_links": {"self": {"href": format!("/v1/environments/{}/users/{}", self.id, u.id)}},
            "id": u.id, "environment": {"id": self.id},
            "username": u.username, "email": u.email, "emailVerified": false,
            "name": {"given": u.given, "family": u.family, "formatted": format!("{} {}", u.given, u.family)},
            "enabled": u.enabled,
            "account": if u.locked { json!({"canAuthenticate": false, "status": "LOCKED", "lockedAt": "2025-03-01T10:00:00.000Z"}) } else { json!({"canAuthenticate": u.enabled, "status": "OK"}) },
            "lifecycle": {"status": "ACCOUNT_OK"},
            "population": {"id": u.population_id},
            "identityProvider": {"type": "PING_ONE"},
            "mfaEnabled": false,
            "createdAt": u.created_at, "updatedAt": u.created_at,
        });
        let optional = [("title", &u.title), ("mobilePhone", &u.mobile_phone), ("primaryPhone", &u.primary_phone), ("externalId", &u.external_id), ("costCenter", &u.cost_center)];
        for (key, value) in optional {
            if let Some(value) = value {
                user[key] = json!(value);
            }
        }
        user
    }

    pub fn group_json(&self, g: &Group, counts: bool) -> Value {
        let mut group = json!({"id": g.id, "environment": {"id": self.id}, "name": g.name});
        if let Some(d) = &g.description {
            group["description"] = json!(d);
        }
        if let Some(p) = &g.population_id {
            group["population"] = json!({"id": p});
        }
        if let Some(f) = &g.user_filter {
            group["userFilter"] = json!(f);
        }
        if counts {
            let members = self.members(&g.id);
            let direct = members.values().filter(|m| **m == Membership::Direct).count();
            group["directMemberCounts"] = json!({"users": direct});
            group["totalMemberCounts"] = json!({"users": members.len()});
        }
        group
    }

    pub fn population_json(&self, p: &Population) -> Value {
        let users = self.users.iter().filter(|u| u.population_id == p.id).count();
        json!({"id": p.id, "environment": {"id": self.id}, "name": p.name, "description": format!("{} population", p.name), "userCount": users, "default": p.default})
    }

    pub fn role_json(&self, r: &Role) -> Value {
        let mut role = json!({"id": r.id, "name": r.name, "description": r.description, "applicableTo": r.applicable_to,
            "permissions": [{"id": format!("{}:read", r.name.to_lowercase().replace(' ', "_"))}]});
        if r.kind == "CUSTOM" {
            role["type"] = json!("CUSTOM");
            role["environment"] = json!({"id": self.id});
        } else {
            role["type"] = json!("PLATFORM");
        }
        role
    }

    /// An assignment as listed under a principal; `inherited_from` marks one a user holds through a group.
    pub fn assignment_json(&self, a: &Assignment, inherited_from: Option<&str>) -> Value {
        let mut assignment = json!({"id": a.id, "environment": {"id": self.id}, "role": {"id": a.role_id},
            "scope": {"id": a.scope_id, "type": a.scope_type}, "readOnly": inherited_from.is_some()});
        if let Some(group) = inherited_from {
            assignment["group"] = json!({"id": group});
        }
        assignment
    }

    /// What `GET /users/{id}/roleAssignments` lists: the user's own, then those inherited through groups.
    pub fn user_assignments(&self, user_id: &str) -> Vec<Value> {
        let own = self.assignments.iter().filter(|a| a.principal == Principal::User(user_id.into())).map(|a| self.assignment_json(a, None));
        let inherited = self.assignments.iter().filter_map(|a| match &a.principal {
            Principal::Group(g) if self.members(g).contains_key(user_id) => Some(self.assignment_json(a, Some(g))),
            _ => None,
        });
        own.chain(inherited).collect()
    }
}

fn suffix(n: usize, every: usize) -> String {
    if n < every { String::new() } else { format!(" {}", n / every + 1) }
}
