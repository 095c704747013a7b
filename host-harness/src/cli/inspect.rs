//! `inspect`: what a component is, as it says itself: contract version, config schema, auth scheme, allowed
//! origin and capabilities.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use super::Context;
use crate::contract::model::{AccountDisable, AuthScheme, CredentialsPlacement, FieldWrites, Metadata as ConnectorMetadata, ParameterPlacement};
use crate::display::printable;
use crate::runtime::{LoadedComponent, Runtime};

/// Show a component's metadata: config schema, auth scheme, capabilities.
#[derive(Args)]
pub struct InspectCommand {
    #[arg(long)]
    component: PathBuf,
    /// Print the metadata as JSON.
    #[arg(long)]
    json: bool,
}

impl InspectCommand {
    pub async fn execute(self, cx: &mut Context<'_>) -> Result<()> {
        let runtime = Runtime::new(cx.cache_dir.clone())?;
        let loaded = runtime.load(&self.component)?;
        let metadata = runtime.metadata(&loaded).await?;
        if self.json {
            writeln!(cx.out, "{}", serde_json::to_string_pretty(&metadata_json(&metadata, &loaded))?)?;
        } else {
            print_metadata(cx.out, &metadata, &loaded)?;
        }
        Ok(())
    }
}

fn auth_json(auth: &AuthScheme) -> serde_json::Value {
    match auth {
        AuthScheme::None => serde_json::json!({"scheme": "none"}),
        AuthScheme::Bearer(field) => serde_json::json!({"scheme": "bearer", "secret_field": field}),
        AuthScheme::OAuth2ClientCredentials(o) => serde_json::json!({
            "scheme": "oauth2-client-credentials",
            "token_url": o.token_url,
            "client_id_field": o.client_id_field,
            "client_secret_field": o.client_secret_field,
            "credentials_in": match o.credentials_in { CredentialsPlacement::FormBody => "form-body", CredentialsPlacement::JsonBody => "json-body", CredentialsPlacement::Basic => "basic" },
            "credentials_in_field": o.credentials_in_field,
            "grant_type_in": match o.grant_type_in { ParameterPlacement::Query => "query", ParameterPlacement::FormBody => "form-body" },
            "extra_params": o.extra_params,
        }),
    }
}

fn metadata_json(m: &ConnectorMetadata, loaded: &LoadedComponent) -> serde_json::Value {
    serde_json::json!({
        "name": m.name,
        "version": m.version,
        "description": m.description,
        "component": {"path": loaded.path, "sha256": loaded.sha256, "contract": format!("identity:connector@{}", loaded.contract)},
        "base_url_field": m.base_url_field,
        "extra_origin_fields": m.extra_origin_fields,
        "auth": auth_json(&m.auth),
        "config_schema": m.config_schema.iter().map(|f| serde_json::json!({
            "key": f.key, "display_name": f.display_name, "description": f.description,
            "required": f.required, "secret": f.secret, "default": f.default_value, "choices": f.choices,
        })).collect::<Vec<_>>(),
        "capabilities": m.capabilities.iter().map(|c| serde_json::json!({
            "resource_type": c.resource_type, "capabilities": c.capabilities.names(), "listed_with": c.listed_with,
        })).collect::<Vec<_>>(),
        "write_schemas": m.write_schemas.iter().map(|s| serde_json::json!({
            "resource_type": s.resource_type,
            "fields": s.fields.iter().map(|f| serde_json::json!({
                "name": f.name, "description": f.description, "required_on_create": f.required_on_create,
                "writes": writes_name(f.writes), "multi_valued": f.multi_valued, "scim_path": f.scim_path,
            })).collect::<Vec<_>>(),
            "disable": match &s.disable {
                Some(AccountDisable::Field(d)) => serde_json::json!({"field": d.field, "disabled": d.disabled, "enabled": d.enabled}),
                Some(AccountDisable::Delete) => serde_json::json!("delete"),
                None => serde_json::Value::Null,
            },
        })).collect::<Vec<_>>(),
    })
}

fn writes_name(writes: FieldWrites) -> &'static str {
    match writes {
        FieldWrites::CreateAndUpdate => "create-and-update",
        FieldWrites::CreateOnly => "create-only",
        FieldWrites::UpdateOnly => "update-only",
    }
}

/// The metadata for people. Every text but the path and hash is the component's, printed escaped.
fn print_metadata(out: &mut dyn Write, m: &ConnectorMetadata, loaded: &LoadedComponent) -> Result<()> {
    let p = |text: &str| printable(text, 1 << 10);
    writeln!(out, "{} {} — {}", p(&m.name), p(&m.version), p(&m.description))?;
    writeln!(out, "component: {} (sha256 {}, contract identity:connector@{})", loaded.path.display(), loaded.sha256, loaded.contract)?;
    // JSON text escapes control characters itself.
    writeln!(out, "auth: {}", auth_json(&m.auth))?;
    let extra: String = m.extra_origin_fields.iter().map(|f| format!(", and of config `{}`", p(f))).collect();
    writeln!(out, "egress: only the origin of config `{}` (authenticated){extra}", p(&m.base_url_field))?;
    writeln!(out, "config:")?;
    let width = m.config_schema.iter().map(|f| p(&f.key).chars().count()).max().unwrap_or(0).max(16);
    for f in &m.config_schema {
        let flags = [(f.required, "required"), (!f.required, "optional"), (f.secret, "secret")]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, n)| *n)
            .collect::<Vec<_>>()
            .join(", ");
        let default = f.default_value.as_ref().map(|d| format!(" [default: {}]", p(d))).unwrap_or_default();
        let choices = if f.choices.is_empty() { String::new() } else { format!(" [one of: {}]", p(&f.choices.join(", "))) };
        writeln!(out, "  {:<width$} {:<18} {}{default}{choices}", p(&f.key), flags, p(&f.description))?;
    }
    writeln!(out, "capabilities:")?;
    for c in &m.capabilities {
        let listed = c.listed_with.as_ref().map(|t| format!(" (listed with {})", p(t))).unwrap_or_default();
        writeln!(out, "  {:<16} {}{listed}", p(&c.resource_type), c.capabilities.names().join(", "))?;
    }
    for s in &m.write_schemas {
        let disable = match &s.disable {
            Some(AccountDisable::Field(d)) => format!("; disabled by {} = {} (enabled again by {})", p(&d.field), p(&d.disabled), p(&d.enabled)),
            Some(AccountDisable::Delete) => "; disabled only by deleting it".into(),
            None => String::new(),
        };
        writeln!(out, "writes of {}{disable}:", p(&s.resource_type))?;
        let width = s.fields.iter().map(|f| p(&f.name).chars().count()).max().unwrap_or(0).max(16);
        for f in &s.fields {
            let required = if f.required_on_create { "required, " } else { "" };
            let scim = f.scim_path.as_ref().map(|path| format!(" [SCIM {}]", p(path))).unwrap_or_default();
            writeln!(out, "  {:<width$} {:<28} {}{scim}", p(&f.name), format!("{required}{}", writes_name(f.writes)), p(&f.description))?;
        }
    }
    Ok(())
}

