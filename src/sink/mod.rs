//! The sink: rows → ClickHouse in bulk, and an answer for each request only once its rows are committed.
//!
//! Each table has a [`batcher`] task that streams the rows of many requests into one INSERT, committed by rows,
//! bytes, a quiet input or delay, at a bounded rate ([`commit_policy`]). [`Sink::write`] hands a request's rows to the batchers and waits for their commits, so an OTLP
//! success means the data is in ClickHouse. Rows waiting anywhere are bounded by `batch.max_pending_rows`; past
//! it, requests are refused at once with a retryable error and the sender's retry queue holds the data.

pub mod batcher;
pub mod client;
pub mod commit_policy;
pub mod cost;
pub mod dedup;
pub mod error;
pub mod schema;
pub mod startup;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, Semaphore};
use tokio::task::JoinSet;

use crate::config::{BatchConfig, ClickHouseConfig};
use crate::reshape::rows::{ApiErrorRow, ApiRequestRow, EventRow, MetricRow, SubagentRow, Table, ToolResultRow};
use crate::reshape::Rows;
use batcher::{Batcher, BatcherHandle, Limits};
pub use cost::CostCounters;
pub use dedup::RecentKeys;
pub use error::SinkError;
pub use startup::SchemaGate;

/// Hands rows to the per-table batchers and waits for their commits. Cheap to clone.
#[derive(Clone)]
pub struct Sink {
    tables: Arc<Tables>,
    pending: Arc<Semaphore>,
    max_pending_rows: usize,
    cost: Arc<CostCounters>,
    recent: Arc<RecentKeys>,
    schema: SchemaGate,
}

struct Tables {
    api_requests: BatcherHandle<ApiRequestRow>,
    tool_results: BatcherHandle<ToolResultRow>,
    api_errors: BatcherHandle<ApiErrorRow>,
    subagents: BatcherHandle<SubagentRow>,
    events: BatcherHandle<EventRow>,
    metrics: BatcherHandle<MetricRow>,
}

/// The batcher tasks; awaiting [`SinkTasks::drained`] after every [`Sink`] clone is dropped flushes what is left.
pub struct SinkTasks(JoinSet<()>);

impl SinkTasks {
    /// Waits until every batcher has flushed and stopped, or `timeout` passes. Returns whether all stopped.
    pub async fn drained(mut self, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, async { while self.0.join_next().await.is_some() {} }).await.is_ok()
    }
}

impl Sink {
    /// Starts one batcher per table, writing through `client`; writes are refused while `schema` is closed, and
    /// rows whose keys `recent` remembers are dropped.
    pub fn start(
        client: clickhouse::Client,
        clickhouse: &ClickHouseConfig,
        batch: &BatchConfig,
        cost: Arc<CostCounters>,
        recent: Arc<RecentKeys>,
        schema: SchemaGate,
    ) -> (Sink, SinkTasks) {
        let limits = Limits {
            max_rows: batch.max_rows,
            max_bytes: batch.max_bytes,
            max_delay: batch.max_delay(),
            idle: batch.idle(),
            max_inserts_per_sec: batch.max_inserts_per_sec,
            insert_timeout: Duration::from_secs(clickhouse.insert_timeout_secs),
        };
        let mut tasks = JoinSet::new();
        let tables = Tables {
            api_requests: Batcher::spawn(&mut tasks, client.clone(), limits),
            tool_results: Batcher::spawn(&mut tasks, client.clone(), limits),
            api_errors: Batcher::spawn(&mut tasks, client.clone(), limits),
            subagents: Batcher::spawn(&mut tasks, client.clone(), limits),
            events: Batcher::spawn(&mut tasks, client.clone(), limits),
            metrics: Batcher::spawn(&mut tasks, client, limits),
        };
        let sink = Sink {
            tables: Arc::new(tables),
            pending: Arc::new(Semaphore::new(batch.max_pending_rows)),
            max_pending_rows: batch.max_pending_rows,
            cost,
            recent,
            schema,
        };
        (sink, SinkTasks(tasks))
    }

    /// Writes a request's rows; returns once every row is committed, or with the first failure.
    pub async fn write(&self, rows: Rows) -> Result<(), SinkError> {
        self.queue(rows)?.committed().await
    }

    /// Hands a request's rows to the batchers without waiting for their commits: once this returns, the rows are
    /// the batchers' and the request's own buffers can be freed. Rows committed recently (a redelivery) are
    /// dropped first. Refused at once when the rows would take the rows waiting past `batch.max_pending_rows`.
    pub fn queue(&self, mut rows: Rows) -> Result<Queued, SinkError> {
        if rows.is_empty() {
            return Ok(Queued::nothing(self));
        }
        self.schema.check().map_err(SinkError::NotReady)?;
        let keys = self.recent.drop_committed(&mut rows);
        let count = rows.len();
        if count == 0 {
            return Ok(Queued::nothing(self));
        }
        if count > self.max_pending_rows {
            return Err(SinkError::TooLarge { rows: count, limit: self.max_pending_rows });
        }
        let permits =
            u32::try_from(count).map_err(|_| SinkError::TooLarge { rows: count, limit: self.max_pending_rows })?;
        // Held until the commits are in: bounds the rows waiting anywhere (a channel, an open INSERT).
        let permit = self.pending.clone().try_acquire_many_owned(permits).map_err(|_| SinkError::Overloaded)?;
        self.report_pending();

        let cost = self.cost.tally(&rows.api_requests);
        let Rows { api_requests, tool_results, api_errors, subagents, events, metrics: metric_rows } = rows;
        let t = &self.tables;
        let acks = [
            submit(&t.api_requests, api_requests),
            submit(&t.tool_results, tool_results),
            submit(&t.api_errors, api_errors),
            submit(&t.subagents, subagents),
            submit(&t.events, events),
            submit(&t.metrics, metric_rows),
        ];
        Ok(Queued { sink: self.clone(), acks: acks.into_iter().flatten().collect(), keys, cost, permit: Some(permit) })
    }

    fn report_pending(&self) {
        let pending = self.max_pending_rows - self.pending.available_permits();
        metrics::gauge!(crate::telemetry::names::PENDING_ROWS).set(pending as f64);
    }
}

type Ack = oneshot::Receiver<Result<(), SinkError>>;

/// A request's rows in the batchers' hands; [`Queued::committed`] waits for their commits.
#[must_use = "rows are only known to be stored once `committed` returns Ok"]
pub struct Queued {
    sink: Sink,
    acks: Vec<(&'static str, Result<Ack, SinkError>)>,
    keys: dedup::Keys,
    cost: cost::Tally,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl Queued {
    fn nothing(sink: &Sink) -> Queued {
        Queued {
            sink: sink.clone(),
            acks: Vec::new(),
            keys: dedup::Keys::default(),
            cost: Default::default(),
            permit: None,
        }
    }

    /// Returns once every row is committed, or with the first failure. A table whose rows commit is remembered
    /// even if another fails, so a retry rewrites only what is missing.
    pub async fn committed(mut self) -> Result<(), SinkError> {
        let mut result = Ok(());
        for (table, ack) in std::mem::take(&mut self.acks) {
            let outcome = match ack {
                Ok(receiver) => receiver.await.unwrap_or(Err(SinkError::ShuttingDown)),
                Err(error) => Err(error),
            };
            match outcome {
                Ok(()) => {
                    let fresh = self.sink.recent.remember(table, self.keys.of(table));
                    if table == ApiRequestRow::TABLE {
                        self.sink.cost.record(std::mem::take(&mut self.cost), &fresh);
                    }
                }
                Err(error) if result.is_ok() => result = Err(error),
                Err(_) => {}
            }
        }
        if self.permit.take().is_some() {
            self.sink.report_pending();
        }
        result
    }
}

/// Queues rows on a table's batcher; None when there is nothing to queue.
fn submit<T: Table>(handle: &BatcherHandle<T>, rows: Vec<T>) -> Option<(&'static str, Result<Ack, SinkError>)> {
    (!rows.is_empty()).then(|| (T::TABLE, handle.submit(rows)))
}
