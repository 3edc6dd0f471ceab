//! Delivery guarantees: success only after commit, retryable refusals while ClickHouse is down or slow (and
//! no loss once it is back), bounded pending rows, and a shutdown that finishes what it accepted.

mod support;

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use support::clickhouse::{fresh_database, start_front_on, TestDb};
use support::relay;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn api_requests_in_fixtures() -> usize {
    relay::fixture_files()
        .iter()
        .filter(|(_, f)| f.starts_with("logs"))
        .map(|(run, f)| support::fixtures::api_requests_in(run, f))
        .sum()
}

/// Posts until the relay says 2xx, like the collector's retry loop; panics after `deadline`.
async fn post_until_accepted(relay: &relay::TestRelay, run: &str, file: &str, deadline: Duration) -> usize {
    let start = Instant::now();
    let mut refusals = 0;
    loop {
        let (status, body) = relay::post_fixture(relay, run, file).await;
        if status.is_success() {
            return refusals;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{run}/{file}: {}", String::from_utf8_lossy(&body));
        refusals += 1;
        assert!(start.elapsed() < deadline, "{run}/{file} never accepted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn clickhouse_stopped_and_restarted_loses_nothing() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let (mut front, _) = start_front_on(Some(data.path()), port);
    let url = format!("http://127.0.0.1:{port}");
    let client = clickhouse::Client::default().with_url(&url);
    client.query("CREATE DATABASE IF NOT EXISTS restart").execute().await.unwrap();
    let db = TestDb { name: "restart".into(), client: client.with_database("restart"), url };
    db.apply_schema().await;
    let relay = relay::start(db.config()).await;

    let files = relay::fixture_files();
    let (first, rest) = files.split_at(2);
    for (run, file) in first {
        post_until_accepted(&relay, run, file, Duration::from_secs(10)).await;
    }

    // ClickHouse goes away: requests are refused with 503 + Retry-After, nothing is acknowledged.
    front.kill().unwrap();
    front.wait().unwrap();
    let (run, file) = &rest[0];
    let (status, _) = relay::post_fixture(&relay, run, file).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);

    // It comes back on the same data; the senders' retries go through.
    let (mut front, _) = start_front_on(Some(data.path()), port);
    for (run, file) in rest {
        post_until_accepted(&relay, run, file, Duration::from_secs(30)).await;
    }
    let stored = db.number("SELECT toFloat64(count()) FROM otel_api_request_events FINAL").await;
    assert_eq!(stored, api_requests_in_fixtures() as f64);
    relay.shutdown().await;
    front.kill().unwrap();
}

/// How many rows (over all tables) a fixture's logs make.
fn rows_of(run: &str) -> usize {
    let body = support::fixtures::fixture(run, "logs-1.json").unwrap();
    let request = tokenledger::receive::decode::json::decode_logs(&body).unwrap();
    let stages = tokenledger::reshape::StageMap::new(tokenledger::config::Config::default().stages);
    tokenledger::reshape::reshape_logs(
        request,
        &stages,
        &tokenledger::reshape::AgentDirectory::new(),
        &tokenledger::reshape::Clock::any_time(0),
    )
    .rows
    .len()
}

#[tokio::test]
async fn a_slow_clickhouse_bounds_pending_rows_and_refuses_the_excess_at_once() {
    // A "ClickHouse" that accepts connections and never answers.
    let blackhole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", blackhole.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = blackhole.accept().await {
            held.push(socket);
        }
    });
    let db = fresh_database("slow").await;
    let mut config = db.config();
    config.clickhouse.url = url;
    config.clickhouse.insert_timeout_secs = 3;
    // Room for either request's rows alone, not for both at once.
    let (first_rows, second_rows) = (rows_of("implement-bash"), rows_of("subagent-builtin"));
    config.batch.max_pending_rows = first_rows + second_rows - 1;
    config.batch.max_rows = config.batch.max_pending_rows;
    let relay = std::sync::Arc::new(relay::start_without_clickhouse(config).await);

    // The first request's rows wait on the stuck insert and hold their share of the budget.
    let first = tokio::spawn({
        let relay = relay.clone();
        async move { relay::post_fixture(&relay, "implement-bash", "logs-1.json").await }
    });
    let started = Instant::now();
    let mut refused_at_once = false;
    while started.elapsed() < Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (status, body) = relay::post_fixture(&relay, "subagent-builtin", "logs-1.json").await;
        if status == StatusCode::SERVICE_UNAVAILABLE && String::from_utf8_lossy(&body).contains("pending-rows limit") {
            refused_at_once = true;
            break;
        }
    }
    assert!(refused_at_once, "an over-budget request is refused while the first waits");
    let (status, _) = first.await.unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "the stuck insert times out into a retryable answer");
    let metrics = relay.metrics_text().await;
    assert!(metrics.contains("kind=\"insert_timeout\""), "{metrics}");
}

#[tokio::test]
async fn shutdown_finishes_requests_in_flight_and_flushes_them() {
    let db = fresh_database("shutdown").await;
    db.apply_schema().await;
    let mut config = db.config();
    config.batch.max_delay_ms = 1500; // requests are still waiting for their batch when shutdown begins
    let relay = relay::start(config).await;
    let http = relay.http;
    let mut in_flight = Vec::new();
    for (run, file) in relay::fixture_files() {
        let url = format!("http://{http}");
        in_flight.push(tokio::spawn(async move {
            let body = support::fixtures::fixture(run, &file).unwrap();
            let content_type = if file.ends_with(".json") { "application/json" } else { "application/x-protobuf" };
            let path = if file.starts_with("logs") { "/v1/logs" } else { "/v1/metrics" };
            reqwest::Client::new()
                .post(format!("{url}{path}"))
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .map(|r| r.status())
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    relay.shutdown().await;
    for request in in_flight {
        let status = request.await.unwrap().expect("accepted before shutdown, answered");
        assert_eq!(status, StatusCode::OK);
    }
    let stored = db.number("SELECT toFloat64(count()) FROM otel_api_request_events FINAL").await;
    assert_eq!(stored, api_requests_in_fixtures() as f64, "every acknowledged row is committed");
    let refused = reqwest::Client::new().post(format!("http://{http}/v1/logs")).body("{}").send().await;
    assert!(refused.is_err(), "nothing is accepted after shutdown");
}
