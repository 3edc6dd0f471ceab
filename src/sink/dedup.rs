//! Redelivered rows kept off disk: the content keys of the rows committed recently, per table, so that a record
//! delivered again (a sender's retry after a lost answer, a collector replaying its queue) is dropped before it
//! is written, instead of being written twice and folded later by ReplacingMergeTree (which stays the backstop).
//!
//! Only committed keys are remembered: a retry that arrives while the first copy is still in flight is written
//! (the answer to it must mean "committed"), and merges fold it. Memory is bounded: keys live in two generations
//! that rotate every `window`, so a key is remembered for at least `window` and at most twice that, unless the
//! keys of one generation reach half of `max_keys`; then it rotates early (the window shrinks under a load larger
//! than the configuration planned for, and `tokenledger_dedup_rotations_total{reason="full"}` says so).

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasherDefault;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nohash_hasher::NoHashHasher;

use crate::reshape::rows::Table;
use crate::reshape::Rows;
use crate::telemetry::names;

/// The keys are already 64-bit content hashes (xxh3): hashing them again buys nothing.
type KeySet = HashSet<u64, BuildHasherDefault<NoHashHasher<u64>>>;

/// The content keys of recently committed rows, by table.
pub struct RecentKeys {
    window: Duration,
    max_keys: usize,
    state: Mutex<State>,
}

struct State {
    current: HashMap<&'static str, KeySet>,
    previous: HashMap<&'static str, KeySet>,
    current_len: usize,
    rotated_at: Instant,
}

/// The keys of a request's rows by table, taken before the rows move to the batchers.
#[derive(Debug, Default)]
pub struct Keys(Vec<(&'static str, Vec<u64>)>);

impl RecentKeys {
    /// Remembers committed keys for at least `window`, holding at most `max_keys` keys in all.
    pub fn new(window: Duration, max_keys: usize) -> RecentKeys {
        let state =
            State { current: HashMap::new(), previous: HashMap::new(), current_len: 0, rotated_at: Instant::now() };
        RecentKeys { window, max_keys, state: Mutex::new(state) }
    }

    /// The configured window.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// The configured bound on keys.
    pub fn max_keys(&self) -> usize {
        self.max_keys
    }

    /// Removes from `rows` every row whose key was committed recently, and returns the keys of the rows left.
    pub fn drop_committed(&self, rows: &mut Rows) -> Keys {
        let mut state = self.lock();
        state.rotate_if_due(self.window, self.max_keys);
        let mut keys = Keys::default();
        let mut dropped = 0;
        dropped += keys.retain_new(&state, &mut rows.api_requests);
        dropped += keys.retain_new(&state, &mut rows.tool_results);
        dropped += keys.retain_new(&state, &mut rows.api_errors);
        dropped += keys.retain_new(&state, &mut rows.subagents);
        dropped += keys.retain_new(&state, &mut rows.events);
        dropped += keys.retain_new(&state, &mut rows.metrics);
        if dropped > 0 {
            tracing::debug!(dropped, "redelivered rows dropped");
        }
        keys
    }

    /// Remembers the keys of `table` as committed, and returns those it did not remember yet: a record whose
    /// copies were in flight together is committed twice (merges fold it) but is new only once, which is what
    /// the cost counters count.
    pub fn remember(&self, table: &'static str, keys: &[u64]) -> Vec<u64> {
        let mut state = self.lock();
        state.rotate_if_due(self.window, self.max_keys);
        let State { current, previous, current_len, .. } = &mut *state;
        let previous = previous.get(table);
        let current = current.entry(table).or_default();
        let fresh: Vec<u64> = keys
            .iter()
            .copied()
            .filter(|key| !previous.is_some_and(|set| set.contains(key)) && current.insert(*key))
            .collect();
        *current_len += fresh.len();
        metrics::gauge!(names::DEDUP_KEYS).set((state.current_len + state.previous_len()) as f64);
        fresh
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    fn contains(&self, table: &str, key: u64) -> bool {
        let has =
            |generation: &HashMap<&'static str, KeySet>| generation.get(table).is_some_and(|set| set.contains(&key));
        has(&self.current) || has(&self.previous)
    }

    fn previous_len(&self) -> usize {
        self.previous.values().map(HashSet::len).sum()
    }

    fn rotate_if_due(&mut self, window: Duration, max_keys: usize) {
        let reason = if self.rotated_at.elapsed() >= window {
            "window"
        } else if self.current_len >= max_keys / 2 {
            "full"
        } else {
            return;
        };
        self.previous = std::mem::take(&mut self.current);
        self.current_len = 0;
        self.rotated_at = Instant::now();
        metrics::counter!(names::DEDUP_ROTATIONS, "reason" => reason).increment(1);
    }
}

impl Keys {
    /// Keeps the rows of one table whose key is not remembered; records the kept keys. Returns how many dropped.
    fn retain_new<T: Table>(&mut self, state: &State, rows: &mut Vec<T>) -> usize {
        let before = rows.len();
        rows.retain(|row| !state.contains(T::TABLE, row.event_key()));
        let dropped = before - rows.len();
        if dropped > 0 {
            metrics::counter!(names::DUPLICATES_DROPPED, "table" => T::TABLE).increment(dropped as u64);
        }
        if !rows.is_empty() {
            self.0.push((T::TABLE, rows.iter().map(Table::event_key).collect()));
        }
        dropped
    }

    /// The keys of one table.
    pub fn of(&self, table: &str) -> &[u64] {
        self.0.iter().find(|(t, _)| *t == table).map(|(_, keys)| keys.as_slice()).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reshape::rows::{ApiRequestRow, EventRow};

    fn rows(api_keys: &[u64], event_keys: &[u64]) -> Rows {
        let api = |key: &u64| ApiRequestRow { event_key: *key, ..ApiRequestRow::default() };
        let event = |key: &u64| EventRow { event_key: *key, ..EventRow::default() };
        Rows {
            api_requests: api_keys.iter().map(api).collect(),
            events: event_keys.iter().map(event).collect(),
            ..Rows::default()
        }
    }

    fn keys_of(rows: &Rows) -> (Vec<u64>, Vec<u64>) {
        (rows.api_requests.iter().map(|r| r.event_key).collect(), rows.events.iter().map(|r| r.event_key).collect())
    }

    #[test]
    fn committed_keys_are_dropped_per_table_and_only_once_committed() {
        let recent = RecentKeys::new(Duration::from_secs(600), 1_000);
        let mut first = rows(&[1, 2], &[1, 2]);
        let keys = recent.drop_committed(&mut first);
        assert_eq!(keys_of(&first), (vec![1, 2], vec![1, 2]), "nothing committed yet");
        // Only the api_request table committed (the events insert failed): a retry rewrites only the events.
        recent.remember(ApiRequestRow::TABLE, keys.of(ApiRequestRow::TABLE));
        let mut retry = rows(&[1, 2, 3], &[1, 2]);
        recent.drop_committed(&mut retry);
        assert_eq!(keys_of(&retry), (vec![3], vec![1, 2]));
        recent.remember(EventRow::TABLE, &[1, 2]);
        let mut again = rows(&[1], &[2, 4]);
        recent.drop_committed(&mut again);
        assert_eq!(keys_of(&again), (vec![], vec![4]));
    }

    #[test]
    fn keys_outlive_one_rotation_and_memory_is_bounded() {
        // max_keys 4: a generation rotates at 2 keys, and at most two generations are kept.
        let recent = RecentKeys::new(Duration::from_secs(600), 4);
        recent.remember(ApiRequestRow::TABLE, &[1, 2]);
        recent.remember(ApiRequestRow::TABLE, &[3]); // rotates first: {1,2} become the previous generation
        let mut probe = rows(&[1, 3], &[]);
        recent.drop_committed(&mut probe);
        assert_eq!(keys_of(&probe).0, Vec::<u64>::new(), "both generations are consulted");
        recent.remember(ApiRequestRow::TABLE, &[4]); // current {3,4} is full: the next call rotates, {1,2} go
        let mut probe = rows(&[1, 3], &[]);
        recent.drop_committed(&mut probe);
        assert_eq!(keys_of(&probe).0, vec![1], "the oldest generation is forgotten");
    }

    #[test]
    fn a_key_is_new_once_across_both_generations() {
        let recent = RecentKeys::new(Duration::from_secs(600), 4);
        assert_eq!(recent.remember(ApiRequestRow::TABLE, &[1, 2]), [1, 2]);
        assert_eq!(
            recent.remember(ApiRequestRow::TABLE, &[2, 3]),
            [3],
            "2 was remembered (now the previous generation)"
        );
        assert_eq!(recent.remember(EventRow::TABLE, &[2]), [2], "per table");
        assert_eq!(recent.remember(EventRow::TABLE, &[5, 5]), [5], "a key sent twice in one request is new once");
    }

    #[test]
    fn a_generation_older_than_the_window_rotates() {
        let recent = RecentKeys::new(Duration::from_millis(20), 1_000);
        recent.remember(ApiRequestRow::TABLE, &[7]);
        std::thread::sleep(Duration::from_millis(25));
        let mut probe = rows(&[7], &[]);
        recent.drop_committed(&mut probe); // rotates: 7 is in the previous generation, still remembered
        assert!(probe.api_requests.is_empty());
        std::thread::sleep(Duration::from_millis(25));
        let mut probe = rows(&[7], &[]);
        recent.drop_committed(&mut probe); // rotates again: 7 is gone, after between one and two windows
        assert_eq!(probe.api_requests.len(), 1);
    }
}
