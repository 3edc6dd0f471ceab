//! Metric cases (OTLP/JSON and protobuf): shapes without a table, points without a value or past a bound, over-long
//! point and resource attributes, point times on both sides of the window, NaN and infinite values.

use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as Number;
use opentelemetry_proto::tonic::metrics::v1::Metric;
use serde_json::{json, Value};

use super::build::*;
use super::harness::{metric, metric_in, metric_pb, Case, Expect};

/// `n` points rejected, none stored.
const fn rejected(n: u64) -> Expect {
    Expect { rejected: n, stored: 0, in_events: None }
}

/// `n` points stored, none rejected.
const fn stored(n: u64) -> Expect {
    Expect { rejected: 0, stored: n, in_events: None }
}

/// One token.usage point of `w` with `value` fields (asDouble / asInt), and its attributes edited by `edit`.
fn usage(w: &str, value: Value, edit: impl FnOnce(&mut Vec<Value>)) -> Value {
    let mut p = point(w, 2, value);
    edit(p["attributes"].as_array_mut().unwrap());
    sum("claude_code.token.usage", vec![p])
}

fn plain(w: &str) -> Value {
    usage(w, json!({ "asDouble": 5.0 }), |_| {})
}

fn at(mut metric: Value, time: impl ToString) -> Value {
    metric["sum"]["dataPoints"][0]["timeUnixNano"] = json!(time.to_string());
    metric
}

pub fn json_cases() -> Vec<Case> {
    vec![
        metric("a Sum point as Claude Code sends it", stored(1), plain),
        metric(
            "a Gauge point",
            stored(1),
            |w| json!({ "name": "g", "gauge": { "dataPoints": [point(w, 2, json!({ "asInt": "3" }))] } }),
        ),
        metric("an asInt point", stored(1), |w| usage(w, json!({ "asInt": "7" }), |_| {})),
        // Metric values are stored as sent: no view or /metrics series reads otel_metrics.
        metric("a negative asInt point (stored as sent)", stored(1), |w| usage(w, json!({ "asInt": "-7" }), |_| {})),
        metric("an asDouble of 1e308 (stored as sent)", stored(1), |w| usage(w, json!({ "asDouble": 1e308 }), |_| {})),
        metric("a histogram of two points", rejected(2), |w| {
            json!({ "name": "latency", "histogram": { "aggregationTemporality": 1, "dataPoints": [
                { "attributes": [kv("workflow_id", s(w))], "count": "1", "sum": 1.0 },
                { "attributes": [kv("workflow_id", s(w))], "count": "1", "sum": 2.0 }] } })
        }),
        metric(
            "an exponential histogram point",
            rejected(1),
            |_| json!({ "name": "e", "exponentialHistogram": { "aggregationTemporality": 1, "dataPoints": [{ "count": "1", "scale": 1 }] } }),
        ),
        metric(
            "a summary point",
            rejected(1),
            |_| json!({ "name": "s", "summary": { "dataPoints": [{ "count": "1", "sum": 1.0 }] } }),
        ),
        metric(
            "an empty histogram (counted as one)",
            rejected(1),
            |_| json!({ "name": "h", "histogram": { "dataPoints": [] } }),
        ),
        metric("a metric without data", rejected(1), |_| json!({ "name": "nothing" })),
        metric("a Sum without points", stored(0), |_| sum("empty", vec![])),
        metric("a point without a value", rejected(1), |w| usage(w, json!({}), |_| {})),
        metric("one of three points without a value", Expect { rejected: 1, stored: 2, in_events: None }, |w| {
            sum(
                "claude_code.token.usage",
                vec![
                    point(w, 4, json!({ "asDouble": 1.0 })),
                    point(w, 5, json!({})),
                    point(w, 6, json!({ "asDouble": 2.0 })),
                ],
            )
        }),
        metric("asDouble \"NaN\" (JSON has no NaN)", rejected(1), |w| usage(w, json!({ "asDouble": "NaN" }), |_| {})),
        metric("asDouble \"Infinity\"", rejected(1), |w| usage(w, json!({ "asDouble": "Infinity" }), |_| {})),
        metric("a point attribute of an unreadable shape", rejected(1), |w| {
            usage(w, json!({ "asDouble": 1.0 }), |a| a.push(kv("x", json!({ "doubleValue": {} }))))
        }),
        metric("a point stage of 257 bytes", rejected(1), |w| {
            usage(w, json!({ "asDouble": 1.0 }), |a| a.push(kv("stage", s(&"s".repeat(257)))))
        }),
        metric("a point model of 300 bytes (a label)", rejected(1), |w| {
            usage(w, json!({ "asDouble": 1.0 }), |a| a.insert(0, kv("model", s(&"m".repeat(300)))))
        }),
        metric("a point attribute of 64 KiB + 1", rejected(1), |w| {
            usage(w, json!({ "asDouble": 1.0 }), |a| a.push(kv("big", s(&"x".repeat(64 * 1024 + 1)))))
        }),
        metric("a point attribute of 64 KiB", stored(1), |w| {
            usage(w, json!({ "asDouble": 1.0 }), |a| a.push(kv("big", s(&"x".repeat(64 * 1024)))))
        }),
        metric("a point stage of 256 bytes", stored(1), |w| {
            usage(w, json!({ "asDouble": 1.0 }), |a| a.push(kv("stage", s(&"s".repeat(256)))))
        }),
        metric("a point workflow_id twice (the first wins)", stored(1), |w| {
            usage(w, json!({ "asDouble": 1.0 }), |a| a.push(kv("workflow_id", s("other"))))
        }),
        metric("a point time 721 hours old", rejected(1), |w| at(plain(w), now_ns() - 721 * HOUR_NS)),
        metric("a point time 10 minutes ahead", rejected(1), |w| at(plain(w), now_ns() + 600_000_000_000)),
        metric("a point time 1 minute ahead", stored(1), |w| at(plain(w), now_ns() + 60_000_000_000)),
        metric("a point without a time (stamped now)", stored(1), |w| at(plain(w), 0)),
        metric("a point time u64::MAX", rejected(1), |w| at(plain(w), u64::MAX)),
        metric("a metric name of 1 KiB", stored(1), |w| {
            let mut m = plain(w);
            m["name"] = json!("n".repeat(1024));
            m
        }),
        metric_in("a resource value of 64 KiB + 1 (every point under it)", rejected(2), |w| {
            let mut resource = resource();
            resource.push(kv("host.name", s(&"h".repeat(64 * 1024 + 1))));
            metric_group(resource, vec![plain(w), usage(w, json!({ "asDouble": 6.0 }), |_| {})])
        }),
        metric_in("a resource workflow_id of 257 bytes", rejected(1), |w| {
            let mut resource = resource();
            resource.push(kv("workflow_id", s(&"w".repeat(257))));
            metric_group(resource, vec![plain(w)])
        }),
        metric_in(
            "metrics that are not a list",
            Expect { rejected: 0, stored: 0, in_events: None },
            |_| json!({ "scopeMetrics": [{ "metrics": null }] }),
        ),
    ]
}

pub fn protobuf_cases() -> Vec<Case> {
    fn value(metric: &mut Metric, v: Number) {
        let Some(Data::Sum(sum)) = metric.data.as_mut() else { panic!("a Sum") };
        sum.data_points[0].value = Some(v);
    }
    fn time(metric: &mut Metric, t: u64, start: bool) {
        let Some(Data::Sum(sum)) = metric.data.as_mut() else { panic!("a Sum") };
        if start {
            sum.data_points[0].start_time_unix_nano = t;
        } else {
            sum.data_points[0].time_unix_nano = t;
        }
    }
    vec![
        metric_pb("protobuf: a Sum point", stored(1), plain, |_| {}),
        metric_pb("protobuf: asDouble NaN", rejected(1), plain, |m| value(m, Number::AsDouble(f64::NAN))),
        metric_pb("protobuf: asDouble +inf", rejected(1), plain, |m| value(m, Number::AsDouble(f64::INFINITY))),
        metric_pb("protobuf: asDouble -inf", rejected(1), plain, |m| value(m, Number::AsDouble(f64::NEG_INFINITY))),
        metric_pb("protobuf: asInt i64::MIN (stored as sent)", stored(1), plain, |m| value(m, Number::AsInt(i64::MIN))),
        metric_pb("protobuf: time u64::MAX", rejected(1), plain, |m| time(m, u64::MAX, false)),
        metric_pb("protobuf: start time u64::MAX (the point's time stands in)", stored(1), plain, |m| {
            time(m, u64::MAX, true)
        }),
        metric_pb("protobuf: no data", rejected(1), plain, |m| m.data = None),
    ]
}
