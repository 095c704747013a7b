//! The harness's integration tests: one test binary (it links wasmtime once), one module per area.

mod binary;
mod egress;
mod flow_crash;
mod manifests;
mod resume;
mod runtime;
mod serve;
mod store_tls;
mod stores;
mod transport;

/// Runs the CLI in this process, exactly as the binary does: (exit code, stdout, stderr).
fn cli(args: &[String]) -> (i32, String, String) {
    let mut argv: Vec<std::ffi::OsString> = vec!["connector-harness".into()];
    argv.extend(args.iter().map(Into::into));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = connector_harness::cli::run(argv, &mut out, &mut err, false);
    (code, String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap())
}
