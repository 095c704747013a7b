//! The tenant's file formats: one tenant's TOML file, the file of many tenants, and the command-line flags that
//! override them, read into a `TenantSpec`. Secrets are read here (from the environment, a file or the file's
//! own value) and never printed; a malformed file is named without echoing it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use serde::Deserialize;

use super::{DEFAULT_TENANT, TenantSpec};
use crate::files;
use crate::flow::FlowSpec;
use crate::grants::WriteGrants;
use crate::options::{LimitsSpec, parse_interval};
use crate::secrets::Secret;

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
    /// For `serve --scim-listen`: the SCIM gateway's bearer token, `{ token = { env = "…" } }` (`gateway/`).
    scim: Option<ScimKey>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScimKey {
    token: SecretSource,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ProvisioningKey {
    All(bool),
    Only(Vec<String>),
}

/// The file of many tenants (`sync --tenants`): a `[limits]` table for all of them, then one `[[tenant]]` table
/// per tenant, each shaped like a tenant file (with `name` for `tenant`), and the `[[flow]]` tables that join
/// them (read by `flow::FlowSpec`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantsFile {
    #[serde(default)]
    limits: LimitsSpec,
    #[serde(default)]
    tenant: Vec<TenantFile>,
    #[serde(default)]
    flow: Vec<toml::Table>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretSource {
    env: Option<String>,
    file: Option<PathBuf>,
    value: Option<String>,
}

impl SecretSource {
    /// The secret `key` from where the file (`path`, in the directory `base`) says.
    fn read(self, key: &str, base: &Path, path: &Path) -> Result<Secret> {
        match (self.env, self.file, self.value) {
            (Some(var), None, None) => read_env_secret(key, &var),
            (None, Some(file), None) => {
                let file = beside(base, file);
                let text = files::read_text(&file, files::SECRET_FILE_MAX_BYTES, &format!("secret `{key}` from file"))?;
                Ok(Secret::new(text.trim_end_matches(['\n', '\r'])))
            }
            (None, None, Some(value)) => Ok(Secret::new(value)),
            _ => bail!("tenant file {}: secret `{key}` needs exactly one of env, file or value", path.display()),
        }
    }
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
    /// The tenant of a tenant file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let file: TenantFile = read_toml(path, "tenant file")?;
        if let Some(name) = &file.tenant {
            check_name(name).map_err(|e| anyhow::anyhow!("tenant file {}: {e}", path.display()))?;
        }
        Self::from_table(file, path, &LimitsSpec::default())
    }

    /// Every tenant of a tenants file. A malformed file, or a flow in it that does not read, is an error; a tenant
    /// whose secrets cannot be read is an error of that tenant alone, so the others still run.
    pub fn many_from_file(path: &Path) -> Result<Vec<(String, Result<TenantSpec>)>> {
        Ok(read_tenants_file(path)?.0)
    }

    /// Every tenant of a tenants file, as `many_from_file` has them, and its flows (`[[flow]]`), each checked
    /// against the file's tenants: one read of the file for a command that needs both.
    pub fn tenants_and_flows(path: &Path) -> Result<TenantsAndFlows> {
        read_tenants_file(path)
    }

    /// The files a tenants file names for its tenants to read: secret files and CA files (not components).
    /// Empty when the file does not parse.
    pub fn files_named_by(path: &Path) -> Vec<PathBuf> {
        let Ok(file) = read_toml::<TenantsFile>(path, "tenants file") else { return Vec::new() };
        let base = path.parent().unwrap_or(Path::new("."));
        let secret_files = |tenant: &TenantFile| tenant.secrets.values().chain(tenant.scim.as_ref().map(|scim| &scim.token)).filter_map(|source| source.file.clone()).collect::<Vec<_>>();
        file.tenant.iter().flat_map(|tenant| secret_files(tenant).into_iter().chain(tenant.ca_file.clone())).map(|named| beside(base, named)).collect()
    }
}

/// A tenants file's tenants and flows.
pub type TenantsAndFlows = (Vec<(String, Result<TenantSpec>)>, Vec<FlowSpec>);

fn read_tenants_file(path: &Path) -> Result<TenantsAndFlows> {
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
        tenants.push((name, TenantSpec::from_table(table, path, &file.limits)));
    }
    let names: Vec<String> = tenants.iter().map(|(name, _)| name.clone()).collect();
    let flows = FlowSpec::many_from_tables(file.flow, &names).map_err(|e| anyhow::anyhow!("tenants file {}: {e}", path.display()))?;
    Ok((tenants, flows))
}

impl TenantSpec {
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
            let secret = source.read(&key, base, path)?;
            spec.secrets.insert(key, secret);
        }
        spec.scim_token = file.scim.map(|scim| scim.token.read("scim.token", base, path)).transpose()?;
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

    /// The component to run, or an error saying how to name one.
    pub fn component_path(&self) -> Result<&Path> {
        self.component.as_deref().ok_or_else(|| anyhow::anyhow!("no component given: pass --component PATH or set `component` in the tenant file"))
    }
}

/// A tenant's name is printed in every line about it: it may not carry control characters. It is also its key
/// in the service's schedule, where `flow:` begins a flow's (`store::FLOW_JOB`).
fn check_name(name: &str) -> Result<()> {
    if name.chars().any(crate::display::is_unsafe) {
        bail!("tenant name `{}` contains a control character", crate::display::printable(name, 256));
    }
    if name.starts_with(crate::store::FLOW_JOB) {
        bail!("tenant name `{}` may not begin with `{}`: the service's schedule keeps flows under that prefix", crate::display::printable(name, 256), crate::store::FLOW_JOB);
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

    #[test]
    fn flows_sit_beside_the_tenants_they_join_and_a_bad_one_stops_the_file() {
        let tenants = "[[tenant]]\nname = \"dir\"\n[[tenant]]\nname = \"app\"\n";
        let flow = |source: &str| format!("[[flow]]\nname = \"f\"\nsource = \"{source}\"\ntarget = \"app\"\nmatch = {{ source = \"user.login\", target = \"email\" }}\n[flow.map]\nemail = \"user.login\"\n");
        let (_dir, path) = tenants_file(&format!("{tenants}{}", flow("dir")));
        let (read, flows) = TenantSpec::tenants_and_flows(&path).unwrap();
        assert_eq!(flows.iter().map(|f| (f.name.as_str(), f.source.as_str(), f.target.as_str())).collect::<Vec<_>>(), [("f", "dir", "app")]);
        assert_eq!(read.len(), 2);
        assert_eq!(TenantSpec::many_from_file(&path).unwrap().len(), 2);
        assert_eq!(error(&format!("{tenants}{}", flow("ldap"))), "tenants file FILE: flow `f`: source `ldap` is not a tenant of this file");
    }
}
