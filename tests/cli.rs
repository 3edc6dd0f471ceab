//! The `tokenledger` binary as a user runs it: version, schema print, config (redacted), `serve` stopped by
//! SIGTERM after finishing what it accepted, `serve` started before ClickHouse (it waits, not ready, refusing
//! rows retryably, then applies the schema), and `health` as compose's healthcheck runs it.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::clickhouse::fresh_database;

const BIN: &str = env!("CARGO_BIN_EXE_tokenledger");

fn run(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let output =
        Command::new(BIN).args(args).envs(env.iter().copied()).current_dir(std::env::temp_dir()).output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into(),
        String::from_utf8_lossy(&output.stderr).into(),
    )
}

#[test]
fn version_schema_print_and_redacted_config() {
    let (ok, out, _) = run(&["version"], &[]);
    assert!(ok && out.starts_with("tokenledger "), "{out}");

    let (ok, out, _) = run(&["schema", "print"], &[("TOKENLEDGER_CLICKHOUSE__DATABASE", "ledger")]);
    assert!(ok);
    assert!(out.starts_with("CREATE DATABASE IF NOT EXISTS `ledger`;"), "{out}");
    assert!(out.contains("CREATE TABLE IF NOT EXISTS otel_api_request_events"));

    let (ok, out, _) = run(
        &["config"],
        &[
            ("TOKENLEDGER_CLICKHOUSE__PASSWORD", "hunter2"),
            ("TOKENLEDGER_AUTH__TOKEN", "s3cret"),
            ("TOKENLEDGER_BATCH__MAX_ROWS", "123"),
        ],
    );
    assert!(ok);
    assert!(out.contains("max_rows = 123"), "{out}");
    assert!(!out.contains("hunter2") && !out.contains("s3cret") && out.contains("<redacted>"), "{out}");

    let (ok, _, err) = run(&["config"], &[("TOKENLEDGER_BATCH__MAX_ROWZ", "1")]);
    assert!(!ok && err.contains("max_rowz"), "an unknown key is refused: {err}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn serve_applies_the_schema_and_sigterm_flushes_what_was_accepted() {
    let db = fresh_database("cli_serve").await;
    let (http, grpc, admin) = (free_port(), free_port(), free_port());
    let mut child = Command::new(BIN)
        .arg("serve")
        .env("TOKENLEDGER_CLICKHOUSE__URL", &db.url)
        .env("TOKENLEDGER_CLICKHOUSE__DATABASE", &db.name)
        .env("TOKENLEDGER_OTLP__HTTP_ADDR", format!("127.0.0.1:{http}"))
        .env("TOKENLEDGER_OTLP__GRPC_ADDR", format!("127.0.0.1:{grpc}"))
        .env("TOKENLEDGER_ADMIN__ADDR", format!("127.0.0.1:{admin}"))
        .env("TOKENLEDGER_BATCH__MAX_DELAY_MS", "1500")
        .current_dir(std::env::temp_dir())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    // Ready once the schema is applied and the listeners are up.
    let started = Instant::now();
    loop {
        let ready = reqwest::get(format!("http://127.0.0.1:{admin}/readyz")).await.map(|r| r.status().is_success());
        if ready.unwrap_or(false) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "serve never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A request waits for its batch (1.5 s) when SIGTERM arrives; it must still be answered and committed.
    let body = support::fixtures::fixture("analyze-plain", "logs-1.json").unwrap();
    let request = tokio::spawn(
        reqwest::Client::new()
            .post(format!("http://127.0.0.1:{http}/v1/logs"))
            .header("content-type", "application/json")
            .body(body)
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let status = request.await.unwrap().expect("answered").status();
    assert_eq!(status, reqwest::StatusCode::OK);
    let exit = tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
    assert!(exit.success(), "exit status {exit}");
    let rows = db.number("SELECT toFloat64(count()) FROM otel_api_request_events FINAL").await;
    assert_eq!(rows, 1.0, "analyze-plain holds one api_request");
}

/// `tokenledger health [--ready]` against the admin port: (exit code, stdout + stderr).
fn health(admin: u16, ready: bool) -> (Option<i32>, String) {
    let addr = format!("127.0.0.1:{admin}");
    let mut args = vec!["health", "--addr", addr.as_str()];
    if ready {
        args.push("--ready");
    }
    let output = Command::new(BIN).args(&args).current_dir(std::env::temp_dir()).output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.code(), said)
}

#[tokio::test]
async fn serve_waits_for_clickhouse_then_applies_the_schema() {
    // Nothing listens on the ClickHouse port yet: the relay must stay up and say what it waits for.
    let (clickhouse, http, grpc, admin) = (free_port(), free_port(), free_port(), free_port());
    let (dead_admin_code, said) = health(free_port(), false);
    assert_eq!(dead_admin_code, Some(69), "no relay there: EX_UNAVAILABLE; said {said}");

    let database = format!("cli_wait_{}", std::process::id());
    let log = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("target/{database}.log"));
    let mut child = Command::new(BIN)
        .arg("serve")
        .env("TOKENLEDGER_CLICKHOUSE__URL", format!("http://127.0.0.1:{clickhouse}"))
        .env("TOKENLEDGER_CLICKHOUSE__DATABASE", &database)
        .env("TOKENLEDGER_OTLP__HTTP_ADDR", format!("127.0.0.1:{http}"))
        .env("TOKENLEDGER_OTLP__GRPC_ADDR", format!("127.0.0.1:{grpc}"))
        .env("TOKENLEDGER_ADMIN__ADDR", format!("127.0.0.1:{admin}"))
        .current_dir(std::env::temp_dir())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();

    let started = Instant::now();
    while health(admin, false).0 != Some(0) {
        assert!(started.elapsed() < Duration::from_secs(20), "serve never answered /healthz");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Two attempts at least (the first, then one after its backoff), so the waiting is a loop, not a delay.
    while std::fs::read_to_string(&log).unwrap().matches("waiting for ClickHouse").count() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no retries logged: {}",
            std::fs::read_to_string(&log).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (code, said) = health(admin, true);
    assert_eq!(code, Some(69), "not ready while ClickHouse is down: {said}");
    assert!(said.contains("waiting for ClickHouse at http://127.0.0.1:"), "/readyz says what it waits for: {said}");

    let body = support::fixtures::fixture("analyze-plain", "logs-1.json").unwrap();
    let post = || {
        reqwest::Client::new()
            .post(format!("http://127.0.0.1:{http}/v1/logs"))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
    };
    let refused = post().await.unwrap();
    assert_eq!(refused.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE, "rows refused retryably meanwhile");
    assert!(refused.headers().contains_key("retry-after"));

    // ClickHouse comes up on that port: the relay applies the schema on its next attempt and takes rows.
    let (_front, _) = support::clickhouse::start_front_on(None, clickhouse);
    let came_up = Instant::now();
    while health(admin, true).0 != Some(0) {
        assert!(
            came_up.elapsed() < Duration::from_secs(30),
            "never ready after ClickHouse came up: {}",
            health(admin, true).1
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(post().await.unwrap().status(), reqwest::StatusCode::OK);

    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let exit = tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
    assert!(exit.success(), "exit status {exit}");
    let client =
        clickhouse::Client::default().with_url(format!("http://127.0.0.1:{clickhouse}")).with_database(&database);
    let rows: u64 = client.query("SELECT count() FROM otel_api_request_events FINAL").fetch_one().await.unwrap();
    assert_eq!(rows, 1, "the api_request of analyze-plain, stored once");
}
