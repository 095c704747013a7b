//! The SCIM connector: against `scim2-server` (a real SCIM server from PyPI, which nobody here wrote) for
//! sync and every write, and against the project's own SCIM double for what that server cannot show.

mod quirks;
mod reference;
pub mod scim2_server;

use crate::common::*;

pub fn scim_component() -> String {
    component_build::scim_component().display().to_string()
}

/// The connection flags of a SCIM tenant, after `command`.
pub fn scim_args(scratch: &Scratch, command: &[&str], base_url: &str, token: &str) -> Vec<String> {
    let mut args: Vec<String> = vec!["--cache-dir".into(), scratch.cache()];
    args.extend(command.iter().map(|s| s.to_string()));
    args.extend(["--component".into(), scim_component(), "--config".into(), format!("base_url={base_url}"), "--secret".into(), format!("token={token}")]);
    args
}

/// Syncs into the scratch store with `extra` flags.
pub fn scim_sync(scratch: &Scratch, base_url: &str, token: &str, extra: &[&str]) -> Outcome {
    let mut command = vec!["sync", "--store"];
    let store = scratch.store();
    command.push(&store);
    command.extend(extra);
    harness(&scim_args(scratch, &command, base_url, token))
}
