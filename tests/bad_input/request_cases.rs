//! Whole-request cases: envelopes that are not OTLP, content types and encodings, size limits before and after
//! inflation (gzip and zstd bombs), empty requests, and what protobuf cannot recover from (a broken resource).

use std::io::Write;

use prost::Message;
use reqwest::StatusCode;
use serde_json::json;

use super::build::*;

/// A request and the status it gets.
pub struct RequestCase {
    pub name: &'static str,
    pub path: &'static str,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, &'static str)>,
    pub body: Vec<u8>,
    pub status: StatusCode,
}

fn case(
    name: &'static str,
    path: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
    status: StatusCode,
) -> RequestCase {
    RequestCase { name, path, content_type, headers: vec![], body, status }
}

fn encoded(name: &'static str, encoding: &'static str, body: Vec<u8>, status: StatusCode) -> RequestCase {
    RequestCase {
        headers: vec![("content-encoding", encoding)],
        ..case(name, "/v1/logs", "application/json", body, status)
    }
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// The cases, for a relay whose `otlp.max_request_bytes` is `limit`. `good` is a one-record logs request of
/// workflow "good"; every 200 below that carries it stores that one row.
pub fn cases(limit: usize) -> Vec<RequestCase> {
    use StatusCode as S;
    let good = logs_request(vec![log_group(resource(), vec![api_request("good", 1)])]).to_string().into_bytes();
    let good_pb = logs_proto(&logs_request(vec![log_group(resource(), vec![api_request("good", 1)])])).encode_to_vec();
    let json = "application/json";
    let pb = "application/x-protobuf";
    let marked_resource = |marker: &str| {
        let mut resource = resource();
        resource.push(kv("marked", s(marker)));
        logs_proto(&logs_request(vec![log_group(resource, vec![api_request("resource", 1)])])).encode_to_vec()
    };
    let mut scope_named = logs_proto(&logs_request(vec![log_group(resource(), vec![api_request("scope", 1)])]));
    scope_named.resource_logs[0].scope_logs[0].scope.as_mut().unwrap().name = "SCOPEMARK".into();
    let deep = json!({ "resourceLogs": [{ "scopeLogs": [{ "logRecords": [{ "attributes": [kv("d", deep_kvlist(40))] }] }] }] });
    vec![
        case("not JSON", "/v1/logs", json, b"{not json".to_vec(), S::BAD_REQUEST),
        case("an empty JSON body", "/v1/logs", json, vec![], S::BAD_REQUEST),
        case("a JSON array", "/v1/logs", json, b"[]".to_vec(), S::BAD_REQUEST),
        case("JSON with trailing garbage", "/v1/logs", json, b"{} x".to_vec(), S::BAD_REQUEST),
        case("resourceLogs not an array", "/v1/logs", json, br#"{"resourceLogs":7}"#.to_vec(), S::BAD_REQUEST),
        case(
            "scopeLogs not an array",
            "/v1/logs",
            json,
            br#"{"resourceLogs":[{"scopeLogs":{}}]}"#.to_vec(),
            S::BAD_REQUEST,
        ),
        case(
            "logRecords not an array",
            "/v1/logs",
            json,
            br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":"x"}]}]}"#.to_vec(),
            S::BAD_REQUEST,
        ),
        case(
            "metrics not an array",
            "/v1/metrics",
            json,
            br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":1}]}]}"#.to_vec(),
            S::BAD_REQUEST,
        ),
        // serde_json stops at 128 levels of nesting: past it the whole request is unreadable.
        case(
            "JSON nested past serde_json's depth limit",
            "/v1/logs",
            json,
            deep.to_string().into_bytes(),
            S::BAD_REQUEST,
        ),
        case("an empty JSON logs request", "/v1/logs", json, b"{}".to_vec(), S::OK),
        case("an empty JSON metrics request", "/v1/metrics", json, b"{}".to_vec(), S::OK),
        case("resourceLogs null", "/v1/logs", json, br#"{"resourceLogs":null}"#.to_vec(), S::OK),
        case("an empty protobuf logs request", "/v1/logs", pb, vec![], S::OK),
        case("an empty protobuf metrics request", "/v1/metrics", pb, vec![], S::OK),
        case("protobuf garbage", "/v1/logs", pb, vec![0xff, 0xff, 0xff, 0xff, 0x0f], S::BAD_REQUEST),
        case("metrics protobuf garbage", "/v1/metrics", pb, vec![0x0a, 0x05, 0x01], S::BAD_REQUEST),
        case("a truncated protobuf request", "/v1/logs", pb, good_pb[..good_pb.len() - 3].to_vec(), S::BAD_REQUEST),
        // The envelope (resources, scopes) is decoded whole: invalid UTF-8 there sinks the request.
        case(
            "protobuf: invalid UTF-8 in a resource value",
            "/v1/logs",
            pb,
            patch(marked_resource("RESMARK"), b"RESMARK", b"\xffESMARK"),
            S::BAD_REQUEST,
        ),
        case(
            "protobuf: invalid UTF-8 in the scope name",
            "/v1/logs",
            pb,
            patch(scope_named.encode_to_vec(), b"SCOPEMARK", b"\xc0COPEMARK"),
            S::BAD_REQUEST,
        ),
        case("traces that are not JSON", "/v1/traces", json, b"nope".to_vec(), S::BAD_REQUEST),
        case("traces protobuf garbage", "/v1/traces", pb, vec![0xff, 0xff], S::BAD_REQUEST),
        case("wrong content type", "/v1/logs", "text/plain", good.clone(), S::UNSUPPORTED_MEDIA_TYPE),
        case("no content type", "/v1/logs", "", good.clone(), S::UNSUPPORTED_MEDIA_TYPE),
        case("JSON with a charset parameter", "/v1/logs", "application/json; charset=utf-8", good.clone(), S::OK),
        case("protobuf as application/protobuf", "/v1/logs", "application/protobuf", good_pb.clone(), S::OK),
        case("body over the limit", "/v1/logs", json, vec![b' '; limit + 1024], S::PAYLOAD_TOO_LARGE),
        case(
            "JSON with invalid UTF-8 (replaced, accepted)",
            "/v1/logs",
            json,
            patch(
                logs_request(vec![log_group(resource(), vec![api_request("utf8", 1)])]).to_string().into_bytes(),
                b"sess",
                b"\xffess",
            ),
            S::OK,
        ),
        encoded("unsupported content encoding", "br", good.clone(), S::UNSUPPORTED_MEDIA_TYPE),
        encoded("corrupt gzip", "gzip", b"\x1f\x8b\x08garbage".to_vec(), S::BAD_REQUEST),
        encoded("corrupt zstd", "zstd", b"\x28\xb5\x2f\xfdgarbage".to_vec(), S::BAD_REQUEST),
        encoded("gzip of something that is not JSON", "gzip", gzip(b"not json"), S::BAD_REQUEST),
        encoded(
            "gzip that inflates over the limit (a gzip bomb)",
            "gzip",
            gzip(&vec![b' '; 1 << 20]),
            S::PAYLOAD_TOO_LARGE,
        ),
        encoded(
            "zstd that inflates over the limit (a zstd bomb)",
            "zstd",
            zstd::encode_all(&vec![b' '; 1 << 20][..], 19).unwrap(),
            S::PAYLOAD_TOO_LARGE,
        ),
        RequestCase {
            path: "/v1/metrics",
            content_type: pb,
            ..encoded("a gzip bomb of protobuf metrics", "gzip", gzip(&vec![0u8; 1 << 20]), S::PAYLOAD_TOO_LARGE)
        },
        encoded("gzip-compressed JSON", "gzip", gzip(&good), S::OK),
        encoded("gzip in capitals", "GZIP", gzip(&good), S::OK),
        encoded("two concatenated gzip members", "gzip", [gzip(&good[..10]), gzip(&good[10..])].concat(), S::OK),
        encoded("zstd-compressed JSON", "zstd", zstd::encode_all(&good[..], 3).unwrap(), S::OK),
        encoded("identity encoding", "identity", good.clone(), S::OK),
    ]
}
