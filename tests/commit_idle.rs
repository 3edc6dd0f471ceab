//! Commits that follow the load, a lone sender: once its rows are in and nothing else arrives, its request is
//! answered well before `batch.max_delay_ms`; with the early commit turned off (`batch.idle_ms = 0`, the former
//! policy) the same request waits the whole delay.

mod support;

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use support::clickhouse::fresh_database;
use support::relay;

const MAX_DELAY_MS: u64 = 4_000;

/// Posts one fixture to a fresh relay with `idle_ms`; returns the time to its answer and the api_request rows
/// stored right after it.
async fn lone_request(idle_ms: u64) -> (Duration, f64) {
    let db = fresh_database("commit_idle").await;
    let mut config = db.config();
    config.batch.max_delay_ms = MAX_DELAY_MS;
    config.batch.idle_ms = idle_ms;
    let relay = relay::start(config).await;
    let sent = Instant::now();
    let (status, body) = relay::post_fixture(&relay, "implement-bash", "logs-1.json").await;
    let answered = sent.elapsed();
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let stored = db.number("SELECT toFloat64(count()) FROM otel_api_request_events").await;
    relay.shutdown().await;
    (answered, stored)
}

#[tokio::test]
async fn a_lone_sender_is_answered_once_the_input_goes_quiet() {
    let expected = support::fixtures::api_requests_in("implement-bash", "logs-1.json") as f64;
    assert!(expected > 0.0);

    let (adaptive, stored) = lone_request(20).await;
    assert_eq!(stored, expected, "acknowledged rows are committed");
    assert!(
        adaptive < Duration::from_millis(MAX_DELAY_MS / 2),
        "answered after {adaptive:?}, max_delay is {MAX_DELAY_MS} ms"
    );

    eprintln!("answered after {adaptive:?} with idle_ms = 20");
    // Control: without the early commit the request waits for max_delay.
    let (delayed, stored) = lone_request(0).await;
    assert_eq!(stored, expected);
    eprintln!("answered after {delayed:?} with idle_ms = 0");
    assert!(delayed >= Duration::from_millis(MAX_DELAY_MS), "answered after {delayed:?} without the idle commit");
}
