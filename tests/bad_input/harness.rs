//! Running a table: each case's bad input sent between two good records of a workflow of its own, then what the
//! relay answered and what each table kept, with every mismatch reported at once.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::Metric;
use prost::Message;
use serde_json::Value;

use super::build::{self, good_metric, log_group, logs_request, metric_group, metrics_request, resource};
use crate::support::clickhouse::TestDb;
use crate::support::relay::TestRelay;

/// A case's documented answer.
#[derive(Debug, Clone, Copy)]
pub struct Expect {
    /// Records (data points) counted in `partial_success`.
    pub rejected: u64,
    /// Rows of the bad input in its typed table (`otel_metrics` for metrics), beside the two good ones.
    pub stored: u64,
    /// Whether the bad record is in `otel_events` under the workflow (logs only; None: either, as for a record
    /// past otel_events' 180-day TTL, which ClickHouse applies on insert or at a later merge).
    pub in_events: Option<bool>,
}

/// Rejected from its typed table, kept in `otel_events` with its raw values.
pub const REJECTED: Expect = Expect { rejected: 1, stored: 0, in_events: Some(true) };
/// Read (coerced where needed) and stored in its typed table.
pub const STORED: Expect = Expect { rejected: 0, stored: 1, in_events: Some(true) };
/// Accepted into `otel_events`; no typed table wants it.
pub const EVENTS_ONLY: Expect = Expect { rejected: 0, stored: 0, in_events: Some(true) };
/// Rejected, and not in `otel_events` under the workflow (unreadable, or its workflow_id cut).
pub const DROPPED: Expect = Expect { rejected: 1, stored: 0, in_events: Some(false) };
/// Rejected, and older than otel_events' TTL.
pub const PAST_TTL: Expect = Expect { rejected: 1, stored: 0, in_events: None };

/// The two OTLP encodings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Format {
    Json,
    Protobuf,
}

/// Builds a case's request for a workflow.
pub type Body = Box<dyn Fn(&str) -> (Format, Vec<u8>)>;

/// One row of the table.
pub struct Case {
    pub name: String,
    pub expect: Expect,
    /// The request for a workflow: good input, the bad one, good input.
    pub body: Body,
}

/// A log record case in OTLP/JSON: `bad` in Claude Code's resource, between two good api_requests.
pub fn log(name: impl Into<String>, expect: Expect, bad: impl Fn(&str) -> Value + 'static) -> Case {
    log_in(name, expect, move |w| log_group(resource(), vec![bad(w)]))
}

/// A log record case in OTLP/JSON whose bad part is a whole resourceLogs group.
pub fn log_in(name: impl Into<String>, expect: Expect, group: impl Fn(&str) -> Value + 'static) -> Case {
    Case {
        name: name.into(),
        expect,
        body: Box::new(move |w| (Format::Json, logs_around(w, group(w)).to_string().into_bytes())),
    }
}

/// A log record case in protobuf: `bad` converted, then changed by `mutate` (what JSON cannot carry: NaN, invalid
/// UTF-8 through `patch`, u64 times).
pub fn log_pb(
    name: impl Into<String>,
    expect: Expect,
    bad: impl Fn(&str) -> Value + 'static,
    mutate: impl Fn(&mut LogRecord) + 'static,
    patch: Option<(&'static [u8], &'static [u8])>,
) -> Case {
    Case {
        name: name.into(),
        expect,
        body: Box::new(move |w| {
            let mut request = build::logs_proto(&logs_around(w, log_group(resource(), vec![bad(w)])));
            mutate(&mut request.resource_logs[1].scope_logs[0].log_records[0]);
            let body = request.encode_to_vec();
            (
                Format::Protobuf,
                match patch {
                    Some((marker, with)) => build::patch(body, marker, with),
                    None => body,
                },
            )
        }),
    }
}

/// A metric case in OTLP/JSON: `bad` (one metric) in Claude Code's resource, between two good metrics.
pub fn metric(name: impl Into<String>, expect: Expect, bad: impl Fn(&str) -> Value + 'static) -> Case {
    metric_in(name, expect, move |w| metric_group(resource(), vec![bad(w)]))
}

/// A metric case in OTLP/JSON whose bad part is a whole resourceMetrics group.
pub fn metric_in(name: impl Into<String>, expect: Expect, group: impl Fn(&str) -> Value + 'static) -> Case {
    Case {
        name: name.into(),
        expect,
        body: Box::new(move |w| (Format::Json, metrics_around(w, group(w)).to_string().into_bytes())),
    }
}

/// A metric case in protobuf: `bad` converted, then changed by `mutate`.
pub fn metric_pb(
    name: impl Into<String>,
    expect: Expect,
    bad: impl Fn(&str) -> Value + 'static,
    mutate: impl Fn(&mut Metric) + 'static,
) -> Case {
    Case {
        name: name.into(),
        expect,
        body: Box::new(move |w| {
            let mut request = build::metrics_proto(&metrics_around(w, metric_group(resource(), vec![bad(w)])));
            mutate(&mut request.resource_metrics[1].scope_metrics[0].metrics[0]);
            (Format::Protobuf, request.encode_to_vec())
        }),
    }
}

fn logs_around(workflow: &str, bad: Value) -> Value {
    let good = |seq| log_group(resource(), vec![build::api_request(workflow, seq)]);
    logs_request(vec![good(1), bad, good(3)])
}

fn metrics_around(workflow: &str, bad: Value) -> Value {
    let good = |seq| metric_group(resource(), vec![good_metric(workflow, seq)]);
    metrics_request(vec![good(1), bad, good(3)])
}

/// The logs or metrics signal of a table.
#[derive(Clone, Copy, PartialEq)]
pub enum Signal {
    Logs,
    Metrics,
}

/// Sends every case and checks its answer and rows; panics listing every case that did not match.
pub async fn run(relay: &TestRelay, db: &TestDb, signal: Signal, prefix: &str, cases: &[Case]) {
    let mut failures = Vec::new();
    for (n, case) in cases.iter().enumerate() {
        let workflow = format!("{prefix}-{n}");
        let (format, body) = (case.body)(&workflow);
        let path = if signal == Signal::Logs { "/v1/logs" } else { "/v1/metrics" };
        let content_type = if format == Format::Json { "application/json" } else { "application/x-protobuf" };
        let response =
            reqwest::Client::new().post(relay.http_url(path)).header("content-type", content_type).body(body);
        let response = response.send().await.unwrap();
        let status = response.status();
        let bytes = response.bytes().await.unwrap();
        if status != reqwest::StatusCode::OK {
            failures.push(format!("{}: status {status}: {}", case.name, String::from_utf8_lossy(&bytes)));
            continue;
        }
        let (rejected, message) = partial_success(signal, format, &bytes);
        let mut got = format!("rejected {rejected}");
        if case.expect.rejected > 0 && message.is_empty() {
            got.push_str(" without a reason");
        }
        let count = |sql: String| async move { db.number(&sql).await };
        let stored = if signal == Signal::Logs {
            let typed =
                ["otel_api_request_events", "otel_tool_result_events", "otel_api_error_events", "otel_subagent_events"]
                    .map(|t| format!("SELECT workflow_id FROM {t} FINAL WHERE workflow_id = '{workflow}'"))
                    .join(" UNION ALL ");
            count(format!("SELECT toFloat64(count()) FROM ({typed})")).await
        } else {
            count(format!("SELECT toFloat64(count()) FROM otel_metrics FINAL WHERE workflow_id = '{workflow}'")).await
        };
        got.push_str(&format!(", stored {}", stored - 2.0));
        if signal == Signal::Logs {
            let events =
                count(format!("SELECT toFloat64(count()) FROM otel_events FINAL WHERE workflow_id = '{workflow}'"))
                    .await;
            if case.expect.in_events.is_some() {
                got.push_str(&format!(", in_events {}", events == 3.0));
            }
        }
        let Expect { rejected: r, stored: s, in_events: e } = case.expect;
        let mut wanted = format!("rejected {r}, stored {}", s as f64);
        if let (Signal::Logs, Some(e)) = (signal, e) {
            wanted.push_str(&format!(", in_events {e}"));
        }
        if got != wanted {
            failures.push(format!("{}: got {got}, wanted {wanted} ({message})", case.name));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases differ:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

/// `partial_success`'s count and message, from a JSON or protobuf response.
fn partial_success(signal: Signal, format: Format, body: &[u8]) -> (u64, String) {
    match (format, signal) {
        (Format::Json, _) => {
            let response: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            let partial = &response["partialSuccess"];
            let field = if signal == Signal::Logs { "rejectedLogRecords" } else { "rejectedDataPoints" };
            let count = match &partial[field] {
                Value::Number(n) => n.as_u64().unwrap_or(0),
                Value::String(s) => s.parse().unwrap_or(0),
                _ => 0,
            };
            (count, partial["errorMessage"].as_str().unwrap_or_default().to_string())
        }
        (Format::Protobuf, Signal::Logs) => {
            let partial = ExportLogsServiceResponse::decode(body).unwrap().partial_success.unwrap_or_default();
            (partial.rejected_log_records as u64, partial.error_message)
        }
        (Format::Protobuf, Signal::Metrics) => {
            let partial = ExportMetricsServiceResponse::decode(body).unwrap().partial_success.unwrap_or_default();
            (partial.rejected_data_points as u64, partial.error_message)
        }
    }
}
