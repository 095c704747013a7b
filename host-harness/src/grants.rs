//! Which calls a tenant's component may be asked to make, decided in one place: a call is made only if the
//! component declares the capability for the resource type *and*, for a write, the operator granted it to
//! the tenant, with fields the type's write schema accepts (a create carrying every required field).
//! `runtime::Instance` consults a `Granter` before every call it passes to the guest, so no caller (the CLI, a
//! library user, a future service) can skip the check.
//!
//! An operator grants writes with `--provisioning` (every write the component declares) or, per tenant, with
//! `provisioning = true` or a list such as `provisioning = ["group:grant", "group:revoke"]` in the tenant's
//! table (`TYPE:OPERATION`, `*` for any type).

use std::collections::BTreeSet;

use anyhow::{Result, bail};

use crate::contract::model::{Capabilities, ResourceTypeCapabilities, Write, WriteSchema};

/// The writes an operator granted a tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum WriteGrants {
    /// Reads only (the default).
    #[default]
    None,
    /// Every write the component declares.
    All,
    /// These `(resource type or "*", operation)` pairs.
    Only(BTreeSet<(String, String)>),
}

impl WriteGrants {
    /// Parses `TYPE:OPERATION` items (e.g. `group:grant`, `*:revoke`).
    pub fn parse(items: &[String]) -> Result<Self> {
        let mut granted = BTreeSet::new();
        for item in items {
            let write = |operation| Capabilities::named(operation).is_some_and(|c| Capabilities::WRITES.contains(c));
            match item.split_once(':') {
                Some((resource_type, operation)) if !resource_type.is_empty() && write(operation) => {
                    granted.insert((resource_type.to_string(), operation.to_string()));
                }
                _ => bail!("provisioning grant `{item}` must be TYPE:OPERATION, the operation one of {} (TYPE may be *)", Capabilities::WRITES),
            }
        }
        Ok(if granted.is_empty() { Self::None } else { Self::Only(granted) })
    }

    /// Whether any write is granted.
    pub fn any(&self) -> bool {
        *self != Self::None
    }

    fn allows(&self, resource_type: &str, capability: Capabilities) -> bool {
        match self {
            Self::None => false,
            Self::All => true,
            Self::Only(granted) => granted.iter().any(|(t, op)| (t == "*" || t == resource_type) && Capabilities::named(op) == Some(capability)),
        }
    }

    /// For people: `all declared writes`, `none`, or the list.
    pub fn describe(&self) -> String {
        match self {
            Self::None => "none".into(),
            Self::All => "every write the connector declares".into(),
            Self::Only(granted) => granted.iter().map(|(t, op)| format!("{t}:{op}")).collect::<Vec<_>>().join(", "),
        }
    }
}

/// What a component declares and what its tenant was granted, checked together.
#[derive(Debug, Clone, Default)]
pub struct Granter {
    declared: Vec<ResourceTypeCapabilities>,
    granted: WriteGrants,
    write_schemas: Vec<WriteSchema>,
}

impl Granter {
    /// What a session may do: the `declared` calls, and of the writes those `granted`.
    pub fn new(declared: Vec<ResourceTypeCapabilities>, granted: WriteGrants) -> Self {
        Self { declared, granted, write_schemas: Vec::new() }
    }

    /// The same, with the fields the component's writes accept (contract 0.5 on).
    pub fn with_write_schemas(mut self, write_schemas: Vec<WriteSchema>) -> Self {
        self.write_schemas = write_schemas;
        self
    }

    /// Whether this session may write at all (the guest is told, so it refuses writes itself too).
    pub fn provisioning(&self) -> bool {
        self.granted.any()
    }

    /// Every grant must name a declared type and a write the component declares for it.
    pub fn check_grants(&self) -> Result<()> {
        let WriteGrants::Only(granted) = &self.granted else { return Ok(()) };
        for (resource_type, operation) in granted {
            let declares = |c: &ResourceTypeCapabilities| Capabilities::named(operation).is_some_and(|o| c.capabilities.contains(o));
            let known = match resource_type.as_str() {
                "*" => self.declared.iter().any(declares),
                t => self.declared.iter().any(|c| c.resource_type == t && declares(c)),
            };
            if !known {
                bail!("provisioning grant `{resource_type}:{operation}` names a write the connector does not declare");
            }
        }
        Ok(())
    }

    /// Why `call` (on `resource_type`) may not be made, if it may not: the component does not declare it, or,
    /// for a write, the tenant was not granted it.
    pub fn refusal(&self, call: &str, resource_type: &str, capability: Capabilities) -> Option<String> {
        let Some(declared) = self.declared.iter().find(|c| c.resource_type == resource_type) else {
            return Some(format!("unknown resource type `{}`", crate::display::printable(resource_type, 256)));
        };
        if !declared.capabilities.contains(capability) {
            let declares = declared.capabilities;
            return Some(format!("the connector does not declare `{capability}` for `{resource_type}`, so {call} is not called (it declares: {declares})"));
        }
        let write = Capabilities::WRITES.contains(capability);
        if write && !self.granted.allows(resource_type, capability) {
            let how = match self.granted {
                WriteGrants::None => "pass --provisioning, or grant it in the tenant's `provisioning` list".to_string(),
                _ => format!("this tenant is granted only: {}", self.granted.describe()),
            };
            return Some(format!("{call} writes to the source, and `{resource_type}:{capability}` was not granted: {how}"));
        }
        None
    }

    /// Why a `write` named `call` of `resource_type` may not carry `fields`, if the type's declared write schema
    /// refuses them (a field it does not know, one this write cannot set, a required one missing on a create).
    pub fn fields_refusal(&self, call: &str, resource_type: &str, write: Write, fields: &[(String, String)]) -> Option<String> {
        let schema = self.write_schemas.iter().find(|s| s.resource_type == resource_type)?;
        schema.check(call, write, fields).err().map(|reason| crate::display::printable(&reason, 512))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared() -> Vec<ResourceTypeCapabilities> {
        let group = Capabilities::LIST | Capabilities::GRANT | Capabilities::REVOKE | Capabilities::CREATE;
        vec![ResourceTypeCapabilities { resource_type: "group".into(), capabilities: group, listed_with: None }]
    }

    fn grants(items: &[&str]) -> WriteGrants {
        WriteGrants::parse(&items.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn a_write_needs_both_the_declaration_and_the_grant() {
        let only_grant = Granter::new(declared(), grants(&["group:grant"]));
        assert_eq!(only_grant.refusal("grant", "group", Capabilities::GRANT), None);
        assert_eq!(
            only_grant.refusal("revoke", "group", Capabilities::REVOKE).unwrap(),
            "revoke writes to the source, and `group:revoke` was not granted: this tenant is granted only: group:grant"
        );
        assert_eq!(
            only_grant.refusal("delete-resource", "group", Capabilities::DELETE).unwrap(),
            "the connector does not declare `delete` for `group`, so delete-resource is not called (it declares: list, create, grant, revoke)"
        );
        assert_eq!(only_grant.refusal("grant", "robot", Capabilities::GRANT).unwrap(), "unknown resource type `robot`");
        let reads_only = Granter::new(declared(), WriteGrants::None);
        assert!(!reads_only.provisioning());
        assert!(reads_only.refusal("create-resource", "group", Capabilities::CREATE).unwrap().ends_with("pass --provisioning, or grant it in the tenant's `provisioning` list"));
        let everything = Granter::new(declared(), WriteGrants::All);
        assert_eq!(everything.refusal("revoke", "group", Capabilities::REVOKE), None);
        let any_type = Granter::new(declared(), grants(&["*:create"]));
        assert_eq!(any_type.refusal("create-resource", "group", Capabilities::CREATE), None);
    }

    #[test]
    fn grants_are_checked_against_what_the_connector_declares() {
        assert!(Granter::new(declared(), grants(&["group:grant", "*:revoke"])).check_grants().is_ok());
        let error = Granter::new(declared(), grants(&["group:delete"])).check_grants().unwrap_err();
        assert_eq!(error.to_string(), "provisioning grant `group:delete` names a write the connector does not declare");
        let error = WriteGrants::parse(&["group:list".to_string()]).unwrap_err();
        assert_eq!(error.to_string(), "provisioning grant `group:list` must be TYPE:OPERATION, the operation one of create, update, delete, grant, revoke (TYPE may be *)");
    }
}
