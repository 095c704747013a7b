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

/// What a run of the harness's CLI came to.
pub struct Outcome {
    pub code: i32,
    pub out: String,
    pub err: String,
}

impl Outcome {
    /// What it printed, when it succeeded; a panic with its stderr otherwise.
    #[track_caller]
    pub fn ok(self) -> String {
        assert_eq!(self.code, 0, "harness failed: {}", self.err);
        self.out
    }
}

/// Runs `connector-harness ARGS…` in this process, showing progress as a terminal would if `show_progress`.
pub fn run_harness<S: AsRef<str>>(args: &[S], show_progress: bool) -> Outcome {
    let mut argv: Vec<std::ffi::OsString> = vec!["connector-harness".into()];
    argv.extend(args.iter().map(|a| a.as_ref().into()));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = connector_harness::cli::run(argv, &mut out, &mut err, show_progress);
    Outcome { code, out: String::from_utf8(out).expect("the harness prints UTF-8"), err: String::from_utf8(err).expect("the harness prints UTF-8") }
}

/// For a benchmark that measures the harness in a process of its own (itself, re-executed with `--child` and
/// the harness's arguments): when `args` begin with `--child`, runs the harness with the rest and exits with its
/// code.
pub fn exit_if_harness_child(args: &[String]) {
    if args.first().map(String::as_str) == Some("--child") {
        let argv = std::iter::once("connector-harness".to_string()).chain(args[1..].iter().cloned()).map(Into::into).collect();
        let code = connector_harness::cli::run(argv, &mut std::io::stdout(), &mut std::io::stderr(), false);
        std::process::exit(code);
    }
}

/// `run_harness` without progress, as the tests run it.
pub fn harness<S: AsRef<str>>(args: &[S]) -> Outcome {
    run_harness(args, false)
}

/// Runs `connector-harness ARGS…` in this process and times it; panics with its stderr if it fails.
/// Returns the wall time and what it printed.
pub fn timed_harness(args: &[&str]) -> (Duration, String) {
    let started = Instant::now();
    let outcome = harness(args);
    let wall = started.elapsed();
    (wall, outcome.ok())
}
