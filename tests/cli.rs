//! The `tokenledger` binary as a user runs it: version, schema print, config (redacted), and `serve` stopped by
//! SIGTERM after finishing what it accepted.

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
