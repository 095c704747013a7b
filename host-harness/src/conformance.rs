//! The host conformance kit (`wit/conformance/`), run against this host: every case file, its expected result or
//! error. `hosts/node/test/conformance.test.js` runs the same files against the Node host.

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
    }
}

fn capability(name: &str) -> Capability {
    Capability::ALL.into_iter().find(|c| c.name() == name).unwrap_or_else(|| panic!("no capability `{name}`"))
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
    if let Some(call) = case.get("call") {
        let declared = call["capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| ResourceTypeCapabilities {
                resource_type: text(&c["resourceType"]),
                capabilities: Capabilities::of(&strings(&c["capabilities"]).iter().map(|n| capability(n)).collect::<Vec<_>>()),
                listed_with: None,
            })
            .collect();
        let granted = if call["provisioning"].as_bool().unwrap_or_default() { WriteGrants::All } else { WriteGrants::None };
        let refusal = Granter::new(declared, granted).refusal(&text(&call["call"]), &text(&call["resourceType"]), capability(&text(&call["capability"])));
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
