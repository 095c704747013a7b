//! The contract at the host's edge. Each version of `identity:connector` the host supports has a module of its
//! own (its bindings, and conversions to the model); everything else in the host speaks one model,
//! `connector_model::model` (the one connectors speak through the SDK), whichever version a component was
//! built against. `runtime` picks the module by the version in the component's export name.

pub(crate) mod v0_1;
pub(crate) mod v0_2;
pub(crate) mod v0_3;
pub(crate) mod v0_4;
pub(crate) mod v0_5;

pub use connector_model::ConnectorError;
pub use connector_model::model;

/// The longest connector message the host repeats: the guest writes it, and the host prints it.
const MESSAGE_BYTES: usize = 4 << 10;

/// One line naming the kind of error and the connector's message (capped, control characters escaped).
pub fn describe(e: &ConnectorError) -> String {
    let whole = match e {
        ConnectorError::Internal(m) => format!("connector internal error: {m}"),
        other => other.to_string(),
    };
    crate::display::printable(&whole, MESSAGE_BYTES)
}

#[cfg(test)]
mod tests {
    use super::model::{Grant, ResourceId};

    #[test]
    fn a_grant_reaches_each_version_with_the_fields_it_has() {
        let grant = Grant::new("group:g1:member", ResourceId::new("user", "u1")).derived("a dynamic group");
        // 0.4 carries why a grant is immutable; 0.1 has no such field, and reads back as "not immutable".
        assert_eq!(Grant::from(super::v0_4::w::Grant::from(grant.clone())), grant);
        let through_0_1 = Grant::from(super::v0_1::w::Grant::from(grant.clone()));
        assert_eq!(through_0_1, Grant { immutable: None, ..grant });
    }
}
