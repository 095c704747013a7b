//! The service's configuration: the tenants file's tenants and flows, each one's interval, and the components
//! they run. Read at start, and again on SIGHUP or when the tenants file or a file it names changes on disk. A
//! Kubernetes ConfigMap or Secret volume swaps its files through a symbolic link, which reads as a change of
//! content, so files are compared by content, not watched. A file that does not parse is refused in one line
//! and the running configuration kept. Each run takes the configuration of the moment it is claimed.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use sha2::{Digest, Sha256};

use crate::flow::FlowSpec;
use crate::fleet::Components;
use crate::runtime::Runtime;
use crate::secrets::Redactor;
use crate::store::FLOW_JOB;
use crate::tenant::TenantSpec;

use super::Policy;

/// One reading of the tenants file, with its components loaded: replaced whole by a reload.
pub(super) struct Configuration {
    /// Each tenant's spec, or why it cannot run (redacted).
    pub specs: HashMap<String, Result<TenantSpec, String>>,
    /// The flows, by name; each is the schedule's `flow:NAME` row.
    pub flows: HashMap<String, FlowSpec>,
    /// Each tenant's interval (its own, or the service's), and each flow's, by schedule key.
    pub intervals: HashMap<String, Duration>,
    pub components: Components,
    /// What each tenant and flow was read as, to say what a reload changed.
    digests: HashMap<String, [u8; 32]>,
}

/// What a reload changed, by schedule key.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Changes {
    pub added: BTreeSet<String>,
    pub removed: BTreeSet<String>,
    pub changed: BTreeSet<String>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

impl std::fmt::Display for Changes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_empty() {
            return f.write_str("nothing changed");
        }
        let list = |set: &BTreeSet<String>| set.iter().map(String::as_str).collect::<Vec<_>>().join(", ");
        let parts: Vec<String> = [("added", &self.added), ("removed", &self.removed), ("changed", &self.changed)]
            .into_iter()
            .filter(|(_, set)| !set.is_empty())
            .map(|(what, set)| format!("{what} {}", list(set)))
            .collect();
        f.write_str(&parts.join("; "))
    }
}

impl Configuration {
    /// Reads the tenants file at `path`; its components are loaded by `load_components`.
    pub fn read(path: &Path, policy: &Policy, redactor: &Redactor) -> Result<Self> {
        let (specs, flows) = TenantSpec::tenants_and_flows(path)?;
        let mut intervals: HashMap<String, Duration> =
            specs.iter().map(|(name, spec)| (name.clone(), spec.as_ref().ok().and_then(|s| s.interval).unwrap_or(policy.interval))).collect();
        intervals.extend(flows.iter().map(|flow| (format!("{FLOW_JOB}{}", flow.name), flow.interval)));
        let mut digests: HashMap<String, [u8; 32]> = specs.iter().map(|(name, spec)| (name.clone(), spec_digest(spec))).collect();
        digests.extend(flows.iter().map(|flow| (format!("{FLOW_JOB}{}", flow.name), Sha256::digest(format!("{flow:?}")).into())));
        let specs = specs.into_iter().map(|(name, spec)| (name, spec.map_err(|e| redactor.redact(&format!("{e:#}"))))).collect();
        let flows = flows.into_iter().map(|flow| (flow.name.clone(), flow)).collect();
        Ok(Self { specs, flows, intervals, components: Components::default(), digests })
    }

    /// Loads the tenants' components, taking those `previous` loaded as they are.
    pub async fn load_components(&mut self, runtime: &Runtime, previous: &Components) {
        self.components = previous.reload(runtime, self.specs.values().filter_map(|spec| spec.as_ref().ok())).await;
        for (path, e) in self.components.failed() {
            tracing::error!(component = %path.display(), "cannot load component: {}", crate::display::one_line(e));
        }
    }

    /// Every schedule key (tenants', and flows' `flow:NAME`) with its interval, by name.
    pub fn schedule_keys(&self) -> Vec<(String, Duration)> {
        let mut keys: Vec<(String, Duration)> = self.intervals.iter().map(|(key, interval)| (key.clone(), *interval)).collect();
        keys.sort();
        keys
    }

    /// The tenants whose table sets `scim = { token = … }`, by name.
    pub fn scim_tenants(&self) -> Vec<&TenantSpec> {
        let mut tenants: Vec<&TenantSpec> = self.specs.values().filter_map(|spec| spec.as_ref().ok()).filter(|spec| spec.scim_token.is_some()).collect();
        tenants.sort_by(|a, b| a.name.cmp(&b.name));
        tenants
    }

    /// What changed since `before`: tenants and flows added, removed, or read differently (a secret rotated
    /// included).
    pub fn changes_since(&self, before: &Configuration) -> Changes {
        let mut changes = Changes::default();
        for (key, digest) in &self.digests {
            match before.digests.get(key) {
                None => changes.added.insert(key.clone()),
                Some(old) if old != digest => changes.changed.insert(key.clone()),
                Some(_) => false,
            };
        }
        changes.removed = before.digests.keys().filter(|key| !self.digests.contains_key(*key)).cloned().collect();
        changes
    }
}

/// A digest of everything a tenant was read as, its secrets' values included (never shown: only compared).
fn spec_digest(spec: &anyhow::Result<TenantSpec>) -> [u8; 32] {
    let mut hasher = Sha256::new();
    match spec {
        Ok(spec) => {
            hasher.update(format!("{spec:?}"));
            let secrets = spec.secrets.iter().map(|(key, secret)| (key.as_str(), secret));
            for (key, secret) in secrets.chain(spec.scim_token.as_ref().map(|token| ("scim.token", token))) {
                hasher.update(format!("\0{key}\0{}\0", secret.expose().len()));
                hasher.update(secret.expose());
            }
        }
        Err(e) => hasher.update(format!("error: {e:#}")),
    }
    hasher.finalize().into()
}

/// The tenants file and the files it names, as last read: `changed` says when any of their contents differ.
pub(super) struct WatchedFiles {
    tenants_file: PathBuf,
    digest: [u8; 32],
}

impl WatchedFiles {
    pub fn new(tenants_file: &Path) -> Self {
        Self { tenants_file: tenants_file.to_path_buf(), digest: Self::digest_of(tenants_file) }
    }

    /// Whether a file changed since the last call (or `new`). A file that cannot be read counts as empty, so
    /// its disappearance and its return are changes too.
    pub fn changed(&mut self) -> bool {
        let digest = Self::digest_of(&self.tenants_file);
        std::mem::replace(&mut self.digest, digest) != digest
    }

    fn digest_of(tenants_file: &Path) -> [u8; 32] {
        let mut hasher = Sha256::new();
        for path in std::iter::once(tenants_file.to_path_buf()).chain(TenantSpec::files_named_by(tenants_file)) {
            let content = std::fs::read(&path).unwrap_or_default();
            hasher.update(format!("{}\0{}\0", path.display(), content.len()));
            hasher.update(&content);
        }
        hasher.finalize().into()
    }
}
