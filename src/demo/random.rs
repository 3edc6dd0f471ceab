//! The demo's one source of randomness: ChaCha8 seeded from `--seed`, so a seed gives the same payloads on every
//! machine and version of this crate (ChaCha's output is fixed by its specification), plus the id shapes Claude
//! Code uses (UUIDs, request and tool-use ids, subagent ids).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::plan::WorkflowPath;

/// A seeded generator.
pub struct Random(ChaCha8Rng);

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

impl Random {
    /// The generator of `seed`.
    pub fn new(seed: u64) -> Random {
        Random(ChaCha8Rng::seed_from_u64(seed))
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.0.random_bool(p.clamp(0.0, 1.0))
    }

    /// Uniform in `[low, high)`.
    pub fn range_f64(&mut self, low: f64, high: f64) -> f64 {
        self.0.random_range(low..high)
    }

    /// Uniform in `[low, high]`.
    pub fn range_u32(&mut self, low: u32, high: u32) -> u32 {
        self.0.random_range(low..=high)
    }

    /// Uniform in `[low, high]`.
    pub fn range_u64(&mut self, low: u64, high: u64) -> u64 {
        self.0.random_range(low..=high)
    }

    /// Uniform in `[low, high]`.
    pub fn range_i64(&mut self, low: i64, high: i64) -> i64 {
        self.0.random_range(low..=high)
    }

    /// `bits` random bits.
    pub fn bits(&mut self, bits: u32) -> u64 {
        self.0.random::<u64>() >> (64 - bits)
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.0.random_range(0..items.len())]
    }

    /// full with probability `full`, else fast.
    pub fn path(&mut self, full: f64) -> WorkflowPath {
        if self.chance(full) {
            WorkflowPath::Full
        } else {
            WorkflowPath::Fast
        }
    }

    /// A version-4 UUID, as session.id, prompt.id and message.uuid are.
    pub fn uuid(&mut self) -> String {
        let mut b: [u8; 16] = self.0.random();
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
        format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
    }

    /// `n` lower-case hex digits.
    pub fn hex(&mut self, n: usize) -> String {
        (0..n).map(|_| char::from(b"0123456789abcdef"[self.0.random_range(0..16)])).collect()
    }

    /// `prefix` and `n` base-62 characters (`req_011C…`, `toolu_01…`: the Anthropic API's id shapes).
    pub fn base62(&mut self, prefix: &str, n: usize) -> String {
        let tail: String = (0..n).map(|_| char::from(BASE62[self.0.random_range(0..BASE62.len())])).collect();
        format!("{prefix}{tail}")
    }
}
