//! The end-to-end tests: the built components, run by the harness against the test doubles. One test binary
//! (it links wasmtime once), one module per area.

mod common;

mod auth;
mod bad_input;
mod faults;
mod flows;
mod provisioning;
mod sandbox;
mod node_host;
mod pingone;
mod scim;
mod sdk_example;
mod sync;
