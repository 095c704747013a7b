//! The phases of a sync run: the resource types, the listings (paged, many pages at once where the component
//! hands out independent tokens), then each resource's entitlements and grants where listings did not carry
//! them; every page counted against the record cap and queued to the store's page writer with its checkpoint.

use std::collections::HashSet;

use anyhow::{Result, anyhow, bail};
use connector_model::wire::LOOPING;

use super::Progress;
use super::checkpoint::{Checkpoint, PagePosition, stored_checkpoint};
use super::retry::Calls;
use super::schedule::{FollowUps, on_instances};
use crate::contract::model::*;
use crate::options::SyncOptions;
use crate::runtime::Instance;
use crate::store::{PageDone, PageJob, PageRows, PageWriter, Store, SyncCounts, SyncId};

pub(super) struct Run<'a> {
    pub instances: &'a mut Vec<Instance>,
    pub store: &'a mut Store,
    pub writer: PageWriter,
    pub sync_id: SyncId,
    pub source: &'a str,
    pub options: &'a SyncOptions,
    pub progress: &'a dyn Progress,
    pub calls: &'a Calls<'a>,
    /// What this run has stored, tallied as pages go in (for progress; the store's own count is the truth).
    pub stored: SyncCounts,
}

impl Run<'_> {
    pub async fn all(&mut self, metadata: &Metadata, resume: Option<Checkpoint>) -> Result<()> {
        let types = {
            let instance = self.instances.pop().ok_or_else(|| anyhow!("the session has no instance left"))?;
            let (instance, types) = self.calls.call(instance, "resource-types", |mut i: Instance| async move { (i.resource_types().await, i) }).await;
            self.instances.push(instance);
            types?
        };
        let declared: HashSet<&str> = types.iter().map(|t| t.id.as_str()).collect();
        self.store.put_resource_types(self.sync_id, &types, &metadata.capabilities)?;
        let capabilities = |id: &str| metadata.capabilities.iter().find(|c| c.resource_type == id);
        let listed: Vec<&ResourceType> = types
            .iter()
            .filter(|t| capabilities(&t.id).is_some_and(|c| c.capabilities.contains(Capabilities::LIST) && c.listed_with.is_none()))
            .collect();
        // On resume, fetch only what the checkpoint says is not stored.
        let first_pages = || listed.iter().map(|t| PagePosition { resource_type: t.id.clone(), token: None });
        let mut resources_done = 0;
        let pending: Vec<PagePosition> = match resume {
            None => first_pages().collect(),
            Some(Checkpoint::PerResource { done }) => {
                resources_done = done;
                Vec::new()
            }
            Some(Checkpoint::Listings { pending }) => {
                if let Some(unknown) = pending.iter().find(|p| !listed.iter().any(|t| t.id == p.resource_type)) {
                    bail!("cannot resume: the checkpoint is in `{}`, which the component does not list", unknown.resource_type);
                }
                pending
            }
            Some(Checkpoint::Resources { resource_type, next }) => {
                let at = listed.iter().position(|t| t.id == resource_type).ok_or_else(|| {
                    anyhow!("cannot resume: the checkpoint is in `{resource_type}`, which the component does not list")
                })?;
                let current = next.map(|token| PagePosition { resource_type, token: Some(token) });
                current.into_iter().chain(first_pages().skip(at + 1)).collect()
            }
        };
        self.listings(pending, &declared).await?;
        // Per-resource calls only for types whose pages did not carry their entitlements and grants.
        let mut calls = Vec::new();
        for resource_type in &types {
            let Some(caps) = capabilities(&resource_type.id).map(|c| c.capabilities) else { continue };
            // Whether each call left to make is for grants (else entitlements).
            let kinds: Vec<PerResource> = [(Capabilities::INLINE_ENTITLEMENTS, PerResource::Entitlements), (Capabilities::INLINE_GRANTS, PerResource::Grants)]
                .into_iter()
                .filter(|(inline, _)| !caps.contains(*inline))
                .map(|(_, kind)| kind)
                .collect();
            if kinds.is_empty() {
                // Its pages carried everything: its ids (a million users, say) are not even read.
                continue;
            }
            check_repeats(self.writer.flush().await?)?;
            let ids = self.store.resource_ids(self.sync_id, &resource_type.id)?;
            for kind in kinds {
                calls.extend(ids.iter().map(|id| (kind, ResourceId { resource_type: resource_type.id.clone(), id: id.clone() })));
            }
        }
        self.per_resource(calls, resources_done).await
    }

    /// Fetches every page of the listings from `pending` on, several at once when the component hands back
    /// independent tokens and the session has several instances. Each page is stored as it arrives, in any
    /// order, with the positions still pending as its checkpoint.
    async fn listings(&mut self, pending: Vec<PagePosition>, declared: &HashSet<&str>) -> Result<()> {
        let Run { instances, writer, source, options, progress, calls, stored, .. } = self;
        let mut frontier: Vec<PagePosition> = pending.clone();
        let mut seen: HashSet<PagePosition> = pending.iter().cloned().collect();
        let fetch = |instance, position| fetch_page(calls, instance, position);
        on_instances(instances, || calls.throttle.window(), pending, fetch, async |position: PagePosition, page: Result<ListedPage>| {
            let resource_type = position.resource_type.as_str();
            let page = page.map_err(|e| anyhow!("listing {resource_type}: {e:#}"))?;
            if let Some(undeclared) = page.rows.resource_types().find(|t| !declared.contains(t)) {
                bail!("the component listed a resource of undeclared type `{undeclared}`");
            }
            let at = |token: &String| PagePosition { resource_type: resource_type.to_string(), token: Some(token.clone()) };
            let next = page.next_token.as_ref().map(at);
            let independent: Vec<PagePosition> = page.independent_tokens.iter().map(at).collect();
            for follow_up in next.iter().chain(&independent) {
                if !seen.insert(follow_up.clone()) {
                    let token = follow_up.token.as_deref().unwrap_or("");
                    bail!("listing {resource_type}: the component returned page token `{token}` twice; {LOOPING}");
                }
            }
            frontier.retain(|p| p != &position);
            frontier.extend(next.iter().chain(&independent).cloned());
            let checkpoint = stored_checkpoint(source, Checkpoint::Listings { pending: frontier.clone() })?;
            tally(stored, options.max_records, resource_type, page.rows.reported())?;
            let label = format!("listing {resource_type}: {}", position.token.as_deref().map_or("the first page".to_string(), |t| format!("the page at token `{t}`")));
            check_repeats(writer.send(PageJob::new(page.rows, checkpoint, label)).await?)?;
            progress.page(resource_type, stored);
            // A next token continues on the instance that issued it.
            Ok(FollowUps { chained: next, independent })
        })
        .await
    }

    /// Pages through each resource's entitlements or grants, for types whose listing did not carry them: the
    /// resources on all the session's instances at once, each resource's pages one after another on one
    /// instance. `resources` is in a fixed order (type by type, ids in order), and the first `done` of them are
    /// stored already (a resumed sync); each page's checkpoint counts the resources before the first one not
    /// finished, so a resume redoes only what was in flight or not begun.
    async fn per_resource(&mut self, resources: Vec<(PerResource, ResourceId)>, done: usize) -> Result<()> {
        let Run { instances, writer, source, options, calls, stored, .. } = self;
        let queue: Vec<ResourceCall> =
            resources.into_iter().enumerate().skip(done).map(|(index, (kind, resource))| ResourceCall { index, kind, resource, token: None }).collect();
        let mut finished: std::collections::BTreeSet<usize> = std::collections::BTreeSet::new();
        let mut frontier = done;
        let mut seen: HashSet<(PerResource, ResourceId, String)> = HashSet::new();
        let fetch = |instance, call| fetch_for_resource(calls, instance, call);
        on_instances(instances, || calls.throttle.window(), queue, fetch, async |call: ResourceCall, page: Result<ResourcePart>| {
            let ResourceCall { index, kind, resource, .. } = call;
            let what = kind.name();
            let (rows, next) = page.map_err(|e| anyhow!("{what} of {}:{}: {e:#}", resource.resource_type, resource.id))?;
            tally(stored, options.max_records, &resource.resource_type, rows.reported())?;
            if next.is_none() {
                finished.insert(index);
                while finished.remove(&frontier) {
                    frontier += 1;
                }
            }
            let checkpoint = stored_checkpoint(source, Checkpoint::PerResource { done: frontier })?;
            let label = format!("{what} of {}:{}", resource.resource_type, resource.id);
            check_repeats(writer.send(PageJob::new(rows, checkpoint, label)).await?)?;
            Ok(match next {
                Some(next) if !seen.insert((kind, resource.clone(), next.clone())) => {
                    bail!("{what} of {}:{}: page token `{next}` repeated", resource.resource_type, resource.id)
                }
                Some(next) => FollowUps { chained: Some(ResourceCall { index, kind, resource, token: Some(next) }), independent: Vec::new() },
                None => FollowUps::none(),
            })
        })
        .await
    }
}

/// A page that brought no resource this sync did not already have means the source is repeating itself.
pub(super) fn check_repeats(done: Vec<PageDone>) -> Result<()> {
    match done.into_iter().find(|d| d.resources > 0 && d.new_resources == 0) {
        Some(d) => bail!("{}: bad response: it repeats {} resources already listed; {LOOPING}", d.label, d.resources),
        None => Ok(()),
    }
}

/// Counts a page's records (resources, entitlements, grants) against the sync's cap before they are stored.
fn tally(stored: &mut SyncCounts, max_records: u64, resource_type: &str, (resources, entitlements, grants): (usize, usize, usize)) -> Result<()> {
    stored.add(resource_type, resources as u64, entitlements as u64, grants as u64);
    let total = stored.records();
    if total > max_records {
        bail!(
            "the sync passed its cap of {max_records} stored records (resources, entitlements and grants); if the source really is this large, raise the max_records limit"
        );
    }
    Ok(())
}

/// A listing page, its rows for the store made on the call's own task (`fetch_page`) with its tokens.
struct ListedPage {
    rows: PageRows,
    next_token: Option<String>,
    independent_tokens: Vec<String>,
}

/// One page of a listing on one instance; the instance comes back with it, for the next page. The page's rows are
/// made on the call's own task, beside the other instances' calls, rather than on the driver's one loop, where at
/// 100,000 people they took 0.8 s of a 3 s sync during which no instance that came home got its next call
/// (BENCHMARKS.md, session 17).
async fn fetch_page(calls: &Calls<'_>, instance: Instance, position: PagePosition) -> (Instance, PagePosition, Result<ListedPage>) {
    let (instance, page) = calls
        .call(instance, "list-resources", |mut i: Instance| {
            let (resource_type, token) = (position.resource_type.clone(), position.token.clone());
            async move {
                let page = i.list_resources(&resource_type, None, token.as_deref()).await;
                let page = page.map(|p| ListedPage { rows: PageRows::of(p.resources, p.entitlements, p.grants), next_token: p.next_token, independent_tokens: p.independent_tokens });
                (page, i)
            }
        })
        .await;
    (instance, position, page)
}

/// The per-resource calls the driver makes for a type whose listing does not carry everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum PerResource {
    Entitlements,
    Grants,
}

impl PerResource {
    fn name(self) -> &'static str {
        match self {
            Self::Entitlements => "entitlements",
            Self::Grants => "grants",
        }
    }

    /// The component call that fetches it.
    fn call_name(self) -> &'static str {
        match self {
            Self::Entitlements => "list-entitlements",
            Self::Grants => "list-grants",
        }
    }
}

/// A page of a resource's entitlements or grants: its rows for the store, and the next token.
type ResourcePart = (PageRows, Option<String>);

/// One per-resource call: the `index`th resource's `kind` at `token`.
struct ResourceCall {
    index: usize,
    kind: PerResource,
    resource: ResourceId,
    token: Option<String>,
}

/// A page of what a call asks of its resource, its rows made on the call's own task (as in `fetch_page`); on one
/// instance, which comes back with it.
async fn fetch_for_resource(calls: &Calls<'_>, instance: Instance, call: ResourceCall) -> (Instance, ResourceCall, Result<ResourcePart>) {
    let (instance, page) = calls
        .call(instance, call.kind.call_name(), |mut i: Instance| {
            let (kind, resource, token) = (call.kind, call.resource.clone(), call.token.clone());
            async move {
                let page = match kind {
                    PerResource::Grants => i.list_grants(&resource, token.as_deref()).await.map(|p| (PageRows::of(Vec::new(), p.entitlements, p.grants), p.next_token)),
                    PerResource::Entitlements => i.list_entitlements(&resource, token.as_deref()).await.map(|p| (PageRows::of(Vec::new(), p.entitlements, Vec::new()), p.next_token)),
                };
                (page, i)
            }
        })
        .await;
    (instance, call, page)
}
