#![warn(missing_docs)]

//! connector-harness: a generic wasmtime host for identity-connector components. It loads any component of the
//! `identity:connector` world, gives it non-secret config, and owns everything a connector must not: egress,
//! authentication and secrets, sandbox limits, retries, the sync driver, the store (SQLite or PostgreSQL) and
//! the service that keeps many tenants fresh.
//!
//! The modules the CLI, the service, the benchmarks and the tests use are public; the helpers behind them are
//! not.

pub mod auth;
pub mod cli;
pub mod contract;
pub mod driver;
pub mod egress;
pub mod fleet;
pub mod flow;
pub mod gateway;
pub mod grants;
pub mod guest_log;
pub mod interrupt;
pub mod options;
pub mod runtime;
pub mod secrets;
pub mod service;
pub mod store;
pub mod tenant;
pub mod throttle;

#[cfg(test)]
mod conformance;
mod display;
mod failure;
mod files;
mod records;
mod scim_export;
mod scim_path;
mod transport;
