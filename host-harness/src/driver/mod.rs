//! The sync driver: resource types → resources (paged) → entitlements → grants, each page stored as it
//! arrives. A session and its sync (`session.rs`), where a sync stands (`checkpoint.rs`), the phases of a run
//! (`run.rs`) over one scheduler of a session's instances (`schedule.rs`), and the retries of calls
//! (`retry.rs`; the guest never sleeps).

use std::time::Duration;

use crate::store::SyncCounts;

mod checkpoint;
mod retry;
mod run;
mod schedule;
mod session;

pub use checkpoint::{Checkpoint, PagePosition, Resumable, Start};
pub use session::{OpenError, OpenSession, SyncReport, explain};

/// What the driver reports while it runs (a terminal progress display, a log, or nothing).
pub trait Progress: Sync {
    /// A page of `resource_type` is stored; `stored` is what the sync holds so far.
    fn page(&self, _resource_type: &str, _stored: &SyncCounts) {}
    /// A call waits `wait` before it is tried again, for `reason`.
    fn waiting(&self, _call: &str, _wait: Duration, _reason: &str) {}
    /// The sync began; `egress` counts its requests as they are sent.
    fn started(&self, _egress: &std::sync::Arc<crate::egress::EgressStats>) {}
}

/// Reports nothing.
pub struct NoProgress;
impl Progress for NoProgress {}
