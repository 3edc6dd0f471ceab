//! The price table: per model, USD per million tokens of each kind (shipped in prices.toml beside this file,
//! overridable in the `[prices]` config section), the lookup of a model id in it, and the cost it gives a
//! request's tokens. Also its copy in ClickHouse (`model_prices`), which the `workflow_cost_check` view joins.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The shipped table (src/ledger/prices.toml).
const SHIPPED: &str = include_str!("prices.toml");

/// One model's prices, USD per million tokens.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ModelPrice {
    /// Uncached input tokens.
    pub input: f64,
    /// Output tokens.
    pub output: f64,
    /// Prompt tokens read from the cache.
    pub cache_read: f64,
    /// Prompt tokens written to the cache with the 5-minute TTL (also cache writes reported without a TTL).
    pub cache_write_5m: f64,
    /// Prompt tokens written to the cache with the 1-hour TTL.
    pub cache_write_1h: f64,
    /// Other rates for requests with a long prompt, when the model has them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub long_prompt: Option<LongPrompt>,
    /// Where the prices come from.
    pub source: String,
    /// When they were checked (YYYY-MM-DD).
    pub as_of: String,
}

/// Rates of a request whose prompt (input + cache read + cache write tokens) is above `above_tokens`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct LongPrompt {
    /// The prompt size above which these rates apply.
    pub above_tokens: u64,
    /// Uncached input tokens.
    pub input: f64,
    /// Output tokens.
    pub output: f64,
    /// Cache reads.
    pub cache_read: f64,
    /// Cache writes, 5-minute TTL.
    pub cache_write_5m: f64,
    /// Cache writes, 1-hour TTL.
    pub cache_write_1h: f64,
}

/// The token counts a cost is computed from.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tokens {
    /// Uncached input.
    pub input: u64,
    /// Output.
    pub output: u64,
    /// Cache reads.
    pub cache_read: u64,
    /// Cache writes, all TTLs.
    pub cache_creation: u64,
    /// Of those, with the 5-minute TTL.
    pub cache_creation_5m: u64,
    /// Of those, with the 1-hour TTL.
    pub cache_creation_1h: u64,
}

#[derive(Deserialize)]
struct PriceFile {
    prices: BTreeMap<String, ModelPrice>,
}

/// The shipped price table, model id → prices.
pub fn shipped() -> BTreeMap<String, ModelPrice> {
    let file: PriceFile = toml::from_str(SHIPPED).expect("src/ledger/prices.toml is valid (unit-tested)");
    file.prices
}

/// The entry of `model` in `prices`: the id as sent, else without a trailing `-YYYYMMDD`. Returns the key found.
pub fn lookup<'a>(prices: &'a BTreeMap<String, ModelPrice>, model: &str) -> Option<(&'a str, &'a ModelPrice)> {
    if let Some((key, price)) = prices.get_key_value(model) {
        return Some((key, price));
    }
    let undated = strip_date(model)?;
    prices.get_key_value(undated).map(|(key, price)| (key.as_str(), price))
}

/// `claude-sonnet-4-5-20250929` → `claude-sonnet-4-5`; None when there is no such suffix.
fn strip_date(model: &str) -> Option<&str> {
    let (head, tail) = model.rsplit_once('-')?;
    (tail.len() == 8 && tail.bytes().all(|b| b.is_ascii_digit())).then_some(head)
}

impl ModelPrice {
    /// The cost in USD of `tokens`, all from requests on the same side of the long-prompt threshold (`long`).
    /// Cache writes without a TTL split count at the 5-minute rate, as Claude Code counts them.
    pub fn cost(&self, tokens: &Tokens, long: bool) -> f64 {
        let rates = match (&self.long_prompt, long) {
            (Some(l), true) => [l.input, l.output, l.cache_read, l.cache_write_5m, l.cache_write_1h],
            _ => [self.input, self.output, self.cache_read, self.cache_write_5m, self.cache_write_1h],
        };
        let unsplit = tokens.cache_creation.saturating_sub(tokens.cache_creation_5m + tokens.cache_creation_1h);
        let counts = [
            tokens.input,
            tokens.output,
            tokens.cache_read,
            tokens.cache_creation_5m + unsplit,
            tokens.cache_creation_1h,
        ];
        counts.iter().zip(rates).map(|(&n, rate)| n as f64 * rate).sum::<f64>() / 1e6
    }

    /// The long-prompt threshold, if the model has one.
    pub fn long_prompt_above(&self) -> Option<u64> {
        self.long_prompt.as_ref().map(|l| l.above_tokens)
    }

    /// Every rate is a finite number ≥ 0.
    pub fn is_valid(&self) -> bool {
        let mut rates = vec![self.input, self.output, self.cache_read, self.cache_write_5m, self.cache_write_1h];
        if let Some(l) = &self.long_prompt {
            rates.extend([l.input, l.output, l.cache_read, l.cache_write_5m, l.cache_write_1h]);
        }
        rates.iter().all(|r| r.is_finite() && *r >= 0.0)
    }
}

/// The distinct long-prompt thresholds of a table, ascending: the usage query counts how many of them each
/// request's prompt exceeds, so the tier of every model can be told from that count.
pub fn thresholds(prices: &BTreeMap<String, ModelPrice>) -> Vec<u64> {
    let mut all: Vec<u64> = prices.values().filter_map(ModelPrice::long_prompt_above).collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// One row of `model_prices` (clickhouse/003_prices.sql).
#[derive(Debug, Clone, clickhouse::Row, Serialize, Deserialize, PartialEq)]
pub struct PriceRow {
    /// Model id as looked up.
    pub model: String,
    /// USD per million uncached input tokens.
    pub input: f64,
    /// USD per million output tokens.
    pub output: f64,
    /// USD per million cache-read tokens.
    pub cache_read: f64,
    /// USD per million 5-minute cache-write tokens.
    pub cache_write_5m: f64,
    /// USD per million 1-hour cache-write tokens.
    pub cache_write_1h: f64,
    /// Long-prompt threshold (0: none).
    pub long_prompt_above: u64,
    /// Long-prompt input rate.
    pub long_input: f64,
    /// Long-prompt output rate.
    pub long_output: f64,
    /// Long-prompt cache-read rate.
    pub long_cache_read: f64,
    /// Long-prompt 5-minute cache-write rate.
    pub long_cache_write_5m: f64,
    /// Long-prompt 1-hour cache-write rate.
    pub long_cache_write_1h: f64,
    /// Where the prices come from.
    pub source: String,
    /// When they were checked.
    pub as_of: String,
    /// The generation (Unix ms, `DateTime64(3)`): every row of one store shares it; the view reads the newest.
    pub updated_at: i64,
}

/// Replaces the prices ClickHouse's `model_prices` holds with `prices` (one insert: a new generation, so a model
/// removed from the config leaves the view at once). `schema apply` and `serve` call it.
pub async fn store(
    client: &clickhouse::Client,
    prices: &BTreeMap<String, ModelPrice>,
) -> Result<usize, clickhouse::error::Error> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default();
    let mut insert = client.insert::<PriceRow>("model_prices").await?;
    for (model, p) in prices {
        let long = p.long_prompt.clone().unwrap_or_default();
        let row = PriceRow {
            model: model.clone(),
            input: p.input,
            output: p.output,
            cache_read: p.cache_read,
            cache_write_5m: p.cache_write_5m,
            cache_write_1h: p.cache_write_1h,
            long_prompt_above: long.above_tokens,
            long_input: long.input,
            long_output: long.output,
            long_cache_read: long.cache_read,
            long_cache_write_5m: long.cache_write_5m,
            long_cache_write_1h: long.cache_write_1h,
            source: p.source.clone(),
            as_of: p.as_of.clone(),
            updated_at: now,
        };
        insert.write(&row).await?;
    }
    insert.end().await?;
    Ok(prices.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_table_parses_and_every_entry_says_where_it_comes_from() {
        let prices = shipped();
        assert!(prices.len() >= 6);
        for (model, price) in &prices {
            assert!(price.is_valid(), "{model}");
            assert!(!price.source.is_empty() && price.as_of.len() == 10, "{model}: {price:?}");
        }
    }

    #[test]
    fn dated_ids_fall_back_to_the_undated_entry_and_suffixes_stay_unknown() {
        let prices = shipped();
        assert_eq!(lookup(&prices, "claude-sonnet-4-5-20250929").map(|(k, _)| k), Some("claude-sonnet-4-5"));
        assert_eq!(lookup(&prices, "claude-sonnet-5-5").map(|(k, _)| k), Some("claude-sonnet-5-5"));
        assert!(lookup(&prices, "claude-sonnet-4-5-20250929[1m]").is_none());
        assert!(lookup(&prices, "gpt-4o").is_none());
    }

    #[test]
    fn cost_counts_unsplit_cache_writes_at_the_5m_rate_and_switches_tiers() {
        let price = ModelPrice {
            input: 1.0,
            output: 2.0,
            cache_read: 0.5,
            cache_write_5m: 4.0,
            cache_write_1h: 8.0,
            long_prompt: Some(LongPrompt { above_tokens: 10, input: 10.0, ..LongPrompt::default() }),
            ..ModelPrice::default()
        };
        let tokens = Tokens {
            input: 1_000_000,
            output: 1_000_000,
            cache_read: 1_000_000,
            cache_creation: 3_000_000,
            cache_creation_5m: 0,
            cache_creation_1h: 1_000_000,
        };
        // 1 + 2 + 0.5 + 2 × 4 (unsplit + none at 5m) + 8
        assert_eq!(price.cost(&tokens, false), 19.5);
        assert_eq!(price.cost(&Tokens { input: 1_000_000, ..Tokens::default() }, true), 10.0);
        assert_eq!(thresholds(&shipped()), vec![100_000]);
    }
}
