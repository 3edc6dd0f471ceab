//! Why rows could not be committed. Every variant is answered as retryable (HTTP 503 / gRPC UNAVAILABLE) except
//! [`SinkError::TooLarge`], because the sender's retry queue is where data waits while ClickHouse cannot take it.

use std::sync::Arc;
use std::time::Duration;

/// A failure to commit rows.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SinkError {
    /// Too many rows are already waiting; try again shortly.
    #[error("the relay is at its pending-rows limit")]
    Overloaded,
    /// One request holds more rows than may ever wait at once.
    #[error("the request makes {rows} rows, more than batch.max_pending_rows = {limit}")]
    TooLarge {
        /// Rows the request made.
        rows: usize,
        /// The configured limit.
        limit: usize,
    },
    /// ClickHouse refused or could not be reached.
    #[error("ClickHouse: {0}")]
    ClickHouse(Arc<clickhouse::error::Error>),
    /// The insert took longer than `clickhouse.insert_timeout_secs`.
    #[error("insert timed out after {0:?}")]
    Timeout(Duration),
    /// The schema is not applied yet (ClickHouse has not answered since the relay started); says what it waits for.
    #[error("not ready: {0}")]
    NotReady(String),
    /// The relay is stopping.
    #[error("the relay is shutting down")]
    ShuttingDown,
}

impl From<clickhouse::error::Error> for SinkError {
    fn from(error: clickhouse::error::Error) -> Self {
        SinkError::ClickHouse(Arc::new(error))
    }
}

impl SinkError {
    /// A short label for the errors metric.
    pub fn kind(&self) -> &'static str {
        match self {
            SinkError::Overloaded => "overloaded",
            SinkError::TooLarge { .. } => "too_large",
            SinkError::ClickHouse(_) => "clickhouse",
            SinkError::Timeout(_) => "insert_timeout",
            SinkError::NotReady(_) => "not_ready",
            SinkError::ShuttingDown => "shutting_down",
        }
    }
}
