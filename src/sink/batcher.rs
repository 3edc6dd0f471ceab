//! One task per table that streams the rows of many requests into one INSERT, and tells each request when its
//! rows are committed (or why not).
//!
//! The INSERT starts with the first rows that arrive and stays open while more come: each request's rows are
//! serialized (RowBinary, LZ4) and sent to ClickHouse as they arrive, so rows waiting for their commit cost a
//! compressed buffer, not structs in memory. The INSERT is ended (committed) when it reaches `max_rows` or
//! `max_bytes`, when no rows have arrived for `idle`, or when its first rows have waited `max_delay`, and never
//! sooner after the table's previous commit than `max_inserts_per_sec` allows ([`CommitPolicy`]); only then are
//! the requests in it answered. The commit runs in the background (at most [`MAX_COMMITTING`] per table) while the next INSERT fills, so a slow
//! ClickHouse does not leave rows queued as structs. A failed INSERT commits nothing and fails every request in
//! it: they answer with a retryable error, and the senders retry. When every handle is dropped the task ends the
//! open INSERT, waits for the commits under way, and stops.

use std::time::Duration;

use clickhouse::insert::Insert;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::commit_policy::{CommitPolicy, Trigger};
use super::error::SinkError;
use crate::reshape::rows::Table;
use crate::telemetry::names;

/// When to commit an INSERT, and how long its steps may take.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Rows that end an INSERT.
    pub max_rows: usize,
    /// Estimated bytes that end an INSERT.
    pub max_bytes: usize,
    /// Longest wait of the first rows of an INSERT.
    pub max_delay: Duration,
    /// Quiet time (no rows arriving) that commits an INSERT early; None: only the limits above end one.
    pub idle: Option<Duration>,
    /// Most INSERTs of one table committed per second; 0: unbounded.
    pub max_inserts_per_sec: u32,
    /// Longest a send or the final commit may take before the INSERT counts as failed.
    pub insert_timeout: Duration,
}

/// INSERTs of one table that may be committing at once.
pub const MAX_COMMITTING: usize = 4;

type Done = oneshot::Sender<Result<(), SinkError>>;

struct Submission<T> {
    rows: Vec<T>,
    done: Done,
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

/// The INSERT being filled, and the requests waiting for its commit.
struct Open<T> {
    insert: Insert<T>,
    rows: usize,
    bytes: usize,
    started: Instant,
    last_rows: Instant,
    waiting: Vec<Done>,
}

/// The state of one table's batcher task.
pub struct Batcher<T> {
    client: clickhouse::Client,
    limits: Limits,
    policy: CommitPolicy,
    open: Option<Open<T>>,
    committing: JoinSet<()>,
}

impl<T: Table> Batcher<T> {
    /// Spawns the task for table `T::TABLE` onto `tasks`.
    pub fn spawn(tasks: &mut JoinSet<()>, client: clickhouse::Client, limits: Limits) -> BatcherHandle<T> {
        let (sender, receiver) = mpsc::unbounded_channel();
        let policy = CommitPolicy::new(limits.idle, limits.max_delay, limits.max_inserts_per_sec);
        tasks.spawn(Batcher { client, limits, policy, open: None, committing: JoinSet::new() }.run(receiver));
        BatcherHandle { sender }
    }

    async fn run(mut self, mut receiver: mpsc::UnboundedReceiver<Submission<T>>) {
        loop {
            let deadline = self.open.as_ref().map(|o| self.policy.deadline(o.started, o.last_rows));
            tokio::select! {
                submission = receiver.recv() => match submission {
                    Some(submission) => self.add(submission).await,
                    None => {
                        self.commit(Trigger::Shutdown).await;
                        while self.committing.join_next().await.is_some() {}
                        return;
                    }
                },
                trigger = sleep_until(deadline) => self.commit(trigger).await,
            }
        }
    }

    /// Streams a request's rows into the open INSERT (opening one if needed); commits when a limit is reached.
    async fn add(&mut self, submission: Submission<T>) {
        let Submission { rows, done } = submission;
        let bytes: usize = rows.iter().map(Table::estimated_bytes).sum();
        if let Err(error) = self.write(&rows).await {
            // The INSERT is broken: nothing in it will be committed, so everyone in it is told.
            let waiting = self.open.take().map(|o| o.waiting).unwrap_or_default();
            fail(T::TABLE, error, waiting.into_iter().chain([done]), rows.len());
            return;
        }
        let Some(open) = self.open.as_mut() else { return };
        open.rows += rows.len();
        open.bytes += bytes;
        open.last_rows = Instant::now();
        open.waiting.push(done);
        if open.rows >= self.limits.max_rows {
            self.commit(Trigger::Rows).await;
        } else if open.bytes >= self.limits.max_bytes {
            self.commit(Trigger::Bytes).await;
        }
    }

    async fn write(&mut self, rows: &[T]) -> Result<(), SinkError> {
        if self.open.is_none() {
            let timeout = Some(self.limits.insert_timeout);
            let insert = tokio::time::timeout(self.limits.insert_timeout, self.client.insert::<T>(T::TABLE))
                .await
                .map_err(|_| SinkError::Timeout(self.limits.insert_timeout))??
                .with_timeouts(timeout, timeout);
            let now = Instant::now();
            self.open = Some(Open { insert, rows: 0, bytes: 0, started: now, last_rows: now, waiting: Vec::new() });
        }
        let Some(open) = self.open.as_mut() else { return Ok(()) };
        for row in rows {
            open.insert.write(row).await?;
        }
        Ok(())
    }

    /// Ends the open INSERT in the background at its slot (now, or when the rate allows); its requests are
    /// answered when the commit is done. No new rows join it: the next rows open the next INSERT.
    async fn commit(&mut self, trigger: Trigger) {
        let Some(open) = self.open.take() else { return };
        while self.committing.len() >= MAX_COMMITTING {
            self.committing.join_next().await;
        }
        let slot = self.policy.reserve(Instant::now());
        self.committing.spawn(finish(open, slot, trigger));
    }
}

/// Commits an INSERT at `slot` and answers the requests in it.
async fn finish<T: Table>(open: Open<T>, slot: Instant, trigger: Trigger) {
    let table = T::TABLE;
    tokio::time::sleep_until(slot).await;
    metrics::counter!(names::INSERTS, "table" => table, "trigger" => trigger.label()).increment(1);
    let started = Instant::now();
    let result = open.insert.end().await.map_err(SinkError::from);
    metrics::histogram!(names::INSERT_SECONDS, "table" => table).record(started.elapsed().as_secs_f64());
    metrics::histogram!(names::BATCH_ROWS, "table" => table).record(open.rows as f64);
    match result {
        Ok(()) => {
            metrics::counter!(names::ROWS_INSERTED, "table" => table).increment(open.rows as u64);
            tracing::debug!(table, rows = open.rows, bytes = open.bytes, "inserted");
            for done in open.waiting {
                // A requester that went away (client timeout) no longer needs the answer.
                let _ = done.send(Ok(()));
            }
        }
        Err(error) => fail(table, error, open.waiting, open.rows),
    }
}

fn fail(table: &'static str, error: SinkError, waiting: impl IntoIterator<Item = Done>, rows: usize) {
    metrics::counter!(names::ERRORS, "kind" => error.kind()).increment(1);
    tracing::warn!(%error, table, rows, "insert failed; the senders will retry");
    for done in waiting {
        let _ = done.send(Err(error.clone()));
    }
}

async fn sleep_until(deadline: Option<(Instant, Trigger)>) -> Trigger {
    match deadline {
        Some((deadline, trigger)) => {
            tokio::time::sleep_until(deadline).await;
            trigger
        }
        None => std::future::pending().await,
    }
}
