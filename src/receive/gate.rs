//! Bounds how many requests are read, decoded and reshaped at once, so memory stays flat however many senders
//! connect: a request waits for a slot before its body is read, and gives the slot back once its rows are queued
//! on the batchers (before their commit, which holds no request buffers).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::ReceiveError;
use crate::telemetry::names;

/// The slots requests wait for.
pub struct Gate {
    slots: Arc<Semaphore>,
    wait: Duration,
}

/// One request's slot; dropping it lets the next request in.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
}

impl Gate {
    /// `slots` requests at once; a request waiting longer than `wait` for one is refused as busy.
    pub fn new(slots: usize, wait: Duration) -> Gate {
        Gate { slots: Arc::new(Semaphore::new(slots.max(1))), wait }
    }

    /// Waits for a slot, at most the configured time; [`ReceiveError::Busy`] after that (503 / UNAVAILABLE, which
    /// senders retry).
    pub async fn enter(&self) -> Result<Slot, ReceiveError> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(Slot { _permit: permit });
        }
        let waiting = Waiting::start();
        let waited = tokio::time::timeout(self.wait, self.slots.clone().acquire_owned()).await;
        drop(waiting);
        match waited {
            Ok(Ok(permit)) => Ok(Slot { _permit: permit }),
            // The semaphore is never closed; a closed one means shutting down, which is also "try later".
            Ok(Err(_)) | Err(_) => Err(ReceiveError::Busy { waited: self.wait }),
        }
    }
}

/// Counts a request in `tokenledger_requests_waiting` until dropped, also when the wait is abandoned (the sender
/// hung up and its handler was dropped mid-wait).
struct Waiting;

impl Waiting {
    fn start() -> Waiting {
        metrics::gauge!(names::REQUESTS_WAITING).increment(1.0);
        Waiting
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        metrics::gauge!(names::REQUESTS_WAITING).decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_request_waits_for_a_slot_and_gets_it_when_one_is_freed() {
        let gate = Arc::new(Gate::new(1, Duration::from_secs(5)));
        let first = gate.enter().await.expect("a free slot");
        let waiting = tokio::spawn({
            let gate = gate.clone();
            async move { gate.enter().await.map(|_| ()) }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "the second request must wait while the only slot is taken");
        drop(first);
        waiting.await.expect("task").expect("the freed slot");
    }

    #[tokio::test]
    async fn a_request_waiting_too_long_is_refused_as_busy() {
        let gate = Gate::new(1, Duration::from_millis(30));
        let _held = gate.enter().await.expect("a free slot");
        let refused = gate.enter().await.err().expect("no slot within the wait");
        assert!(matches!(refused, ReceiveError::Busy { .. }), "{refused:?}");
        assert_eq!(refused.http_status(), axum::http::StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(refused.grpc_status().code(), tonic::Code::Unavailable);
    }
}
