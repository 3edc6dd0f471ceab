//! The path every decoded OTLP request takes, whichever listener it came in on: reshape, write, count.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::LimitsConfig;
use crate::reshape::{
    reshape_logs, reshape_metrics, AgentDirectory, Clock, LogsRequest, MetricsRequest, Reshaped, StageMap,
};
use crate::sink::{Queued, Sink, SinkError};
use crate::telemetry::names;

/// Reshapes requests and writes their rows.
#[derive(Clone)]
pub struct Pipeline {
    stages: StageMap,
    agents: Arc<AgentDirectory>,
    limits: LimitsConfig,
    sink: Sink,
}

/// A request whose rows are queued on the batchers, with what of it was rejected; [`Stored::committed`] waits
/// for the commits.
#[must_use = "a request is only stored once `committed` returns Ok"]
pub struct Stored {
    accepted: Accepted,
    queued: Queued,
}

impl Stored {
    /// Waits until every row is committed; then what of the request was rejected.
    pub async fn committed(self) -> Result<Accepted, SinkError> {
        self.queued.committed().await?;
        Ok(self.accepted)
    }
}

/// A request that was committed, with what of it was rejected.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Accepted {
    /// Records (or data points) rejected; 0 when all were stored in full.
    pub rejected: u64,
    /// Why, for `partial_success.error_message`; empty when there is nothing to say.
    pub message: String,
}

impl Pipeline {
    /// A pipeline attributing stages with `stages`, naming subagents through `agents`, accepting event times
    /// within `limits`, writing to `sink`.
    pub fn new(stages: StageMap, agents: Arc<AgentDirectory>, limits: LimitsConfig, sink: Sink) -> Pipeline {
        Pipeline { stages, agents, limits, sink }
    }

    fn clock(&self) -> Clock {
        let hours = std::time::Duration::from_secs(self.limits.max_event_age_hours.saturating_mul(3600));
        Clock::around(now_ns(), hours, std::time::Duration::from_secs(self.limits.max_event_lead_secs))
    }

    /// Reshapes a logs request and queues its rows; the request itself is freed when this returns.
    pub fn logs(&self, request: LogsRequest) -> Result<Stored, SinkError> {
        let unreadable = request.unreadable_count;
        let reshaped = reshape_logs(request, &self.stages, &self.agents, &self.clock());
        count_events(&reshaped, unreadable);
        self.queue("logs", reshaped)
    }

    /// Reshapes a metrics request and queues its rows; the request itself is freed when this returns.
    pub fn metrics(&self, request: MetricsRequest) -> Result<Stored, SinkError> {
        let reshaped = reshape_metrics(request, &self.stages, &self.clock());
        let points = reshaped.rows.metrics.len() as u64;
        metrics::counter!(names::RECORDS_RECEIVED, "signal" => "metrics").increment(points + reshaped.rejected);
        self.queue("metrics", reshaped)
    }

    /// Counts a traces request: spans are accepted and counted, not stored (Claude Code's cost data is in its
    /// events and metrics).
    pub fn traces(&self, spans: usize) {
        metrics::counter!(names::RECORDS_RECEIVED, "signal" => "traces").increment(spans as u64);
    }

    fn queue(&self, signal: &'static str, reshaped: Reshaped) -> Result<Stored, SinkError> {
        let accepted = Accepted { rejected: reshaped.rejected, message: reshaped.summary() };
        if reshaped.rejected > 0 {
            metrics::counter!(names::RECORDS_REJECTED, "signal" => signal).increment(reshaped.rejected);
            tracing::info!(signal, rejected = reshaped.rejected, problems = %accepted.message, "records rejected");
        }
        let queued = self.sink.queue(reshaped.rows)?;
        Ok(Stored { accepted, queued })
    }
}

/// Counts received log records by event name. Claude Code's names are few; anything else counts as `other`, so
/// a stranger's log stream cannot blow up the label set.
fn count_events(reshaped: &Reshaped, unreadable: u64) {
    let mut by_name: HashMap<&str, u64> = HashMap::new();
    for event in &reshaped.rows.events {
        let name = if event.event_name.starts_with("claude_code.") { event.event_name.as_str() } else { "other" };
        *by_name.entry(name).or_default() += 1;
    }
    for (name, count) in by_name {
        metrics::counter!(names::RECORDS_RECEIVED, "signal" => "logs", "event" => name.to_string()).increment(count);
    }
    if unreadable > 0 {
        metrics::counter!(names::RECORDS_RECEIVED, "signal" => "logs", "event" => "unreadable").increment(unreadable);
    }
}

fn now_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}
