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

/// A finished child process: what it printed, how long it ran, and its peak resident memory.
pub struct Measured {
    pub stdout: Vec<u8>,
    pub wall: Duration,
    pub peak_kib: u64,
}

/// Runs `command` to its end and measures it, its output read on threads of their own so that a full pipe never
/// stops it. The peak is the child's own high-water mark (VmHWM), read from /proc until it exits: getrusage's
/// figure for children would include the moment after fork, when the child still maps its parent and all the
/// parent holds (a benchmark's double and its whole company). Panics with the child's stderr if it fails.
pub fn run_measured(command: &mut std::process::Command) -> Measured {
    use std::io::Read as _;
    use std::process::Stdio;
    let started = Instant::now();
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("starting the measured process");
    let read = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            pipe.read_to_end(&mut bytes).map(|_| bytes)
        })
    };
    let stdout = read(Box::new(child.stdout.take().expect("stdout")));
    let stderr = read(Box::new(child.stderr.take().expect("stderr")));
    let status = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    let exit = loop {
        let hwm = std::fs::read_to_string(&status).ok().and_then(|s| s.lines().find_map(|l| l.strip_prefix("VmHWM:").and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())));
        peak_kib = peak_kib.max(hwm.unwrap_or(0));
        if let Some(exit) = child.try_wait().expect("waiting for the measured process") {
            break exit;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let wall = started.elapsed();
    let stderr = stderr.join().expect("stderr reader").expect("reading stderr");
    assert!(exit.success(), "{}", String::from_utf8_lossy(&stderr));
    Measured { stdout: stdout.join().expect("stdout reader").expect("reading stdout"), wall, peak_kib }
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
