//! A relay running in this process on 127.0.0.1:0 (OTLP/HTTP optionally on a chosen port), stopped like SIGTERM
//! stops the real one.

use std::net::SocketAddr;
use std::time::Duration;

use tokenledger::config::Config;
use tokenledger::relay::Relay;
use tokio::net::TcpListener;

/// A running relay and its addresses.
pub struct TestRelay {
    /// OTLP/gRPC address.
    pub grpc: SocketAddr,
    /// OTLP/HTTP address.
    pub http: SocketAddr,
    /// Admin (/metrics) address.
    pub admin: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// Starts a relay with `config` (addresses are replaced by port 0 on loopback) and waits until it is ready.
pub async fn start(config: Config) -> TestRelay {
    start_on(config, 0).await
}

/// Starts a relay that takes rows at once without asking ClickHouse first (`apply_schema = false`) and does not
/// wait for readiness: for tests of a ClickHouse that is down or never answers.
pub async fn start_without_clickhouse(mut config: Config) -> TestRelay {
    config.clickhouse.apply_schema = false;
    spawn(config, 0).await
}

/// As [`start`], with OTLP/HTTP on 127.0.0.1:`http_port` (0: any), so a relay can be stopped and started again
/// where a sender (a collector) keeps sending. Panics if the port cannot be bound.
pub async fn start_on(config: Config, http_port: u16) -> TestRelay {
    let relay = spawn(config, http_port).await;
    relay.wait_ready().await;
    relay
}

async fn spawn(config: Config, http_port: u16) -> TestRelay {
    let grpc = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http = TcpListener::bind(("127.0.0.1", http_port))
        .await
        .unwrap_or_else(|e| panic!("binding OTLP/HTTP to 127.0.0.1:{http_port}: {e}"));
    let admin = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (grpc_addr, http_addr, admin_addr) =
        (grpc.local_addr().unwrap(), http.local_addr().unwrap(), admin.local_addr().unwrap());
    let prometheus = tokenledger::telemetry::install_recorder(Duration::from_secs(3600)).unwrap();
    let client = tokenledger::sink::client::build(&config.clickhouse);
    let relay = Relay::start(&config, client, prometheus);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(relay.serve(grpc, http, admin, async move {
        let _ = stopped.await;
    }));
    TestRelay { grpc: grpc_addr, http: http_addr, admin: admin_addr, stop: Some(stop), task: Some(task) }
}

impl TestRelay {
    /// Waits until /readyz answers 200: the start-up step (schema, subagent names) is done and rows are taken.
    pub async fn wait_ready(&self) {
        let started = std::time::Instant::now();
        loop {
            let response = reqwest::get(format!("http://{}/readyz", self.admin)).await;
            match response {
                Ok(response) if response.status().is_success() => return,
                Ok(response) if started.elapsed() > Duration::from_secs(30) => {
                    panic!("the relay is not ready after 30 s: {}", response.text().await.unwrap_or_default())
                }
                Err(error) if started.elapsed() > Duration::from_secs(30) => panic!("no /readyz after 30 s: {error}"),
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    /// Stops like SIGTERM: no new requests, requests in flight finish, batchers flush. Waits for the end.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("relay task").expect("relay stopped cleanly");
        }
    }

    /// OTLP/HTTP URL of a path (`/v1/logs`).
    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    /// The /metrics text.
    pub async fn metrics_text(&self) -> String {
        reqwest::get(format!("http://{}/metrics", self.admin)).await.unwrap().text().await.unwrap()
    }
}

/// Posts one fixture file to the relay over OTLP/HTTP in its own encoding; returns the status and body.
pub async fn post_fixture(relay: &TestRelay, run: &str, file: &str) -> (reqwest::StatusCode, Vec<u8>) {
    let body = super::fixtures::fixture(run, file).unwrap_or_else(|| panic!("no fixture {run}/{file}"));
    let path = if file.starts_with("logs") { "/v1/logs" } else { "/v1/metrics" };
    let content_type = if file.ends_with(".json") { "application/json" } else { "application/x-protobuf" };
    let response = reqwest::Client::new()
        .post(relay.http_url(path))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status(), response.bytes().await.unwrap().to_vec())
}

/// Every fixture file of every run, logs and metrics.
pub fn fixture_files() -> Vec<(&'static str, String)> {
    let mut files = Vec::new();
    for run in super::fixtures::FIXTURE_RUNS {
        for entry in std::fs::read_dir(super::fixtures::dir().join(run)).unwrap() {
            files.push((run, entry.unwrap().file_name().to_string_lossy().into_owned()));
        }
    }
    files.sort();
    files
}

/// Applies the schema, then sends every fixture through a relay into `db`, and stops the relay.
pub async fn send_fixtures(db: &super::clickhouse::TestDb) {
    let relay = start(db.config()).await;
    for (run, file) in fixture_files() {
        let (status, body) = post_fixture(&relay, run, &file).await;
        assert!(status.is_success(), "{run}/{file}: {status} {}", String::from_utf8_lossy(&body));
    }
    relay.shutdown().await;
}

/// Runs the real `tokenledger demo --format json` with `args` against a fresh relay on `db`, and returns its JSON
/// summary once the relay has stopped (so every row it answered for is committed). Panics unless the demo succeeds.
pub async fn run_demo(db: &super::clickhouse::TestDb, args: Vec<String>) -> serde_json::Value {
    let relay = start(db.config()).await;
    let endpoint = format!("http://{}", relay.http);
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(super::stack_files::BIN)
            .args(["demo", "--endpoint", &endpoint, "--format", "json"])
            .args(args)
            .env_remove("TOKENLEDGER_AUTH__TOKEN")
            .output()
            .expect("tokenledger runs")
    })
    .await
    .unwrap();
    relay.shutdown().await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "demo exited {:?}: {stderr}", output.status.code());
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)))
}
