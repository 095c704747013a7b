//! Secret values live here and only here: the egress hook borrows them to authenticate, and everything the
//! host prints goes through `Redactor` first (tokens obtained at run time are added to it as they appear).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

/// A secret value. `Debug` never shows it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

pub type Secrets = BTreeMap<String, Secret>;

/// Replaces every known secret value in text with `[REDACTED]`.
#[derive(Clone, Default)]
pub struct Redactor {
    values: Arc<RwLock<Vec<String>>>,
}

impl Redactor {
    /// Learns every secret value.
    pub fn add_secrets(&self, secrets: &Secrets) {
        for secret in secrets.values() {
            self.add(secret.expose());
        }
    }

    pub fn add(&self, value: &str) {
        // Very short values would redact ordinary words; nobody's secret is three characters long.
        if value.len() >= 4 {
            let mut values = self.values.write().unwrap_or_else(|e| e.into_inner());
            if !values.iter().any(|v| v == value) {
                values.push(value.to_string());
                values.sort_by_key(|v| std::cmp::Reverse(v.len()));
            }
        }
    }

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
}
