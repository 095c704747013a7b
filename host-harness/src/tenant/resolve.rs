//! Resolving a tenant against its component: its keys and choices checked, defaults filled in, the origins it
//! may reach, its auth plan, trusted CA roots and grants; each a named step of `ResolvedTenant::resolve`.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Result, bail};
use rustls::pki_types::CertificateDer;

use super::TenantSpec;
use super::token_url::{fill_placeholders, token_url};
use crate::auth::{AuthPlan, Authenticator, OAuth2Plan};
use crate::contract::model::{AuthScheme, ConfigField, CredentialsPlacement, Metadata as ConnectorMetadata, OAuth2ClientCredentials, ResourceTypeCapabilities, WriteSchema};
use crate::display::printable;
use crate::egress::{EgressPolicy, Origin};
use crate::grants::{Granter, WriteGrants};
use crate::options::{LimitsSpec, SyncOptions};
use crate::secrets::{Redactor, Secret, Secrets};
use crate::throttle::Throttle;
use crate::transport;

/// A tenant checked against its component: ready to run.
pub struct ResolvedTenant {
    /// The tenant's name.
    pub name: String,
    /// Non-secret config for the guest's `open`, defaults applied.
    pub guest_config: Vec<(String, String)>,
    /// The origins the component may reach; the first, its base URL's, is the one requests are authenticated to.
    pub origins: Vec<Origin>,
    /// Redacts the tenant's secrets and tokens from what is printed.
    pub redactor: Redactor,
    /// The tenant's own limits, over the command line's.
    pub limits: LimitsSpec,
    /// What the component reads from, as one digest: its config values, its origins and who it authenticates
    /// as (digested with the rest, never kept alone). An interrupted sync is continued only for the same.
    pub source: String,
    /// What the component declares, and the writes granted to the tenant.
    declared: Vec<ResourceTypeCapabilities>,
    write_schemas: Vec<WriteSchema>,
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
        redactor.add_secrets(&spec.secrets);
        check_keys(&spec, schema)?;
        check_choices(&spec, schema)?;
        let config = with_defaults(&spec, schema)?;
        let origins = reachable_origins(metadata, &config)?;
        let auth = Arc::new(Authenticator::new(auth_plan(metadata, &spec, &config)?, redactor.clone()));
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
            write_schemas: metadata.write_schemas.clone(),
            writes: spec.writes,
            auth,
            extra_roots,
        })
    }

    /// What a session may be asked to do: the component's declared calls, and the granted writes when the
    /// session is for writing.
    pub fn granter(&self, writing: bool) -> Granter {
        Granter::new(self.declared.clone(), if writing { self.writes.clone() } else { WriteGrants::None }).with_write_schemas(self.write_schemas.clone())
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

/// Every config key and secret is one the component declares, and each is passed the way it is declared.
fn check_keys(spec: &TenantSpec, schema: &[ConfigField]) -> Result<()> {
    let keys = || schema.iter().map(|f| f.key.as_str()).collect::<Vec<_>>().join(", ");
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
    Ok(())
}

/// A field with choices holds one of them.
fn check_choices(spec: &TenantSpec, schema: &[ConfigField]) -> Result<()> {
    for field in schema.iter().filter(|f| !f.choices.is_empty()) {
        if let Some(value) = spec.config.get(&field.key)
            && !field.choices.contains(value)
        {
            bail!("config `{}`: `{}` is not one of {}", field.key, printable(value, 64), field.choices.join(", "));
        }
    }
    Ok(())
}

/// The operator's config with each missing field's default; an error for a missing required field or secret.
fn with_defaults(spec: &TenantSpec, schema: &[ConfigField]) -> Result<BTreeMap<String, String>> {
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
    Ok(config)
}

/// The origins the component may reach, each from a config field it declares (the operator's value, or the
/// default `inspect` shows); the first, its base URL's, is the one requests are authenticated to.
fn reachable_origins(metadata: &ConnectorMetadata, config: &BTreeMap<String, String>) -> Result<Vec<Origin>> {
    let mut origins = vec![Origin::parse(base_url(metadata, config)?)?];
    for field in &metadata.extra_origin_fields {
        match metadata.config_schema.iter().find(|f| &f.key == field) {
            Some(f) if !f.secret => {}
            _ => bail!("the connector declares `{field}` as an origin, but it is not one of its non-secret config fields"),
        }
        if let Some(value) = config.get(field) {
            origins.push(Origin::parse(value).map_err(|e| anyhow::anyhow!("config `{field}`: {e}"))?);
        }
    }
    Ok(origins)
}

fn base_url<'c>(metadata: &ConnectorMetadata, config: &'c BTreeMap<String, String>) -> Result<&'c str> {
    config
        .get(&metadata.base_url_field)
        .map(String::as_str)
        .ok_or_else(|| anyhow::anyhow!("the connector declares `{}` as its base URL, but it has no value", metadata.base_url_field))
}

/// How the egress authenticates the tenant's requests: the connector's scheme with the tenant's secrets.
fn auth_plan(metadata: &ConnectorMetadata, spec: &TenantSpec, config: &BTreeMap<String, String>) -> Result<AuthPlan> {
    let secret = |key: &str| -> Result<Secret> {
        spec.secrets.get(key).cloned().ok_or_else(|| anyhow::anyhow!("missing secret `{key}` for authentication: pass it with --secret {key}=…"))
    };
    Ok(match &metadata.auth {
        AuthScheme::None => AuthPlan::None,
        AuthScheme::Bearer(field) => AuthPlan::Bearer(secret(field)?),
        AuthScheme::OAuth2ClientCredentials(o) => {
            let token_url = token_url(&o.token_url, base_url(metadata, config)?, config, &metadata.config_schema)?;
            let client_id = config
                .get(&o.client_id_field)
                .cloned()
                .or_else(|| spec.secrets.get(&o.client_id_field).map(|s| s.expose().to_string()))
                .ok_or_else(|| anyhow::anyhow!("missing required config `{}`", o.client_id_field))?;
            AuthPlan::OAuth2(OAuth2Plan {
                token_url,
                client_id,
                client_secret: secret(&o.client_secret_field)?,
                credentials_in: credentials_placement(o, config)?,
                grant_type_in: o.grant_type_in,
                extra_params: o.extra_params.clone(),
            })
        }
    })
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
        Some(other) => bail!("config `{field}`: `{}` is not a way to send client credentials (basic, post, form-body or json-body)", printable(other, 64)),
    })
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

#[cfg(test)]
mod tests {
    use super::*;

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
            write_schemas: Vec::new(),
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
}
