//! The generated directory: users with the core and enterprise attributes, and groups whose members are
//! users and (every third group) a nested group. The same spec always gives the same directory.

use serde_json::{Value, json};

pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const GIVEN: [&str; 8] = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken"];
const FAMILY: [&str; 6] = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth"];

#[derive(Debug, Clone, Copy)]
pub struct DirectorySpec {
    pub users: usize,
    pub groups: usize,
}

#[derive(Debug, Clone)]
pub struct Directory {
    /// SCIM User resources, in listing order.
    pub users: Vec<Value>,
    /// SCIM Group resources, in listing order, with `members`.
    pub groups: Vec<Value>,
}

pub fn user_id(i: usize) -> String {
    format!("u{i:06}")
}

pub fn group_id(j: usize) -> String {
    format!("g{j:04}")
}

impl Directory {
    pub fn generate(spec: DirectorySpec) -> Self {
        let users = (1..=spec.users)
            .map(|i| {
                let (given, family) = (GIVEN[i % GIVEN.len()], FAMILY[i % FAMILY.len()]);
                let user_name = format!("user{i}@example.test");
                let mut enterprise = json!({"employeeNumber": format!("E{i}"), "department": format!("Dept {}", i % 5)});
                if i > 5 {
                    enterprise["manager"] = json!({"value": user_id(i / 5)});
                }
                json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE_USER],
                    "id": user_id(i),
                    "externalId": format!("ext-{i}"),
                    "userName": user_name,
                    "name": {"givenName": given, "familyName": family},
                    "displayName": format!("{given} {family} {i}"),
                    "title": format!("Title {}", i % 13),
                    "active": i % 7 != 0,
                    "emails": [{"value": user_name, "type": "work", "primary": true}],
                    "phoneNumbers": [{"value": format!("+1 555 {i:04}"), "type": "work"}],
                    ENTERPRISE_USER: enterprise,
                    "meta": {"resourceType": "User", "created": "2024-01-01T00:00:00Z", "lastModified": "2024-06-01T00:00:00Z"},
                })
            })
            .collect();
        let groups = (1..=spec.groups)
            .map(|j| {
                let mut members: Vec<Value> =
                    (1..=spec.users).filter(|i| i % spec.groups == j % spec.groups).map(|i| json!({"value": user_id(i), "type": "User"})).collect();
                if j % 3 == 0 && spec.groups > 1 {
                    members.push(json!({"value": group_id(j % spec.groups + 1), "type": "Group"}));
                }
                json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                    "id": group_id(j),
                    "displayName": format!("Group {j}"),
                    "members": members,
                    "meta": {"resourceType": "Group", "created": "2024-01-01T00:00:00Z", "lastModified": "2024-06-01T00:00:00Z"},
                })
            })
            .collect();
        Self { users, groups }
    }
}
