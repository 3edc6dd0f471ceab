//! Duplicates kept off disk (issue 8): a record delivered again after its rows were committed — by the same
//! relay, or after a relay restart — is dropped before it is written, so the raw tables (no FINAL, no `final`
//! setting) hold each record once, and /metrics counts what was dropped.

mod support;

use support::clickhouse::{fresh_database, TestDb};
use support::otlp_json::{api_request, now_ns, record, send};
use support::relay::{self, TestRelay};

const RUN: [(&str, &str); 3] = [("workflow_id", "wf-dedup"), ("stage", "plan"), ("agent", "planner")];

/// Rows and distinct content keys of a table, read plainly.
async fn rows_and_keys(db: &TestDb, table: &str) -> (u64, u64) {
    let sql = format!("SELECT count(), uniqExact(event_key) FROM {table}");
    db.client.query(&sql).fetch_one::<(u64, u64)>().await.unwrap()
}

fn dropped(metrics: &str, table: &str) -> f64 {
    let prefix = format!("tokenledger_duplicates_dropped_total{{table=\"{table}\"}} ");
    metrics.lines().find_map(|l| l.strip_prefix(&prefix)).and_then(|v| v.parse().ok()).unwrap_or(0.0)
}

async fn deliver(relay: &TestRelay, records: &[serde_json::Value]) {
    send(relay, &RUN, records.to_vec()).await;
}

#[tokio::test]
async fn a_redelivery_before_and_after_a_restart_is_stored_once() {
    let db = fresh_database("dedup").await;
    let t0 = now_ns();
    let records: Vec<_> = (0..20)
        .map(|i| api_request(t0 + i as u128, i, &RUN, 1000 + i))
        .chain([record("tool_result", t0 + 50, 50, &RUN, &[("tool_name", "Bash"), ("success", "true")])])
        .collect();

    let relay = relay::start(db.config()).await;
    deliver(&relay, &records).await;
    let once = rows_and_keys(&db, "otel_api_request_events").await;
    assert_eq!(once, (20, 20));
    let events_once = rows_and_keys(&db, "otel_events").await;
    assert_eq!(events_once, (21, 21));

    // Delivered again to the same relay: nothing new is written.
    deliver(&relay, &records).await;
    assert_eq!(rows_and_keys(&db, "otel_api_request_events").await, once);
    let metrics = relay.metrics_text().await;
    assert!(dropped(&metrics, "otel_api_request_events") >= 20.0, "{metrics}");
    relay.shutdown().await;

    // And again after a restart, plus one new record: only the new one is written.
    let relay = relay::start(db.config()).await;
    let new = api_request(now_ns(), 99, &RUN, 5);
    let mut again = records.clone();
    again.push(new);
    deliver(&relay, &again).await;
    assert_eq!(rows_and_keys(&db, "otel_api_request_events").await, (21, 21), "the raw table holds each record once");
    assert_eq!(rows_and_keys(&db, "otel_events").await, (22, 22));
    assert_eq!(rows_and_keys(&db, "otel_tool_result_events").await, (1, 1));
    relay.shutdown().await;
}

#[tokio::test]
async fn without_the_memory_a_redelivery_is_written_twice_and_only_merges_fold_it() {
    // The control: with the window at its smallest and no reload possible (a new relay, keys older than the
    // window), the second copy reaches the disk, which is what the test above would see if dropping failed.
    let db = fresh_database("dedup_control").await;
    let mut config = db.config();
    config.dedup.window_secs = 0;
    let records: Vec<_> = (0..5).map(|i| api_request(now_ns() + i as u128, i, &RUN, 100)).collect();
    let relay = relay::start(config.clone()).await;
    deliver(&relay, &records).await;
    relay.shutdown().await;
    let relay = relay::start(config).await;
    deliver(&relay, &records).await;
    relay.shutdown().await;
    assert_eq!(rows_and_keys(&db, "otel_api_request_events").await, (10, 5));
    let folded: u64 = db.client.query("SELECT count() FROM otel_api_request_events FINAL").fetch_one().await.unwrap();
    assert_eq!(folded, 5, "ReplacingMergeTree is the backstop");
}

#[tokio::test]
async fn copies_in_flight_together_are_both_committed_but_counted_once_on_metrics() {
    // Two copies of one request arrive while neither is committed (a commit waits for a second of quiet): the
    // sink cannot drop the second, so both are committed (in one INSERT, ReplacingMergeTree keeps one row), but
    // the cost counter adds the record once.
    let db = fresh_database("dedup_in_flight").await;
    let mut config = db.config();
    config.batch.idle_ms = 1_000;
    config.batch.max_delay_ms = 2_000;
    let run = [("workflow_id", "wf-in-flight"), ("stage", "plan"), ("agent", "planner")];
    let t0 = now_ns();
    let records: Vec<_> = (0..5).map(|i| api_request(t0 + i as u128, i, &run, 1000)).collect();
    let relay = relay::start(config).await;
    let timed = || async {
        let started = std::time::Instant::now();
        send(&relay, &run, records.clone()).await;
        started.elapsed()
    };
    let (first, second) = tokio::join!(timed(), timed());
    // A copy dropped as already committed is answered at once; both waited for the commit, so both were queued.
    let waited = std::time::Duration::from_millis(900);
    assert!(first >= waited && second >= waited, "answered after {first:?} and {second:?}: both copies were in flight");
    let metrics = relay.metrics_text().await;
    let stored: f64 =
        db.client.query("SELECT sum(cost_usd) FROM otel_api_request_events FINAL").fetch_one().await.unwrap();
    let counted: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("tokenledger_committed_cost_usd{") && l.contains("workflow_id=\"wf-in-flight\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(stored > 0.0 && (counted - stored).abs() < 1e-9, "counted {counted}, stored once {stored}");
    relay.shutdown().await;
}
