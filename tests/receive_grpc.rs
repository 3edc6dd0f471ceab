//! The OTLP/gRPC edge, with opentelemetry-proto's own tonic client (as the collector's `otlp` exporter speaks
//! it): gzip and zstd requests, partial_success, and the codes the sender's retry logic depends on.

mod support;

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use support::clickhouse::fresh_database;
use support::fixtures::fixture;
use support::relay::{self, TestRelay};
use tonic::codec::CompressionEncoding;
use tonic::Code;

fn logs(run: &str) -> ExportLogsServiceRequest {
    match fixture(run, "logs-1.pb") {
        Some(bytes) => ExportLogsServiceRequest::decode(&bytes[..]).unwrap(),
        None => serde_json::from_slice(&fixture(run, "logs-1.json").unwrap()).unwrap(),
    }
}

fn metrics(run: &str) -> ExportMetricsServiceRequest {
    match fixture(run, "metrics-2.pb") {
        Some(bytes) => ExportMetricsServiceRequest::decode(&bytes[..]).unwrap(),
        None => serde_json::from_slice(&fixture(run, "metrics-2.json").unwrap()).unwrap(),
    }
}

async fn logs_client(relay: &TestRelay, encoding: CompressionEncoding) -> LogsServiceClient<tonic::transport::Channel> {
    LogsServiceClient::connect(format!("http://{}", relay.grpc)).await.unwrap().send_compressed(encoding)
}

#[tokio::test]
async fn fixtures_over_grpc_land_with_gzip_and_zstd() {
    let db = fresh_database("grpc_fixtures").await;
    db.apply_schema().await;
    let relay = relay::start(db.config()).await;
    let mut gzip = logs_client(&relay, CompressionEncoding::Gzip).await;
    let mut zstd = logs_client(&relay, CompressionEncoding::Zstd).await;
    let mut metrics_client = MetricsServiceClient::connect(format!("http://{}", relay.grpc))
        .await
        .unwrap()
        .send_compressed(CompressionEncoding::Gzip);
    let mut expected_requests = 0;
    for (n, run) in support::fixtures::FIXTURE_RUNS.iter().enumerate() {
        let request = logs(run);
        expected_requests += request
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| &s.log_records)
            .filter(|r| format!("{:?}", r.body).contains("claude_code.api_request"))
            .count();
        let client = if n % 2 == 0 { &mut gzip } else { &mut zstd };
        let response = client.export(request).await.unwrap().into_inner();
        assert_eq!(response.partial_success, None, "{run}");
        metrics_client.export(metrics(run)).await.unwrap();
    }
    let stored = db.number("SELECT toFloat64(count()) FROM otel_api_request_events FINAL").await;
    assert_eq!(stored, expected_requests as f64);
    assert!(db.number("SELECT toFloat64(count()) FROM otel_metrics FINAL").await > 0.0);
    let mut traces = TraceServiceClient::connect(format!("http://{}", relay.grpc)).await.unwrap();
    traces.export(ExportTraceServiceRequest::default()).await.unwrap();
    relay.shutdown().await;
}

#[tokio::test]
async fn grpc_partial_success_reports_an_unreadable_record() {
    let db = fresh_database("grpc_partial").await;
    db.apply_schema().await;
    let relay = relay::start(db.config()).await;
    let mut request = logs("analyze-plain");
    let records = &mut request.resource_logs[0].scope_logs[0].log_records;
    let api = records.iter().position(|r| format!("{:?}", r.body).contains("claude_code.api_request")).unwrap();
    records[api].attributes.retain(|kv| kv.key != "cost_usd");
    let response = logs_client(&relay, CompressionEncoding::Gzip).await.export(request).await.unwrap().into_inner();
    let partial = response.partial_success.expect("partial_success");
    assert_eq!(partial.rejected_log_records, 1);
    assert!(partial.error_message.contains("cost_usd"), "{}", partial.error_message);
    relay.shutdown().await;
}

#[tokio::test]
async fn grpc_errors_use_the_codes_senders_retry_on() {
    let db = fresh_database("grpc_codes").await;
    let mut config = db.config();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    config.clickhouse.url = format!("http://127.0.0.1:{port}");
    config.otlp.max_request_bytes = 2048;
    config.auth.token = Some("tok".into());
    let relay = relay::start_without_clickhouse(config).await;
    let mut client = logs_client(&relay, CompressionEncoding::Gzip).await;

    // One record: under the size limit.
    let mut small = logs("analyze-plain");
    small.resource_logs.truncate(1);
    small.resource_logs[0].scope_logs[0].log_records.truncate(1);

    let status = client.export(small.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");

    let authed = |request: ExportLogsServiceRequest| {
        let mut request = tonic::Request::new(request);
        request.metadata_mut().insert("authorization", "Bearer tok".parse().unwrap());
        request
    };
    // ClickHouse unreachable: retryable.
    let status = client.export(authed(small)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    // Over max_request_bytes (after decompression).
    let status = client.export(authed(logs("subagent-builtin"))).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    relay.shutdown().await;
}
