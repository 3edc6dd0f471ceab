//! Memory bound by request slots (`otlp.max_concurrent_requests`): a request waits for a slot before its body is
//! read, is served once a slot frees, and after `otlp.max_wait_ms` is answered 503 + Retry-After (which senders
//! retry) — never dropped; a sender that gives up while waiting stops counting as waiting. A sender that is slow
//! to send its body holds the only slot in these tests.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use support::clickhouse::{fresh_database, TestDb};
use support::fixtures::api_requests_in;
use support::relay::{self, TestRelay};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A request whose body is sent in two halves, the second only when asked: it holds a slot in between.
struct SlowSender {
    stream: TcpStream,
    rest: Vec<u8>,
}

impl SlowSender {
    async fn start(relay: &TestRelay, body: Vec<u8>) -> SlowSender {
        let url = reqwest::Url::parse(&relay.http_url("/v1/logs")).unwrap();
        let mut stream = TcpStream::connect((url.host_str().unwrap(), url.port().unwrap())).await.unwrap();
        let head = format!(
            "POST /v1/logs HTTP/1.1\r\nhost: relay\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        let half = body.len() / 2;
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&body[..half]).await.unwrap();
        stream.flush().await.unwrap();
        SlowSender { stream, rest: body[half..].to_vec() }
    }

    /// Sends the rest of the body; returns the response's status line.
    async fn finish(mut self) -> String {
        self.stream.write_all(&self.rest).await.unwrap();
        let mut response = Vec::new();
        self.stream.read_to_end(&mut response).await.unwrap();
        String::from_utf8_lossy(&response).lines().next().unwrap_or_default().to_string()
    }
}

async fn relay_with_one_slot(test: &str, max_wait_ms: u64) -> (TestDb, TestRelay) {
    let db = fresh_database(test).await;
    let mut config = db.config();
    config.otlp.max_concurrent_requests = 1;
    config.otlp.max_wait_ms = max_wait_ms;
    let relay = relay::start(config).await;
    (db, relay)
}

fn waiting(metrics: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("tokenledger_requests_waiting "))
        .map(|value| value.trim().parse().unwrap())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn a_request_waits_for_the_slot_and_is_stored_once_it_frees() {
    let (db, relay) = relay_with_one_slot("slots_wait", 20_000).await;
    let slow = SlowSender::start(&relay, support::fixtures::fixture("implement-bash", "logs-1.json").unwrap()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let queued = tokio::spawn({
        let url = relay.http_url("/v1/logs");
        let body = support::fixtures::fixture("review-bash", "logs-1.pb").unwrap();
        async move {
            let response = reqwest::Client::new()
                .post(url)
                .header("content-type", "application/x-protobuf")
                .body(body)
                .send()
                .await
                .unwrap();
            response.status()
        }
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!queued.is_finished(), "the second request must wait while the only slot is held");
    assert_eq!(waiting(&relay.metrics_text().await), 1.0, "one request waits for a slot");

    assert_eq!(slow.finish().await, "HTTP/1.1 200 OK");
    assert_eq!(queued.await.unwrap(), StatusCode::OK);
    assert_eq!(waiting(&relay.metrics_text().await), 0.0);

    let expected =
        (api_requests_in("implement-bash", "logs-1.json") + api_requests_in("review-bash", "logs-1.pb")) as f64;
    assert!(expected >= 2.0);
    assert_eq!(db.number("SELECT toFloat64(count()) FROM otel_api_request_events").await, expected);
    relay.shutdown().await;
}

#[tokio::test]
async fn a_request_waiting_past_max_wait_gets_a_retryable_503_and_its_retry_is_stored() {
    let (db, relay) = relay_with_one_slot("slots_busy", 300).await;
    let slow = SlowSender::start(&relay, support::fixtures::fixture("implement-bash", "logs-1.json").unwrap()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let body = support::fixtures::fixture("review-bash", "logs-1.pb").unwrap();
    let post = || {
        reqwest::Client::new()
            .post(relay.http_url("/v1/logs"))
            .header("content-type", "application/x-protobuf")
            .body(body.clone())
            .send()
    };
    let refused = post().await.unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(refused.headers().get("retry-after").is_some(), "a 503 carries Retry-After");
    let message = refused.text().await.unwrap();
    assert!(message.contains("busy"), "{message}");
    assert!(relay.metrics_text().await.contains(r#"outcome="busy""#));

    assert_eq!(slow.finish().await, "HTTP/1.1 200 OK");
    assert_eq!(post().await.unwrap().status(), StatusCode::OK, "the sender's retry gets in");
    let expected =
        (api_requests_in("implement-bash", "logs-1.json") + api_requests_in("review-bash", "logs-1.pb")) as f64;
    assert_eq!(db.number("SELECT toFloat64(count()) FROM otel_api_request_events").await, expected);
    relay.shutdown().await;
}

/// Polls /metrics until `tokenledger_requests_waiting` is `wanted`; panics with the last value after 10 s.
async fn wait_for_waiting(relay: &TestRelay, wanted: f64) {
    let started = std::time::Instant::now();
    loop {
        let now = waiting(&relay.metrics_text().await);
        if now == wanted {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "requests waiting stayed {now}, expected {wanted}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_sender_that_hangs_up_while_waiting_is_no_longer_counted_as_waiting() {
    use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use prost::Message;

    let (db, relay) = relay_with_one_slot("slots_hang_up", 20_000).await;
    let slow = SlowSender::start(&relay, support::fixtures::fixture("implement-bash", "logs-1.json").unwrap()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    // A gRPC export waits for the slot; its sender then gives up (the call is dropped: HTTP/2 cancels the stream).
    let body = support::fixtures::fixture("review-bash", "logs-1.pb").unwrap();
    let request = ExportLogsServiceRequest::decode(&body[..]).unwrap();
    let endpoint = format!("http://{}", relay.grpc);
    let export = tokio::spawn(async move {
        let mut client = LogsServiceClient::connect(endpoint).await.unwrap();
        client.export(request).await
    });
    wait_for_waiting(&relay, 1.0).await;
    export.abort();
    assert!(export.await.unwrap_err().is_cancelled());
    wait_for_waiting(&relay, 0.0).await;

    // The slot still works, and only the request that was answered is stored.
    assert_eq!(slow.finish().await, "HTTP/1.1 200 OK");
    let expected = api_requests_in("implement-bash", "logs-1.json") as f64;
    assert_eq!(db.number("SELECT toFloat64(count()) FROM otel_api_request_events").await, expected);
    relay.shutdown().await;
}
