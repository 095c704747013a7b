//! What the end-to-end tests, the benchmarks and the demo share: the harness's CLI run in this process, and the
//! native lane (a connector's own core, without the sandbox).

pub mod native;

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The repository's root directory (this package is `tests/e2e` in it).
pub fn repository() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.join("../..").canonicalize().unwrap_or(here)
}

/// Runs `connector-harness ARGS…` in this process and times it; panics with its stderr if it fails.
/// Returns the wall time and what it printed.
pub fn timed_harness(args: &[&str]) -> (Duration, String) {
    let argv = std::iter::once("connector-harness").chain(args.iter().copied()).map(Into::into).collect();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let started = Instant::now();
    let code = connector_harness::cli::run(argv, &mut out, &mut err, false);
    let wall = started.elapsed();
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
    (wall, String::from_utf8(out).expect("the harness prints UTF-8"))
}
