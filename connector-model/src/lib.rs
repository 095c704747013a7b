//! The plain-Rust model of the `identity:connector` contract (`wit/connector.wit`): what a connector returns and
//! a host stores, its typed errors, and the wire rules both apply. The guest SDK (`connector-sdk`) re-exports it
//! for connectors; hosts use it directly, so the host's model is not the guest SDK.

mod conversions;
pub mod error;
pub mod model;
pub mod wire;

pub use error::{ConnectorError, Result};
