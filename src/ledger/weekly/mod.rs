//! `tokenledger weekly`: a period's spend, top workflows and stages, change against the period before, cache
//! efficiency, Opus share, and the assessment's optimization hints, each with the SQL that gives it.
//!
//! [`fetch`] runs the statements of [`query`]; [`markdown`] renders the result (pure); JSON is the serde form of
//! [`Weekly`].

pub mod markdown;
pub mod query;

use clickhouse::Row;
use serde::{Deserialize, Serialize};

use crate::config::WeeklyConfig;
use crate::ledger::human;

/// A half-open time range `[from, to)`, nanoseconds since the epoch. Serialized as `from` / `to` (RFC 3339,
/// UTC, milliseconds) and `from_ns` / `to_ns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// Start, included.
    pub from_ns: i64,
    /// End, excluded.
    pub to_ns: i64,
}

impl Period {
    /// The period of the same length just before this one.
    pub fn previous(&self) -> Period {
        Period { from_ns: 2 * self.from_ns - self.to_ns, to_ns: self.from_ns }
    }

    /// `YYYY-MM-DD HH:MM UTC → YYYY-MM-DD HH:MM UTC`.
    pub fn label(&self) -> String {
        format!("{} → {}", human::utc_minute(self.from_ns), human::utc_minute(self.to_ns))
    }
}

impl Serialize for Period {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let rfc3339 = |nanos| format!("{}Z", human::clickhouse_time(nanos).replacen(' ', "T", 1));
        let mut out = serializer.serialize_struct("Period", 4)?;
        out.serialize_field("from", &rfc3339(self.from_ns))?;
        out.serialize_field("to", &rfc3339(self.to_ns))?;
        out.serialize_field("from_ns", &self.from_ns)?;
        out.serialize_field("to_ns", &self.to_ns)?;
        out.end()
    }
}

/// A period's totals.
#[derive(Debug, Clone, Default, PartialEq, Row, Serialize, Deserialize)]
pub struct Totals {
    /// API requests.
    pub requests: u64,
    /// Distinct non-empty workflow ids.
    pub workflows: u64,
    /// Sum of Claude Code's `cost_usd`.
    pub cost_usd: f64,
    /// Uncached input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Tokens read from the prompt cache.
    pub cache_read_tokens: u64,
    /// Tokens written to the prompt cache.
    pub cache_creation_tokens: u64,
    /// Cost of requests served by an Opus model.
    pub opus_cost_usd: f64,
}

impl Totals {
    /// cache_read / (input + cache_read + cache_creation).
    pub fn cache_efficiency(&self) -> Option<f64> {
        let prompt = self.input_tokens + self.cache_read_tokens + self.cache_creation_tokens;
        (prompt > 0).then(|| self.cache_read_tokens as f64 / prompt as f64)
    }

    /// Opus cost / all cost.
    pub fn opus_share(&self) -> Option<f64> {
        (self.cost_usd > 0.0).then(|| self.opus_cost_usd / self.cost_usd)
    }
}

/// A workflow among the most expensive.
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct WorkflowLine {
    /// Workflow id.
    pub workflow_id: String,
    /// `fast`, `full` or empty.
    pub workflow_path: String,
    /// Stages seen, in workflow order.
    pub stages: Vec<String>,
    /// API requests.
    pub requests: u64,
    /// Cost.
    pub cost_usd: f64,
    /// cache_read / (input + cache_read + cache_creation); None without prompt tokens.
    pub cache_hit_rate: Option<f64>,
}

/// A stage among the most expensive.
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct StageLine {
    /// Stage.
    pub stage: String,
    /// API requests.
    pub requests: u64,
    /// Workflows it ran in.
    pub workflows: u64,
    /// Cost.
    pub cost_usd: f64,
    /// Cost on Opus models.
    pub opus_cost_usd: f64,
}

/// Hint item: a stage that spends mostly on Opus.
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct SonnetCandidate {
    /// Stage.
    pub stage: String,
    /// Its Opus requests.
    pub opus_requests: u64,
    /// Its Opus cost.
    pub opus_cost_usd: f64,
    /// Its whole cost.
    pub cost_usd: f64,
    /// opus_cost_usd / cost_usd.
    pub opus_share: f64,
}

/// Hint item: a workflow that reads little from the prompt cache.
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct LowCacheReuse {
    /// Workflow id.
    pub workflow_id: String,
    /// API requests.
    pub requests: u64,
    /// input + cache_read + cache_creation tokens.
    pub prompt_tokens: u64,
    /// cache_read tokens.
    pub cache_read: u64,
    /// cache_read / prompt_tokens.
    pub cache_hit_rate: f64,
}

/// Hint item: a full-path workflow as cheap as a fast-track one.
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct FastTrackCandidate {
    /// Workflow id.
    pub workflow_id: String,
    /// API requests.
    pub requests: u64,
    /// Its cost.
    pub cost_usd: f64,
    /// Average cost of the period's fast-path workflows.
    pub fast_average_cost_usd: f64,
}

/// One optimization hint: when it applies, the SQL that finds it, and what it found (empty: it does not apply).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hint<T> {
    /// The condition in words, with its threshold.
    pub condition: String,
    /// The statement that ran.
    pub sql: String,
    /// What it found.
    pub items: Vec<T>,
}

/// The three hints of the assessment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hints {
    /// Stages that could move to Sonnet.
    pub sonnet_candidates: Hint<SonnetCandidate>,
    /// Workflows with low cache reuse.
    pub low_cache_reuse: Hint<LowCacheReuse>,
    /// Full-path workflows that look like fast-track candidates.
    pub fast_track_candidates: Hint<FastTrackCandidate>,
}

/// A statement the summary ran, for the record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NamedQuery {
    /// What it gives.
    pub name: String,
    /// The statement.
    pub sql: String,
}

/// Everything the weekly summary shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Weekly {
    /// The period summarised.
    pub period: Period,
    /// The period of the same length before it.
    pub previous_period: Period,
    /// This period's totals.
    pub current: Totals,
    /// The previous period's totals.
    pub previous: Totals,
    /// Week-over-week change and the ratios of both periods.
    pub comparison: Comparison,
    /// The most expensive workflows.
    pub top_workflows: Vec<WorkflowLine>,
    /// The most expensive stages.
    pub top_stages: Vec<StageLine>,
    /// The optimization hints.
    pub hints: Hints,
    /// The statements behind the totals and top lists.
    pub queries: Vec<NamedQuery>,
}

/// This period against the previous one: relative changes, and the ratios on both sides.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// (spend − previous spend) / previous spend; None when the previous period spent nothing.
    pub spend_change: Option<f64>,
    /// The same for the request count.
    pub requests_change: Option<f64>,
    /// This period's cache_read / (input + cache_read + cache_creation).
    pub cache_efficiency: Option<f64>,
    /// The previous period's.
    pub previous_cache_efficiency: Option<f64>,
    /// This period's Opus cost / all cost.
    pub opus_share: Option<f64>,
    /// The previous period's.
    pub previous_opus_share: Option<f64>,
}

impl Comparison {
    /// Compares two periods' totals.
    pub fn between(current: &Totals, previous: &Totals) -> Comparison {
        Comparison {
            spend_change: relative(current.cost_usd, previous.cost_usd),
            requests_change: relative(current.requests as f64, previous.requests as f64),
            cache_efficiency: current.cache_efficiency(),
            previous_cache_efficiency: previous.cache_efficiency(),
            opus_share: current.opus_share(),
            previous_opus_share: previous.opus_share(),
        }
    }
}

/// (now − before) / before, None when before is 0.
pub fn relative(now: f64, before: f64) -> Option<f64> {
    (before != 0.0).then(|| (now - before) / before)
}

/// Runs every statement for `period` and gathers the summary.
pub async fn fetch(
    client: &clickhouse::Client,
    period: Period,
    config: &WeeklyConfig,
) -> Result<Weekly, clickhouse::error::Error> {
    let previous_period = period.previous();
    let totals_sql = query::totals(&period);
    let previous_sql = query::totals(&previous_period);
    let workflows_sql = query::top_workflows(&period, config.top);
    let stages_sql = query::top_stages(&period, config.top);
    let hint = |condition: String, sql: String| (condition, sql);
    let sonnet = hint(
        format!("a stage spent at least {} of its cost on Opus", human::percent(Some(config.sonnet_min_opus_share))),
        query::sonnet_candidates(&period, config),
    );
    let cache = hint(
        format!(
            "a workflow's cache hit rate, cache_read / (input + cache_read + cache_creation), is below {}",
            human::percent(Some(config.low_cache_hit_rate))
        ),
        query::low_cache_reuse(&period, config),
    );
    let fast = hint(
        format!(
            "a full-path workflow cost at most {:?} × the average fast-path workflow of the period",
            config.fast_track_max_cost_ratio
        ),
        query::fast_track_candidates(&period, config),
    );
    let mut top_workflows: Vec<WorkflowLine> = client.query(&workflows_sql).fetch_all().await?;
    for workflow in &mut top_workflows {
        human::sort_stages(&mut workflow.stages);
    }
    let current: Totals = client.query(&totals_sql).fetch_one().await?;
    let previous: Totals = client.query(&previous_sql).fetch_one().await?;
    Ok(Weekly {
        period,
        previous_period,
        comparison: Comparison::between(&current, &previous),
        current,
        previous,
        top_workflows,
        top_stages: client.query(&stages_sql).fetch_all().await?,
        hints: Hints {
            sonnet_candidates: Hint {
                items: client.query(&sonnet.1).fetch_all().await?,
                condition: sonnet.0,
                sql: sonnet.1,
            },
            low_cache_reuse: Hint {
                items: client.query(&cache.1).fetch_all().await?,
                condition: cache.0,
                sql: cache.1,
            },
            fast_track_candidates: Hint {
                items: client.query(&fast.1).fetch_all().await?,
                condition: fast.0,
                sql: fast.1,
            },
        },
        queries: vec![
            NamedQuery { name: "totals".into(), sql: totals_sql },
            NamedQuery { name: "previous period totals".into(), sql: previous_sql },
            NamedQuery { name: "top workflows".into(), sql: workflows_sql },
            NamedQuery { name: "top stages".into(), sql: stages_sql },
        ],
    })
}
