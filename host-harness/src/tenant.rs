//! A tenant: which component, its config and its secrets, from command-line flags or a TOML file, resolved
//! against the component's declared config schema and auth scheme. Secret values stop here: the guest gets
//! only the non-secret config, and the egress hook gets the auth plan.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use serde::Deserialize;

use crate::auth::{AuthPlan, Authenticator, OAuth2Plan};
use crate::bindings::{AuthScheme, ConnectorMetadata};
use crate::egress::{EgressLimits, EgressPolicy, Origin};
use crate::secrets::{Redactor, Secret, Secrets};

pub const DEFAULT_TENANT: &str = "default";

#[derive(Debug, Default)]
pub struct TenantSpec {
    pub name: String,
    pub component: Option<PathBuf>,
    pub config: BTreeMap<String, String>,
    pub secrets: Secrets,
}

/// The tenant file: `tenant`, `component`, a `[config]` table of strings, and a `[secrets]` table whose values
/// are `{ env = "VAR" }`, `{ file = "path" }` or `{ value = "…" }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantFile {
    tenant: Option<String>,
    component: Option<PathBuf>,
    #[serde(default)]
    config: BTreeMap<String, toml::Value>,
    #[serde(default)]
    secrets: BTreeMap<String, SecretSource>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretSource {
    env: Option<String>,
    file: Option<PathBuf>,
    value: Option<String>,
}

impl TenantSpec {
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read tenant file {}", path.display()))?;
        // toml's messages quote the offending line; keep only the first line so no secret value is echoed.
        let file: TenantFile = toml::from_str(&text).map_err(|e| {
            let first = e.message().lines().next().unwrap_or("invalid TOML").to_string();
            let at = e.span().map(|s| format!(" at byte {}", s.start)).unwrap_or_default();
            anyhow::anyhow!("tenant file {} is malformed{at}: {first}", path.display())
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut spec = TenantSpec {
            name: file.tenant.unwrap_or_else(|| DEFAULT_TENANT.to_string()),
            component: file.component.map(|c| if c.is_relative() { base.join(c) } else { c }),
            ..Default::default()
        };
        for (key, value) in file.config {
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                _ => bail!("tenant file {}: config `{key}` must be a string, number or boolean", path.display()),
            };
            spec.config.insert(key, text);
        }
        for (key, source) in file.secrets {
            let secret = match (source.env, source.file, source.value) {
                (Some(var), None, None) => read_env_secret(&key, &var)?,
                (None, Some(file), None) => {
                    let file = if file.is_relative() { base.join(file) } else { file };
                    let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read secret `{key}` from {}", file.display()))?;
                    Secret::new(text.trim_end_matches(['\n', '\r']))
                }
                (None, None, Some(value)) => Secret::new(value),
                _ => bail!("tenant file {}: secret `{key}` needs exactly one of env, file or value", path.display()),
            };
            spec.secrets.insert(key, secret);
        }
        Ok(spec)
    }

    /// Flags given on the command line override the file.
    pub fn apply_flags(&mut self, tenant: Option<&str>, component: Option<&Path>, config: &[String], secrets: &[String], secret_envs: &[String]) -> Result<()> {
        if let Some(tenant) = tenant {
            self.name = tenant.to_string();
        }
        if self.name.is_empty() {
            self.name = DEFAULT_TENANT.to_string();
        }
        if let Some(component) = component {
            self.component = Some(component.to_path_buf());
        }
        for pair in config {
            let (k, v) = split_pair(pair, "--config")?;
            self.config.insert(k, v);
        }
        for pair in secrets {
            // Never echo the value back, even when the flag is malformed.
            let (k, v) = pair.split_once('=').ok_or_else(|| anyhow::anyhow!("--secret must be KEY=VALUE"))?;
            self.secrets.insert(k.trim().to_string(), Secret::new(v));
        }
        for pair in secret_envs {
            let (k, var) = split_pair(pair, "--secret-env")?;
            let secret = read_env_secret(&k, &var)?;
            self.secrets.insert(k, secret);
        }
        Ok(())
    }

    pub fn component_path(&self) -> Result<&Path> {
        self.component.as_deref().ok_or_else(|| anyhow::anyhow!("no component given: pass --component PATH or set `component` in the tenant file"))
    }
}

fn split_pair(pair: &str, flag: &str) -> Result<(String, String)> {
    match pair.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => bail!("{flag} takes KEY=VALUE, got `{pair}`"),
    }
}

fn read_env_secret(key: &str, var: &str) -> Result<Secret> {
    match std::env::var(var) {
        Ok(value) if !value.is_empty() => Ok(Secret::new(value)),
        _ => bail!("secret `{key}`: environment variable {var} is not set"),
    }
}

/// A tenant checked against its component: ready to run.
pub struct ResolvedTenant {
    pub name: String,
    /// Non-secret config for the guest's `open`, defaults applied.
    pub guest_config: Vec<(String, String)>,
    pub origin: Origin,
    pub redactor: Redactor,
    /// Built once per tenant, so its cached token serves every session of the tenant.
    auth: Arc<Authenticator>,
}

impl ResolvedTenant {
    /// `redactor` learns the tenant's secrets here and its tokens later: pass the one everything is printed
    /// through.
    pub fn resolve(spec: TenantSpec, metadata: &ConnectorMetadata, redactor: Redactor) -> Result<Self> {
        let schema = &metadata.config_schema;
        let keys = || schema.iter().map(|f| f.key.as_str()).collect::<Vec<_>>().join(", ");
        redactor.add_secrets(&spec.secrets);
        for key in spec.config.keys() {
            match schema.iter().find(|f| &f.key == key) {
                None => bail!("unknown config key `{key}` (this connector takes: {})", keys()),
                Some(f) if f.secret => bail!("`{key}` is a secret: pass it with --secret {key}=… or --secret-env {key}=VAR, not --config"),
                Some(_) => {}
            }
        }
        for key in spec.secrets.keys() {
            match schema.iter().find(|f| &f.key == key) {
                None => bail!("unknown secret `{key}` (this connector takes: {})", keys()),
                Some(f) if !f.secret => bail!("`{key}` is not a secret: pass it with --config {key}=…"),
                Some(_) => {}
            }
        }
        let mut config = spec.config.clone();
        for field in schema {
            let present = if field.secret { spec.secrets.contains_key(&field.key) } else { config.contains_key(&field.key) };
            if present {
                continue;
            }
            match (&field.default_value, field.required) {
                (Some(default), _) if !field.secret => {
                    config.insert(field.key.clone(), default.clone());
                }
                (_, true) if field.secret => bail!(
                    "missing secret `{}` ({}): pass it with --secret {}=… or --secret-env {}=VAR",
                    field.key, field.display_name, field.key, field.key
                ),
                (_, true) => bail!("missing required config `{}` ({}): pass it with --config {}=…", field.key, field.display_name, field.key),
                _ => {}
            }
        }
        let base_url = config
            .get(&metadata.base_url_field)
            .ok_or_else(|| anyhow::anyhow!("the connector declares `{}` as its base URL, but it has no value", metadata.base_url_field))?;
        let origin = Origin::parse(base_url)?;
        let secret = |key: &str| -> Result<Secret> {
            spec.secrets.get(key).cloned().ok_or_else(|| anyhow::anyhow!("missing secret `{key}` for authentication: pass it with --secret {key}=…"))
        };
        let auth = match &metadata.auth {
            AuthScheme::None => AuthPlan::None,
            AuthScheme::Bearer(field) => AuthPlan::Bearer(secret(field)?),
            AuthScheme::Oauth2ClientCredentials(o) => {
                if !o.token_path.starts_with('/') {
                    bail!("the connector's token path `{}` must start with /", o.token_path);
                }
                let client_id = config
                    .get(&o.client_id_field)
                    .cloned()
                    .or_else(|| spec.secrets.get(&o.client_id_field).map(|s| s.expose().to_string()))
                    .ok_or_else(|| anyhow::anyhow!("missing required config `{}`", o.client_id_field))?;
                AuthPlan::OAuth2(OAuth2Plan {
                    token_url: origin.url(&o.token_path),
                    client_id,
                    client_secret: secret(&o.client_secret_field)?,
                    credentials_in: o.credentials_in,
                    grant_type_in: o.grant_type_in,
                    extra_params: o.extra_params.clone(),
                })
            }
        };
        let auth = Arc::new(Authenticator::new(auth, redactor.clone()));
        Ok(Self { name: spec.name, guest_config: config.into_iter().collect(), origin, redactor, auth })
    }

    /// The egress policy for one session: fresh counters, the tenant's shared authenticator.
    pub fn egress_policy(&self, limits: EgressLimits) -> Arc<EgressPolicy> {
        Arc::new(EgressPolicy { tenant: self.name.clone(), origin: Some(self.origin.clone()), limits, stats: Arc::default(), auth: self.auth.clone() })
    }
}
