//! Which records a question covers: one workflow, or every record in a time range. Each query renders it into
//! its WHERE clause and binds its values.

/// The records a report covers.
#[derive(Debug, Clone, PartialEq)]
pub enum Scope {
    /// Every record of one workflow, whenever it was sent.
    Workflow(String),
    /// Every record with `from_ms <= timestamp < to_ms` (Unix milliseconds).
    Range {
        /// Start, inclusive.
        from_ms: i64,
        /// End, exclusive.
        to_ms: i64,
    },
}

impl Scope {
    /// The WHERE condition, with `?` placeholders for [`Scope::bind`].
    pub fn condition(&self) -> &'static str {
        match self {
            Scope::Workflow(_) => "workflow_id = ?",
            Scope::Range { .. } => {
                "timestamp >= fromUnixTimestamp64Milli(?) AND timestamp < fromUnixTimestamp64Milli(?)"
            }
        }
    }

    /// Binds the condition's values to a query, in order.
    pub fn bind(&self, query: clickhouse::query::Query) -> clickhouse::query::Query {
        match self {
            Scope::Workflow(id) => query.bind(id),
            Scope::Range { from_ms, to_ms } => query.bind(from_ms).bind(to_ms),
        }
    }
}
