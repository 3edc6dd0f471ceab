//! Token usage and cost of a conversation's API requests: a context that grows turn by turn, split into cache
//! reads, cache writes and uncached input by the conversation's cache-hit share, scaled so the conversation costs
//! what its plan says, and priced with the shipped price table exactly as the price check recomputes it (so the
//! demo's `cost_usd` never flags).

use std::collections::BTreeMap;

use super::plan::Family;
use super::random::Random;
use crate::ledger::prices::{self, ModelPrice, Tokens};

/// One API request's figures, as its api_request event reports them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    /// The model family.
    pub family: Family,
    /// Uncached input tokens.
    pub input: u64,
    /// Output tokens.
    pub output: u64,
    /// Cache reads.
    pub cache_read: u64,
    /// Cache writes (all TTLs).
    pub cache_creation: u64,
    /// Of those, 1-hour TTL (the rest 5-minute).
    pub cache_creation_1h: u64,
    /// cost_usd.
    pub cost_usd: f64,
    /// Request duration.
    pub duration_ms: u64,
    /// Time to first token.
    pub ttft_ms: u64,
}

impl Usage {
    /// cache_creation_5m_tokens.
    pub fn cache_creation_5m(&self) -> u64 {
        self.cache_creation - self.cache_creation_1h
    }

    /// cost_usd_micros, rounded per request as the CLI does.
    pub fn cost_micros(&self) -> u64 {
        (self.cost_usd * 1e6).round() as u64
    }

    /// The prompt plus the answer (what `subagent_completed.total_tokens` reports for a conversation's last turn).
    pub fn total_tokens(&self) -> u64 {
        self.input + self.output + self.cache_read + self.cache_creation
    }
}

/// Prices the demo's models with the shipped table.
pub struct Pricer {
    table: BTreeMap<String, ModelPrice>,
}

impl Default for Pricer {
    fn default() -> Pricer {
        Pricer { table: prices::shipped() }
    }
}

impl Pricer {
    /// The cost of `usage`'s tokens (long-prompt rates when its prompt is over the model's threshold).
    pub fn cost(&self, usage: &Usage) -> f64 {
        let (_, price) = prices::lookup(&self.table, usage.family.model())
            .unwrap_or_else(|| panic!("{} is in src/ledger/prices.toml (unit-tested)", usage.family.model()));
        let tokens = Tokens {
            input: usage.input,
            output: usage.output,
            cache_read: usage.cache_read,
            cache_creation: usage.cache_creation,
            cache_creation_5m: usage.cache_creation_5m(),
            cache_creation_1h: usage.cache_creation_1h,
        };
        let prompt = usage.input + usage.cache_read + usage.cache_creation;
        let long = price.long_prompt_above().is_some_and(|above| prompt > above);
        price.cost(&tokens, long)
    }
}

/// `requests` requests on `family` with `cache_hit` of the prompt read from the cache, at their natural size.
pub fn natural(requests: u32, family: Family, cache_hit: f64, pricer: &Pricer, random: &mut Random) -> Vec<Usage> {
    let mut context = random.range_u64(14_000, 22_000);
    (0..requests)
        .map(|_| {
            context += random.range_u64(1_500, 4_000);
            let cache_read = (context as f64 * cache_hit).round() as u64;
            let cache_creation = ((context - cache_read) as f64 * 0.7).round() as u64;
            let output = random.range_u64(120, 1_800);
            let mut usage = Usage {
                family,
                input: context - cache_read - cache_creation,
                output,
                cache_read,
                cache_creation,
                cache_creation_1h: if random.chance(0.1) { cache_creation } else { 0 },
                cost_usd: 0.0,
                duration_ms: 1_200 + output * random.range_u64(15, 30),
                ttft_ms: random.range_u64(400, 2_500),
            };
            usage.cost_usd = pricer.cost(&usage);
            usage
        })
        .collect()
}

/// As [`natural`], with every token count scaled so the requests cost `target_usd` together (to rounding).
pub fn costing(
    target_usd: f64,
    requests: u32,
    family: Family,
    cache_hit: f64,
    pricer: &Pricer,
    random: &mut Random,
) -> Vec<Usage> {
    let mut usages = natural(requests, family, cache_hit, pricer, random);
    let base: f64 = usages.iter().map(|u| u.cost_usd).sum();
    let k = if base > 0.0 && target_usd > 0.0 { target_usd / base } else { 1.0 };
    let scale = |n: u64| ((n as f64 * k).round() as u64).max(1);
    for usage in &mut usages {
        let one_hour = usage.cache_creation_1h > 0;
        usage.input = scale(usage.input);
        usage.output = scale(usage.output);
        usage.cache_read = scale(usage.cache_read);
        usage.cache_creation = scale(usage.cache_creation);
        usage.cache_creation_1h = if one_hour { usage.cache_creation } else { 0 };
        usage.cost_usd = pricer.cost(usage);
    }
    usages
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_requests_cost_the_target_and_keep_the_cache_share() {
        let pricer = Pricer::default();
        let usages = costing(2.5, 20, Family::Sonnet, 0.85, &pricer, &mut Random::new(1));
        let total: f64 = usages.iter().map(|u| u.cost_usd).sum();
        assert!((total - 2.5).abs() < 0.01, "{total}");
        let read: u64 = usages.iter().map(|u| u.cache_read).sum();
        let prompt: u64 = usages.iter().map(|u| u.input + u.cache_read + u.cache_creation).sum();
        assert!((read as f64 / prompt as f64 - 0.85).abs() < 0.01);
    }

    #[test]
    fn cost_is_the_price_tables() {
        let pricer = Pricer::default();
        let usage = Usage {
            family: Family::Opus,
            input: 1_000_000,
            output: 0,
            cache_read: 0,
            cache_creation: 0,
            cache_creation_1h: 0,
            cost_usd: 0.0,
            duration_ms: 1,
            ttft_ms: 1,
        };
        let table = prices::shipped();
        assert_eq!(pricer.cost(&usage), table["claude-opus-5-5"].input);
    }
}
