//! Start-up before ClickHouse is up: the schema step is retried with backoff while the relay already listens,
//! and a [`SchemaGate`] keeps inserts and /readyz closed until it has succeeded.
//!
//! In a compose stack the relay often starts before ClickHouse answers. Exiting would leave the restart policy
//! to do the waiting, with nothing said; instead the relay stays up, says on /readyz and in its log what it waits
//! for, and answers OTLP requests with a retryable error, so senders keep their data queued.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::schema;

/// First wait after a failed attempt; doubled after each failure up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Whether the schema is in place. Cheap to clone; every clone sees the same state.
#[derive(Clone, Debug)]
pub struct SchemaGate(Arc<RwLock<Option<String>>>);

impl SchemaGate {
    /// A gate that is already open (the schema is applied by someone else, or tests applied it).
    pub fn open() -> SchemaGate {
        SchemaGate(Arc::new(RwLock::new(None)))
    }

    /// A closed gate, saying what it waits for.
    pub fn closed(waiting_for: impl Into<String>) -> SchemaGate {
        SchemaGate(Arc::new(RwLock::new(Some(waiting_for.into()))))
    }

    /// Ok when open, else what it waits for.
    pub fn check(&self) -> Result<(), String> {
        match &*self.0.read().unwrap_or_else(|poisoned| poisoned.into_inner()) {
            None => Ok(()),
            Some(waiting_for) => Err(waiting_for.clone()),
        }
    }

    fn set(&self, state: Option<String>) {
        *self.0.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = state;
    }
}

/// Applies the schema, retrying with backoff until it succeeds; then opens `gate`. Runs until done: the caller
/// aborts it at shutdown.
pub async fn apply_schema_until_done(client: clickhouse::Client, url: String, database: String, gate: SchemaGate) {
    let mut backoff = FIRST_BACKOFF;
    for attempt in 1u64.. {
        match schema::apply(&client, &database).await {
            Ok(statements) => {
                gate.set(None);
                tracing::info!(%database, statements, attempt, "schema applied");
                return;
            }
            Err(error) => {
                let waiting_for = format!(
                    "waiting for ClickHouse at {url}: applying the schema failed (attempt {attempt}, next in \
                     {backoff:?}): {error}"
                );
                tracing::warn!(%url, %database, attempt, retry_in = ?backoff, %error, "waiting for ClickHouse");
                gate.set(Some(waiting_for));
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gate_says_what_it_waits_for_until_opened() {
        let gate = SchemaGate::closed("waiting for ClickHouse");
        let seen_by_the_sink = gate.clone();
        assert_eq!(seen_by_the_sink.check(), Err("waiting for ClickHouse".to_string()));
        gate.set(None);
        assert_eq!(seen_by_the_sink.check(), Ok(()));
        assert_eq!(SchemaGate::open().check(), Ok(()));
    }
}
