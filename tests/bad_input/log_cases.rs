//! Log record cases (OTLP/JSON and protobuf): every bound of src/reshape/limits.rs at and just past it, every
//! typed column's wrong shapes, implausible numbers, event times on both sides of the window, duplicate and empty
//! keys, over-long event names and resources.

use opentelemetry_proto::tonic::common::v1::any_value::Value as Pv;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, KeyValueList};
use serde_json::json;

use super::build::*;
use super::harness::{log, log_in, log_pb, Case, DROPPED, EVENTS_ONLY, PAST_TTL, REJECTED, STORED};

/// Bounds of src/reshape/limits.rs, as the tests know them (the README's figures).
const WORKFLOW_BYTES: usize = 256;
const VALUE_BYTES: usize = 64 * 1024;
const MAX_TOKENS: i64 = 10_000_000;
const MAX_DURATION_MS: i64 = 86_400_000;
/// The attributes held to 256 bytes (workflow columns, and `model`, a /metrics label).
const SHORT_KEYS: [&str; 10] = [
    "workflow_id",
    "workflow_path",
    "complexity",
    "stage",
    "task_id",
    "agent",
    "model_expected",
    "agent.name",
    "workflow.run_id",
    "model",
];
const TOKEN_KEYS: [&str; 6] = [
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_creation_tokens",
    "cache_creation_5m_tokens",
    "cache_creation_1h_tokens",
];

/// `len` bytes beginning with `prefix`.
fn text_of(prefix: &str, len: usize) -> String {
    format!("{prefix}{}", "x".repeat(len - prefix.len()))
}

pub fn json_cases() -> Vec<Case> {
    let mut cases = vec![
        // Values the readers cannot take, kept raw in otel_events.
        log("doubleValue holding an object (one Claude Code build)", REJECTED, |w| {
            api_with(w, "cost_usd", json!({"doubleValue": {}}))
        }),
        log("token count that is not a number", REJECTED, |w| api_with(w, "input_tokens", s("abc"))),
        log("negative token count", REJECTED, |w| api_with(w, "output_tokens", i(-5))),
        log("fractional token count", REJECTED, |w| api_with(w, "input_tokens", d(1.5))),
        log("api_request without cost_usd", REJECTED, |w| with(api_request(w, 2), "cost_usd", None)),
        log("api_request without model", REJECTED, |w| with(api_request(w, 2), "model", None)),
        log("api_request without input_tokens", REJECTED, |w| with(api_request(w, 2), "input_tokens", None)),
        log("api_request without output_tokens", REJECTED, |w| with(api_request(w, 2), "output_tokens", None)),
        log("cost_usd that is infinite text", REJECTED, |w| api_with(w, "cost_usd", s("inf"))),
        log("cost_usd \"NaN\" (JSON has no NaN)", REJECTED, |w| api_with(w, "cost_usd", s("NaN"))),
        log("cost_usd \"-inf\"", REJECTED, |w| api_with(w, "cost_usd", s("-inf"))),
        log("cost_usd \"1e309\" (infinite once read)", REJECTED, |w| api_with(w, "cost_usd", s("1e309"))),
        log("tool_result success that is not a boolean", REJECTED, |w| tool_result(w, "success", s("maybe"))),
        log("event.sequence that is not a number", REJECTED, |w| api_with(w, "event.sequence", s("x"))),
        log("negative event.sequence", REJECTED, |w| api_with(w, "event.sequence", i(-1))),
        log("record that is not an object", DROPPED, |_| json!(42)),
        log("timeUnixNano that is not a number", DROPPED, |w| at(api_request(w, 2), "soon")),
        log("negative timeUnixNano", DROPPED, |w| at(api_request(w, 2), "-5")),
        // Kept in otel_events, but without attributes it has no workflow.
        log("attributes that are not a list", DROPPED, |w| {
            let mut r = api_request(w, 2);
            r["attributes"] = json!({"a": 1});
            r
        }),
        log("an attribute that is not an object", REJECTED, |w| push(api_request(w, 2), json!(5))),
        log("an attribute whose key is not a string", REJECTED, |w| {
            push(api_request(w, 2), json!({"key": 5, "value": s("x")}))
        }),
        // Accepted shapes: coerced, not rejected.
        log("tokens as spec-style strings", STORED, |w| api_with(w, "input_tokens", json!({"intValue": "1200"}))),
        log("tokens as doubles (collector json_parser)", STORED, |w| api_with(w, "input_tokens", d(1200.0))),
        log("tokens as \"1e3\" text", STORED, |w| api_with(w, "input_tokens", s("1e3"))),
        log("every value as a string (older Claude Code)", STORED, |w| api_with(w, "cost_usd", s("0.006825"))),
        log("model as an intValue (read as its text)", STORED, |w| api_with(w, "model", i(4))),
        // Every typed number column's wrong shapes.
        log("cost_usd as a boolValue", REJECTED, |w| api_with(w, "cost_usd", b(true))),
        log("cost_usd as an arrayValue", REJECTED, |w| api_with(w, "cost_usd", array(vec![d(0.1)]))),
        log("cost_usd as a kvlistValue", REJECTED, |w| api_with(w, "cost_usd", kvlist(vec![kv("usd", d(0.1))]))),
        log("cost_usd as a bytesValue", REJECTED, |w| api_with(w, "cost_usd", bytes(8))),
        log("cost_usd as an empty AnyValue", REJECTED, |w| api_with(w, "cost_usd", json!({}))),
        log("cost_usd without a value", REJECTED, |w| {
            push(with(api_request(w, 2), "cost_usd", None), json!({"key": "cost_usd"}))
        }),
        log("input_tokens as a boolValue", REJECTED, |w| api_with(w, "input_tokens", b(true))),
        log("input_tokens as an arrayValue", REJECTED, |w| api_with(w, "input_tokens", array(vec![i(1)]))),
        log("input_tokens as a kvlistValue", REJECTED, |w| api_with(w, "input_tokens", kvlist(vec![]))),
        log("input_tokens as a bytesValue", REJECTED, |w| api_with(w, "input_tokens", bytes(3))),
        log("input_tokens as an empty AnyValue", REJECTED, |w| api_with(w, "input_tokens", json!({}))),
        log("input_tokens i64::MIN", REJECTED, |w| {
            api_with(w, "input_tokens", json!({"intValue": i64::MIN.to_string()}))
        }),
        log("input_tokens 1e300", REJECTED, |w| api_with(w, "input_tokens", d(1e300))),
        log("input_tokens as 23 digits of text", REJECTED, |w| {
            api_with(w, "input_tokens", s("99999999999999999999999"))
        }),
        log("tool_result success 1 (read as true)", STORED, |w| tool_result(w, "success", i(1))),
        log("tool_result success \"TRUE\"", STORED, |w| tool_result(w, "success", s("TRUE"))),
        log("tool_result success as a boolValue", STORED, |w| tool_result(w, "success", b(false))),
        log("tool_result success 2", REJECTED, |w| tool_result(w, "success", i(2))),
        log("tool_result success 1.0 (a double)", REJECTED, |w| tool_result(w, "success", d(1.0))),
        log("tool_result success as an arrayValue", REJECTED, |w| tool_result(w, "success", array(vec![b(true)]))),
        log("tool_result success as an empty AnyValue", REJECTED, |w| tool_result(w, "success", json!({}))),
        log("tool_result duration_ms \"-3\"", REJECTED, |w| tool_result(w, "duration_ms", s("-3"))),
        log("tool_result tool_result_size_bytes \"1e30\"", REJECTED, |w| {
            tool_result(w, "tool_result_size_bytes", s("1e30"))
        }),
        log("subagent_completed as Claude Code sends it", STORED, |w| {
            subagent_completed(w, "agent_source", s("built-in"))
        }),
        log("subagent_completed total_tokens -1", REJECTED, |w| subagent_completed(w, "total_tokens", i(-1))),
        log("subagent_completed is_async \"yes\"", REJECTED, |w| subagent_completed(w, "is_async", s("yes"))),
        // A run's total, not one request's: not held to the per-request token bound.
        log("subagent_completed total_tokens 2^53", STORED, |w| subagent_completed(w, "total_tokens", i(1 << 53))),
        log("api_error as Claude Code sends it", STORED, |w| api_error(w, "status_code", s("529"))),
        log("api_error attempt that is not a number", REJECTED, |w| api_error(w, "attempt", s("x"))),
        log("api_error attempt 2^40 (stored as u32::MAX)", STORED, |w| api_error(w, "attempt", i(1 << 40))),
        // Plausibility bounds.
        log("cost_usd 1e308", REJECTED, |w| api_with(w, "cost_usd", d(1e308))),
        log("a negative cost_usd", REJECTED, |w| api_with(w, "cost_usd", d(-0.5))),
        log("cost_usd 0", STORED, |w| api_with(w, "cost_usd", d(0.0))),
        log("cost_usd at the 1000 USD bound", STORED, |w| api_with(w, "cost_usd", d(1000.0))),
        log("cost_usd just past 1000 USD", REJECTED, |w| api_with(w, "cost_usd", d(1000.001))),
        log("cost_usd_micros at the bound", STORED, |w| api_with(w, "cost_usd_micros", i(1_000_000_000))),
        log("cost_usd_micros past the bound", REJECTED, |w| api_with(w, "cost_usd_micros", i(1_000_000_001))),
        log("output_tokens 2^63-1", REJECTED, |w| {
            api_with(w, "output_tokens", json!({ "intValue": "9223372036854775807" }))
        }),
        log("input_tokens at the 10,000,000 bound", STORED, |w| api_with(w, "input_tokens", i(MAX_TOKENS))),
        log("duration_ms at a day", STORED, |w| api_with(w, "duration_ms", i(MAX_DURATION_MS))),
        log("duration_ms a day and 1 ms", REJECTED, |w| api_with(w, "duration_ms", i(MAX_DURATION_MS + 1))),
        log("a duration of ten days", REJECTED, |w| api_with(w, "duration_ms", i(10 * MAX_DURATION_MS))),
        log("ttft_ms a day and 1 ms", REJECTED, |w| api_with(w, "ttft_ms", i(MAX_DURATION_MS + 1))),
        log("tool_result duration_ms past a day", REJECTED, |w| tool_result(w, "duration_ms", i(MAX_DURATION_MS + 1))),
        // Event times (the relay's window: 720 hours back, 300 s ahead).
        log("an event time in 2100 (ahead of the relay's clock)", REJECTED, |w| {
            at(api_request(w, 2), "4102444800000000000")
        }),
        log("an event time 10 minutes ahead", REJECTED, |w| at(api_request(w, 2), now_ns() + 600_000_000_000)),
        log("an event time 1 minute ahead", STORED, |w| at(api_request(w, 2), now_ns() + 60_000_000_000)),
        log("an event time 721 hours old", REJECTED, |w| at(api_request(w, 2), now_ns() - 721 * HOUR_NS)),
        log("an event time 719 hours old", STORED, |w| at(api_request(w, 2), now_ns() - 719 * HOUR_NS)),
        // Older than otel_events' 180-day TTL too: ClickHouse drops it on insert or at a later merge.
        log("an event time of 1970 (1 ns)", PAST_TTL, |w| at(api_request(w, 2), 1)),
        log("no event time at all (stamped now)", STORED, |w| at(api_request(w, 2), 0)),
        log("time 0 with an observed time (the observed time)", STORED, |w| {
            let mut r = at(api_request(w, 2), 0);
            r["observedTimeUnixNano"] = json!((base_ns() + 2).to_string());
            r
        }),
        log("time 0 with an observed time in 2100", REJECTED, |w| {
            let mut r = at(api_request(w, 2), 0);
            r["observedTimeUnixNano"] = json!("4102444800000000000");
            r
        }),
        log("no time, an event.timestamp 40 days old", REJECTED, |w| {
            let old = (now_ns() - 40 * 24 * HOUR_NS) / 1_000_000_000;
            api_with(w, "event.timestamp", s(&rfc3339(old))).tap(|r| r["timeUnixNano"] = json!("0"))
        }),
        log("time u64::MAX", REJECTED, |w| at(api_request(w, 2), u64::MAX)),
        log("time 2^63 (past 2262)", REJECTED, |w| at(api_request(w, 2), 1u64 << 63)),
        log("no time, an event.timestamp two years old (past the TTL too)", PAST_TTL, |w| {
            api_with(w, "event.timestamp", s("2024-11-25T08:01:49.035Z")).tap(|r| r["timeUnixNano"] = json!("0"))
        }),
        // Event names.
        log("an unknown event name", EVENTS_ONLY, |w| {
            let mut r = api_request(w, 2);
            r["body"] = s("claude_code.from_the_future");
            r
        }),
        log("a body that is not a string and no event.name", EVENTS_ONLY, |w| {
            let mut r = with(api_request(w, 2), "event.name", None);
            r["body"] = i(7);
            r
        }),
        log("a kvlist body, named by event.name", STORED, |w| {
            let mut r = api_request(w, 2);
            r["body"] = kvlist(vec![kv("a", i(1))]);
            r
        }),
        log("an empty body and no event.name", EVENTS_ONLY, |w| {
            let mut r = with(api_request(w, 2), "event.name", None);
            r["body"] = s("");
            r
        }),
        // The event name is a /metrics label: held to the short bound (issue 8).
        log("a 300-byte claude_code.* body", REJECTED, |w| {
            let mut r = api_request(w, 2);
            r["body"] = s(&text_of("claude_code.", 300));
            r
        }),
        log("a 300-byte event.name and no claude_code body", REJECTED, |w| {
            let mut r = api_with(w, "event.name", s(&text_of("api_request", 300)));
            r["body"] = s("hello");
            r
        }),
        log("a 256-byte claude_code.* body (at the bound)", EVENTS_ONLY, |w| {
            let mut r = api_request(w, 2);
            r["body"] = s(&text_of("claude_code.", WORKFLOW_BYTES));
            r
        }),
        // Duplicate and empty keys: the first of a key wins; a bound holds for every copy.
        log("cost_usd twice, the readable one first", STORED, |w| push(api_request(w, 2), kv("cost_usd", s("abc")))),
        log("cost_usd twice, the unreadable one first", REJECTED, |w| first(api_request(w, 2), "cost_usd", s("abc"))),
        log("workflow_id twice (the first is the record's)", STORED, |w| {
            push(api_request(w, 2), kv("workflow_id", s("other")))
        }),
        log("stage twice, the second over-long", REJECTED, |w| {
            push(api_request(w, 2), kv("stage", s(&"s".repeat(300))))
        }),
        log("an empty key", STORED, |w| push(api_request(w, 2), kv("", s("x")))),
        log("an empty key with an over-long value", REJECTED, |w| {
            push(api_request(w, 2), kv("", s(&"x".repeat(VALUE_BYTES + 1))))
        }),
        // Lengths of other values.
        log("a 1 MiB attribute value (over the 64 KiB bound)", REJECTED, |w| {
            api_with(w, "huge", s(&"x".repeat(1 << 20)))
        }),
        log("a 64 KiB attribute value (at the bound)", STORED, |w| api_with(w, "big", s(&"x".repeat(VALUE_BYTES)))),
        log("a 64 KiB + 1 attribute value", REJECTED, |w| api_with(w, "big", s(&"x".repeat(VALUE_BYTES + 1)))),
        log("a tool_input of 64 KiB", STORED, |w| tool_result(w, "tool_input", s(&"x".repeat(VALUE_BYTES)))),
        log("a tool_input of 64 KiB + 1", REJECTED, |w| tool_result(w, "tool_input", s(&"x".repeat(VALUE_BYTES + 1)))),
        log("a bytesValue of 32 KiB (64 KiB as hex)", STORED, |w| api_with(w, "blob", bytes(VALUE_BYTES / 2))),
        log("a bytesValue of 32 KiB + 1", REJECTED, |w| api_with(w, "blob", bytes(VALUE_BYTES / 2 + 1))),
        log("an arrayValue over 64 KiB as text", REJECTED, |w| {
            api_with(w, "list", array(vec![s(&"x".repeat(100)); 700]))
        }),
        log("a kvlistValue over 64 KiB as text", REJECTED, |w| {
            api_with(w, "map", kvlist((0..700).map(|n| kv(&format!("k{n}"), s(&"x".repeat(100)))).collect()))
        }),
        log("a kvlist 20 levels deep", STORED, |w| api_with(w, "deep", deep_kvlist(20))),
        log("a 10 MB workflow_id (its record is kept under the id cut to 256 bytes)", DROPPED, |w| {
            api_with(w, "workflow_id", s(&format!("{w}{}", "w".repeat(10_000_000))))
        }),
        log("a 300-byte stage", REJECTED, |w| api_with(w, "stage", s(&"s".repeat(300)))),
        // Resources: an over-long value there bounds every record under it.
        log_in("a resource value of 64 KiB + 1", REJECTED, |w| {
            let mut resource = resource();
            resource.push(kv("host.name", s(&"h".repeat(VALUE_BYTES + 1))));
            log_group(resource, vec![api_request(w, 2)])
        }),
        log_in("a resource workflow_id of 257 bytes under a record's own", REJECTED, |w| {
            let mut resource = resource();
            resource.push(kv("workflow_id", s(&"w".repeat(WORKFLOW_BYTES + 1))));
            log_group(resource, vec![api_request(w, 2)])
        }),
        log_in("resource attributes that are not a list (ignored)", STORED, |w| {
            let mut group = log_group(vec![], vec![api_request(w, 2)]);
            group["resource"]["attributes"] = json!("nope");
            group
        }),
        log_in("a resource attribute of an unreadable shape (kept as its JSON)", STORED, |w| {
            log_group(vec![kv("x", json!({"doubleValue": {}}))], vec![api_request(w, 2)])
        }),
    ];
    // Every short-bound key at 256 bytes and at 257.
    for key in SHORT_KEYS {
        let workflow_id = key == "workflow_id";
        // A 256-byte workflow_id is a workflow of its own: the case checks it is stored there instead.
        if !workflow_id {
            cases.push(log(format!("{key} of 256 bytes (at the bound)"), STORED, move |w| {
                api_with(w, key, s(&text_of("v", WORKFLOW_BYTES)))
            }));
        }
        let past = if workflow_id { DROPPED } else { REJECTED };
        cases.push(log(format!("{key} of 257 bytes"), past, move |w| {
            api_with(w, key, s(&text_of(w, WORKFLOW_BYTES + 1)))
        }));
    }
    // Every token kind just past its bound.
    for key in TOKEN_KEYS {
        cases.push(log(format!("{key} of 10,000,001"), REJECTED, move |w| api_with(w, key, i(MAX_TOKENS + 1))));
    }
    cases
}

/// What protobuf carries and JSON cannot: NaN and infinite doubles, u64 times, invalid UTF-8, nesting past
/// prost's depth limit.
pub fn protobuf_cases() -> Vec<Case> {
    fn set(record: &mut opentelemetry_proto::tonic::logs::v1::LogRecord, key: &str, value: Option<Pv>) {
        let kv = record.attributes.iter_mut().find(|kv| kv.key == key).unwrap();
        kv.value = value.map(|v| AnyValue { value: Some(v) });
    }
    fn nested(depth: usize) -> AnyValue {
        (0..depth).fold(AnyValue { value: Some(Pv::StringValue("bottom".into())) }, |inner, _| AnyValue {
            value: Some(Pv::KvlistValue(KeyValueList {
                values: vec![KeyValue { key: "k".into(), value: Some(inner) }],
            })),
        })
    }
    let marked = |w: &str| api_with(w, "marker", s("MARKER"));
    vec![
        log_pb("protobuf: a well-formed api_request", STORED, |w| api_request(w, 2), |_| {}, None),
        log_pb(
            "protobuf: cost_usd NaN",
            REJECTED,
            |w| api_request(w, 2),
            |r| set(r, "cost_usd", Some(Pv::DoubleValue(f64::NAN))),
            None,
        ),
        log_pb(
            "protobuf: cost_usd +inf",
            REJECTED,
            |w| api_request(w, 2),
            |r| set(r, "cost_usd", Some(Pv::DoubleValue(f64::INFINITY))),
            None,
        ),
        log_pb(
            "protobuf: cost_usd -inf",
            REJECTED,
            |w| api_request(w, 2),
            |r| set(r, "cost_usd", Some(Pv::DoubleValue(f64::NEG_INFINITY))),
            None,
        ),
        log_pb(
            "protobuf: cost_usd the largest double",
            REJECTED,
            |w| api_request(w, 2),
            |r| set(r, "cost_usd", Some(Pv::DoubleValue(f64::MAX))),
            None,
        ),
        log_pb(
            "protobuf: input_tokens NaN",
            REJECTED,
            |w| api_request(w, 2),
            |r| set(r, "input_tokens", Some(Pv::DoubleValue(f64::NAN))),
            None,
        ),
        log_pb(
            "protobuf: input_tokens i64::MAX",
            REJECTED,
            |w| api_request(w, 2),
            |r| set(r, "input_tokens", Some(Pv::IntValue(i64::MAX))),
            None,
        ),
        log_pb(
            "protobuf: cost_usd as an empty AnyValue",
            REJECTED,
            |w| api_request(w, 2),
            |r| r.attributes.iter_mut().find(|kv| kv.key == "cost_usd").unwrap().value = Some(AnyValue { value: None }),
            None,
        ),
        log_pb(
            "protobuf: cost_usd without a value",
            REJECTED,
            |w| api_request(w, 2),
            |r| set(r, "cost_usd", None),
            None,
        ),
        log_pb("protobuf: time u64::MAX", REJECTED, |w| api_request(w, 2), |r| r.time_unix_nano = u64::MAX, None),
        log_pb("protobuf: time i64::MAX + 1", REJECTED, |w| api_request(w, 2), |r| r.time_unix_nano = 1 << 63, None),
        log_pb(
            "protobuf: no time, observed time u64::MAX",
            REJECTED,
            |w| api_request(w, 2),
            |r| {
                r.time_unix_nano = 0;
                r.observed_time_unix_nano = u64::MAX;
            },
            None,
        ),
        log_pb(
            "protobuf: a bytesValue of 32 KiB + 1",
            REJECTED,
            |w| api_request(w, 2),
            |r| {
                r.attributes.push(KeyValue {
                    key: "blob".into(),
                    value: Some(AnyValue { value: Some(Pv::BytesValue(vec![7; VALUE_BYTES / 2 + 1])) }),
                })
            },
            None,
        ),
        log_pb(
            "protobuf: a kvlist 20 levels deep",
            STORED,
            |w| api_request(w, 2),
            |r| r.attributes.push(KeyValue { key: "deep".into(), value: Some(nested(20)) }),
            None,
        ),
        // prost stops at 100 nested messages; each kvlist level is three.
        log_pb(
            "protobuf: a kvlist 50 levels deep (past prost's recursion limit)",
            DROPPED,
            |w| api_request(w, 2),
            |r| r.attributes.push(KeyValue { key: "deep".into(), value: Some(nested(50)) }),
            None,
        ),
        log_pb("protobuf: invalid UTF-8 in a value", DROPPED, marked, |_| {}, Some((b"MARKER", b"\xc3\x28RKER"))),
        log_pb("protobuf: invalid UTF-8 in a key", DROPPED, marked, |_| {}, Some((b"marker", b"\xffarker"))),
        log_pb(
            "protobuf: invalid UTF-8 in the body",
            DROPPED,
            |w| api_request(w, 2),
            |r| r.body = Some(AnyValue { value: Some(Pv::StringValue("claude_code.api_request_BODYMARK".into())) }),
            Some((b"BODYMARK", b"\xed\xa0\x80YMARK")),
        ),
        log_pb(
            "protobuf: a 10 MB workflow_id",
            DROPPED,
            |w| api_request(w, 2),
            |r| set(r, "workflow_id", Some(Pv::StringValue("w".repeat(10_000_000)))),
            None,
        ),
        log_pb(
            "protobuf: an unknown severity number",
            STORED,
            |w| api_request(w, 2),
            |r| r.severity_number = 999,
            None,
        ),
    ]
}

/// `f(&mut self)` then self, for one-line edits of a built record.
trait Tap: Sized {
    fn tap(mut self, f: impl FnOnce(&mut Self)) -> Self {
        f(&mut self);
        self
    }
}

impl Tap for serde_json::Value {}

/// Unix seconds as RFC 3339 UTC.
fn rfc3339(seconds: i64) -> String {
    let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = tokenledger::ledger::human::civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rest / 3600, rest / 60 % 60, rest % 60)
}
