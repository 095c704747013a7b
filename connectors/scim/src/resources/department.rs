//! Departments: SCIM has no department resource, only the enterprise extension's `department` string on each
//! user. Each distinct value becomes a `department` resource (its id is the name) with a read-only `member`
//! entitlement, granted to the users who name it: derived from the users pages, at no extra request.

use std::collections::BTreeSet;

use super::{DEPARTMENT, USER};
use connector_sdk::model::*;

/// The departments named on a page of users, with their entitlements and the users' grants.
pub fn from_users(users: &[Resource]) -> (Vec<Resource>, Vec<Entitlement>, Vec<Grant>) {
    let mut names = BTreeSet::new();
    let mut grants = Vec::new();
    for user in users {
        for name in user.user.iter().flat_map(|t| &t.department_ids) {
            names.insert(name.clone());
            grants.push(Grant::new(&entitlement_id(name), user.id.clone()));
        }
    }
    let resources: Vec<Resource> = names
        .iter()
        .map(|name| Resource {
            id: ResourceId::new(DEPARTMENT, name.clone()),
            parent: None,
            display_name: name.clone(),
            description: None,
            status: ResourceStatus { kind: StatusKind::Unspecified, detail: None },
            user: None,
            group: Some(GroupTrait { source_kind: Some("department".into()), member_count: None }),
            profile: "{}".into(),
            created_at: None,
            updated_at: None,
        })
        .collect();
    let entitlements = names
        .iter()
        .map(|name| {
            Entitlement::member(ResourceId::new(DEPARTMENT, name.clone()), format!("Member of {name}"), &[USER])
                .described(format!("In the department {name} (set on the user)"))
        })
        .collect();
    (resources, entitlements, grants)
}

fn entitlement_id(name: &str) -> String {
    Entitlement::member_id(DEPARTMENT, name)
}
