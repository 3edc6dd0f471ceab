//! One task per table that gathers rows from many requests into one insert, and tells each request when its
//! rows are committed (or why not).
//!
//! A batch is sent when it reaches `max_rows` or `max_bytes`, or when its oldest row has waited `max_delay`.
//! Inserts of one table run one at a time; requests arriving meanwhile wait in the channel and form the next
//! batch. A failed insert fails every request in it: they answer with a retryable error, and the sender retries.
//! When every handle is dropped the task flushes what it holds and ends.

use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use super::error::SinkError;
use crate::reshape::rows::Table;
use crate::telemetry::names;

/// When to send a batch, and how long an insert may take.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Rows that trigger an insert.
    pub max_rows: usize,
    /// Estimated bytes that trigger an insert.
    pub max_bytes: usize,
    /// Longest wait of the oldest row.
    pub max_delay: Duration,
    /// Longest insert before it counts as failed.
    pub insert_timeout: Duration,
}

struct Submission<T> {
    rows: Vec<T>,
    done: oneshot::Sender<Result<(), SinkError>>,
}

/// Sends rows to a batcher task.
pub struct BatcherHandle<T> {
    sender: mpsc::UnboundedSender<Submission<T>>,
}

impl<T: Table> BatcherHandle<T> {
    /// Queues rows; the receiver resolves when they are committed. The queue itself is unbounded because the
    /// sink's semaphore already bounds the rows in flight.
    pub fn submit(&self, rows: Vec<T>) -> Result<oneshot::Receiver<Result<(), SinkError>>, SinkError> {
        let (done, receiver) = oneshot::channel();
        self.sender.send(Submission { rows, done }).map_err(|_| SinkError::ShuttingDown)?;
        Ok(receiver)
    }
}

/// The state of one table's batcher task.
pub struct Batcher<T> {
    client: clickhouse::Client,
    limits: Limits,
    rows: Vec<T>,
    bytes: usize,
    waiting: Vec<oneshot::Sender<Result<(), SinkError>>>,
    oldest: Option<Instant>,
}

impl<T: Table> Batcher<T> {
    /// Spawns the task for table `T::TABLE` onto `tasks`.
    pub fn spawn(tasks: &mut JoinSet<()>, client: clickhouse::Client, limits: Limits) -> BatcherHandle<T> {
        let (sender, receiver) = mpsc::unbounded_channel();
        let batcher = Batcher { client, limits, rows: Vec::new(), bytes: 0, waiting: Vec::new(), oldest: None };
        tasks.spawn(batcher.run(receiver));
        BatcherHandle { sender }
    }

    async fn run(mut self, mut receiver: mpsc::UnboundedReceiver<Submission<T>>) {
        loop {
            let deadline = self.oldest.map(|t| tokio::time::Instant::from_std(t + self.limits.max_delay));
            tokio::select! {
                submission = receiver.recv() => match submission {
                    Some(submission) => {
                        self.add(submission);
                        if self.rows.len() >= self.limits.max_rows || self.bytes >= self.limits.max_bytes {
                            self.flush().await;
                        }
                    }
                    None => {
                        self.flush().await;
                        return;
                    }
                },
                _ = sleep_until(deadline) => self.flush().await,
            }
        }
    }

    fn add(&mut self, submission: Submission<T>) {
        self.bytes += submission.rows.iter().map(Table::estimated_bytes).sum::<usize>();
        self.oldest.get_or_insert_with(Instant::now);
        if self.rows.is_empty() {
            self.rows = submission.rows;
        } else {
            self.rows.extend(submission.rows);
        }
        self.waiting.push(submission.done);
    }

    async fn flush(&mut self) {
        if self.waiting.is_empty() {
            return;
        }
        let rows = std::mem::take(&mut self.rows);
        let waiting = std::mem::take(&mut self.waiting);
        let bytes = std::mem::replace(&mut self.bytes, 0);
        self.oldest = None;

        let started = Instant::now();
        let result = insert(&self.client, &rows, self.limits.insert_timeout).await;
        let elapsed = started.elapsed().as_secs_f64();
        let table = T::TABLE;
        metrics::histogram!(names::INSERT_SECONDS, "table" => table).record(elapsed);
        metrics::histogram!(names::BATCH_ROWS, "table" => table).record(rows.len() as f64);
        match &result {
            Ok(()) => {
                metrics::counter!(names::ROWS_INSERTED, "table" => table).increment(rows.len() as u64);
                tracing::debug!(table, rows = rows.len(), bytes, elapsed, "inserted");
            }
            Err(error) => {
                metrics::counter!(names::ERRORS, "kind" => error.kind()).increment(1);
                tracing::warn!(%error, table, rows = rows.len(), "insert failed; the senders will retry");
            }
        }
        for done in waiting {
            // A requester that went away (client timeout) no longer needs the answer.
            let _ = done.send(result.clone());
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

async fn insert<T: Table>(client: &clickhouse::Client, rows: &[T], timeout: Duration) -> Result<(), SinkError> {
    let attempt = async {
        let mut insert = client.insert::<T>(T::TABLE).await?;
        for row in rows {
            insert.write(row).await?;
        }
        insert.end().await
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(result) => result.map_err(SinkError::from),
        Err(_) => Err(SinkError::Timeout(timeout)),
    }
}
