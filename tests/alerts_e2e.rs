//! A budget alert end to end, with the real parts on loopback: the relay binary (`tokenledger serve`, a default
//! workflow budget of $1, the ledger figures refreshed every second), Prometheus (Debian's) on the shipped
//! prometheus.yml and rules, Alertmanager (v0.34.0, the release compose pins) on the shipped alertmanager.yml
//! (only the addresses and the webhook URL file differ) and a webhook receiver in this test.
//!
//! Claude Code api_request events of three workflows go to the relay over OTLP/HTTP; one of them crosses its
//! budget. The webhook must get exactly one notification: WorkflowOverBudget for that workflow, with the cost
//! ClickHouse holds, none for the others (the 80 % warning of the same workflow is inhibited). Then the relay is
//! stopped long enough for Prometheus to see it down (its series go stale) and started again: the alert must
//! neither resolve nor be sent again. The timeline (seconds from the OTLP request to the webhook) is printed.
//! Skipped, with a message, when Prometheus or Alertmanager is missing, unless CI is set.

mod support;

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::clickhouse::{fresh_database, TestDb};
use support::collector::{eventually, free_port};
use support::events::{self, ApiRequest};
use support::figures::costs_equal;
use support::otlp_json::{self, kv};
use support::prometheus::{self as prom, Server};

const BIN: &str = env!("CARGO_BIN_EXE_tokenledger");

/// The default workflow budget the relay is given.
const BUDGET_USD: f64 = 1.0;

/// The workflow that crosses its budget, and two that stay under 80 % of it.
const OVER: &str = "wf-over-budget";
const OTHERS: [&str; 2] = ["wf-modest", "wf-frugal"];

/// The relay binary with fixed ports (Prometheus scrapes its admin port across the restart).
struct Relay {
    child: Child,
}

impl Relay {
    fn start(db: &TestDb, http: u16, grpc: u16, admin: u16) -> Relay {
        let budget = BUDGET_USD.to_string();
        let child = Command::new(BIN)
            .arg("serve")
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("TOKENLEDGER_CLICKHOUSE__URL", &db.url)
            .env("TOKENLEDGER_CLICKHOUSE__DATABASE", &db.name)
            .env("TOKENLEDGER_OTLP__HTTP_ADDR", format!("127.0.0.1:{http}"))
            .env("TOKENLEDGER_OTLP__GRPC_ADDR", format!("127.0.0.1:{grpc}"))
            .env("TOKENLEDGER_ADMIN__ADDR", format!("127.0.0.1:{admin}"))
            .env("TOKENLEDGER_BATCH__MAX_DELAY_MS", "100")
            .env("TOKENLEDGER_BUDGETS__WORKFLOW_USD", &budget)
            .env("TOKENLEDGER_LEDGER_EXPORT__REFRESH_SECS", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting tokenledger serve");
        Relay { child }
    }

    async fn wait_ready(&mut self, admin: u16) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the relay exited: {status}");
            }
            match reqwest::get(format!("http://127.0.0.1:{admin}/readyz")).await {
                Ok(r) if r.status().is_success() => return,
                other => assert!(started.elapsed() < Duration::from_secs(60), "the relay is not ready: {other:?}"),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM, as `docker compose restart` stops it, and waits for the exit.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "the relay's exit: {status}");
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the webhook received: (when, body).
type Received = Arc<Mutex<Vec<(Instant, Value)>>>;

/// A webhook receiver on 127.0.0.1:0 that records every POST; returns its URL.
async fn webhook(received: Received) -> String {
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let received = received.clone();
            async move {
                received.lock().unwrap().push((Instant::now(), body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// Three api_request events per workflow, stamped now; `OVER` costs 1.5 × the budget, the others under 80 %.
fn events() -> Vec<ApiRequest> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64;
    let costs = [(OVER, 0.5), (OTHERS[0], 0.25), (OTHERS[1], 0.2)];
    let mut out = Vec::new();
    for (w, (workflow, cost)) in costs.into_iter().enumerate() {
        for i in 0..3 {
            out.push(ApiRequest {
                timestamp_ns: now - ((w * 3 + i) as i64) * 1_000_000,
                workflow_id: workflow.to_string(),
                workflow_path: "full".to_string(),
                stage: "implement".to_string(),
                task_id: format!("{workflow}.implement"),
                model: "claude-sonnet-4-5-20250929".to_string(),
                input_tokens: 1200,
                output_tokens: 60,
                cache_read_tokens: 5000,
                cache_creation_tokens: 300,
                cost_usd: cost * BUDGET_USD,
                duration_ms: 1500,
            });
        }
    }
    out
}

/// Every alert of every notification the webhook got: (status, alertname, workflow_id, the alert).
fn alerts_of(received: &Received) -> Vec<(String, String, String, Value)> {
    received
        .lock()
        .unwrap()
        .iter()
        .flat_map(|(_, body)| body["alerts"].as_array().cloned().unwrap_or_default())
        .map(|a| {
            let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
            (s(&a["status"]), s(&a["labels"]["alertname"]), s(&a["labels"]["workflow_id"]), a)
        })
        .collect()
}

async fn firing(prometheus: &Server) -> Vec<String> {
    prometheus
        .query("ALERTS{alertstate=\"firing\"}")
        .await
        .into_iter()
        .map(|(labels, _)| {
            format!("{}/{}", labels["alertname"], labels.get("workflow_id").cloned().unwrap_or_default())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_workflow_over_budget_gives_one_alert_that_survives_a_relay_restart() {
    let test = "alerts_e2e";
    let Some(prometheus_bin) = prom::prometheus_or_skip(test) else { return };
    let Some(alertmanager_bin) = prom::alertmanager_or_skip(test) else { return };
    let started = Instant::now();

    let db = fresh_database(test).await;
    db.apply_schema().await;
    let (http, grpc, admin) = (free_port(), free_port(), free_port());
    let mut relay = Relay::start(&db, http, grpc, admin);
    relay.wait_ready(admin).await;

    // The receiver, then Alertmanager (its webhook URL from a file, as in compose), then Prometheus.
    let received: Received = Arc::default();
    let hook = webhook(received.clone()).await;
    let secrets = tempfile::tempdir().unwrap();
    let url_file = secrets.path().join("webhook_url");
    std::fs::write(&url_file, &hook).unwrap();
    let url_file = url_file.display().to_string();
    let alertmanager =
        prom::start_alertmanager(&alertmanager_bin, &[("/etc/alertmanager/secrets/webhook_url", &url_file)]).await;
    let (relay_target, collector_target) = (format!("127.0.0.1:{admin}"), format!("127.0.0.1:{}", free_port()));
    let alertmanager_target = alertmanager.url.trim_start_matches("http://").to_string();
    let prometheus = prom::start_prometheus(
        &prometheus_bin,
        &[
            ("relay:9464", &relay_target),
            ("collector:8888", &collector_target),
            ("alertmanager:9093", &alertmanager_target),
        ],
    )
    .await;
    eprintln!("{test}: relay, Alertmanager and Prometheus up after {:.1?}", started.elapsed());

    // The OTLP: one request, the three workflows.
    let body = json!({ "resourceLogs": [{
        "resource": { "attributes": [kv("service.name", "claude-code"), kv("service.version", "2.1.331")] },
        "scopeLogs": [{ "scope": { "name": "com.anthropic.claude_code.events" }, "logRecords": events::records(&events(), 1) }],
    }]});
    let sent = Instant::now();
    otlp_json::post_logs(&format!("http://127.0.0.1:{http}/v1/logs"), &body).await;

    // The first notification.
    let arrived = eventually("the webhook to get the alert", Duration::from_secs(120), || async {
        let first = received.lock().unwrap().first().map(|(at, _)| *at);
        match first {
            Some(at) => Ok(at),
            None => Err(format!(
                "firing in Prometheus: {:?}; Alertmanager log:\n{}",
                firing(&prometheus).await,
                alertmanager.log_tail()
            )),
        }
    })
    .await;
    let to_webhook = arrived - sent;
    let cost_in_clickhouse = db
        .number(&format!(
            "SELECT toFloat64(sum(cost_usd)) FROM otel_api_request_events FINAL WHERE workflow_id = '{OVER}'"
        ))
        .await;

    // The relay restarts: down long enough for two failed scrapes (15 s interval), so its series go stale.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let restart = Instant::now();
    relay.stop();
    eventually("Prometheus to see the relay down", Duration::from_secs(60), || async {
        let down = prometheus.query("up{job=\"tokenledger-relay\"} == 0").await;
        if down.is_empty() {
            Err("up is still 1".to_string())
        } else {
            Ok(())
        }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(16)).await;
    let stale = prometheus.query(&format!("tokenledger_ledger_workflow_cost_usd{{workflow_id=\"{OVER}\"}}")).await;
    assert!(stale.is_empty(), "the relay's series are stale while it is down: {stale:?}");
    let mut relay = Relay::start(&db, http, grpc, admin);
    relay.wait_ready(admin).await;
    eventually("Prometheus to read the workflow's cost again", Duration::from_secs(60), || async {
        let back = prometheus.query(&format!("tokenledger_ledger_workflow_cost_usd{{workflow_id=\"{OVER}\"}}")).await;
        if back.is_empty() {
            Err("no series yet".to_string())
        } else {
            Ok(())
        }
    })
    .await;
    let down_for = restart.elapsed();
    // Long enough for Alertmanager to have sent a resolution or a repeat had there been one (group_interval 1m).
    tokio::time::sleep(Duration::from_secs(75)).await;

    let alerts = alerts_of(&received);
    let notifications = received.lock().unwrap().len();
    eprintln!(
        "{test}: timeline: OTLP sent → webhook {:.1}s; relay restart took {:.1}s (down and back in Prometheus); \
         {notifications} notification(s): {:?}; total {:.1?}",
        to_webhook.as_secs_f64(),
        down_for.as_secs_f64(),
        alerts.iter().map(|(s, n, w, _)| format!("{s} {n} {w}")).collect::<Vec<_>>(),
        started.elapsed()
    );
    assert_eq!(notifications, 1, "one notification, not resolved, not repeated: {alerts:#?}");
    let [(status, name, workflow, alert)] = &alerts[..] else { panic!("one alert: {alerts:#?}") };
    assert_eq!((status.as_str(), name.as_str(), workflow.as_str()), ("firing", "WorkflowOverBudget", OVER));
    assert!(!OTHERS.contains(&workflow.as_str()));
    let cost: f64 = alert["annotations"]["cost_usd"].as_str().unwrap().parse().unwrap();
    assert!(costs_equal(cost, cost_in_clickhouse), "the alert's cost {cost} vs ClickHouse's {cost_in_clickhouse}");
    assert!(cost > BUDGET_USD);
    let summary = alert["annotations"]["summary"].as_str().unwrap();
    assert!(summary.contains(OVER) && summary.contains(&format!("${BUDGET_USD:.2}")), "{summary}");
    assert!(summary.contains(&format!("/d/tokenledger-workflow-detail?var-workflow_id={OVER}")), "{summary}");

    // Still firing, since the first notification: the same alert in Alertmanager (same start), and in Prometheus.
    let active: Value = reqwest::get(format!("{}/api/v2/alerts?active=true&inhibited=true", alertmanager.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let over: Vec<&Value> =
        active.as_array().unwrap().iter().filter(|a| a["labels"]["alertname"] == "WorkflowOverBudget").collect();
    assert_eq!(over.len(), 1, "{active:#}");
    // The same instant, whatever the digits: the webhook and the API write fractions of a second differently.
    let starts = |v: &Value| humantime::parse_rfc3339(v["startsAt"].as_str().unwrap()).unwrap();
    assert_eq!(starts(over[0]), starts(alert), "the alert was not restarted");
    // The warning for the same workflow fires too, and is inhibited by the critical one.
    let near: Vec<&Value> =
        active.as_array().unwrap().iter().filter(|a| a["labels"]["alertname"] == "WorkflowNearBudget").collect();
    assert_eq!(near.len(), 1, "{active:#}");
    assert_eq!(near[0]["status"]["state"], "suppressed", "{:#}", near[0]);
    assert!(firing(&prometheus).await.contains(&format!("WorkflowOverBudget/{OVER}")));

    relay.stop();
}
