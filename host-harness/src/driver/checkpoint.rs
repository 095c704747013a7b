//! Where a sync stands: the checkpoint stored with every page, the positions of a listing's pages, and what a
//! tenant's newest unfinished sync offers to continue from.

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::runtime::LoadedComponent;
use crate::store::{Store, SyncId, SyncInfo};
use crate::tenant::ResolvedTenant;

/// Where a sync stands, stored with every page so an interrupted sync can resume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Checkpoint {
    /// The pages of the listings not stored yet: every other page of every listed type is.
    Listings {
        /// The positions of those pages.
        pending: Vec<PagePosition>,
    },
    /// As written before listings ran concurrently: every listed type before `resource_type` is done, and so
    /// are its pages up to `next` (none: all). Read on resume; no longer written.
    Resources {
        /// The type being listed.
        resource_type: String,
        /// Its next page's token.
        next: Option<String>,
    },
    /// Listing is done, and of the per-resource entitlement and grant calls (in the order the driver makes
    /// them: type by type, each type's resources by id) the first `done` resources' are stored. (A checkpoint
    /// written before this field existed reads as 0: the phase is redone whole.)
    PerResource {
        /// How many resources are done.
        #[serde(default)]
        done: usize,
    },
}

/// A checkpoint as stored with each page: where the sync stands, and the source it was reading
/// (`ResolvedTenant::source`), so that a sync is never continued from another source.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct StoredCheckpoint {
    #[serde(default)]
    source: Option<String>,
    #[serde(flatten)]
    at: Checkpoint,
}

/// The text stored with a page: `at`, and the `source` the sync reads.
pub(super) fn stored_checkpoint(source: &str, at: Checkpoint) -> Result<String> {
    Ok(serde_json::to_string(&StoredCheckpoint { source: Some(source.to_string()), at })?)
}

/// One page of a listing: its type, and its token (none: the first page).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PagePosition {
    /// The listed type.
    pub resource_type: String,
    /// The page's token; none for the first page.
    pub token: Option<String>,
}

/// What a tenant's newest unfinished sync offers to continue from.
pub enum Resumable {
    /// The tenant has no unfinished sync newer than its latest complete one.
    Nothing,
    /// It has one, but it cannot be continued; why.
    Refused(String),
    /// It has one to continue.
    Ready {
        /// The sync.
        sync: SyncInfo,
        /// Where it stands.
        checkpoint: Option<Checkpoint>,
    },
}

impl Resumable {
    /// The tenant's newest unfinished sync, if this same component made it from the same source (config,
    /// origins, credentials) and its checkpoint reads.
    pub fn of(store: &Store, tenant: &ResolvedTenant, component: &LoadedComponent) -> Result<Self> {
        let Some((sync, sha256, checkpoint)) = store.resumable(&tenant.name)? else { return Ok(Self::Nothing) };
        if sha256 != component.sha256 {
            return Ok(Self::Refused(format!("sync {} was made by a different component (sha256 {sha256}); run a fresh sync instead", sync.id)));
        }
        let stored = match checkpoint.map(|text| serde_json::from_str::<StoredCheckpoint>(&text)).transpose() {
            Ok(stored) => stored,
            Err(e) => return Ok(Self::Refused(format!("sync {} has an unreadable checkpoint ({e}); run a fresh sync instead", sync.id))),
        };
        Ok(match stored {
            Some(stored) if stored.source.as_deref() != Some(tenant.source.as_str()) => Self::Refused(format!(
                "sync {} was reading another source (the tenant's config, origins or credentials have changed since); run a fresh sync instead",
                sync.id
            )),
            stored => Self::Ready { sync, checkpoint: stored.map(|s| s.at) },
        })
    }
}

/// Whether a sync starts afresh or continues an interrupted one.
pub enum Start {
    /// A new sync.
    Fresh,
    /// Continue a sync whose owner is gone (`Store::take_over`).
    Resume {
        /// The sync.
        sync_id: SyncId,
        /// Where it stands.
        checkpoint: Option<Checkpoint>,
    },
    /// Continue a sync under the tenant's lease, whoever wrote to it before (`Store::adopt`).
    Adopt {
        /// The sync.
        sync_id: SyncId,
        /// Where it stands.
        checkpoint: Option<Checkpoint>,
    },
}
