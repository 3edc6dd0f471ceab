//! Why a question to ClickHouse got no answer; cli/exit.rs gives each case its own exit code.

/// A failed read.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// No record of any kind carries this workflow id.
    #[error("unknown workflow {workflow_id:?}: no record in database {database} carries it")]
    UnknownWorkflow {
        /// The id asked for.
        workflow_id: String,
        /// The database searched.
        database: String,
    },
    /// ClickHouse could not be reached (connection refused, DNS, timeout).
    #[error("ClickHouse at {url} is unreachable")]
    Unreachable {
        /// The configured URL.
        url: String,
        /// The client's error.
        #[source]
        source: clickhouse::error::Error,
    },
    /// ClickHouse answered with an error (a missing table: the schema is not applied).
    #[error("ClickHouse query for {what} failed{hint}")]
    QueryFailed {
        /// Which question.
        what: &'static str,
        /// The client's error.
        #[source]
        source: clickhouse::error::Error,
        /// A hint for the usual cause, or empty.
        hint: &'static str,
    },
}

impl LedgerError {
    /// Sorts a client error of the query `what` against `url` into unreachable or failed.
    pub fn from_client(what: &'static str, url: &str, source: clickhouse::error::Error) -> LedgerError {
        match &source {
            clickhouse::error::Error::Network(_) | clickhouse::error::Error::TimedOut => {
                LedgerError::Unreachable { url: url.to_string(), source }
            }
            clickhouse::error::Error::BadResponse(text)
                if text.contains("UNKNOWN_TABLE") || text.contains("UNKNOWN_DATABASE") =>
            {
                LedgerError::QueryFailed { what, source, hint: " (is the schema applied? `tokenledger schema apply`)" }
            }
            _ => LedgerError::QueryFailed { what, source, hint: "" },
        }
    }
}
