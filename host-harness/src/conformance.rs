//! The host conformance kit (`wit/conformance/`), run against this host: every case file, its expected result or
//! error; a sync's pages go through the store and its export, as `sync` writes them.
//! `hosts/node/test/conformance.test.js` runs the same files against the Node host.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::contract::model::*;
use crate::grants::{Granter, WriteGrants};
use crate::secrets::{Redactor, Secret};
use crate::tenant::{ResolvedTenant, TenantSpec};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_else(|| panic!("expected a string, got {value}")).to_string()
}

fn strings(value: &Value) -> Vec<String> {
    value.as_array().map(|items| items.iter().map(text).collect()).unwrap_or_default()
}

fn map(value: &Value) -> BTreeMap<String, String> {
    value.as_object().map(|o| o.iter().map(|(k, v)| (k.clone(), text(v))).collect()).unwrap_or_default()
}

/// A case's metadata, written as the contract's JavaScript binding has it (camelCase; variants as `{tag, val}`).
fn metadata(case: &Value) -> Metadata {
    let field = |f: &Value| ConfigField {
        key: text(&f["key"]),
        display_name: text(&f["displayName"]),
        description: f["description"].as_str().unwrap_or_default().to_string(),
        required: f["required"].as_bool().unwrap_or_default(),
        secret: f["secret"].as_bool().unwrap_or_default(),
        default_value: f["defaultValue"].as_str().map(str::to_string),
        choices: strings(&f["choices"]),
    };
    let auth = match case["auth"]["tag"].as_str() {
        Some("bearer") => AuthScheme::Bearer(text(&case["auth"]["val"])),
        Some("oauth2-client-credentials") => {
            let o = &case["auth"]["val"];
            AuthScheme::OAuth2ClientCredentials(OAuth2ClientCredentials {
                token_url: text(&o["tokenUrl"]),
                client_id_field: text(&o["clientIdField"]),
                client_secret_field: text(&o["clientSecretField"]),
                credentials_in: match o["credentialsIn"].as_str() {
                    Some("basic") => CredentialsPlacement::Basic,
                    Some("json-body") => CredentialsPlacement::JsonBody,
                    _ => CredentialsPlacement::FormBody,
                },
                credentials_in_field: o["credentialsInField"].as_str().map(str::to_string),
                grant_type_in: if o["grantTypeIn"] == "query" { ParameterPlacement::Query } else { ParameterPlacement::FormBody },
                extra_params: Vec::new(),
            })
        }
        _ => AuthScheme::None,
    };
    Metadata {
        name: "conformance".into(),
        version: "1".into(),
        description: String::new(),
        config_schema: case["configSchema"].as_array().map(|fields| fields.iter().map(field).collect()).unwrap_or_default(),
        base_url_field: text(&case["baseUrlField"]),
        extra_origin_fields: strings(&case["extraOriginFields"]),
        auth,
        capabilities: Vec::new(),
        write_schemas: Vec::new(),
    }
}

fn opt(value: &Value) -> Option<String> {
    value.as_str().map(str::to_string)
}

fn resource_id(value: &Value) -> ResourceId {
    ResourceId::new(&text(&value["resourceType"]), text(&value["id"]))
}

/// A case's capabilities: contract names by resource type.
fn declared(value: &Value) -> Vec<ResourceTypeCapabilities> {
    value
        .as_array()
        .map(|all| {
            all.iter()
                .map(|c| ResourceTypeCapabilities {
                    resource_type: text(&c["resourceType"]),
                    capabilities: strings(&c["capabilities"]).iter().map(|n| capability(n)).collect(),
                    listed_with: opt(&c["listedWith"]),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A case's write schemas, as the contract's JavaScript binding has them.
fn write_schemas(value: &Value) -> Vec<WriteSchema> {
    let writes = |w: &Value| match w.as_str() {
        Some("create-only") => FieldWrites::CreateOnly,
        Some("update-only") => FieldWrites::UpdateOnly,
        _ => FieldWrites::CreateAndUpdate,
    };
    let field = |f: &Value| WriteField {
        name: text(&f["name"]),
        description: text(&f["description"]),
        required_on_create: f["requiredOnCreate"].as_bool().unwrap_or_default(),
        writes: writes(&f["writes"]),
        multi_valued: f["multiValued"].as_bool().unwrap_or_default(),
        scim_path: opt(&f["scimPath"]),
    };
    let schema = |s: &Value| WriteSchema { resource_type: text(&s["resourceType"]), fields: s["fields"].as_array().map(|f| f.iter().map(field).collect()).unwrap_or_default(), disable: None };
    value.as_array().map(|all| all.iter().map(schema).collect()).unwrap_or_default()
}

/// A record as the contract's JavaScript binding has it, as the model's.
fn resource(r: &Value) -> Resource {
    let user = |u: &Value| UserTrait {
        emails: u["emails"].as_array().unwrap().iter().map(|e| Email { address: text(&e["address"]), primary: e["primary"].as_bool().unwrap() }).collect(),
        login: opt(&u["login"]),
        login_aliases: strings(&u["loginAliases"]),
        employee_ids: strings(&u["employeeIds"]),
        name: u.get("name").map(|n| StructuredName {
            given_name: text(&n["givenName"]),
            family_name: text(&n["familyName"]),
            middle_names: strings(&n["middleNames"]),
            prefix: opt(&n["prefix"]),
            suffix: opt(&n["suffix"]),
        }),
        account_type: match u["accountType"].as_str() {
            Some("service") => AccountType::Service,
            Some("system") => AccountType::System,
            _ => AccountType::Human,
        },
        manager_id: opt(&u["managerId"]),
        title: opt(&u["title"]),
        department_ids: strings(&u["departmentIds"]),
        location_ids: strings(&u["locationIds"]),
        start_date: opt(&u["startDate"]),
        time_zone: opt(&u["timeZone"]),
        locale: opt(&u["locale"]),
        nickname: opt(&u["nickname"]),
        phone_numbers: strings(&u["phoneNumbers"]),
        photo_url: opt(&u["photoUrl"]),
    };
    Resource {
        id: resource_id(&r["id"]),
        parent: r.get("parent").map(resource_id),
        display_name: text(&r["displayName"]),
        description: opt(&r["description"]),
        status: ResourceStatus {
            kind: match r["status"]["kind"].as_str() {
                Some("enabled") => StatusKind::Enabled,
                Some("disabled") => StatusKind::Disabled,
                Some("deleted") => StatusKind::Deleted,
                _ => StatusKind::Unspecified,
            },
            detail: opt(&r["status"]["detail"]),
        },
        user: r.get("user").map(user),
        group: r.get("group").map(|g| GroupTrait { source_kind: opt(&g["sourceKind"]), member_count: g["memberCount"].as_u64() }),
        profile: text(&r["profile"]),
        created_at: opt(&r["createdAt"]),
        updated_at: opt(&r["updatedAt"]),
    }
}

fn entitlement(e: &Value) -> Entitlement {
    Entitlement {
        id: text(&e["id"]),
        resource: resource_id(&e["resource"]),
        display_name: text(&e["displayName"]),
        description: opt(&e["description"]),
        slug: text(&e["slug"]),
        purpose: match e["purpose"].as_str() {
            Some("permission") => Purpose::Permission,
            Some("ownership") => Purpose::Ownership,
            _ => Purpose::Assignment,
        },
        grantable_to: strings(&e["grantableTo"]),
    }
}

fn grant(g: &Value) -> Grant {
    Grant { id: text(&g["id"]), entitlement: text(&g["entitlement"]), principal: resource_id(&g["principal"]), immutable: opt(&g["immutable"]) }
}

/// The export of a sync of the case's pages, through the store as `sync` writes them.
fn exported(sync: &Value) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let mut store = crate::store::Store::open(&crate::store::StoreLocation::Sqlite(dir.path().join("s.db"))).unwrap();
    let lease = store.begin_sync("conformance", "c", "1", "sha").unwrap();
    let types: Vec<ResourceType> = sync["resourceTypes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| ResourceType {
            id: text(&t["id"]),
            display_name: text(&t["displayName"]),
            traits: strings(&t["traits"])
                .iter()
                .map(|k| match k.as_str() {
                    "user" => TraitKind::User,
                    "group" => TraitKind::Group,
                    "role" => TraitKind::Role,
                    _ => TraitKind::App,
                })
                .collect(),
            description: opt(&t["description"]),
        })
        .collect();
    store.put_resource_types(lease.sync, &types, &declared(&sync["capabilities"])).unwrap();
    for page in sync["pages"].as_array().unwrap() {
        let list = |key: &str| page[key].as_array().cloned().unwrap_or_default();
        let resources: Vec<Resource> = list("resources").iter().map(resource).collect();
        let entitlements: Vec<Entitlement> = list("entitlements").iter().map(entitlement).collect();
        let grants: Vec<Grant> = list("grants").iter().map(grant).collect();
        store.put_page(&lease, resources, entitlements, grants, "{}").unwrap();
    }
    store.finish_sync(&lease, 0, 0).unwrap();
    let mut out = Vec::new();
    store.export_jsonl(lease.sync, &mut out).unwrap();
    String::from_utf8(out).unwrap().lines().map(str::to_string).collect()
}

fn capability(name: &str) -> Capabilities {
    Capabilities::named(name).unwrap_or_else(|| panic!("no capability `{name}`"))
}

/// The case's outcome, in the terms its file states it.
fn run(case: &Value) -> Value {
    if let Some(given) = case.get("resolve") {
        let spec = TenantSpec {
            name: "conformance".into(),
            config: map(&given["config"]),
            secrets: map(&given["secrets"]).into_iter().map(|(k, v)| (k, Secret::new(v))).collect(),
            ..Default::default()
        };
        return match ResolvedTenant::resolve(spec, &metadata(&given["metadata"]), Redactor::default()) {
            Ok(tenant) => serde_json::json!({"expect": {
                "guestConfig": tenant.guest_config,
                "origins": tenant.origins.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "tokenUrl": tenant.token_endpoint(),
            }}),
            Err(e) => serde_json::json!({"error": format!("{e:#}")}),
        };
    }
    if let Some(sync) = case.get("sync") {
        return serde_json::json!({"expect": {"lines": exported(sync)}});
    }
    if let Some(call) = case.get("call") {
        let declared = declared(&call["capabilities"]);
        let granted = if call["provisioning"].as_bool().unwrap_or_default() { WriteGrants::All } else { WriteGrants::None };
        let granter = Granter::new(declared, granted).with_write_schemas(write_schemas(&call["writeSchemas"]));
        let (name, resource_type) = (text(&call["call"]), text(&call["resourceType"]));
        let fields: Vec<(String, String)> = call["fields"].as_array().map(|all| all.iter().map(|p| (text(&p[0]), text(&p[1]))).collect()).unwrap_or_default();
        let write = match call["write"].as_str() {
            Some("create") => Some(Write::Create),
            Some("update") => Some(Write::Update),
            _ => None,
        };
        let refusal = granter
            .refusal(&name, &resource_type, capability(&text(&call["capability"])))
            .or_else(|| write.and_then(|write| granter.fields_refusal(&name, &resource_type, write, &fields)));
        return match refusal {
            None => serde_json::json!({"allowed": true}),
            Some(reason) => serde_json::json!({"refused": reason}),
        };
    }
    let component = repository().join(text(&case["load"]["component"]));
    let runtime = crate::runtime::Runtime::with_pool(None, 2).unwrap();
    let loaded = runtime.load(&component).unwrap();
    let metadata = tokio::runtime::Runtime::new().unwrap().block_on(runtime.metadata(&loaded)).unwrap();
    let token_url = match &metadata.auth {
        AuthScheme::OAuth2ClientCredentials(o) => Some(o.token_url.clone()),
        _ => None,
    };
    let choices: BTreeMap<&str, &[String]> = metadata.config_schema.iter().map(|f| (f.key.as_str(), f.choices.as_slice())).collect();
    serde_json::json!({"expect": {
        "contract": loaded.contract,
        "name": metadata.name,
        "tokenUrl": token_url,
        "extraOriginFields": metadata.extra_origin_fields,
        "choices": choices,
        "requiredOnCreate": metadata.write_schemas.iter().map(|s| (s.resource_type.clone(), s.fields.iter().filter(|f| f.required_on_create).map(|f| f.name.clone()).collect::<Vec<_>>())).collect::<BTreeMap<_, _>>(),
    }})
}

/// Whether `got` is what the case expects: equal, or for an error or refusal, the host's text beginning with the
/// case's (a host may add its own hint after it, such as the flag to pass).
fn agrees(expected: &Value, got: &Value) -> bool {
    match (expected, got) {
        (Value::Object(e), Value::Object(g)) if e.contains_key("error") || e.contains_key("refused") => {
            e.iter().all(|(k, v)| g.get(k).and_then(Value::as_str).is_some_and(|text| text.starts_with(v.as_str().unwrap_or_default())))
        }
        _ => expected == got,
    }
}

#[test]
fn this_host_answers_every_conformance_case_as_it_states() {
    let dir = repository().join("wit/conformance/cases");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|x| x == "json")).collect();
    files.sort();
    assert!(files.len() >= 25, "the kit has its cases ({} found in {})", files.len(), dir.display());
    let mut failed = Vec::new();
    for file in &files {
        let case: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        let expected: serde_json::Map<String, Value> = case.as_object().unwrap().iter().filter(|(k, _)| ["expect", "error", "allowed", "refused"].contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
        let got = run(&case);
        if !agrees(&Value::Object(expected.clone()), &got) {
            failed.push(format!("{}: expected {}, got {got}", file.file_name().unwrap().to_string_lossy(), Value::Object(expected)));
        }
    }
    assert!(failed.is_empty(), "{} of {} cases failed:\n{}", failed.len(), files.len(), failed.join("\n"));
}
