//! The Pingboard identity connector. The core (config, API client, mapping, session) is plain Rust behind the
//! `http::HttpClient` seam, so it runs natively in tests and benchmarks; `component` (wasm32 only) exports it
//! through the `identity:connector` WIT world, with `waki` over the host's `wasi:http`.

pub mod api;
pub mod config;
pub mod connector;
pub mod error;
pub mod http;
pub mod model;
pub mod provisioning;
pub mod resources;

#[cfg(target_arch = "wasm32")]
mod component;
