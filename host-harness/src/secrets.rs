//! Secret values live here and only here: the egress hook borrows them to authenticate, and everything the
//! host prints goes through `Redactor` first (tokens obtained at run time are added to it as they appear).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

/// A secret value. `Debug` never shows it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// A secret holding `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

/// A tenant's secrets, by config key.
pub type Secrets = BTreeMap<String, Secret>;

/// Replaces every known secret value in text with `[REDACTED]`, and finds them in bytes.
#[derive(Clone, Default)]
pub struct Redactor {
    values: Arc<RwLock<Vec<String>>>,
    /// A redactor for everything: what this one learns, it learns too (one tenant's among many).
    parent: Option<Box<Redactor>>,
}

/// Credentials shorter than this are not looked for in responses: a short value would match ordinary data and
/// cut off good responses. Real secrets and tokens are far longer.
const SCANNED_MIN_LEN: usize = 8;

impl Redactor {
    /// A redactor of its own (one tenant's) that also teaches `self` whatever it learns.
    pub fn child(&self) -> Self {
        Self { values: Arc::default(), parent: Some(Box::new(self.clone())) }
    }

    /// Learns every secret value.
    pub fn add_secrets(&self, secrets: &Secrets) {
        for secret in secrets.values() {
            self.add(secret.expose());
        }
    }

    /// Redacts `value` from now on.
    pub fn add(&self, value: &str) {
        // Very short values would redact ordinary words; nobody's secret is three characters long.
        if value.len() >= 4 {
            let mut values = self.values.write().unwrap_or_else(|e| e.into_inner());
            if !values.iter().any(|v| v == value) {
                values.push(value.to_string());
                values.sort_by_key(|v| std::cmp::Reverse(v.len()));
            }
        }
        if let Some(parent) = &self.parent {
            parent.add(value);
        }
    }

    /// Whether `bytes` hold any known credential (of those long enough to look for).
    pub fn found_in(&self, bytes: &[u8]) -> bool {
        let values = self.values.read().unwrap_or_else(|e| e.into_inner());
        values.iter().filter(|v| v.len() >= SCANNED_MIN_LEN).any(|v| memchr::memmem::find(bytes, v.as_bytes()).is_some())
    }

    /// The longest credential looked for in bytes: a scan across chunks must overlap them by one byte less.
    pub fn longest(&self) -> usize {
        let values = self.values.read().unwrap_or_else(|e| e.into_inner());
        values.first().map_or(0, |v| v.len())
    }

    /// `text` with every known secret replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        let values = self.values.read().unwrap_or_else(|e| e.into_inner());
        let mut out = text.to_string();
        for value in values.iter() {
            if out.contains(value.as_str()) {
                out = out.replace(value.as_str(), "[REDACTED]");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_tokens_are_redacted() {
        let secrets = Secrets::from([("client_secret".to_string(), Secret::new("hunter22"))]);
        let redactor = Redactor::default();
        redactor.add_secrets(&secrets);
        redactor.add("tok-abc-123");
        assert_eq!(redactor.redact("bad secret hunter22 and token tok-abc-123"), "bad secret [REDACTED] and token [REDACTED]");
        assert_eq!(format!("{:?}", secrets["client_secret"]), "Secret([REDACTED])");
    }

    #[test]
    fn a_tenant_redactor_teaches_the_global_one_but_not_its_siblings() {
        let global = Redactor::default();
        let (a, b) = (global.child(), global.child());
        a.add("token-of-tenant-a");
        assert_eq!(global.redact("x token-of-tenant-a"), "x [REDACTED]");
        assert_eq!(b.redact("x token-of-tenant-a"), "x token-of-tenant-a");
        assert!(a.found_in(b"{\"echo\": \"Bearer token-of-tenant-a\"}"));
        assert!(!b.found_in(b"{\"echo\": \"Bearer token-of-tenant-a\"}"));
        assert_eq!(a.longest(), "token-of-tenant-a".len());
    }
}
