//! What a SCIM client reads before anything else (RFC 7644 §4): `ServiceProviderConfig`, `ResourceTypes` and
//! `Schemas`. The schemas are the tenant's own: an attribute the connector's write schema (contract 0.5) gives a
//! SCIM path is `readWrite`, every other is `readOnly`, and one whose fields a create requires is `required` —
//! so a client that reads them (scim2-tester does) sends only what the source keeps.

use serde_json::{Value, json};

use crate::contract::model::WriteSchema;
use crate::scim_export::{ENTERPRISE_USER, GROUP_SCHEMA, USER_SCHEMA};

/// The most resources one page of a list holds, whatever `count` asks.
pub const MAX_PAGE: u64 = 1000;

/// `ServiceProviderConfig`.
pub fn service_provider_config(base: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://datatracker.ietf.org/doc/html/rfc7644",
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_PAGE},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken", "name": "Bearer token", "primary": true,
            "description": "The tenant's token, as `Authorization: Bearer <token>`",
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")},
    })
}

/// The two resource types, User and Group.
pub fn resource_types(base: &str) -> Vec<Value> {
    vec![
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "User", "name": "User", "endpoint": "/Users", "description": "The tenant's accounts",
            "schema": USER_SCHEMA,
            "schemaExtensions": [{"schema": ENTERPRISE_USER, "required": false}],
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User")},
        }),
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": "Group", "name": "Group", "endpoint": "/Groups", "description": "The tenant's groups",
            "schema": GROUP_SCHEMA,
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group")},
        }),
    ]
}

/// What the tenant's writes accept, for its schemas: its accounts' and groups' write schemas, and whether accounts
/// are disabled by a field (a source that disables by deleting keeps no inactive account: `active` is `readOnly`
/// there, though a `PATCH` of `active` to false, as Entra sends it, still deletes) and groups' members changed.
pub struct Writable<'a> {
    pub users: Option<&'a WriteSchema>,
    pub groups: Option<&'a WriteSchema>,
    pub disable: bool,
    pub members: bool,
}

/// The User, enterprise User and Group schemas, as this tenant writes them.
pub fn schemas(base: &str, writable: &Writable) -> Vec<Value> {
    let user = |name: &str| writes(writable.users, None, name);
    let enterprise = |name: &str| writes(writable.users, Some(ENTERPRISE_USER), name);
    let group = |name: &str| writes(writable.groups, None, name);
    let string = |name: &str, (mutability, required): (&str, bool)| attribute(name, "string", false, mutability, required, vec![]);
    let mut user_name = string("userName", user("userName"));
    user_name["uniqueness"] = json!("server");
    let id_only = |name: &str, attributes: Vec<Value>| json!({"id": name, "attributes": attributes});
    let users = vec![
        user_name,
        attribute("name", "complex", false, user("name").0, user("name").1, vec![
            string("givenName", sub(writable.users, "name.givenName")),
            string("familyName", sub(writable.users, "name.familyName")),
        ]),
        string("displayName", user("displayName")),
        string("nickName", user("nickName")),
        string("title", user("title")),
        string("timezone", user("timezone")),
        string("locale", user("locale")),
        attribute("active", "boolean", false, if writable.disable { "readWrite" } else { "readOnly" }, false, vec![]),
        attribute("emails", "complex", true, user("emails").0, user("emails").1, vec![
            string("value", user("emails")),
            canonical(string("type", user("emails")), &["work"]),
            // Which address is primary is the source's to say (Pingboard keeps one, always primary).
            attribute("primary", "boolean", false, "readOnly", false, vec![]),
        ]),
        attribute("phoneNumbers", "complex", true, user("phoneNumbers").0, user("phoneNumbers").1, vec![
            string("value", user("phoneNumbers")),
            canonical(string("type", user("phoneNumbers")), &["work"]),
        ]),
        attribute("photos", "complex", true, "readOnly", false, vec![string("value", ("readOnly", false)), string("type", ("readOnly", false))]),
        returned_on_request(attribute("groups", "complex", true, "readOnly", false, vec![
            string("value", ("readOnly", false)),
            string("display", ("readOnly", false)),
            string("type", ("readOnly", false)),
        ])),
    ];
    let extension = vec![
        string("employeeNumber", enterprise("employeeNumber")),
        attribute("manager", "complex", false, enterprise("manager").0, false, vec![
            string("value", enterprise("manager")),
            reference("$ref", enterprise("manager").0),
        ]),
    ];
    let members = if writable.members { "readWrite" } else { "readOnly" };
    let groups = vec![
        string("displayName", group("displayName")),
        attribute("members", "complex", true, members, false, vec![
            string("value", (if writable.members { "immutable" } else { "readOnly" }, false)),
            reference("$ref", if writable.members { "immutable" } else { "readOnly" }),
            canonical(string("type", ("readOnly", false)), &["User"]),
        ]),
    ];
    let mut schemas = vec![(USER_SCHEMA, "User", "User Account", users), (ENTERPRISE_USER, "EnterpriseUser", "Enterprise User", extension), (GROUP_SCHEMA, "Group", "Group", groups)]
        .into_iter()
        .map(|(id, name, description, attributes)| {
            let mut schema = id_only(id, attributes);
            schema["schemas"] = json!(["urn:ietf:params:scim:schemas:core:2.0:Schema"]);
            schema["name"] = json!(name);
            schema["description"] = json!(description);
            schema["meta"] = json!({"resourceType": "Schema", "location": format!("{base}/Schemas/{id}")});
            schema
        })
        .collect::<Vec<_>>();
    schemas.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    schemas
}

/// Whether a write schema writes the attribute `name` (of the extension `schema`, or the core), and requires it on
/// a create: `(mutability, required)`.
fn writes(write_schema: Option<&WriteSchema>, schema: Option<&str>, name: &str) -> (&'static str, bool) {
    let Some(write_schema) = write_schema else { return ("readOnly", false) };
    let under = |path: &str| {
        let path = match schema {
            Some(urn) => match path.strip_prefix(urn).and_then(|p| p.strip_prefix(':')) {
                Some(rest) => rest,
                None => return false,
            },
            None if path.starts_with("urn:") => return false,
            None => path,
        };
        let head = path.split(['.', '[']).next().unwrap_or("");
        head.eq_ignore_ascii_case(name)
    };
    let fields: Vec<_> = write_schema.fields.iter().filter(|f| f.scim_path.as_deref().is_some_and(under)).collect();
    match fields.is_empty() {
        true => ("readOnly", false),
        false => ("readWrite", fields.iter().any(|f| f.required_on_create)),
    }
}

/// `writes` for a sub-attribute's exact path, such as `name.givenName`.
fn sub(write_schema: Option<&WriteSchema>, path: &str) -> (&'static str, bool) {
    match write_schema.and_then(|s| s.fields.iter().find(|f| f.scim_path.as_deref().is_some_and(|p| p.eq_ignore_ascii_case(path)))) {
        Some(field) => ("readWrite", field.required_on_create),
        None => ("readOnly", false),
    }
}

fn attribute(name: &str, kind: &str, multi_valued: bool, mutability: &str, required: bool, sub_attributes: Vec<Value>) -> Value {
    let mut attribute = json!({
        "name": name, "type": kind, "multiValued": multi_valued, "description": name, "required": required,
        "caseExact": false, "mutability": mutability, "returned": "default", "uniqueness": "none",
    });
    if !sub_attributes.is_empty() {
        attribute["subAttributes"] = json!(sub_attributes);
    }
    attribute
}

/// A reference to a User: a client that fills it (scim2-tester does) names an account that exists.
fn reference(name: &str, mutability: &str) -> Value {
    let mut attribute = attribute(name, "reference", false, mutability, false, vec![]);
    attribute["referenceTypes"] = json!(["User"]);
    attribute
}

fn canonical(mut attribute: Value, values: &[&str]) -> Value {
    attribute["canonicalValues"] = json!(values);
    attribute
}

/// `groups` is read from every grant the user holds: costly at scale, so returned when asked for.
fn returned_on_request(mut attribute: Value) -> Value {
    attribute["returned"] = json!("request");
    attribute
}
