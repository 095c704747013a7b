//! PingOne groups → `group` resources with a `member` entitlement, and each group's walk: its place in the
//! nesting (when nesting exists), its members (`/users?filter=memberOfGroups[id eq "…"]`), and its role
//! assignments. Each walk is a chain of pages of its own, handed back as independent tokens by the groups
//! page, so the host runs the walks of many groups at once.
//!
//! Which memberships are direct: PingOne's member filter does not say. A dynamic group's members all come
//! from its `userFilter`; a member of a nested group is reported by that group's walk for every group it is
//! nested in, marked immutable (a grant reported both ways keeps the mark). Nesting costs a request per
//! group, so it is read only when some group's counts show indirect members, or cannot show them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use connector_sdk::Result;
use connector_sdk::model::{Entitlement, Grant, GroupTrait, Resource, ResourceId, ResourceStatus, StatusKind};

use super::{GROUP, USER, id_of, member_entitlement, member_entitlement_id, profile_without, text};

/// Why a grant cannot be revoked through the connector.
pub const DYNAMIC: &str = "dynamic: matches the group's userFilter";
pub const THROUGH_NESTED: &str = "member through a nested group";
pub const NESTED_FURTHER_UP: &str = "nested through another group";

/// A group, its entitlement, and whether its counts show members that are not direct (or show nothing).
pub fn resource(record: &Value, context: &str) -> Result<(Resource, Entitlement, bool)> {
    let id = id_of(record, "group", context)?;
    let name = text(record, "name").unwrap_or_else(|| id.clone());
    let dynamic = text(record, "userFilter").is_some();
    let (direct, total) = (record["directMemberCounts"]["users"].as_u64(), record["totalMemberCounts"]["users"].as_u64());
    let indirect = !dynamic && direct.zip(total).is_none_or(|(d, t)| t > d);
    let source_kind = match (dynamic, text(&record["population"], "id")) {
        (true, _) => "dynamic",
        (false, Some(_)) => "population",
        (false, None) => "group",
    };
    let resource = Resource {
        id: ResourceId::new(GROUP, &id),
        parent: None,
        display_name: name.clone(),
        description: text(record, "description"),
        status: ResourceStatus { kind: StatusKind::Unspecified, detail: None },
        user: None,
        group: Some(GroupTrait { source_kind: Some(source_kind.into()), member_count: total }),
        profile: profile_without(record, &["id", "name", "description", "directMemberCounts", "totalMemberCounts", "createdAt", "updatedAt"]),
        created_at: text(record, "createdAt"),
        updated_at: text(record, "updatedAt"),
    };
    Ok((resource, member_entitlement(GROUP, &id, &name, &[USER, GROUP]), indirect))
}

/// Where one group's walk stands; the page token of its chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Walk {
    pub group: String,
    pub dynamic: bool,
    /// The groups this one is nested in (read at the `Nesting` step; empty when nesting was not read).
    pub ancestors: Vec<String>,
    pub step: Step,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// Read the groups this one is nested in.
    Nesting,
    /// A page of members: the first (`next: None`) or the one at the API's link.
    Members { next: Option<String> },
    /// The group's own role assignments.
    Roles,
}

impl Walk {
    pub fn start(group: &str, dynamic: bool, read_nesting: bool) -> Self {
        // A dynamic group may sit in a static one too (whether PingOne allows it is not documented).
        let step = if read_nesting { Step::Nesting } else { Step::Members { next: None } };
        Self { group: group.to_string(), dynamic, ancestors: Vec::new(), step }
    }

    pub fn at(&self, step: Step) -> Self {
        Self { step, ..self.clone() }
    }
}

/// From a nesting read (`_embedded.groupMemberships`): the grants that say where this group sits, and every
/// group it is nested in.
pub fn nesting(group_id: &str, memberships: &[Value]) -> (Vec<Grant>, Vec<String>) {
    let mut grants = Vec::new();
    let mut ancestors = Vec::new();
    for membership in memberships {
        let Some(parent) = text(membership, "id") else { continue };
        let grant = Grant::new(&member_entitlement_id(GROUP, &parent), ResourceId::new(GROUP, group_id));
        grants.push(if membership["type"].as_str() == Some("INDIRECT") { grant.derived(NESTED_FURTHER_UP) } else { grant });
        ancestors.push(parent);
    }
    (grants, ancestors)
}

/// A page of members as grants: on this group (derived when it is dynamic), and on every group it is nested
/// in (always derived).
pub fn member_grants(walk: &Walk, users: &[Value], context: &str) -> Result<Vec<Grant>> {
    let mut grants = Vec::with_capacity(users.len() * (1 + walk.ancestors.len()));
    let own = member_entitlement_id(GROUP, &walk.group);
    for user in users {
        let principal = ResourceId::new(USER, id_of(user, "user", context)?);
        let grant = Grant::new(&own, principal.clone());
        grants.push(if walk.dynamic { grant.derived(DYNAMIC) } else { grant });
        for ancestor in &walk.ancestors {
            grants.push(Grant::new(&member_entitlement_id(GROUP, ancestor), principal.clone()).derived(THROUGH_NESTED));
        }
    }
    Ok(grants)
}
