//! Real parts the tests run where users have them: a PostgreSQL server from the system's binaries
//! (`postgres.rs`), and tools pinned on PyPI, each installed once into a virtual environment beside the test
//! binaries (`python_tool`). A machine without them fails the tests that need them, saying what is missing:
//! never a silent skip.

mod postgres;

pub use postgres::Postgres;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The target directory the running test binary was built into.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.parent().and_then(Path::parent).expect("the target directory").to_path_buf()
}

/// `program` of PyPI's `package` at `version`, installed on first use into `target/<package>-<version>`.
/// Test threads and processes may ask at once: one installs, the others wait for it.
pub fn python_tool(package: &str, version: &str, program: &str) -> PathBuf {
    let venv = target_dir().join(format!("{package}-{version}"));
    let installed = venv.join("bin").join(program);
    let lock = File::create(venv.with_extension("lock")).expect("creating the venv lock file");
    lock.lock().expect("locking the venv");
    if !installed.is_file() {
        let run = |command: &mut Command, what: &str| {
            let output = command.output().unwrap_or_else(|e| panic!("these tests need Python 3 to {what}: {e}"));
            assert!(output.status.success(), "could not {what}:\n{}", String::from_utf8_lossy(&output.stderr));
        };
        let _ = std::fs::remove_dir_all(&venv);
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv), &format!("create a virtual environment for {package}"));
        run(
            Command::new(venv.join("bin/pip")).args(["install", "--quiet", "--disable-pip-version-check", &format!("{package}=={version}")]),
            &format!("install {package} {version} from PyPI"),
        );
    }
    installed
}
