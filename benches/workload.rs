//! Workloads shaped like the real Claude Code payloads in tests/fixtures/, shared by the benchmarks.
#![allow(dead_code)]

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

const RUNS: [&str; 5] = ["analyze-plain", "plan-plain", "implement-bash", "review-bash", "subagent-builtin"];

fn fixture_requests() -> Vec<ExportLogsServiceRequest> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/claude-code-2.1.331");
    RUNS.iter()
        .map(|run| match std::fs::read(dir.join(run).join("logs-1.pb")) {
            Ok(bytes) => ExportLogsServiceRequest::decode(&bytes[..]).expect("fixture decodes"),
            Err(_) => serde_json::from_slice(&std::fs::read(dir.join(run).join("logs-1.json")).expect("fixture"))
                .expect("fixture JSON"),
        })
        .collect()
}

/// Every real record with its resource, in capture order.
fn pool() -> Vec<(Resource, LogRecord)> {
    let mut pool = Vec::new();
    for request in fixture_requests() {
        for resource_logs in request.resource_logs {
            let resource = resource_logs.resource.unwrap_or_default();
            for scope in resource_logs.scope_logs {
                pool.extend(scope.log_records.into_iter().map(|r| (resource.clone(), r)));
            }
        }
    }
    pool
}

/// An ExportLogsServiceRequest of `records` records cycled from the fixtures, made distinct (time, sequence and
/// workflow vary) the way a stream of real sessions would be. `offset` shifts the variation between requests.
pub fn logs_request(records: usize, offset: u64) -> ExportLogsServiceRequest {
    let pool = pool();
    let (resource, _) = pool[0].clone();
    let mut log_records = Vec::with_capacity(records);
    for i in 0..records {
        let (_, mut record) = pool[i % pool.len()].clone();
        let n = offset + i as u64;
        make_nth(&mut record, n, n);
        log_records.push(record);
    }
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(resource),
            scope_logs: vec![ScopeLogs { log_records, ..Default::default() }],
            ..Default::default()
        }],
    }
}

/// Makes a record the `n`th of a stream: `shift` nanoseconds later, `event.sequence` n, workflow `wf-{n / 200}`
/// (200 records per workflow).
pub fn make_nth(record: &mut LogRecord, shift: u64, n: u64) {
    record.time_unix_nano += shift;
    record.observed_time_unix_nano += shift;
    for kv in &mut record.attributes {
        match (kv.key.as_str(), kv.value.as_mut().and_then(|v| v.value.as_mut())) {
            ("event.sequence", Some(Value::IntValue(seq))) => *seq = n as i64,
            ("workflow_id", Some(Value::StringValue(w))) => *w = format!("wf-{}", n / 200),
            _ => {}
        }
    }
}

/// `logs_request` encoded as the protobuf body a sender posts.
pub fn logs_body(records: usize, offset: u64) -> Vec<u8> {
    logs_request(records, offset).encode_to_vec()
}
