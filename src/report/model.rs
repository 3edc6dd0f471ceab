//! What a report says, as data: the JSON format is these structs serialized, so their field names are the
//! documented, stable JSON field names (README.md, "Reports"). Every renderer reads these and nothing else.

use serde::{Deserialize, Serialize};

/// The figures of a group of requests (a stage, an agent, a workflow, …).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// API requests.
    pub requests: u64,
    /// Uncached input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Cache-read tokens.
    pub cache_read_tokens: u64,
    /// Cache-write tokens.
    pub cache_creation_tokens: u64,
    /// cache_read / (input + cache_read + cache_creation); null without prompt tokens.
    pub cache_hit_rate: Option<f64>,
    /// Sum of the cost Claude Code reported.
    pub cost_usd: f64,
    /// The cost recomputed from tokens with the price table; null when a model of the group has no price.
    pub recomputed_cost_usd: Option<f64>,
    /// First request start (RFC 3339, ms); null without requests.
    pub started_at: Option<String>,
    /// Last request end (RFC 3339, ms).
    pub ended_at: Option<String>,
    /// Wall-clock span from `started_at` to `ended_at`, ms.
    pub wall_clock_ms: u64,
    /// Sum of the requests' durations, ms.
    pub request_duration_ms: u64,
    /// Models used, sorted.
    pub models: Vec<String>,
    /// Tool calls (tool_result events).
    pub tool_calls: u64,
    /// Of those, failed.
    pub tool_failures: u64,
    /// API errors (api_error events).
    pub api_errors: u64,
}

/// One stage of a workflow report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StageFigures {
    /// Stage name; empty for records without a stage.
    pub stage: String,
    /// Agents seen in it, sorted.
    pub agents: Vec<String>,
    /// Its figures.
    #[serde(flatten)]
    pub figures: Figures,
}

/// One agent of a workflow report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentFigures {
    /// Agent name; empty for records without one.
    pub agent: String,
    /// Stages it worked in, in workflow order.
    pub stages: Vec<String>,
    /// Its figures.
    #[serde(flatten)]
    pub figures: Figures,
}

/// One model in the price check.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelCheck {
    /// Model id as sent.
    pub model: String,
    /// The price-table entry used (the id, or it without its date); null for an unknown model.
    pub priced_as: Option<String>,
    /// Requests.
    pub requests: u64,
    /// Reported cost.
    pub reported_cost_usd: f64,
    /// Recomputed cost; null for an unknown model.
    pub recomputed_cost_usd: Option<f64>,
    /// (reported − recomputed) / recomputed; null when unknown or recomputed is 0.
    pub difference_ratio: Option<f64>,
    /// The difference exceeds the tolerance.
    pub flagged: bool,
}

/// The cost recomputed from tokens beside the reported cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PriceCheck {
    /// Largest |difference_ratio| not flagged (0.01).
    pub tolerance: f64,
    /// Reported cost of the requests whose model has a price.
    pub reported_priced_cost_usd: f64,
    /// Their recomputed cost.
    pub recomputed_cost_usd: f64,
    /// (reported − recomputed) / recomputed over the priced models; null when recomputed is 0.
    pub difference_ratio: Option<f64>,
    /// Reported and recomputed differ by more than the tolerance, in total or for one of the models.
    pub flagged: bool,
    /// Models without a price: listed, never priced as zero.
    pub unknown_models: Vec<String>,
    /// Reported cost of the requests of unknown models.
    pub unknown_models_cost_usd: f64,
    /// Per model.
    pub models: Vec<ModelCheck>,
}

/// `tokenledger report --workflow ID`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkflowReport {
    /// Always `workflow`.
    pub report: String,
    /// The workflow id.
    pub workflow_id: String,
    /// Its `workflow_path` values (normally one).
    pub workflow_paths: Vec<String>,
    /// Per stage, in workflow order: analyze, plan, implement, review, then the rest by name, unstaged last.
    pub stages: Vec<StageFigures>,
    /// Per agent, by cost, highest first.
    pub agents: Vec<AgentFigures>,
    /// The whole workflow.
    pub totals: Figures,
    /// Reported against recomputed cost.
    pub price_check: PriceCheck,
}

/// What `report --since` groups by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Dimension {
    /// One row per workflow (with path, stages and status).
    #[default]
    Workflow,
    /// One row per stage.
    Stage,
    /// One row per agent.
    Agent,
    /// One row per model.
    Model,
    /// One row per workflow_path.
    Path,
}

impl Dimension {
    /// Its name, as in the JSON and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Dimension::Workflow => "workflow",
            Dimension::Stage => "stage",
            Dimension::Agent => "agent",
            Dimension::Model => "model",
            Dimension::Path => "path",
        }
    }
}

/// One row of `report --since`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TopRow {
    /// The workflow id, stage, agent, model or path of the row.
    pub key: String,
    /// Workflows contributing.
    pub workflows: u64,
    /// `by workflow`: its workflow_path values.
    pub workflow_paths: Vec<String>,
    /// `by workflow`: its stages, in workflow order.
    pub stages: Vec<String>,
    /// `by workflow`: Beads' status of its epic when known, else `active` (a request within the last 10 minutes)
    /// or `idle`; null for the other groupings.
    pub status: Option<String>,
    /// Reported and recomputed cost differ by more than 1 %, in total or for one of the row's models.
    pub price_flagged: bool,
    /// Its figures.
    #[serde(flatten)]
    pub figures: Figures,
}

/// `tokenledger report --since D`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TopReport {
    /// Always `top`.
    pub report: String,
    /// Window start (RFC 3339).
    pub from: String,
    /// Window end (RFC 3339).
    pub to: String,
    /// Grouping.
    pub by: Dimension,
    /// Most rows shown.
    pub limit: usize,
    /// Rows by cost, highest first, at most `limit`.
    pub rows: Vec<TopRow>,
    /// Rows beyond the limit.
    pub rows_omitted: usize,
    /// The whole window (every row, also those beyond the limit).
    pub totals: Figures,
    /// Reported against recomputed cost over the window.
    pub price_check: PriceCheck,
}

/// Either report.
#[derive(Debug, Clone, PartialEq)]
pub enum Report {
    /// One workflow.
    Workflow(WorkflowReport),
    /// Top N over a window.
    Top(TopReport),
}
