//! A byte-budgeted cache of large values derived from rows that never change once committed
//! (an import's decoded column chunks): kept beside the pool so that runs after the first read
//! memory instead of the database, least recently used out first when over budget. Shared by
//! the store's clones; a new store starts empty. Nothing ever invalidates an entry: only
//! values of immutable rows belong here.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// What an entry is: a kind (one per type of value), a row's id, a part of it and a name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlockKey {
    /// The kind of value, e.g. `"chunk.column"`; one type of value per kind.
    pub kind: &'static str,
    /// The immutable row it was derived from (an import's id).
    pub id: i64,
    /// Which part of it (a chunk's number).
    pub part: i64,
    /// Which piece of the part (a column's name).
    pub name: Arc<str>,
}

/// One cached value.
type Block = Arc<dyn Any + Send + Sync>;

struct Entry {
    block: Block,
    bytes: usize,
    used: u64,
}

#[derive(Default)]
struct Lru {
    map: HashMap<BlockKey, Entry>,
    /// Entries by last use, oldest first.
    order: BTreeMap<u64, BlockKey>,
    bytes: usize,
    clock: u64,
}

/// Counters since the cache was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlockStats {
    /// Look-ups that found their value.
    pub hits: u64,
    /// Look-ups that did not.
    pub misses: u64,
    /// Values dropped to stay within the budget.
    pub evicted: u64,
    /// Bytes held now.
    pub bytes: u64,
    /// The budget, bytes.
    pub budget: u64,
}

/// The cache (see the module's docs). Clones share it.
#[derive(Clone)]
pub struct BlockCache {
    lru: Arc<Mutex<Lru>>,
    budget: Arc<AtomicU64>,
    hits: Arc<AtomicU64>,
    misses: Arc<AtomicU64>,
    evicted: Arc<AtomicU64>,
}

impl std::fmt::Debug for BlockCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("BlockCache").field(&self.stats()).finish()
    }
}

/// The budget a store starts with: 1 GiB (`--column-cache-mib` sets another).
pub const DEFAULT_BUDGET_BYTES: u64 = 1 << 30;

impl Default for BlockCache {
    fn default() -> Self {
        BlockCache::new(DEFAULT_BUDGET_BYTES)
    }
}

impl BlockCache {
    /// An empty cache holding at most `budget` bytes (0 keeps nothing).
    pub fn new(budget: u64) -> Self {
        BlockCache {
            lru: Arc::default(),
            budget: Arc::new(AtomicU64::new(budget)),
            hits: Arc::default(),
            misses: Arc::default(),
            evicted: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru> {
        self.lru.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The value under `key`, if held and of type `T`; marks it recently used.
    pub fn get<T: Any + Send + Sync>(&self, key: &BlockKey) -> Option<Arc<T>> {
        let found = {
            let mut lru = self.lock();
            lru.clock += 1;
            let now = lru.clock;
            match lru.map.get_mut(key) {
                Some(e) => {
                    let was = std::mem::replace(&mut e.used, now);
                    let block = e.block.clone();
                    lru.order.remove(&was);
                    lru.order.insert(now, key.clone());
                    Some(block)
                }
                None => None,
            }
        };
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found?.downcast().ok()
    }

    /// Whether a value is held under `key` (not counted as a hit or a miss, nor marked
    /// used): for a reader deciding what to read with what it reads anyway.
    pub fn contains(&self, key: &BlockKey) -> bool {
        self.lock().map.contains_key(key)
    }

    /// Keeps `value` (about `bytes` large) under `key`, dropping the least recently used
    /// values until the cache fits its budget. A value larger than the whole budget is not
    /// kept.
    pub fn put<T: Any + Send + Sync>(&self, key: BlockKey, value: Arc<T>, bytes: usize) {
        let budget = usize::try_from(self.budget.load(Ordering::Relaxed)).unwrap_or(usize::MAX);
        if bytes > budget {
            return;
        }
        let mut lru = self.lock();
        lru.clock += 1;
        let now = lru.clock;
        if let Some(old) = lru.map.remove(&key) {
            lru.order.remove(&old.used);
            lru.bytes -= old.bytes;
        }
        let mut evicted = 0;
        while lru.bytes + bytes > budget {
            let Some((_, oldest)) = lru.order.pop_first() else {
                break;
            };
            if let Some(e) = lru.map.remove(&oldest) {
                lru.bytes -= e.bytes;
                evicted += 1;
            }
        }
        lru.order.insert(now, key.clone());
        lru.map.insert(
            key,
            Entry {
                block: value,
                bytes,
                used: now,
            },
        );
        lru.bytes += bytes;
        drop(lru);
        self.evicted.fetch_add(evicted, Ordering::Relaxed);
    }

    /// Sets the budget; values beyond it go at the next [`BlockCache::put`] (or now, with
    /// a budget of 0, which also stops keeping anything).
    pub fn set_budget(&self, budget: u64) {
        self.budget.store(budget, Ordering::Relaxed);
        if budget == 0 {
            self.clear();
        }
    }

    /// Drops every value (the counters stay).
    pub fn clear(&self) {
        let mut lru = self.lock();
        lru.map.clear();
        lru.order.clear();
        lru.bytes = 0;
    }

    /// The counters and current size.
    pub fn stats(&self) -> BlockStats {
        BlockStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evicted: self.evicted.load(Ordering::Relaxed),
            bytes: self.lock().bytes as u64,
            budget: self.budget.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(part: i64) -> BlockKey {
        BlockKey {
            kind: "test",
            id: 1,
            part,
            name: "c".into(),
        }
    }

    #[test]
    fn the_least_recently_used_value_goes_first_when_over_budget() {
        let cache = BlockCache::new(300);
        for part in 0..3 {
            cache.put(key(part), Arc::new(part), 100);
        }
        // Part 0 is used again, so part 1 is now the oldest.
        assert_eq!(cache.get::<i64>(&key(0)).as_deref(), Some(&0));
        cache.put(key(3), Arc::new(3i64), 100);
        assert!(cache.get::<i64>(&key(1)).is_none());
        for part in [0, 2, 3] {
            assert_eq!(cache.get::<i64>(&key(part)).as_deref(), Some(&part));
        }
        let s = cache.stats();
        assert_eq!((s.bytes, s.evicted, s.misses), (300, 1, 1));
    }

    #[test]
    fn a_value_larger_than_the_budget_or_of_another_type_is_not_returned() {
        let cache = BlockCache::new(100);
        cache.put(key(0), Arc::new(0i64), 101);
        assert!(cache.get::<i64>(&key(0)).is_none());
        cache.put(key(1), Arc::new(1i64), 10);
        assert!(cache.get::<String>(&key(1)).is_none());
        // Replacing a value does not count it twice.
        cache.put(key(1), Arc::new(2i64), 20);
        assert_eq!(cache.stats().bytes, 20);
        cache.set_budget(0);
        assert!(cache.get::<i64>(&key(1)).is_none());
        assert_eq!(cache.stats().bytes, 0);
    }
}
