//! A guest's stdout and stderr: captured into one buffer per instance, capped, and handed to the host as
//! lines it prefixes with the tenant's name. Nothing the guest prints reaches the host's own stdio directly,
//! and past the cap the guest's writes still succeed but are only counted, so a chatty or hostile component
//! can neither fill the host's memory nor stall on a full pipe.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use crate::display::printable;

/// How much one write may carry; WASI streams are usually offered about this much.
const WRITE_PERMIT: usize = 64 << 10;

/// A guest's stdout and stderr, kept up to a cap and shared by a tenant's instances.
#[derive(Clone)]
pub struct GuestLog {
    buffer: Arc<Mutex<Captured>>,
}

#[derive(Default)]
struct Captured {
    kept: Vec<u8>,
    /// What the guest may still have kept.
    room: usize,
    dropped: u64,
    /// The cap, as configured.
    cap: usize,
}

/// What a guest printed: its text, how many bytes past the cap were dropped, and the cap.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GuestOutput {
    /// What was kept, as text.
    pub text: String,
    /// Bytes past the cap, dropped.
    pub dropped_bytes: u64,
    /// The cap.
    pub cap_bytes: usize,
}

impl GuestLog {
    /// A log that keeps at most `cap` bytes between reads.
    pub fn new(cap: usize) -> Self {
        Self { buffer: Arc::new(Mutex::new(Captured { room: cap, cap, ..Captured::default() })) }
    }

    fn append(&self, bytes: &[u8]) {
        let mut captured = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
        let room = captured.room.saturating_sub(captured.kept.len());
        let kept = bytes.len().min(room);
        captured.kept.extend_from_slice(&bytes[..kept]);
        captured.dropped += (bytes.len() - kept) as u64;
    }

    /// Takes what was captured so far, leaving the buffer empty (the cap counts what was ever kept, so a guest
    /// cannot print more by waiting for the host to drain it).
    pub fn take(&self) -> GuestOutput {
        let mut captured = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
        let text = String::from_utf8_lossy(&captured.kept).into_owned();
        captured.room = captured.room.saturating_sub(captured.kept.len());
        captured.kept.clear();
        GuestOutput { text, dropped_bytes: std::mem::take(&mut captured.dropped), cap_bytes: captured.cap }
    }
}

impl GuestOutput {
    /// The output as lines for the host's log, each prefixed `[tenant] `; control characters are shown escaped
    /// so a guest cannot forge the host's own lines or move a terminal's cursor.
    pub fn lines(&self, tenant: &str) -> Vec<String> {
        let prefix = format!("[{tenant}] ");
        let mut lines: Vec<String> = self.text.lines().map(|line| format!("{prefix}{}", printable(line, usize::MAX))).collect();
        if self.dropped_bytes > 0 {
            lines.push(format!("{prefix}[{} more bytes dropped: the guest log is capped at {} KiB]", self.dropped_bytes, self.cap_bytes >> 10));
        }
        lines
    }
}

impl IsTerminal for GuestLog {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestLog {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl OutputStream for GuestLog {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_PERMIT)
    }
}

#[async_trait::async_trait]
impl Pollable for GuestLog {
    /// Always ready: writes never wait.
    async fn ready(&mut self) {}
}

impl AsyncWrite for GuestLog {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_keeps_up_to_its_cap_and_counts_the_rest() {
        let log = GuestLog::new(10);
        log.append(b"hello\n");
        log.append(b"world\nand more");
        let out = log.take();
        assert_eq!(out, GuestOutput { text: "hello\nworl".into(), dropped_bytes: 10, cap_bytes: 10 });
        // Draining does not give the guest a fresh allowance.
        log.append(b"again");
        assert_eq!(log.take(), GuestOutput { text: String::new(), dropped_bytes: 5, cap_bytes: 10 });
        assert_eq!(out.lines("t"), vec!["[t] hello", "[t] worl", "[t] [10 more bytes dropped: the guest log is capped at 0 KiB]"]);
    }

    #[test]
    fn control_characters_cannot_forge_host_lines() {
        let out = GuestOutput { text: "a\u{1b}[2Kb\rerror: fake\n".into(), dropped_bytes: 0, cap_bytes: 1024 };
        assert_eq!(out.lines("t"), vec!["[t] a\\u{1b}[2Kb\\rerror: fake"]);
    }
}
