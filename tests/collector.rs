//! A real OpenTelemetry Collector in front of the relay: JSON lines shaped like Claude Code api_request events →
//! filelog (json_parser into attributes, so every number arrives as a double) → batch → otlphttp (gzip,
//! retry_on_failure, sending_queue) → the relay → ClickHouse (chdb behind the HTTP front, one database per test).
//!
//! What it proves: a relay restart while the collector retries loses nothing and counts nothing twice; the
//! relay reads the collector's gzip bodies and its doubles (1200.0 → 1200); a batch committed but not
//! acknowledged, and so sent again, is counted once by the views.

mod support;

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::{Duration, Instant};

use clickhouse::Row;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use serde::Deserialize;
use support::clickhouse::{fresh_database, ModelCost, TestDb};
use support::collector::{
    attribute, eventually, free_port, log_records, now_ms, rfc3339_millis, sequence, ApiRequest, Collector, JsonLines,
    Progress, Tap, RETRY_LOG,
};
use support::relay;

/// Lines written while the relay is up, then while it is down.
const BEFORE_RESTART: usize = 40;
const DURING_OUTAGE: usize = 60;
/// Failed export attempts the collector must have made before the relay comes back.
const RETRIES_DURING_OUTAGE: usize = 10;
/// How long the collector, ClickHouse and the relay get to do any one thing.
const PATIENCE: Duration = Duration::from_secs(60);

/// Workflow, stage, agent, model: three workflows, one model each.
const WORKFLOWS: [(&str, &str, &str, &str); 3] = [
    ("wf-collector-a", "analyze", "analyst", "claude-opus-4-5-20251101"),
    ("wf-collector-b", "implement", "implementer", "claude-sonnet-4-5-20250929"),
    ("wf-collector-c", "review", "reviewer", "claude-haiku-4-5-20251001"),
];

/// api_request events with `event.sequence` in `sequences`, timestamps a second apart ending now.
fn api_requests(sequences: Range<u64>) -> Vec<ApiRequest> {
    let end = now_ms();
    let count = sequences.end - sequences.start;
    sequences
        .enumerate()
        .map(|(i, sequence)| {
            let (workflow_id, stage, agent, model) = WORKFLOWS[sequence as usize % WORKFLOWS.len()];
            let input_tokens = 1000 + sequence * 7;
            let output_tokens = 20 + sequence % 50;
            let cache_read_tokens = 5000 + sequence;
            let cache_creation_tokens = 300;
            // Sonnet-like prices per million tokens; any non-round double will do.
            let cost_usd = (input_tokens as f64 * 3.0
                + output_tokens as f64 * 15.0
                + cache_read_tokens as f64 * 0.3
                + cache_creation_tokens as f64 * 3.75)
                / 1e6;
            ApiRequest {
                workflow_id: workflow_id.into(),
                stage: stage.into(),
                agent: agent.into(),
                model: model.into(),
                session_id: format!("session-{workflow_id}"),
                sequence,
                input_tokens,
                output_tokens,
                cache_read_tokens,
                cache_creation_tokens,
                cost_usd,
                timestamp_ms: end - (count as i64 - i as i64) * 1000,
            }
        })
        .collect()
}

fn json(lines: &[ApiRequest]) -> Vec<serde_json::Value> {
    lines.iter().map(ApiRequest::json).collect()
}

#[derive(Debug, Default, Clone, PartialEq, Row, Deserialize)]
struct Summary {
    workflow_id: String,
    total_input_tokens: u64,
    total_output_tokens: u64,
    total_cache_read_tokens: u64,
    total_cost_usd: f64,
    api_requests: u64,
}

/// What workflow_summary must say about `lines`, computed from the lines themselves.
fn expected_summaries(lines: &[ApiRequest]) -> Vec<Summary> {
    let mut by_workflow = BTreeMap::<String, Summary>::new();
    for line in lines {
        let s = by_workflow
            .entry(line.workflow_id.clone())
            .or_insert_with(|| Summary { workflow_id: line.workflow_id.clone(), ..Summary::default() });
        s.total_input_tokens += line.input_tokens;
        s.total_output_tokens += line.output_tokens;
        s.total_cache_read_tokens += line.cache_read_tokens;
        s.total_cost_usd += line.cost_usd;
        s.api_requests += 1;
    }
    by_workflow.into_values().collect()
}

fn expected_model_costs(lines: &[ApiRequest]) -> Vec<ModelCost> {
    let mut by_model = BTreeMap::<(String, String), ModelCost>::new();
    for line in lines {
        let m = by_model.entry((line.model.clone(), line.stage.clone())).or_insert_with(|| ModelCost {
            model: line.model.clone(),
            stage: line.stage.clone(),
            ..ModelCost::default()
        });
        m.request_count += 1;
        m.total_cost += line.cost_usd;
        m.total_input_tokens += line.input_tokens;
        m.total_output_tokens += line.output_tokens;
    }
    by_model.into_values().collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// api_request rows: (all rows, rows as the views see them with FINAL).
async fn api_request_rows(db: &TestDb) -> (u64, u64) {
    let raw = db.number("SELECT toFloat64(count()) FROM otel_api_request_events").await as u64;
    let deduplicated = db.number("SELECT toFloat64(count()) FROM otel_api_request_events FINAL").await as u64;
    (raw, deduplicated)
}

/// Waits until the views see exactly `n` api_request rows.
async fn wait_for_rows(db: &TestDb, n: usize) {
    eventually(&format!("{n} api_request rows (FINAL)"), PATIENCE, || async {
        let (raw, deduplicated) = api_request_rows(db).await;
        if deduplicated == n as u64 {
            Ok(())
        } else {
            Err(format!("raw {raw}, FINAL {deduplicated}"))
        }
    })
    .await
}

/// Waits until the collector has delivered `n` records and holds nothing more.
async fn wait_until_sent(collector: &Collector, n: usize) -> Progress {
    eventually(&format!("the collector to have sent {n} records"), PATIENCE, || async {
        let progress = collector.progress().await;
        if progress.sent == n as u64 && progress.queue_size == 0 {
            Ok(progress)
        } else {
            Err(format!("{progress:?}"))
        }
    })
    .await
}

/// The three checks of exactness: workflow_summary and model_cost_comparison equal the sums computed from the
/// lines, and the table (FINAL) holds each line's event.sequence exactly once, every number read as an integer.
async fn assert_views_exact(db: &TestDb, lines: &[ApiRequest]) {
    let summaries = db
        .client
        .query(
            "SELECT toString(workflow_id) AS workflow_id, toUInt64(total_input_tokens) AS total_input_tokens, \
             toUInt64(total_output_tokens) AS total_output_tokens, \
             toUInt64(total_cache_read_tokens) AS total_cache_read_tokens, \
             toFloat64(total_cost_usd) AS total_cost_usd, toUInt64(api_requests) AS api_requests \
             FROM workflow_summary ORDER BY workflow_id",
        )
        .fetch_all::<Summary>()
        .await
        .unwrap();
    let expected = expected_summaries(lines);
    assert_eq!(summaries.len(), expected.len(), "workflow_summary rows: {summaries:#?}");
    for (got, want) in summaries.iter().zip(&expected) {
        assert_eq!(
            (&got.workflow_id, got.total_input_tokens, got.total_output_tokens, got.total_cache_read_tokens),
            (&want.workflow_id, want.total_input_tokens, want.total_output_tokens, want.total_cache_read_tokens),
            "workflow_summary tokens"
        );
        assert_eq!(got.api_requests, want.api_requests, "workflow_summary api_requests of {}", want.workflow_id);
        assert!(close(got.total_cost_usd, want.total_cost_usd), "workflow_summary cost: {got:?} vs {want:?}");
    }

    let costs = db
        .client
        .query(
            "SELECT toString(model) AS model, toString(stage) AS stage, toUInt64(request_count) AS request_count, \
             toFloat64(total_cost) AS total_cost, toUInt64(total_input_tokens) AS total_input_tokens, \
             toUInt64(total_output_tokens) AS total_output_tokens \
             FROM model_cost_comparison ORDER BY model, stage",
        )
        .fetch_all::<ModelCost>()
        .await
        .unwrap();
    let expected = expected_model_costs(lines);
    assert_eq!(costs.len(), expected.len(), "model_cost_comparison rows: {costs:#?}");
    for (got, want) in costs.iter().zip(&expected) {
        let tokens = |m: &ModelCost| {
            (m.model.clone(), m.stage.clone(), m.request_count, m.total_input_tokens, m.total_output_tokens)
        };
        assert_eq!(tokens(got), tokens(want), "model_cost_comparison");
        assert!(close(got.total_cost, want.total_cost), "model_cost_comparison cost: {got:?} vs {want:?}");
    }

    let sequences = db
        .client
        .query("SELECT event_sequence FROM otel_api_request_events FINAL ORDER BY event_sequence")
        .fetch_all::<u64>()
        .await
        .unwrap();
    let mut written: Vec<u64> = lines.iter().map(|l| l.sequence).collect();
    written.sort_unstable();
    assert_eq!(sequences, written, "each line once, its event.sequence (a double on the wire) read as UInt64");

    let events = db
        .number("SELECT toFloat64(count()) FROM otel_events FINAL WHERE event_name = 'claude_code.api_request'")
        .await;
    assert_eq!(events as usize, lines.len(), "otel_events has each api_request once too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_restart_while_the_collector_retries_loses_nothing_and_counts_nothing_twice() {
    let start = Instant::now();
    let db = fresh_database("collector_restart").await;
    db.apply_schema().await;
    let port = free_port();
    let first = relay::start_on(db.config(), port).await;

    let dir = tempfile::tempdir().unwrap();
    let mut file = JsonLines::create(dir.path().join("claude-code.jsonl"));
    let collector = Collector::filelog_to_relay(file.path(), &format!("http://127.0.0.1:{port}"));
    collector.wait_ready(PATIENCE).await;
    let ready = start.elapsed();
    let lines = api_requests(1000..1000 + (BEFORE_RESTART + DURING_OUTAGE) as u64);

    // 1. Relay up: the first lines go through.
    file.append(&json(&lines[..BEFORE_RESTART]));
    wait_for_rows(&db, BEFORE_RESTART).await;
    wait_until_sent(&collector, BEFORE_RESTART).await;
    let phase1 = start.elapsed();

    // 2. Relay down (stopped like SIGTERM): more lines; the collector reads them all and its exports fail.
    first.shutdown().await;
    let retries_before = collector.log_count(RETRY_LOG);
    file.append(&json(&lines[BEFORE_RESTART..]));
    let held = eventually("the collector to hold the new lines and retry", PATIENCE, || async {
        collector.assert_running();
        let p = collector.progress().await;
        let holding = p.accepted == lines.len() as u64 && p.sent == BEFORE_RESTART as u64 && p.queue_size > 0;
        if holding && p.retries >= retries_before + RETRIES_DURING_OUTAGE {
            Ok(p)
        } else {
            Err(format!("{p:?} (retries before the outage: {retries_before})"))
        }
    })
    .await;
    assert_eq!(held.send_failed, 0, "the collector gave up on records during the outage: {held:?}");
    assert_eq!(api_request_rows(&db).await, (BEFORE_RESTART as u64, BEFORE_RESTART as u64), "rows while down");
    let outage = start.elapsed();

    // 3. Relay back on the same port: the retries land, and everything is there exactly once.
    let second = relay::start_on(db.config(), port).await;
    wait_for_rows(&db, lines.len()).await;
    let done = wait_until_sent(&collector, lines.len()).await;
    let recovered = start.elapsed();
    assert_eq!(done.send_failed, 0, "the collector gave up on records: {done:?}");
    assert_eq!(done.accepted, lines.len() as u64, "{done:?}");
    assert_views_exact(&db, &lines).await;

    let (raw, deduplicated) = api_request_rows(&db).await;
    eprintln!(
        "collector restart: ready {ready:?}, {BEFORE_RESTART} rows in {:?}, outage with {} failed attempts and {} \
         requests queued ({:?}), {} rows after restart in {:?}; api_request rows raw {raw}, FINAL {deduplicated}; \
         collector {done:?}",
        phase1 - ready,
        held.retries - retries_before,
        held.queue_size,
        outage - phase1,
        lines.len(),
        recovered - outage,
    );
    assert!(raw >= deduplicated);

    collector.stop();
    second.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_bodies_of_doubles_are_read_and_a_batch_sent_again_after_commit_counts_once() {
    const LINES: usize = 50;
    const WITHHELD: usize = 2;
    let db = fresh_database("collector_redelivery").await;
    db.apply_schema().await;
    let relay = relay::start(db.config()).await;
    let tap = Tap::start(relay.http).await;
    // The relay commits the first two batches and answers 200; the collector never hears it and sends them again.
    tap.withhold_next_answers(WITHHELD);

    let dir = tempfile::tempdir().unwrap();
    let mut file = JsonLines::create(dir.path().join("claude-code.jsonl"));
    let collector = Collector::filelog_to_relay(file.path(), &format!("http://{}", tap.addr));
    collector.wait_ready(PATIENCE).await;
    let lines = api_requests(5000..5000 + LINES as u64);
    file.append(&json(&lines));

    wait_for_rows(&db, LINES).await;
    let done = wait_until_sent(&collector, LINES).await;
    assert_eq!(done.send_failed, 0, "{done:?}");
    assert!(done.retries >= WITHHELD, "the collector retried the unanswered batches: {done:?}");

    // What went over the wire: gzip-compressed protobuf, every number a double, every request committed (200).
    let exchanges = tap.exchanges();
    for exchange in &exchanges {
        assert_eq!(exchange.path, "/v1/logs");
        assert_eq!(exchange.content_type, "application/x-protobuf");
        assert_eq!(exchange.content_encoding, "gzip");
        assert_eq!(exchange.body.get(..2), Some(&[0x1f, 0x8b][..]), "a gzip member");
        assert_eq!(exchange.status, Some(200), "the relay answered the gzip body");
        for record in log_records(&exchange.logs()) {
            for key in ["input_tokens", "output_tokens", "cache_read_tokens", "event.sequence"] {
                assert!(
                    matches!(attribute(record, key), Some(Value::DoubleValue(d)) if d.fract() == 0.0),
                    "{key} arrives as an integral double: {:?}",
                    attribute(record, key)
                );
            }
        }
    }
    let sequences = |i: usize| {
        let mut s: Vec<u64> = log_records(&exchanges[i].logs()).map(sequence).collect();
        s.sort_unstable();
        s
    };
    let withheld: Vec<usize> = (0..exchanges.len()).filter(|&i| !exchanges[i].answered).collect();
    assert_eq!(withheld.len(), WITHHELD, "{exchanges:#?}");
    for &i in &withheld {
        let again = (i + 1..exchanges.len()).find(|&j| exchanges[j].answered && sequences(j) == sequences(i));
        assert!(again.is_some(), "the batch of exchange {i} ({:?}) was sent again and answered", sequences(i));
    }
    let committed: usize = (0..exchanges.len()).map(|i| sequences(i).len()).sum();
    let duplicated: usize = withheld.iter().map(|&i| sequences(i).len()).sum();
    assert_eq!(committed, LINES + duplicated, "the relay committed every record once, and the resent ones twice");

    // The views count each line once all the same.
    assert_views_exact(&db, &lines).await;
    let (raw, deduplicated) = api_request_rows(&db).await;
    eprintln!(
        "collector redelivery: {} requests, {WITHHELD} answers withheld ({duplicated} records committed twice); \
         api_request rows raw {raw}, FINAL {deduplicated}; collector {done:?}",
        exchanges.len()
    );
    assert!(raw >= deduplicated);

    collector.stop();
    drop(tap);
    relay.shutdown().await;
}

#[test]
fn event_timestamps_are_rfc3339_with_milliseconds() {
    assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(rfc3339_millis(1_795_593_707_250), "2026-11-25T08:01:47.250Z");
    assert_eq!(rfc3339_millis(951_782_400_001), "2000-02-29T00:00:00.001Z");
}
