//! Start-up before ClickHouse is up: the schema step, then reloading recent subagent names, each retried with
//! backoff while the relay already listens; a [`SchemaGate`] keeps inserts and /readyz closed until both are done.
//!
//! In a compose stack the relay often starts before ClickHouse answers. Exiting would leave the restart policy
//! to do the waiting, with nothing said; instead the relay stays up, says on /readyz and in its log what it waits
//! for, and answers OTLP requests with a retryable error, so senders keep their data queued.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::dedup::RecentKeys;
use super::schema;
use crate::reshape::rows::TABLES;
use crate::reshape::AgentDirectory;

/// First wait after a failed attempt; doubled after each failure up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// How far back subagent names are reloaded at start: a subagent that was running when the relay stopped is
/// among the agents of the last day; an hours-long subagent is already rare.
const SUBAGENT_LOOKBACK_HOURS: u32 = 24;

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

/// Where the relay writes, for its log and /readyz messages.
pub struct Target {
    /// ClickHouse URL.
    pub url: String,
    /// The database.
    pub database: String,
}

/// What the relay reloads from ClickHouse at start, so a restart forgets nothing that matters.
pub struct Memory {
    /// agent_id → subagent name.
    pub agents: Arc<AgentDirectory>,
    /// Content keys of recently committed rows.
    pub recent: Arc<RecentKeys>,
}

/// What the relay does before it takes rows, when it applies the schema itself (`apply_schema`): apply the
/// schema, then reload its [`Memory`] (the subagent names of the last day, the content keys of the dedup window),
/// each retried with backoff until it succeeds; then open `gate`. Without `apply_schema` the operator owns the
/// schema, the gate is open from the start and the memory is reloaded once, best effort, alongside. Runs until
/// done: the caller aborts it at shutdown.
pub async fn prepare(client: clickhouse::Client, target: Target, apply_schema: bool, memory: Memory, gate: SchemaGate) {
    let Target { url, database } = target;
    if !apply_schema {
        if let Err(error) = reload(&client, &memory).await {
            tracing::warn!(%url, %error, "subagent names and recent keys not reloaded");
        }
        return;
    }
    let statements = retry(&gate, &url, "applying the schema", || schema::apply(&client, &database)).await;
    tracing::info!(%database, statements, "schema applied");
    retry(&gate, &url, "reloading subagent names and recent keys", || reload(&client, &memory)).await;
    gate.set(None);
}

/// Reloads the subagent names and the recent content keys.
async fn reload(client: &clickhouse::Client, memory: &Memory) -> Result<(), clickhouse::error::Error> {
    let pairs = recent_subagents(client).await?;
    // Oldest first: the directory forgets its oldest entries first when full.
    for (agent_id, name) in pairs.iter().rev() {
        memory.agents.learn(agent_id, name);
    }
    let mut keys = 0;
    // Within one generation's share, so that reloading one table does not rotate another's keys out.
    let per_table = memory.recent.max_keys() / 2 / TABLES.len();
    for table in TABLES {
        let recent = recent_keys(client, table, memory.recent.window(), per_table).await?;
        memory.recent.remember(table, &recent);
        keys += recent.len();
    }
    tracing::info!(subagents = pairs.len(), keys, "subagent names and recent content keys reloaded");
    Ok(())
}

/// The content keys of `table`'s rows whose event time is within `window` of now, newest first.
async fn recent_keys(
    client: &clickhouse::Client,
    table: &str,
    window: Duration,
    limit: usize,
) -> Result<Vec<u64>, clickhouse::error::Error> {
    client
        .query(&format!(
            "SELECT event_key FROM {table} WHERE timestamp > now64(9) - toIntervalSecond(?) \
             ORDER BY timestamp DESC LIMIT ?"
        ))
        .bind(window.as_secs())
        .bind(limit as u64)
        .fetch_all::<u64>()
        .await
}

/// Runs `attempt` until it succeeds, keeping `gate` closed with the reason meanwhile.
async fn retry<T, F, Fut>(gate: &SchemaGate, url: &str, what: &str, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, clickhouse::error::Error>>,
{
    let mut backoff = FIRST_BACKOFF;
    for number in 1u64.. {
        match attempt().await {
            Ok(value) => return value,
            Err(error) => {
                gate.set(Some(format!(
                    "waiting for ClickHouse at {url}: {what} failed (attempt {number}, next in {backoff:?}): {error}"
                )));
                tracing::warn!(%url, what, attempt = number, retry_in = ?backoff, %error, "waiting for ClickHouse");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
    unreachable!("the attempts are unbounded")
}

/// The subagent names of the last day by agent_id, newest first, as many as the directory holds.
async fn recent_subagents(client: &clickhouse::Client) -> Result<Vec<(String, String)>, clickhouse::error::Error> {
    client
        .query(
            "SELECT agent_id, argMax(agent_name, timestamp) FROM otel_api_request_events FINAL \
             WHERE agent_id != '' AND agent_name != '' AND timestamp > now() - toIntervalHour(?) \
             GROUP BY agent_id ORDER BY max(timestamp) DESC LIMIT ?",
        )
        .bind(SUBAGENT_LOOKBACK_HOURS)
        .bind(AgentDirectory::CAPACITY as u64)
        .fetch_all::<(String, String)>()
        .await
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
