//! PingOne populations → `population` resources with a read-only `member` entitlement (granted from each
//! user's `population.id`, see `user`).

use serde_json::Value;

use connector_sdk::Result;
use connector_sdk::model::{Entitlement, GroupTrait, Resource, ResourceId, ResourceStatus, StatusKind};

use super::{POPULATION, USER, id_of, member_entitlement, profile_without, text};

pub fn resource(record: &Value, context: &str) -> Result<(Resource, Entitlement)> {
    let id = id_of(record, "population", context)?;
    let name = text(record, "name").unwrap_or_else(|| id.clone());
    let resource = Resource {
        id: ResourceId::new(POPULATION, &id),
        parent: None,
        display_name: name.clone(),
        description: text(record, "description"),
        status: ResourceStatus { kind: StatusKind::Unspecified, detail: None },
        user: None,
        group: Some(GroupTrait { source_kind: Some("population".into()), member_count: record["userCount"].as_u64() }),
        profile: profile_without(record, &["id", "name", "description", "userCount", "createdAt", "updatedAt"]),
        created_at: text(record, "createdAt"),
        updated_at: text(record, "updatedAt"),
    };
    let entitlement = member_entitlement(POPULATION, &id, &format!("population {name}"), &[USER]);
    Ok((resource, entitlement))
}
