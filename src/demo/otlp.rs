//! OTLP values in the types Claude Code 2.1.331 gives each attribute (strings, ints, doubles, bools, arrays), and
//! the resource and scopes it exports under.

use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, ArrayValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;

/// `service.version` and the scope versions.
pub const CLI_VERSION: &str = "2.1.331";
/// Scope of the log records (events).
pub const EVENTS_SCOPE: &str = "com.anthropic.claude_code.events";
/// Scope of the metrics.
pub const METRICS_SCOPE: &str = "com.anthropic.claude_code";

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue { key: key.to_string(), value: Some(AnyValue { value: Some(value) }) }
}

/// A string attribute.
pub fn s(key: &str, value: impl Into<String>) -> KeyValue {
    kv(key, Value::StringValue(value.into()))
}

/// An int attribute.
pub fn i(key: &str, value: impl TryInto<i64>) -> KeyValue {
    kv(key, Value::IntValue(value.try_into().unwrap_or(i64::MAX)))
}

/// A double attribute.
pub fn d(key: &str, value: f64) -> KeyValue {
    kv(key, Value::DoubleValue(value))
}

/// A bool attribute.
pub fn b(key: &str, value: bool) -> KeyValue {
    kv(key, Value::BoolValue(value))
}

/// An empty array attribute.
pub fn empty_array(key: &str) -> KeyValue {
    kv(key, Value::ArrayValue(ArrayValue { values: Vec::new() }))
}

/// A string body.
pub fn body(text: String) -> Option<AnyValue> {
    Some(AnyValue { value: Some(Value::StringValue(text)) })
}

/// The resource of a `claude` run: its OTEL_RESOURCE_ATTRIBUTES, then what the CLI adds.
pub fn resource(workflow: &[KeyValue], os_version: &str) -> Resource {
    let mut attributes = workflow.to_vec();
    attributes.extend([
        s("host.arch", "amd64"),
        s("os.type", "linux"),
        s("os.version", os_version),
        s("service.name", "claude-code"),
        s("service.version", CLI_VERSION),
    ]);
    Resource { attributes, ..Default::default() }
}

/// An instrumentation scope of the CLI.
pub fn scope(name: &str) -> Option<InstrumentationScope> {
    Some(InstrumentationScope { name: name.to_string(), version: CLI_VERSION.to_string(), ..Default::default() })
}
