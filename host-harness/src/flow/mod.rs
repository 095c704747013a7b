//! Provisioning flows: keep a target tenant's accounts in line with a source tenant's users, the way Microsoft
//! Entra provisions an application from a directory. A flow is data in the tenants file (`spec.rs`); each
//! target field is an expression over the source's export record (`mapping.rs`); a cycle's plan is made from
//! both tenants' latest syncs and the accounts the flow linked before (`inputs.rs`, `plan.rs`), and run
//! through the target's component (`cycle.rs`).

pub mod cycle;
pub mod inputs;
pub mod mapping;
pub mod plan;
pub mod spec;

pub use spec::{Deprovision, FlowSpec, Removal, Threshold};
