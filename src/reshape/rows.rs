//! One `#[derive(Row)]` struct per ClickHouse table, field for column (clickhouse/001_tables.sql).
//!
//! The pair cannot drift unnoticed: inserts run with the `clickhouse` crate's validation, which checks every field's
//! name and type against the table, and tests/schema_rows.rs compares each struct's columns with the live table.

use std::sync::Arc;

use clickhouse::Row;
use serde::Serialize;

use super::workflow::Workflow;

/// A Map(LowCardinality(String), String) column, in the order the attributes arrived.
pub type AttributeMap = Vec<(String, String)>;

/// Defines an event-table row: the columns every event table starts with, then the table's own.
macro_rules! event_row {
    (
        $(#[$meta:meta])*
        $name:ident { $($(#[$field_meta:meta])* $field:ident : $ty:ty,)* }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Row, Serialize)]
        pub struct $name {
            /// Event time, nanoseconds since the epoch (DateTime64(9, 'UTC')).
            pub timestamp: i64,
            /// Hash of the record's content; equal for a redelivered record, so ReplacingMergeTree folds it.
            pub event_key: u64,
            /// See [`Workflow::workflow_id`].
            pub workflow_id: String,
            /// See [`Workflow::workflow_path`].
            pub workflow_path: String,
            /// See [`Workflow::complexity`].
            pub complexity: String,
            /// See [`Workflow::stage`].
            pub stage: String,
            /// See [`Workflow::task_id`].
            pub task_id: String,
            /// See [`Workflow::agent`].
            pub agent: String,
            /// See [`Workflow::model_expected`].
            pub model_expected: String,
            /// `session.id`: one `claude` process.
            pub session_id: String,
            /// `prompt.id`: one user prompt and everything it caused.
            pub prompt_id: String,
            /// `event.sequence`: order of events within the session.
            pub event_sequence: u64,
            /// `agent_id`: set on a subagent's records.
            pub agent_id: String,
            $($(#[$field_meta])* pub $field: $ty,)*
        }

        impl $name {
            /// Sets the workflow columns.
            pub fn set_workflow(&mut self, workflow: Workflow) {
                self.workflow_id = workflow.workflow_id;
                self.workflow_path = workflow.workflow_path;
                self.complexity = workflow.complexity;
                self.stage = workflow.stage;
                self.task_id = workflow.task_id;
                self.agent = workflow.agent;
                self.model_expected = workflow.model_expected;
            }
        }
    };
}

event_row! {
    /// `otel_api_request_events`: one row per `claude_code.api_request`, the source of every cost figure.
    ApiRequestRow {
        /// `agent.name` as sent (the real subagent name, or `custom` without OTEL_LOG_TOOL_DETAILS=1).
        agent_name: String,
        /// `query_source`: `sdk`/`repl_main_thread` in the main loop, `agent:...` in a subagent.
        query_source: String,
        /// `request_id`, when sent.
        request_id: String,
        /// The model that served the request.
        model: String,
        /// Uncached input tokens.
        input_tokens: u64,
        /// Output tokens.
        output_tokens: u64,
        /// Input tokens read from the prompt cache.
        cache_read_tokens: u64,
        /// Input tokens written to the prompt cache.
        cache_creation_tokens: u64,
        /// ... of which with a 5-minute lifetime.
        cache_creation_5m_tokens: u64,
        /// ... of which with a 1-hour lifetime.
        cache_creation_1h_tokens: u64,
        /// Cost as computed by Claude Code.
        cost_usd: f64,
        /// The same cost in millionths of a dollar.
        cost_usd_micros: u64,
        /// Request duration.
        duration_ms: u64,
        /// Time to first token.
        ttft_ms: u64,
        /// `speed` (normal | fast).
        speed: String,
        /// `effort`, when sent.
        effort: String,
        /// `user.id`.
        user_id: String,
        /// `organization.id`.
        organization_id: String,
        /// `user.account_uuid`.
        account_uuid: String,
        /// `user.email`.
        user_email: String,
        /// `terminal.type`.
        terminal_type: String,
        /// The resource's `service.version` (Claude Code's version).
        service_version: String,
        /// Attributes without a column.
        attributes: AttributeMap,
    }
}

event_row! {
    /// `otel_tool_result_events`: one row per `claude_code.tool_result`.
    ToolResultRow {
        /// `tool_name` (Bash, Agent, Read, mcp__..., ...).
        tool_name: String,
        /// `tool_use_id`.
        tool_use_id: String,
        /// `success`.
        success: bool,
        /// `decision` (accept | reject), when sent.
        decision: String,
        /// `source` of the decision (config, user_temporary, ...), when sent.
        decision_source: String,
        /// `duration_ms`.
        duration_ms: u64,
        /// `tool_input_size_bytes`.
        tool_input_size_bytes: u64,
        /// `tool_result_size_bytes`.
        tool_result_size_bytes: u64,
        /// `error`, when the tool failed.
        error: String,
        /// `tool_parameters` (JSON; only with OTEL_LOG_TOOL_DETAILS=1).
        tool_parameters: String,
        /// `tool_input` (only with OTEL_LOG_TOOL_DETAILS=1).
        tool_input: String,
        /// `user.id`.
        user_id: String,
        /// `terminal.type`.
        terminal_type: String,
        /// The resource's `service.version`.
        service_version: String,
        /// Attributes without a column.
        attributes: AttributeMap,
    }
}

event_row! {
    /// `otel_api_error_events`: one row per `claude_code.api_error`.
    ApiErrorRow {
        /// `query_source`.
        query_source: String,
        /// `request_id`, when sent.
        request_id: String,
        /// The model asked for.
        model: String,
        /// The error message.
        error: String,
        /// HTTP status code, as sent (may be "undefined").
        status_code: String,
        /// Attempt number.
        attempt: u32,
        /// Duration until the error.
        duration_ms: u64,
        /// `user.id`.
        user_id: String,
        /// `terminal.type`.
        terminal_type: String,
        /// The resource's `service.version`.
        service_version: String,
        /// Attributes without a column.
        attributes: AttributeMap,
    }
}

event_row! {
    /// `otel_subagent_events`: one row per `claude_code.subagent_completed`.
    SubagentRow {
        /// `agent_type` (general-purpose, or a custom agent's name).
        agent_type: String,
        /// `agent.source` (built-in, project, user, ...).
        agent_source: String,
        /// `is_built_in`.
        is_built_in: bool,
        /// `is_async`.
        is_async: bool,
        /// `total_tokens` the subagent used.
        total_tokens: u64,
        /// `total_tool_uses`.
        total_tool_uses: u64,
        /// `duration_ms` of the subagent run.
        duration_ms: u64,
        /// `model`.
        model: String,
        /// `final_model`.
        final_model: String,
        /// `model_swapped`.
        model_swapped: bool,
        /// `user.id`.
        user_id: String,
        /// The resource's `service.version`.
        service_version: String,
        /// Attributes without a column.
        attributes: AttributeMap,
    }
}

event_row! {
    /// `otel_events`: every log record, known or not.
    EventRow {
        /// The full event name: the body `claude_code.<name>`, else `claude_code.` + `event.name`, else the body.
        event_name: String,
        /// Severity text, when sent.
        severity_text: String,
        /// Instrumentation scope (com.anthropic.claude_code.events). Shared by the rows of one request.
        scope_name: Arc<str>,
        /// The resource's `service.name`.
        service_name: Arc<str>,
        /// The resource's `service.version`.
        service_version: Arc<str>,
        /// Attributes without a column.
        attributes: AttributeMap,
        /// The resource attributes no column holds (host, os, ...), shared by the rows of one resource.
        resource_attributes: Arc<AttributeMap>,
    }
}

/// `otel_metrics`: one row per number data point.
#[derive(Debug, Clone, Default, PartialEq, Row, Serialize)]
pub struct MetricRow {
    /// Data point time, nanoseconds since the epoch.
    pub timestamp: i64,
    /// Data point start time (DELTA: the start of the interval).
    pub start_timestamp: i64,
    /// Hash of the data point's content, for dedup.
    pub event_key: u64,
    /// Metric name (claude_code.token.usage, ...).
    pub metric_name: String,
    /// Unit (USD, s, tokens, ...).
    pub unit: String,
    /// delta | cumulative | gauge.
    pub temporality: String,
    /// Whether a Sum is monotonic.
    pub is_monotonic: bool,
    /// The data point's `type` attribute.
    pub r#type: String,
    /// The data point's `model` attribute.
    pub model: String,
    /// The value (integers widened to Float64).
    pub value: f64,
    /// See [`Workflow::workflow_id`].
    pub workflow_id: String,
    /// See [`Workflow::workflow_path`].
    pub workflow_path: String,
    /// See [`Workflow::complexity`].
    pub complexity: String,
    /// See [`Workflow::stage`].
    pub stage: String,
    /// See [`Workflow::task_id`].
    pub task_id: String,
    /// See [`Workflow::agent`].
    pub agent: String,
    /// See [`Workflow::model_expected`].
    pub model_expected: String,
    /// `session.id`.
    pub session_id: String,
    /// `user.id`.
    pub user_id: String,
    /// `terminal.type`.
    pub terminal_type: String,
    /// The resource's `service.version`.
    pub service_version: String,
    /// Attributes without a column.
    pub attributes: AttributeMap,
}

/// Rows for every table, from one request.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Rows {
    /// otel_api_request_events
    pub api_requests: Vec<ApiRequestRow>,
    /// otel_tool_result_events
    pub tool_results: Vec<ToolResultRow>,
    /// otel_api_error_events
    pub api_errors: Vec<ApiErrorRow>,
    /// otel_subagent_events
    pub subagents: Vec<SubagentRow>,
    /// otel_events
    pub events: Vec<EventRow>,
    /// otel_metrics
    pub metrics: Vec<MetricRow>,
}

impl Rows {
    /// Rows over all tables.
    pub fn len(&self) -> usize {
        self.api_requests.len()
            + self.tool_results.len()
            + self.api_errors.len()
            + self.subagents.len()
            + self.events.len()
            + self.metrics.len()
    }

    /// Moves every row of `other` to the end of this set.
    pub fn append(&mut self, mut other: Rows) {
        self.api_requests.append(&mut other.api_requests);
        self.tool_results.append(&mut other.tool_results);
        self.api_errors.append(&mut other.api_errors);
        self.subagents.append(&mut other.subagents);
        self.events.append(&mut other.events);
        self.metrics.append(&mut other.metrics);
    }

    /// Whether there is no row at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The table each row type goes to.
pub trait Table: clickhouse::RowOwned + clickhouse::RowWrite + Send + Sync + 'static {
    /// Table name in the configured database.
    const TABLE: &'static str;
    /// Estimated encoded size in bytes, for the byte limits of batches.
    fn estimated_bytes(&self) -> usize;
    /// The row's content key (equal for a redelivered record).
    fn event_key(&self) -> u64;
}

fn map_bytes(map: &AttributeMap) -> usize {
    map.iter().map(|(k, v)| k.len() + v.len() + 2).sum()
}

macro_rules! table {
    ($row:ty, $name:literal, |$r:ident| $extra:expr) => {
        impl Table for $row {
            const TABLE: &'static str = $name;
            fn event_key(&self) -> u64 {
                self.event_key
            }
            fn estimated_bytes(&self) -> usize {
                let $r = self;
                // Fixed-width columns plus the strings every event row has.
                128 + $r.workflow_id.len() + $r.task_id.len() + $r.session_id.len() + $r.prompt_id.len() + $extra
            }
        }
    };
}

table!(ApiRequestRow, "otel_api_request_events", |r| r.model.len() + map_bytes(&r.attributes));
table!(ToolResultRow, "otel_tool_result_events", |r| r.tool_parameters.len()
    + r.tool_input.len()
    + r.error.len()
    + map_bytes(&r.attributes));
table!(ApiErrorRow, "otel_api_error_events", |r| r.error.len() + map_bytes(&r.attributes));
table!(SubagentRow, "otel_subagent_events", |r| r.agent_type.len() + map_bytes(&r.attributes));
table!(EventRow, "otel_events", |r| r.event_name.len() + map_bytes(&r.attributes) + map_bytes(&r.resource_attributes));
impl Table for MetricRow {
    const TABLE: &'static str = "otel_metrics";
    fn event_key(&self) -> u64 {
        self.event_key
    }
    fn estimated_bytes(&self) -> usize {
        128 + self.metric_name.len() + self.workflow_id.len() + self.session_id.len() + map_bytes(&self.attributes)
    }
}

/// Every table the relay writes, for schema checks.
pub const TABLES: [&str; 6] = [
    ApiRequestRow::TABLE,
    ToolResultRow::TABLE,
    ApiErrorRow::TABLE,
    SubagentRow::TABLE,
    EventRow::TABLE,
    MetricRow::TABLE,
];
