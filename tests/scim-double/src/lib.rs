//! A SCIM 2.0 service provider double: a deterministic generated directory served on 127.0.0.1, with
//! request counting and the misbehaviours a real server can show and `scim2-server` cannot: a capped
//! `count`, a wrong `totalResults`, groups listed without `members`, 429 with `Retry-After`, a cut-short
//! body, no `/Groups`, no PATCH. Writes are tested against `scim2-server` itself; this double serves reads,
//! and the PUT a server without PATCH needs.

pub mod directory;
mod server;

pub use directory::{Directory, DirectorySpec};
pub use loopback_server::Limit;
pub use server::{Counts, Quirks, ScimDouble, TOKEN};
