//! The wasmtime side: one engine with a pooling allocator, components compiled once and cached precompiled on
//! disk, one pre-instantiated component shared by every tenant, and a fresh sandboxed store per tenant session.
//! The sandbox's limits (memory, wall clock per call, no files, no environment, no sockets, stdio captured
//! into a capped log) are all set here, and a tenant the egress policy stopped is stopped here. The engine and
//! its cache (`engine.rs`), the sandbox (`sandbox.rs`), the contract versions (`versions.rs`) and the instance
//! calls (`instance.rs`) are one file each.

mod engine;
mod instance;
mod sandbox;
mod versions;

pub use engine::{DEFAULT_POOL_SLOTS, LoadedComponent, Runtime, hex};
pub use instance::{CallError, Instance};
pub use sandbox::Sandbox;
