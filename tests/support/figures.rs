//! What the end-to-end tests compare with what the CLI reported: request counts, tokens and cost of a group of
//! api_request events, and the tolerance for costs that are the CLI's doubles summed in another order.

use std::ops::AddAssign;

/// Costs summed in another order are equal within this relative tolerance.
pub const COST_TOLERANCE: f64 = 1e-9;

/// Whether two costs are equal within [`COST_TOLERANCE`].
pub fn costs_equal(a: f64, b: f64) -> bool {
    (a - b).abs() <= COST_TOLERANCE * a.abs().max(b.abs())
}

/// Request count, tokens and cost of a group of api_request events.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Figures {
    /// api_request events.
    pub requests: u64,
    /// Sum of input_tokens.
    pub input_tokens: u64,
    /// Sum of output_tokens.
    pub output_tokens: u64,
    /// Sum of cache_read_tokens.
    pub cache_read_tokens: u64,
    /// Sum of cache_creation_tokens.
    pub cache_creation_tokens: u64,
    /// Sum of cost_usd.
    pub cost_usd: f64,
}

impl AddAssign for Figures {
    fn add_assign(&mut self, other: Figures) {
        self.requests += other.requests;
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cache_read_tokens += other.cache_read_tokens;
        self.cache_creation_tokens += other.cache_creation_tokens;
        self.cost_usd += other.cost_usd;
    }
}

impl Figures {
    /// The counts: requests and the four token sums.
    pub fn tokens(&self) -> [u64; 5] {
        [self.requests, self.input_tokens, self.output_tokens, self.cache_read_tokens, self.cache_creation_tokens]
    }

    /// Counts equal, cost equal within the tolerance.
    pub fn matches(&self, other: &Figures) -> bool {
        self.tokens() == other.tokens() && costs_equal(self.cost_usd, other.cost_usd)
    }
}
