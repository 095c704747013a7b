//! The real `connector-harness` binary: exit codes and single-line errors as a shell sees them.

use std::process::Command;

fn harness(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_connector-harness")).args(args).output().unwrap()
}

#[test]
fn help_succeeds_and_names_every_command() {
    let out = harness(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for command in ["inspect", "validate", "sync", "resources", "grants", "export", "diff"] {
        assert!(text.contains(command), "{command} missing from --help");
    }
}

#[test]
fn a_file_that_is_not_a_component_is_one_line_and_exit_1() {
    let out = harness(&["--no-cache", "inspect", "--component", env!("CARGO_MANIFEST_PATH")]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err, format!("error: {} is not usable: it is not a WebAssembly file\n", env!("CARGO_MANIFEST_PATH")));
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(harness(&["sync", "--bogus"]).status.code(), Some(2));
}
