//! The issue row "8 gRPC clients × 500 records": with ack-after-commit, eight senders waiting for their answers
//! never fill a batch (8 × 500 rows < `batch.max_rows`), so under the former policy every request waited the whole
//! `batch.max_delay_ms`. Commits that follow the load answer them once the input goes quiet; every record is
//! committed exactly once either way.

mod support;

#[path = "../benches/workload.rs"]
mod workload;

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use support::clickhouse::fresh_database;
use support::relay;
use tonic::codec::CompressionEncoding;

const SENDERS: u64 = 8;
const RECORDS: usize = 500;
const ROUNDS: u64 = 3;
const MAX_DELAY_MS: u64 = 6_000;

/// Runs 8 gRPC senders, each sending ROUNDS requests of 500 distinct records one after the other; returns every
/// request's time to its answer and the rows committed (FINAL, raw).
async fn eight_senders(idle_ms: u64) -> (Vec<Duration>, f64, f64) {
    let db = fresh_database("grpc_senders").await;
    let mut config = db.config();
    config.batch.max_delay_ms = MAX_DELAY_MS;
    config.batch.idle_ms = idle_ms;
    assert!(config.batch.max_rows > (SENDERS as usize) * RECORDS, "the batch must not fill by rows");
    let relay = relay::start(config).await;
    let endpoint = format!("http://{}", relay.grpc);
    let mut senders = Vec::new();
    for sender in 0..SENDERS {
        let endpoint = endpoint.clone();
        senders.push(tokio::spawn(async move {
            let mut client =
                LogsServiceClient::connect(endpoint).await.unwrap().send_compressed(CompressionEncoding::Gzip);
            let mut answered = Vec::new();
            for round in 0..ROUNDS {
                let offset = (sender * ROUNDS + round) * RECORDS as u64;
                let request = workload::logs_request(RECORDS, offset);
                let sent = Instant::now();
                let response = client.export(request).await.expect("accepted").into_inner();
                answered.push(sent.elapsed());
                assert_eq!(response.partial_success, None);
            }
            answered
        }));
    }
    let mut answered = Vec::new();
    for sender in senders {
        answered.extend(sender.await.unwrap());
    }
    let committed = db.number("SELECT toFloat64(count()) FROM otel_events FINAL").await;
    let raw = db.number("SELECT toFloat64(count()) FROM otel_events SETTINGS final = 0").await;
    relay.shutdown().await;
    answered.sort();
    (answered, committed, raw)
}

#[tokio::test]
async fn eight_grpc_senders_are_answered_when_the_input_goes_quiet_not_after_the_delay() {
    let expected = (SENDERS * ROUNDS) as f64 * RECORDS as f64;

    let (adaptive, committed, raw) = eight_senders(20).await;
    assert_eq!((committed, raw), (expected, expected), "every record committed once");
    let median = adaptive[adaptive.len() / 2];
    assert!(
        median < Duration::from_millis(MAX_DELAY_MS / 2),
        "median answer {median:?} with commits that follow the load; the delay is {MAX_DELAY_MS} ms"
    );

    // The former policy (no early commit): each round of 8 × 500 rows waits out the delay.
    let (fixed, committed, raw) = eight_senders(0).await;
    assert_eq!((committed, raw), (expected, expected), "every record committed once");
    // A request joining a batch late waits less than the whole delay, so the median is the figure to hold.
    let fixed_median = fixed[fixed.len() / 2];
    assert!(
        fixed_median >= Duration::from_millis(MAX_DELAY_MS * 3 / 4),
        "without the early commit answers wait out the delay: median {fixed_median:?}"
    );
    assert!(median * 2 < fixed_median, "adaptive median {median:?} vs fixed-delay median {fixed_median:?}");
}
