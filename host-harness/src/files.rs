//! Every file the host reads on an operator's behalf (components, tenant files, secret files, the compile cache)
//! is read here: only a regular file, never more than a cap, and never by blocking on something that is not a
//! file. `/dev/zero`, a FIFO or a sparse 1 GB "secret" is refused with one line, not read.

use std::io::Read as _;
use std::path::Path;
use std::time::Duration;

use anyhow::{Result, bail};

/// Caps, by what is read. A connector component is a few MiB; a tenants file of thousands of tenants is well
/// under a MiB; a secret is a line.
pub const COMPONENT_MAX_BYTES: u64 = 256 << 20;
pub const TENANTS_FILE_MAX_BYTES: u64 = 16 << 20;
pub const SECRET_FILE_MAX_BYTES: u64 = 64 << 10;

/// How long one file may take to read: a regular file on a hung network mount would otherwise block forever.
const READ_DEADLINE: Duration = Duration::from_secs(30);

/// Reads a whole regular file of at most `max` bytes, within `READ_DEADLINE`. `what` names it in errors
/// ("secret file", …).
pub fn read_bounded(path: &Path, max: u64, what: &str) -> Result<Vec<u8>> {
    let (owned_path, owned_what) = (path.to_path_buf(), what.to_string());
    let (tell, told) = std::sync::mpsc::channel();
    // A thread of its own, so a read that never returns costs a parked thread, not the whole run.
    std::thread::Builder::new().name("file-read".into()).spawn(move || {
        let _ = tell.send(read_now(&owned_path, max, &owned_what));
    })?;
    match told.recv_timeout(READ_DEADLINE) {
        Ok(result) => result,
        Err(_) => bail!("cannot read {what} {}: it did not finish within {} s", path.display(), READ_DEADLINE.as_secs()),
    }
}

fn read_now(path: &Path, max: u64, what: &str) -> Result<Vec<u8>> {
    let file = open_regular(path, what)?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    if size > max {
        bail!("{what} {} is {}, larger than the limit of {}", path.display(), size_text(size), size_text(max));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    // The file may grow while it is read: read one byte past the cap to notice.
    file.take(max + 1).read_to_end(&mut bytes).map_err(|e| anyhow::anyhow!("cannot read {what} {}: {e}", path.display()))?;
    if bytes.len() as u64 > max {
        bail!("{what} {} grew past the limit of {} while it was read", path.display(), size_text(max));
    }
    Ok(bytes)
}

/// Like `read_bounded`, as UTF-8 text.
pub fn read_text(path: &Path, max: u64, what: &str) -> Result<String> {
    String::from_utf8(read_bounded(path, max, what)?).map_err(|_| anyhow::anyhow!("{what} {} is not UTF-8 text", path.display()))
}

/// Opens `path` without blocking (a FIFO would otherwise wait for a writer forever) and checks, on the opened
/// file itself, that it is a regular file.
fn open_regular(path: &Path, what: &str) -> Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(|e| anyhow::anyhow!("cannot read {what} {}: {}", path.display(), e))?;
    let metadata = file.metadata().map_err(|e| anyhow::anyhow!("cannot read {what} {}: {e}", path.display()))?;
    if !metadata.is_file() {
        let kind = if metadata.is_dir() { "a directory" } else { "not a regular file (a device, FIFO or socket)" };
        bail!("cannot read {what} {}: it is {kind}", path.display());
    }
    Ok(file)
}

fn size_text(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_within_the_cap_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("small");
        std::fs::write(&small, "hello").unwrap();
        assert_eq!(read_text(&small, 5, "secret file").unwrap(), "hello");
        let error = read_bounded(&small, 4, "secret file").unwrap_err().to_string();
        assert_eq!(error, format!("secret file {} is 5 bytes, larger than the limit of 4 bytes", small.display()));

        // A sparse file is refused by its size, without reading it.
        let sparse = dir.path().join("sparse");
        std::fs::File::create(&sparse).unwrap().set_len(1 << 30).unwrap();
        let error = read_bounded(&sparse, SECRET_FILE_MAX_BYTES, "secret file").unwrap_err().to_string();
        assert_eq!(error, format!("secret file {} is 1024.0 MiB, larger than the limit of 64.0 KiB", sparse.display()));

        let error = read_bounded(Path::new("/dev/zero"), COMPONENT_MAX_BYTES, "component").unwrap_err().to_string();
        assert_eq!(error, "cannot read component /dev/zero: it is not a regular file (a device, FIFO or socket)");
        let error = read_bounded(dir.path(), COMPONENT_MAX_BYTES, "component").unwrap_err().to_string();
        assert_eq!(error, format!("cannot read component {}: it is a directory", dir.path().display()));
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_without_waiting_for_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success());
        let error = read_bounded(&fifo, SECRET_FILE_MAX_BYTES, "secret file").unwrap_err().to_string();
        assert_eq!(error, format!("cannot read secret file {}: it is not a regular file (a device, FIFO or socket)", fifo.display()));
    }
}
