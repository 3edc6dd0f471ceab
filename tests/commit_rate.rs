//! Commits that follow the load, sustained load: eight senders posting back to back (each waits for its answer)
//! never make a table commit more often than `batch.max_inserts_per_sec` (1/s here), their requests share
//! INSERTs, and every acknowledged record is stored. The same load without the bound commits more often than the
//! bound allows, so the bound is what holds commits back. The records are events without a typed table, so each
//! commit is one INSERT (`otel_events`) and the test ClickHouse takes commits faster than the bound. Its own test
//! binary: it reads the process-wide /metrics counters.

#[path = "../benches/workload.rs"]
mod workload;

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::AnyValue;
use support::clickhouse::fresh_database;
use support::relay;

const RATE: u32 = 1;
const SENDERS: usize = 8;
const RECORDS: usize = 100;

/// `tokenledger_inserts_total` summed over triggers, by table.
fn inserts(metrics: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for line in metrics.lines().filter(|l| l.starts_with("tokenledger_inserts_total{")) {
        let table = line.split("table=\"").nth(1).and_then(|r| r.split('"').next()).unwrap_or_default();
        let value: f64 = line.rsplit(' ').next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
        *out.entry(table.to_string()).or_default() += value as u64;
    }
    out
}

/// What one run of the load did.
struct Run {
    elapsed: f64,
    requests: u64,
    /// `otel_events` INSERTs committed during the run.
    inserts: u64,
    /// INSERTs per table during the run.
    by_table: BTreeMap<String, u64>,
}

/// Eight senders for 4 s against a fresh relay with `max_inserts_per_sec = rate` (0: unbounded).
async fn run(test: &str, rate: u32) -> Run {
    let db = fresh_database(test).await;
    let mut config = db.config();
    config.batch.max_delay_ms = 100;
    config.batch.idle_ms = 20;
    config.batch.max_inserts_per_sec = rate;
    let relay = Arc::new(relay::start(config).await);
    let before = inserts(&relay.metrics_text().await);

    // Built once; each request shifts it to its own records (reading the fixtures per request would make the
    // senders, not the relay, the bottleneck). Renamed to an event without a typed table: one INSERT per commit.
    let mut template = workload::logs_request(RECORDS, 0);
    for record in template.resource_logs.iter_mut().flat_map(|r| &mut r.scope_logs).flat_map(|s| &mut s.log_records) {
        record.body = Some(AnyValue { value: Some(Value::StringValue("claude_code.load_test".into())) });
        record.attributes.retain(|kv| kv.key != "event.name");
    }
    let template = Arc::new(template);
    let next = Arc::new(AtomicU64::new(0));
    let acked = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let stop = start + Duration::from_secs(4);
    let mut senders = Vec::new();
    for _ in 0..SENDERS {
        let (relay, next, acked, template) = (relay.clone(), next.clone(), acked.clone(), template.clone());
        senders.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            while Instant::now() < stop {
                let offset = next.fetch_add(RECORDS as u64, Ordering::Relaxed);
                let mut request = (*template).clone();
                let records = request.resource_logs.iter_mut().flat_map(|r| &mut r.scope_logs);
                for (i, record) in records.flat_map(|s| &mut s.log_records).enumerate() {
                    workload::make_nth(record, offset, offset + i as u64);
                }
                let body = prost::Message::encode_to_vec(&request);
                let response = client
                    .post(relay.http_url("/v1/logs"))
                    .header("content-type", "application/x-protobuf")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), reqwest::StatusCode::OK);
                acked.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for sender in senders {
        sender.await.unwrap();
    }
    let elapsed = start.elapsed().as_secs_f64();
    let after = inserts(&relay.metrics_text().await);
    let requests = acked.load(Ordering::Relaxed);
    let by_table: BTreeMap<String, u64> =
        after.iter().map(|(t, n)| (t.clone(), n - before.get(t).copied().unwrap_or(0))).collect();
    eprintln!("rate {rate}: {requests} requests in {elapsed:.2} s; inserts per table: {by_table:?}");

    let stored = db.number("SELECT toFloat64(count()) FROM otel_events").await;
    assert_eq!(stored, (requests * RECORDS as u64) as f64, "every acknowledged record is stored once");
    Arc::try_unwrap(relay).ok().expect("senders done").shutdown().await;
    let inserts = by_table.get("otel_events").copied().unwrap_or(0);
    Run { elapsed, requests, inserts, by_table }
}

#[tokio::test]
async fn sustained_load_keeps_inserts_per_table_within_the_rate() {
    let bounded = run("commit_rate", RATE).await;
    // Commits of one table start at least 1/RATE s apart, and every one counted ended before the last answer.
    let bound = |elapsed: f64| (elapsed * RATE as f64).floor() as u64 + 1;
    assert!(bounded.inserts > 0, "{:?}", bounded.by_table);
    for (table, count) in &bounded.by_table {
        let allowed = bound(bounded.elapsed);
        assert!(
            *count <= allowed,
            "{table}: {count} inserts in {:.2} s, rate {RATE}/s allows {allowed}",
            bounded.elapsed
        );
    }
    assert!(
        bounded.requests > bounded.inserts,
        "{} requests in {} inserts: requests share INSERTs",
        bounded.requests,
        bounded.inserts
    );

    // The control: the same load, no bound, commits more often than the bound allows (else the bound held nothing).
    let unbounded = run("commit_rate_unbounded", 0).await;
    assert!(
        unbounded.inserts > bound(unbounded.elapsed),
        "without the bound, {} inserts in {:.2} s: the load must commit more often than {RATE}/s for the test to mean anything",
        unbounded.inserts,
        unbounded.elapsed
    );
}
