//! A tenant: which component, its config and its secrets, from command-line flags or a TOML file, resolved
//! against the component's declared config schema and auth scheme. Secret values stop here: the guest gets
//! only the non-secret config, and the egress hook gets the auth plan.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Result, bail};
use rustls::pki_types::CertificateDer;
use serde::Deserialize;

use crate::auth::{AuthPlan, Authenticator, OAuth2Plan};
use crate::contract::model::{AuthScheme, ConfigField, CredentialsPlacement, Metadata as ConnectorMetadata, OAuth2ClientCredentials, ResourceTypeCapabilities};
use crate::options::{LimitsSpec, SyncOptions};
use crate::egress::{EgressPolicy, Origin};
use crate::files;
use crate::grants::{Granter, WriteGrants};
use crate::throttle::Throttle;
use crate::transport;
use crate::secrets::{Redactor, Secret, Secrets};

pub const DEFAULT_TENANT: &str = "default";

#[derive(Debug, Default, Clone)]
pub struct TenantSpec {
    pub name: String,
    pub component: Option<PathBuf>,
    pub config: BTreeMap<String, String>,
    pub secrets: Secrets,
    pub limits: LimitsSpec,
    /// The writes the operator granted this tenant (see `grants`).
    pub writes: WriteGrants,
    /// A PEM file of CA certificates to trust besides the platform's (see `transport`).
    pub ca_file: Option<PathBuf>,
    /// How often `serve` syncs the tenant, if not at the service's default interval.
    pub interval: Option<std::time::Duration>,
}

/// The tenant file: `tenant`, `component`, a `[config]` table of strings, a `[secrets]` table whose values
/// are `{ env = "VAR" }`, `{ file = "path" }` or `{ value = "…" }`, and a `[limits]` table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantFile {
    #[serde(alias = "name")]
    tenant: Option<String>,
    component: Option<PathBuf>,
    #[serde(default)]
    config: BTreeMap<String, toml::Value>,
    #[serde(default)]
    secrets: BTreeMap<String, SecretSource>,
    #[serde(default)]
    limits: LimitsSpec,
    /// `true` for every write the connector declares, or a list of `TYPE:OPERATION` grants.
    provisioning: Option<ProvisioningKey>,
    /// CA certificates to trust besides the platform's, for a TLS-inspecting proxy or a private CA.
    ca_file: Option<PathBuf>,
    /// For `serve`: how often to sync, as `40m`, `1h` or `1day`.
    interval: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ProvisioningKey {
    All(bool),
    Only(Vec<String>),
}

/// The file of many tenants (`sync --tenants`): a `[limits]` table for all of them, then one `[[tenant]]` table
/// per tenant, each shaped like a tenant file (with `name` for `tenant`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantsFile {
    #[serde(default)]
    limits: LimitsSpec,
    #[serde(default)]
    tenant: Vec<TenantFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretSource {
    env: Option<String>,
    file: Option<PathBuf>,
    value: Option<String>,
}

/// A sync interval such as `40m` or `1h`: at least a second.
pub fn parse_interval(text: &str) -> Result<std::time::Duration> {
    let interval = humantime::parse_duration(text.trim()).map_err(|e| anyhow::anyhow!("`{text}` is not a duration such as 40m or 1h ({e})"))?;
    if interval < std::time::Duration::from_secs(1) {
        bail!("`{text}` is shorter than a second");
    }
    Ok(interval)
}

/// Reads a TOML file; on a syntax error only toml's first message line is kept, since the rest quotes the
/// offending line, which may hold a secret value.
fn read_toml<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Result<T> {
    let text = files::read_text(path, files::TENANTS_FILE_MAX_BYTES, what)?;
    toml::from_str(&text).map_err(|e| {
        let first = e.message().lines().next().unwrap_or("invalid TOML").to_string();
        let at = e.span().map(|s| format!(" at byte {}", s.start)).unwrap_or_default();
        anyhow::anyhow!("{what} {} is malformed{at}: {first}", path.display())
    })
}

impl TenantSpec {
    pub fn from_file(path: &Path) -> Result<Self> {
        let file: TenantFile = read_toml(path, "tenant file")?;
        if let Some(name) = &file.tenant {
            check_name(name).map_err(|e| anyhow::anyhow!("tenant file {}: {e}", path.display()))?;
        }
        Self::from_table(file, path, &LimitsSpec::default())
    }

    /// Every tenant of a tenants file. A malformed file is an error; a tenant whose secrets cannot be read is an
    /// error of that tenant alone, so the others still run.
    pub fn many_from_file(path: &Path) -> Result<Vec<(String, Result<TenantSpec>)>> {
        let file: TenantsFile = read_toml(path, "tenants file")?;
        if file.tenant.is_empty() {
            bail!("tenants file {} lists no [[tenant]]", path.display());
        }
        let mut names = std::collections::HashSet::new();
        let mut tenants = Vec::new();
        for (index, table) in file.tenant.into_iter().enumerate() {
            let name = match table.tenant.as_deref().map(str::trim) {
                Some(name) if !name.is_empty() => name.to_string(),
                _ => bail!("tenants file {}: tenant #{} has no name", path.display(), index + 1),
            };
            check_name(&name).map_err(|e| anyhow::anyhow!("tenants file {}: {e}", path.display()))?;
            if !names.insert(name.clone()) {
                bail!("tenants file {}: tenant `{name}` is listed twice", path.display());
            }
            tenants.push((name, Self::from_table(table, path, &file.limits)));
        }
        Ok(tenants)
    }

    /// Paths in the file are relative to it (see `beside`).
    fn from_table(file: TenantFile, path: &Path, defaults: &LimitsSpec) -> Result<Self> {
        let base = path.parent().unwrap_or(Path::new("."));
        let mut spec = TenantSpec {
            name: file.tenant.unwrap_or_else(|| DEFAULT_TENANT.to_string()),
            component: file.component.map(|c| beside(base, c)),
            ca_file: file.ca_file.map(|c| beside(base, c)),
            interval: file.interval.as_deref().map(|text| parse_interval(text).map_err(|e| anyhow::anyhow!("tenant file {}: interval: {e}", path.display()))).transpose()?,
            limits: defaults.overlaid(&file.limits),
            writes: match file.provisioning {
                None | Some(ProvisioningKey::All(false)) => WriteGrants::None,
                Some(ProvisioningKey::All(true)) => WriteGrants::All,
                Some(ProvisioningKey::Only(items)) => WriteGrants::parse(&items).map_err(|e| anyhow::anyhow!("tenant file {}: {e}", path.display()))?,
            },
            ..Default::default()
        };
        for (key, value) in file.config {
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                // `1e3` and `1000.0` are whole numbers too.
                toml::Value::Float(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 => (f as i64).to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                _ => bail!("tenant file {}: config `{key}` must be a string, number or boolean", path.display()),
            };
            spec.config.insert(key, text);
        }
        for (key, source) in file.secrets {
            let secret = match (source.env, source.file, source.value) {
                (Some(var), None, None) => read_env_secret(&key, &var)?,
                (None, Some(file), None) => {
                    let file = beside(base, file);
                    let text = files::read_text(&file, files::SECRET_FILE_MAX_BYTES, &format!("secret `{key}` from file"))?;
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
            check_name(tenant)?;
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

/// The token endpoint of a tenant, from the connector's template (see `token-url` in `wit/connector.wit`). The
/// component never names the origin the client secret goes to: it is the base URL's (a template starting
/// with `/`) or a config field's (`{field}/…`), and config values in the path are percent-encoded, so none
/// can move it elsewhere.
fn token_url(template: &str, base_url: &str, config: &BTreeMap<String, String>, schema: &[ConfigField]) -> Result<String> {
    let (origin_value, path) = if template.starts_with('/') {
        // A path on the base URL's origin (not under the base URL's own path).
        (Origin::parse(base_url)?.to_string(), template)
    } else if let Some(rest) = template.strip_prefix('{')
        && let Some((field, path)) = rest.split_once('}')
    {
        match schema.iter().find(|f| f.key == field) {
            Some(f) if !f.secret => {}
            _ => bail!("the connector's token URL starts with `{{{field}}}`, which is not one of its non-secret config fields"),
        }
        let value = config.get(field).ok_or_else(|| anyhow::anyhow!("the connector's token URL needs config `{field}`: pass it with --config {field}=…"))?;
        (value.clone(), path)
    } else {
        bail!(
            "the connector's token URL `{}` names an origin of its own; a token URL must start with / (the base URL's origin) or with a config field, `{{field}}`",
            crate::display::printable(template, 256)
        );
    };
    if !path.starts_with('/') {
        bail!("the connector's token URL must continue with a path after its origin, got `{}`", crate::display::printable(path, 256));
    }
    let expanded = fill_placeholders(path, "the connector's token URL", config, schema)?;
    let origin = Origin::parse(&origin_value)?;
    let url = format!("{}{expanded}", origin_value.trim_end_matches('/'));
    // Whatever the values, the endpoint stays on the origin the template names.
    let parsed = url::Url::parse(&url).map_err(|e| anyhow::anyhow!("the token URL `{url}` is not a URL ({e})"))?;
    if Origin::parse(parsed.as_str())? != origin {
        bail!("the token URL `{url}` left the origin {origin}");
    }
    Ok(url)
}

/// `text` with each `{key}` replaced by that non-secret config value, percent-encoded (so a value stays one
/// path segment or one label: it cannot add a path, a port or a host). `what` names the text in errors.
fn fill_placeholders(text: &str, what: &str, config: &BTreeMap<String, String>, schema: &[ConfigField]) -> Result<String> {
    let mut filled = String::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').map(|c| open + c).ok_or_else(|| anyhow::anyhow!("{what} has an unclosed `{{`"))?;
        let key = &rest[open + 1..close];
        match schema.iter().find(|f| f.key == key) {
            Some(f) if !f.secret => {}
            _ => bail!("{what} uses `{{{key}}}`, which is not one of its non-secret config fields"),
        }
        let value = config.get(key).ok_or_else(|| anyhow::anyhow!("{what} needs config `{key}`: pass it with --config {key}=…"))?;
        filled.push_str(&rest[..open]);
        filled.push_str(&connector_sdk::http::percent_encode(value));
        rest = &rest[close + 1..];
    }
    filled.push_str(rest);
    Ok(filled)
}

/// Where the client credentials go: the connector's fixed choice, or the tenant's, from the field the connector
/// names for it.
fn credentials_placement(o: &OAuth2ClientCredentials, config: &BTreeMap<String, String>) -> Result<CredentialsPlacement> {
    let Some(field) = &o.credentials_in_field else { return Ok(o.credentials_in) };
    Ok(match config.get(field).map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None => o.credentials_in,
        Some("basic") => CredentialsPlacement::Basic,
        Some("post" | "form-body") => CredentialsPlacement::FormBody,
        Some("json-body") => CredentialsPlacement::JsonBody,
        Some(other) => bail!("config `{field}`: `{}` is not a way to send client credentials (basic, post, form-body or json-body)", crate::display::printable(other, 64)),
    })
}

/// A tenant's name is printed in every line about it: it may not carry control characters.
fn check_name(name: &str) -> Result<()> {
    if name.chars().any(crate::display::is_unsafe) {
        bail!("tenant name `{}` contains a control character", crate::display::printable(name, 256));
    }
    Ok(())
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
    /// The origins the component may reach; the first, its base URL's, is the one requests are authenticated to.
    pub origins: Vec<Origin>,
    pub redactor: Redactor,
    /// The tenant's own limits, over the command line's.
    pub limits: LimitsSpec,
    /// What the component reads from, as one digest: its config values, its origins and who it authenticates
    /// as (digested with the rest, never kept alone). An interrupted sync is continued only for the same.
    pub source: String,
    /// What the component declares, and the writes granted to the tenant.
    declared: Vec<ResourceTypeCapabilities>,
    writes: WriteGrants,
    /// Built once per tenant, so its cached token serves every session of the tenant.
    auth: Arc<Authenticator>,
    /// CA certificates trusted besides the platform's.
    extra_roots: Vec<CertificateDer<'static>>,
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
        for field in schema.iter().filter(|f| !f.choices.is_empty()) {
            if let Some(value) = spec.config.get(&field.key)
                && !field.choices.contains(value)
            {
                bail!("config `{}`: `{}` is not one of {}", field.key, crate::display::printable(value, 64), field.choices.join(", "));
            }
        }
        let mut config = spec.config.clone();
        // Defaults may name other fields (`https://api.example.{region}`): filled from the operator's values and
        // plain defaults, so a default is resolved once, from values the operator set or can see in `inspect`.
        let plain: BTreeMap<String, String> = schema
            .iter()
            .filter(|f| !f.secret)
            .filter_map(|f| spec.config.get(&f.key).or(f.default_value.as_ref().filter(|d| !d.contains('{'))).map(|v| (f.key.clone(), v.clone())))
            .collect();
        for field in schema {
            let present = if field.secret { spec.secrets.contains_key(&field.key) } else { config.contains_key(&field.key) };
            if present {
                continue;
            }
            match (&field.default_value, field.required) {
                (Some(default), _) if !field.secret => {
                    let value = fill_placeholders(default, &format!("the default of `{}`", field.key), &plain, schema)?;
                    config.insert(field.key.clone(), value);
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
        // Every origin the component may reach comes from a config field it declares: the operator's value, or
        // the default `inspect` shows.
        let mut origins = vec![origin.clone()];
        for field in &metadata.extra_origin_fields {
            match schema.iter().find(|f| &f.key == field) {
                Some(f) if !f.secret => {}
                _ => bail!("the connector declares `{field}` as an origin, but it is not one of its non-secret config fields"),
            }
            if let Some(value) = config.get(field) {
                origins.push(Origin::parse(value).map_err(|e| anyhow::anyhow!("config `{field}`: {e}"))?);
            }
        }
        let secret = |key: &str| -> Result<Secret> {
            spec.secrets.get(key).cloned().ok_or_else(|| anyhow::anyhow!("missing secret `{key}` for authentication: pass it with --secret {key}=…"))
        };
        let auth = match &metadata.auth {
            AuthScheme::None => AuthPlan::None,
            AuthScheme::Bearer(field) => AuthPlan::Bearer(secret(field)?),
            AuthScheme::OAuth2ClientCredentials(o) => {
                let token_url = token_url(&o.token_url, base_url, &config, schema)?;
                let client_id = config
                    .get(&o.client_id_field)
                    .cloned()
                    .or_else(|| spec.secrets.get(&o.client_id_field).map(|s| s.expose().to_string()))
                    .ok_or_else(|| anyhow::anyhow!("missing required config `{}`", o.client_id_field))?;
                AuthPlan::OAuth2(OAuth2Plan {
                    token_url,
                    client_id,
                    client_secret: secret(&o.client_secret_field)?,
                    credentials_in: credentials_placement(o, &config)?,
                    grant_type_in: o.grant_type_in,
                    extra_params: o.extra_params.clone(),
                })
            }
        };
        let auth = Arc::new(Authenticator::new(auth, redactor.clone()));
        let extra_roots = match &spec.ca_file {
            Some(path) => transport::read_ca_file(path)?,
            None => Vec::new(),
        };
        Granter::new(metadata.capabilities.clone(), spec.writes.clone()).check_grants()?;
        let source = source_digest(&config, &origins, &spec.secrets);
        Ok(Self {
            name: spec.name,
            guest_config: config.into_iter().collect(),
            origins,
            redactor,
            limits: spec.limits,
            source,
            declared: metadata.capabilities.clone(),
            writes: spec.writes,
            auth,
            extra_roots,
        })
    }

    /// What a session may be asked to do: the component's declared calls, and the granted writes when the
    /// session is for writing.
    pub fn granter(&self, writing: bool) -> Granter {
        Granter::new(self.declared.clone(), if writing { self.writes.clone() } else { WriteGrants::None })
    }

    /// The token endpoint the host sends the tenant's client credentials to, if it authenticates so.
    pub fn token_endpoint(&self) -> Option<&str> {
        self.auth.token_url()
    }

    /// The writes granted to this tenant, for people.
    pub fn writes(&self) -> &WriteGrants {
        &self.writes
    }

    /// The egress policy for one session: fresh counters and retry budget, the tenant's shared authenticator.
    pub fn egress_policy(&self, options: &SyncOptions) -> Arc<EgressPolicy> {
        let throttle = Throttle::new(&self.name, options.retry.clone(), options.concurrency);
        Arc::new(EgressPolicy::new(&self.name, self.origins.clone(), options.egress.clone(), self.auth.clone(), throttle).trusting(&self.extra_roots))
    }
}

/// `ResolvedTenant::source`: a SHA-256 of the config values, the origins and the secrets, each line tagged.
fn source_digest(config: &BTreeMap<String, String>, origins: &[Origin], secrets: &Secrets) -> String {
    use sha2::{Digest, Sha256};
    let mut digest = Sha256::new();
    for (key, value) in config {
        digest.update(format!("config {key:?}={value:?}\n"));
    }
    for origin in origins {
        digest.update(format!("origin {origin}\n"));
    }
    for (key, secret) in secrets.iter() {
        digest.update(format!("secret {key:?}={:?}\n", secret.expose()));
    }
    crate::runtime::hex(&digest.finalize())
}

/// A path from a tenant file, read relative to the file's directory `base` unless absolute.
fn beside(base: &Path, path: PathBuf) -> PathBuf {
    if path.is_relative() { base.join(path) } else { path }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::options::SyncOptions;

    fn tenants_file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tenants.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    fn error(text: &str) -> String {
        let (_dir, path) = tenants_file(text);
        format!("{:#}", TenantSpec::many_from_file(&path).expect_err("an error")).replace(&path.display().to_string(), "FILE")
    }

    #[test]
    fn a_tenants_file_sets_limits_for_all_and_each_tenant_overrides_them() {
        let (_dir, path) = tenants_file(
            "[limits]\nmemory_mib = 64\nmax_requests = 10\n\n\
             [[tenant]]\nname = \"a\"\ncomponent = \"c.wasm\"\nconfig = { base_url = \"http://a.test\" }\n\n\
             [[tenant]]\nname = \"b\"\ncomponent = \"/abs/c.wasm\"\nlimits = { max_requests = 3, sync_timeout_secs = 1.5 }\n\
             secrets = { client_secret = { env = \"SURELY_NOT_SET_FOR_THIS_TEST\" } }\n\n\
             [[tenant]]\nname = \"c\"\nlimits = { max_requests = 3, sync_timeout_secs = 2 }\n",
        );
        let tenants = TenantSpec::many_from_file(&path).unwrap();
        let names: Vec<&str> = tenants.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        let a = tenants[0].1.as_ref().unwrap();
        assert_eq!(a.component.as_deref(), Some(path.parent().unwrap().join("c.wasm").as_path()), "relative to the file");
        assert_eq!(a.config.get("base_url").map(String::as_str), Some("http://a.test"));
        let mut options = SyncOptions::default();
        a.limits.apply(&mut options).unwrap();
        assert_eq!((options.sandbox.memory_bytes, options.egress.max_requests), (64 << 20, Some(10)));
        // A tenant whose secret cannot be read is that tenant's error alone.
        let b = format!("{:#}", tenants[1].1.as_ref().err().unwrap());
        assert_eq!(b, "secret `client_secret`: environment variable SURELY_NOT_SET_FOR_THIS_TEST is not set");
        let mut options = SyncOptions::default();
        tenants[2].1.as_ref().unwrap().limits.apply(&mut options).unwrap();
        assert_eq!((options.sandbox.memory_bytes, options.egress.max_requests, options.sandbox.sync_timeout), (64 << 20, Some(3), Duration::from_secs(2)));
    }

    #[test]
    fn the_token_url_stays_on_an_origin_from_the_config() {
        let field = |key: &str, secret: bool| ConfigField { key: key.into(), display_name: key.into(), secret, ..Default::default() };
        let schema = [field("base_url", false), field("auth_base", false), field("environment_id", false), field("client_secret", true)];
        let config = BTreeMap::from([
            ("base_url".to_string(), "https://api.example.test/v1".to_string()),
            ("auth_base".to_string(), "https://auth.example.test".to_string()),
            ("environment_id".to_string(), "env-1".to_string()),
        ]);
        let url = |template: &str, config: &BTreeMap<String, String>| token_url(template, &config["base_url"], config, &schema).map_err(|e| e.to_string());
        assert_eq!(url("/oauth/token", &config).unwrap(), "https://api.example.test:443/oauth/token", "on the base URL's origin");
        assert_eq!(url("{auth_base}/{environment_id}/as/token", &config).unwrap(), "https://auth.example.test/env-1/as/token");
        // A value cannot move the endpoint: it is encoded into one path segment.
        let mut steered = config.clone();
        steered.insert("environment_id".into(), "@evil.test:443/../x".into());
        assert_eq!(url("{auth_base}/{environment_id}/as/token", &steered).unwrap(), "https://auth.example.test/%40evil.test%3A443%2F..%2Fx/as/token");
        assert_eq!(
            url("https://evil.test/steal", &config).unwrap_err(),
            "the connector's token URL `https://evil.test/steal` names an origin of its own; a token URL must start with / (the base URL's origin) or with a config field, `{field}`"
        );
        assert_eq!(url("{client_secret}/x", &config).unwrap_err(), "the connector's token URL starts with `{client_secret}`, which is not one of its non-secret config fields");
        assert_eq!(url("{auth_base}x", &config).unwrap_err(), "the connector's token URL must continue with a path after its origin, got `x`");
        assert_eq!(url("/{nope}/token", &config).unwrap_err(), "the connector's token URL uses `{nope}`, which is not one of its non-secret config fields");
    }

    #[test]
    fn defaults_fill_in_other_fields_choices_are_enforced_and_the_tenant_picks_the_credentials_placement() {
        use crate::contract::model::{Metadata, ParameterPlacement};
        let field = |key: &str, default: Option<&str>, choices: &[&str]| ConfigField {
            key: key.into(),
            display_name: key.into(),
            default_value: default.map(Into::into),
            choices: choices.iter().map(|c| c.to_string()).collect(),
            ..Default::default()
        };
        let metadata = Metadata {
            name: "t".into(),
            version: "1".into(),
            description: String::new(),
            config_schema: vec![
                field("region", Some("com"), &["com", "eu", "com.au"]),
                field("api_base", Some("https://api.example.{region}/v1"), &[]),
                field("auth_base", Some("https://auth.example.{region}"), &[]),
                field("environment_id", None, &[]),
                field("client_id", None, &[]),
                ConfigField { secret: true, ..field("client_secret", None, &[]) },
                field("method", Some("basic"), &["basic", "post"]),
            ],
            base_url_field: "api_base".into(),
            extra_origin_fields: Vec::new(),
            auth: AuthScheme::OAuth2ClientCredentials(OAuth2ClientCredentials {
                token_url: "{auth_base}/{environment_id}/as/token".into(),
                client_id_field: "client_id".into(),
                client_secret_field: "client_secret".into(),
                credentials_in: CredentialsPlacement::Basic,
                credentials_in_field: Some("method".into()),
                grant_type_in: ParameterPlacement::FormBody,
                extra_params: Vec::new(),
            }),
            capabilities: Vec::new(),
        };
        let resolve = |config: &[(&str, &str)]| {
            let mut spec = TenantSpec { name: "t".into(), ..Default::default() };
            spec.config = config.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            spec.config.insert("environment_id".into(), "env-1".into());
            spec.config.insert("client_id".into(), "id".into());
            spec.secrets.insert("client_secret".into(), Secret::new("s".to_string()));
            ResolvedTenant::resolve(spec, &metadata, Redactor::default()).map_err(|e| e.to_string())
        };
        let australia = resolve(&[("region", "com.au")]).unwrap();
        let config: BTreeMap<_, _> = australia.guest_config.iter().cloned().collect();
        assert_eq!((config["api_base"].as_str(), config["auth_base"].as_str()), ("https://api.example.com.au/v1", "https://auth.example.com.au"));
        assert_eq!(australia.origins[0].to_string(), "https://api.example.com.au:443");
        assert_eq!(australia.token_endpoint(), Some("https://auth.example.com.au/env-1/as/token"));
        // The operator's value wins over a default; a value outside the choices never reaches a default.
        let own = resolve(&[("region", "eu"), ("api_base", "https://api.custom.test/v1")]).unwrap();
        assert_eq!(own.origins[0].to_string(), "https://api.custom.test:443");
        assert_eq!(resolve(&[("region", "evil.test/x")]).err().unwrap(), "config `region`: `evil.test/x` is not one of com, eu, com.au");
        assert_eq!(resolve(&[("method", "jwt")]).err().unwrap(), "config `method`: `jwt` is not one of basic, post");
        let AuthScheme::OAuth2ClientCredentials(oauth) = &metadata.auth else { unreachable!() };
        let placement = |method: &str| credentials_placement(oauth, &BTreeMap::from([("method".to_string(), method.to_string())])).unwrap();
        assert_eq!((placement("basic"), placement("post")), (CredentialsPlacement::Basic, CredentialsPlacement::FormBody));
    }

    #[test]
    fn a_malformed_tenants_file_is_named_without_echoing_it() {
        assert_eq!(error("[[tenant]]\ncomponent = \"c.wasm\"\n"), "tenants file FILE: tenant #1 has no name");
        assert_eq!(error("[[tenant]]\nname = \"a\"\n[[tenant]]\nname = \"a\"\n"), "tenants file FILE: tenant `a` is listed twice");
        assert_eq!(error("[limits]\nmemory_mib = 1\n"), "tenants file FILE lists no [[tenant]]");
        assert!(error("[[tenant]]\nname = \"a\"\nlimits = { memroy_mib = 1 }\n").starts_with("tenants file FILE is malformed at byte "));
        let leaked = error("[[tenant]]\nname = \"a\"\nsecrets = { client_secret = \"hunter2-in-the-clear\" \n");
        assert!(leaked.starts_with("tenants file FILE is malformed") && !leaked.contains("hunter2"), "{leaked}");
        let (_dir, path) = tenants_file("[[tenant]]\nname = \"a\"\nlimits = { call_timeout_secs = 0 }\n");
        let spec = TenantSpec::many_from_file(&path).unwrap().remove(0).1.unwrap();
        let zero = spec.limits.apply(&mut SyncOptions::default()).unwrap_err();
        assert_eq!(zero.to_string(), "limit `call_timeout_secs` (--call-timeout-secs) must be a positive number of seconds");
    }
}
