//! The grants of a sync that name what the sync does not hold: a principal no listing returned, or an entitlement
//! that none did (or whose resource none did). They are kept, as the source says them (a member id of a deleted
//! user, a role assignment at a scope the listings do not show); this counts them, with the first few as examples.
//!
//! Counted here rather than in SQL: SQLite looks each grant's principal up in the resources' index, about half a
//! microsecond a grant, which was 0.2 s at the end of every 100,000-person sync (BENCHMARKS.md, session 19). One
//! pass over the resources' keys, then the grants read in two halves at once, take a fraction of that (0.06 s,
//! session 20).

use std::hash::BuildHasher;

use anyhow::Result;
use foldhash::fast::RandomState;
use hashbrown::HashTable;

use super::read::GRANT_ID;
use super::sql::{Param, args};
use super::{Store, SyncId};
use crate::display::printable;

/// A sync's grants that name something it does not hold (`Store::dangling_grants`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dangling {
    /// How many.
    pub grants: u64,
    /// The first few of their ids.
    pub examples: Vec<String>,
}

impl std::fmt::Display for Dangling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let more = if self.grants > self.examples.len() as u64 { ", …" } else { "" };
        let examples: Vec<String> = self.examples.iter().map(|id| printable(id, 200)).collect();
        write!(f, "{} grants name a principal or entitlement the source did not list, kept as it says them (e.g. {}{more})", self.grants, examples.join(", "))
    }
}

/// How many examples `Dangling` carries.
const EXAMPLES: usize = 3;

/// A sync with at least this many resources has its grants counted in two halves at once, on two connections:
/// the count is the serial end of every sync, and a second core is idle then. Below it, a second connection
/// would cost more than it saves.
const SPLIT_FROM: usize = 20_000;

/// The dangling grants of one range of grants: how many, and the first `EXAMPLES` keys in key order.
#[derive(Default)]
struct Found {
    grants: u64,
    first: Vec<[String; 3]>,
}

impl Store {
    /// The grants of `sync` that name what the sync does not hold, counted, with the first `EXAMPLES` ids in key
    /// order.
    pub fn dangling_grants(&self, sync: SyncId) -> Result<Dangling> {
        let held = HeldResources::of(self, sync)?;
        // Each entitlement with whether it is sound (its resource is held), sorted by id: it is looked up as the
        // grants come, in the same order, and its middle splits the grants, keyed by entitlement first, in two.
        let mut entitlements = Vec::new();
        self.db.for_each("SELECT id, resource_type, resource_id FROM entitlements WHERE sync_id = ?1", args![sync], |row| {
            entitlements.push((row.string(0)?, held.contains(row.text(1)?, row.text(2)?)));
            Ok(())
        })?;
        entitlements.sort_unstable();
        // Without a second connection (a server that takes no more), one pass counts them all.
        let split = entitlements
            .get(entitlements.len() / 2)
            .filter(|_| held.len() >= SPLIT_FROM)
            .and_then(|(middle, _)| Some((middle.as_str(), Store::open_existing(&self.location).ok()?)));
        let found = match split {
            Some((middle, second)) => std::thread::scope(|scope| {
                let (held, entitlements) = (&held, &entitlements);
                let below = scope.spawn(move || second.dangling_in(sync, held, entitlements, Half::Below(middle)));
                let from = self.dangling_in(sync, held, entitlements, Half::From(middle))?;
                let below = below.join().map_err(|_| anyhow::anyhow!("the thread counting half of the grants stopped"))??;
                Ok::<_, anyhow::Error>(Found { grants: below.grants + from.grants, first: below.first.into_iter().chain(from.first).take(EXAMPLES).collect() })
            })?,
            None => self.dangling_in(sync, &held, &entitlements, Half::All)?,
        };
        let examples = found
            .first
            .iter()
            .map(|[entitlement, principal_type, principal_id]| {
                let sql = format!("SELECT {GRANT_ID} FROM grants g WHERE g.sync_id = ?1 AND g.entitlement_id = ?2 AND g.principal_type = ?3 AND g.principal_id = ?4");
                let row = self.db.row(&sql, args![sync, entitlement.as_str(), principal_type.as_str(), principal_id.as_str()])?;
                row.ok_or_else(|| anyhow::anyhow!("a grant of sync {sync} went missing while its dangling grants were counted"))?.string(0)
            })
            .collect::<Result<_>>()?;
        Ok(Dangling { grants: found.grants, examples })
    }

    /// The dangling grants of `sync` in one range of entitlement ids, in key order.
    fn dangling_in(&self, sync: SyncId, held: &HeldResources, entitlements: &[(String, bool)], half: Half) -> Result<Found> {
        const COLUMNS: &str = "SELECT entitlement_id, principal_type, principal_id FROM grants WHERE sync_id = ?1";
        const ORDER: &str = "ORDER BY entitlement_id, principal_type, principal_id";
        let (sql, args): (String, &[Param]) = match half {
            Half::All => (format!("{COLUMNS} {ORDER}"), args![sync]),
            Half::Below(middle) => (format!("{COLUMNS} AND entitlement_id < ?2 {ORDER}"), args![sync, middle]),
            Half::From(middle) => (format!("{COLUMNS} AND entitlement_id >= ?2 {ORDER}"), args![sync, middle]),
        };
        let mut found = Found::default();
        // Rows come by entitlement: whether it is sound is looked up once for each run of its grants.
        let mut entitlement_sound = (String::new(), false);
        self.db.for_each(&sql, args, |row| {
            let (entitlement, principal_type, principal_id) = (row.text(0)?, row.text(1)?, row.text(2)?);
            if entitlement_sound.0 != entitlement {
                let sound = entitlements.binary_search_by(|(id, _)| id.as_str().cmp(entitlement)).is_ok_and(|at| entitlements[at].1);
                entitlement_sound.0.clear();
                entitlement_sound.0.push_str(entitlement);
                entitlement_sound.1 = sound;
            }
            if !entitlement_sound.1 || !held.contains(principal_type, principal_id) {
                found.grants += 1;
                if found.first.len() < EXAMPLES {
                    found.first.push([entitlement, principal_type, principal_id].map(String::from));
                }
            }
            Ok(())
        })?;
        Ok(found)
    }
}

/// Which of a sync's grants `dangling_in` reads, by entitlement id.
enum Half<'a> {
    All,
    Below(&'a str),
    From(&'a str),
}

/// The keys of a sync's resources: each type's ids packed in one string, found through a table of their places.
/// A resource takes its id's bytes, 8 for where it starts and 5 to 10 in the table, where a set of strings would
/// take several times that (a million people's sync ends with this).
struct HeldResources {
    hasher: RandomState,
    types: Vec<(String, Ids)>,
}

#[derive(Default)]
struct Ids {
    text: String,
    /// Where each id starts in `text`; it ends where the next starts.
    starts: Vec<usize>,
    /// Each id's place in `starts`, by the id's hash.
    places: HashTable<u32>,
}

impl HeldResources {
    fn of(store: &Store, sync: SyncId) -> Result<Self> {
        let mut held = Self { hasher: RandomState::default(), types: Vec::new() };
        store.db.for_each("SELECT resource_type, id FROM resources WHERE sync_id = ?1", args![sync], |row| {
            let (resource_type, id) = (row.text(0)?, row.text(1)?);
            let ids = match held.types.iter().position(|(t, _)| t == resource_type) {
                Some(i) => &mut held.types[i].1,
                None => &mut held.types.push_mut((resource_type.to_string(), Ids::default())).1,
            };
            let place = u32::try_from(ids.starts.len())?;
            ids.starts.push(ids.text.len());
            ids.text.push_str(id);
            let Ids { text, starts, places } = ids;
            places.insert_unique(held.hasher.hash_one(id), place, |&p| held.hasher.hash_one(id_at(text, starts, p)));
            Ok(())
        })?;
        Ok(held)
    }

    fn len(&self) -> usize {
        self.types.iter().map(|(_, ids)| ids.starts.len()).sum()
    }

    fn contains(&self, resource_type: &str, id: &str) -> bool {
        let Some((_, ids)) = self.types.iter().find(|(t, _)| t == resource_type) else { return false };
        ids.places.find(self.hasher.hash_one(id), |&p| id_at(&ids.text, &ids.starts, p) == id).is_some()
    }
}

/// The id at `place` of a type's `Ids`.
fn id_at<'a>(text: &'a str, starts: &[usize], place: u32) -> &'a str {
    let place = place as usize;
    &text[starts[place]..starts.get(place + 1).copied().unwrap_or(text.len())]
}
