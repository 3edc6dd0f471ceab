//! When a table's open INSERT is committed: early when the input goes quiet, at the latest after `max_delay`,
//! and never more often than `max_inserts_per_sec`.
//!
//! With acknowledgement after commit, a sender waiting for its answer sends nothing more, so waiting for a size
//! limit only adds latency: once no rows have arrived for `idle`, everyone whose rows are in is waiting on us, and
//! the INSERT is committed (group commit, as databases do it, and as ClickHouse's adaptive async-insert timeout
//! does it). Under sustained load rows keep arriving and `max_delay` bounds the wait of the first rows. Every
//! commit, whatever ended it, takes a slot: consecutive commits of one table are at least `1 / rate` apart, so the
//! number of parts ClickHouse has to merge stays bounded however the load arrives; a commit due before its slot
//! waits for it, and rows arriving meanwhile join it.

use std::time::Duration;

use tokio::time::Instant;

/// What ended an INSERT; the `trigger` label of `tokenledger_inserts_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// `max_rows` reached.
    Rows,
    /// `max_bytes` reached.
    Bytes,
    /// No rows arrived for `idle`.
    Idle,
    /// The first rows waited `max_delay`.
    Delay,
    /// The batcher is stopping.
    Shutdown,
}

impl Trigger {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Trigger::Rows => "rows",
            Trigger::Bytes => "bytes",
            Trigger::Idle => "idle",
            Trigger::Delay => "delay",
            Trigger::Shutdown => "shutdown",
        }
    }
}

/// The commit timing of one table: its settings and the earliest time its next commit may start.
#[derive(Debug, Clone)]
pub struct CommitPolicy {
    idle: Option<Duration>,
    max_delay: Duration,
    interval: Duration,
    next_slot: Option<Instant>,
}

impl CommitPolicy {
    /// `idle` None: no early commit (only `max_delay` and the size limits end an INSERT); `max_inserts_per_sec`
    /// 0: no bound on the rate.
    pub fn new(idle: Option<Duration>, max_delay: Duration, max_inserts_per_sec: u32) -> CommitPolicy {
        let interval = match max_inserts_per_sec {
            0 => Duration::ZERO,
            rate => Duration::from_secs(1) / rate,
        };
        CommitPolicy { idle, max_delay, interval, next_slot: None }
    }

    /// When an open INSERT whose first rows came at `started` and last rows at `last_rows` is to be committed if
    /// nothing else ends it first, and why.
    pub fn deadline(&self, started: Instant, last_rows: Instant) -> (Instant, Trigger) {
        let latest = started + self.max_delay;
        let (at, trigger) = match self.idle.map(|idle| last_rows + idle) {
            Some(quiet) if quiet < latest => (quiet, Trigger::Idle),
            _ => (latest, Trigger::Delay),
        };
        (self.next_slot.map_or(at, |slot| at.max(slot)), trigger)
    }

    /// Takes the slot of a commit asked for at `now`: `now`, or the earliest time the rate allows. The next slot
    /// is one interval later.
    pub fn reserve(&mut self, now: Instant) -> Instant {
        let slot = self.next_slot.map_or(now, |slot| slot.max(now));
        self.next_slot = Some(slot + self.interval);
        slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// A hand-moved clock: the policy takes every instant as an argument, so no test waits or races.
    struct Clock(Instant);

    impl Clock {
        fn now(&self) -> Instant {
            self.0
        }
        fn advance(&mut self, by: Duration) {
            self.0 += by;
        }
    }

    fn policy() -> CommitPolicy {
        CommitPolicy::new(Some(20 * MS), 500 * MS, 10)
    }

    #[test]
    fn a_quiet_input_commits_after_the_idle_gap() {
        let mut clock = Clock(Instant::now());
        let policy = policy();
        let started = clock.now();
        let (at, trigger) = policy.deadline(started, started);
        assert_eq!((at - started, trigger), (20 * MS, Trigger::Idle));
        // Rows keep coming: the deadline moves with the last of them.
        clock.advance(15 * MS);
        let (at, _) = policy.deadline(started, clock.now());
        assert_eq!(at - started, 35 * MS);
    }

    #[test]
    fn sustained_input_is_committed_by_max_delay() {
        let mut clock = Clock(Instant::now());
        let policy = policy();
        let started = clock.now();
        // A submission every 10 ms, never 20 ms of quiet: the deadline stops at started + max_delay.
        let mut last = started;
        for _ in 0..100 {
            clock.advance(10 * MS);
            last = clock.now();
            let (at, trigger) = policy.deadline(started, last);
            assert!(at <= started + 500 * MS, "{:?}", at - started);
            if last + 20 * MS >= started + 500 * MS {
                assert_eq!(trigger, Trigger::Delay);
            }
        }
        assert!(last - started > 500 * MS);
    }

    #[test]
    fn commits_are_spaced_by_the_rate_whatever_asks_for_them() {
        let mut clock = Clock(Instant::now());
        let mut policy = policy();
        let start = clock.now();
        let mut slots = Vec::new();
        // Twenty commits asked for 1 ms apart (a size limit hit again and again): each waits for its slot.
        for _ in 0..20 {
            slots.push(policy.reserve(clock.now()));
            clock.advance(MS);
        }
        for pair in slots.windows(2) {
            assert_eq!(pair[1] - pair[0], 100 * MS);
        }
        assert_eq!(slots[19] - start, 1900 * MS);
        // At most `rate` commits start in any one-second window.
        for (i, slot) in slots.iter().enumerate() {
            let in_window = slots[i..].iter().filter(|s| **s < *slot + Duration::from_secs(1)).count();
            assert!(in_window <= 10, "{in_window} commits within a second");
        }
    }

    #[test]
    fn an_idle_commit_waits_for_its_slot_and_gathers_what_comes_meanwhile() {
        let mut clock = Clock(Instant::now());
        let mut policy = policy();
        let first = policy.reserve(clock.now());
        clock.advance(5 * MS);
        // A new INSERT opens 5 ms after the last commit; it goes quiet at once, but its slot is 100 ms after the
        // last commit.
        let started = clock.now();
        let (at, trigger) = policy.deadline(started, started);
        assert_eq!((at - first, trigger), (100 * MS, Trigger::Idle));
        // After a long quiet spell the slot is long past: the idle gap alone decides.
        clock.advance(Duration::from_secs(5));
        let now = clock.now();
        assert_eq!(policy.deadline(now, now).0 - now, 20 * MS);
        assert_eq!(policy.reserve(now), now);
    }

    #[test]
    fn without_idle_and_rate_it_is_the_delay_policy() {
        let clock = Clock(Instant::now());
        let mut policy = CommitPolicy::new(None, 500 * MS, 0);
        let started = clock.now();
        assert_eq!(policy.deadline(started, started), (started + 500 * MS, Trigger::Delay));
        assert_eq!(policy.reserve(started), started);
        assert_eq!(policy.reserve(started), started, "no spacing without a rate");
    }
}
