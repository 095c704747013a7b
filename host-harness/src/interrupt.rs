//! SIGINT and SIGTERM during a sync: the first asks every running sync to stop, commit what it has, and be
//! marked `interrupted` (resumable with `--resume`); the process then exits 130 or 143, as a shell expects of
//! a program killed by that signal. A second signal exits at once.

use tokio::sync::watch;

/// A signal that stops a sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM.
    Terminate,
}

impl Signal {
    /// `SIGINT` or `SIGTERM`.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        }
    }

    /// 128 + the signal's number.
    pub fn exit_code(self) -> i32 {
        match self {
            Signal::Interrupt => 130,
            Signal::Terminate => 143,
        }
    }
}

/// Whether, and by which signal, the process was asked to stop. The default never fires.
#[derive(Debug, Clone, Default)]
pub struct Interrupt(Option<watch::Receiver<Option<Signal>>>);

impl Interrupt {
    /// Listens for SIGINT and SIGTERM on the current tokio runtime.
    pub fn on_signals() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        let (mut interrupt, mut terminate) = (signal(SignalKind::interrupt())?, signal(SignalKind::terminate())?);
        let (tell, listen) = watch::channel(None);
        tokio::spawn(async move {
            loop {
                let received = tokio::select! {
                    _ = interrupt.recv() => Signal::Interrupt,
                    _ = terminate.recv() => Signal::Terminate,
                };
                if tell.borrow().is_some() {
                    std::process::exit(received.exit_code());
                }
                tell.send_replace(Some(received));
            }
        });
        Ok(Self(Some(listen)))
    }

    /// A handle fired by hand, through the returned sender (the service stops one tenant's sync with it).
    pub fn manual() -> (watch::Sender<Option<Signal>>, Self) {
        let (tell, listen) = watch::channel(None);
        (tell, Self(Some(listen)))
    }

    /// The signal received, if any.
    pub fn signalled(&self) -> Option<Signal> {
        self.0.as_ref().and_then(|r| *r.borrow())
    }

    /// Waits for the signal; never returns for the default handle.
    pub async fn wait(&self) -> Signal {
        let Some(receiver) = &self.0 else { return std::future::pending().await };
        let mut receiver = receiver.clone();
        match receiver.wait_for(Option::is_some).await {
            Ok(signal) => signal.unwrap_or(Signal::Interrupt),
            // The listener is gone: no signal will come.
            Err(_) => std::future::pending().await,
        }
    }
}

/// The error of a sync stopped by a signal.
#[derive(Debug)]
pub struct Interrupted {
    /// The signal that stopped it.
    pub signal: Signal,
    /// The sync left resumable, when one had begun.
    pub sync: Option<i64>,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.sync {
            Some(id) => write!(f, "interrupted by {}: sync {id} is marked interrupted; continue it with `sync --resume`", self.signal.name()),
            None => write!(f, "interrupted by {}", self.signal.name()),
        }
    }
}

impl std::error::Error for Interrupted {}
