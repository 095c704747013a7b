//! What the demo (`examples/demo.rs`) needs around the harness: its command line run in this process, and where
//! the checkout is.

use std::path::PathBuf;

/// Runs `connector-harness ARGS…` in this process, showing progress as a terminal would: what it printed, or
/// what it printed on stderr when it failed.
pub fn harness(args: &[&str]) -> Result<String, String> {
    let mut argv: Vec<std::ffi::OsString> = vec!["connector-harness".into()];
    argv.extend(args.iter().map(Into::into));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = connector_harness::cli::run(argv, &mut out, &mut err, true);
    if code == 0 { Ok(String::from_utf8_lossy(&out).into_owned()) } else { Err(String::from_utf8_lossy(&err).into_owned()) }
}

/// The checkout's root directory.
pub fn repository() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.join("../..").canonicalize().unwrap_or(here)
}
