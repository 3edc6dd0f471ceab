//! OTLP/JSON, read leniently, record by record.
//!
//! opentelemetry-proto's serde reads OTLP/JSON as Claude Code writes it (intValue as a JSON number as well as the
//! spec's string), but one malformed value such as `{"doubleValue":{}}` fails the whole request. So the envelope is
//! walked as a `serde_json::Value`, each record is deserialized on its own, and a record with an unreadable
//! attribute keeps the others, with the unreadable value's raw JSON as a string, and is flagged for reshaping.

use opentelemetry_proto::tonic::common::v1::any_value::Value as OtlpValue;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::Metric;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use super::DecodeError;
use crate::reshape::{Decoded, LogsRequest, MetricsRequest, Request, Scoped};

/// Decodes an ExportLogsServiceRequest in OTLP/JSON.
pub fn decode_logs(body: &[u8]) -> Result<LogsRequest, DecodeError> {
    decode(body, "resourceLogs", "scopeLogs", "logRecords", "log record", |v| {
        decode_record::<LogRecord>(v).map_err(Rejection::one)
    })
}

/// Decodes an ExportMetricsServiceRequest in OTLP/JSON. A metric with an unreadable value is rejected whole,
/// counted as all its data points (its attributes sit inside them).
pub fn decode_metrics(body: &[u8]) -> Result<MetricsRequest, DecodeError> {
    decode(body, "resourceMetrics", "scopeMetrics", "metrics", "metric", decode_metric)
}

/// The JSON keys of Metric's `data` oneof.
const METRIC_DATA_KEYS: [&str; 5] = ["gauge", "sum", "histogram", "exponentialHistogram", "summary"];

fn decode_metric(value: &Value) -> Result<Decoded<Metric>, Rejection> {
    let spec_ints = with_int_numbers(value);
    let value = spec_ints.as_ref().unwrap_or(value);
    let metric = Metric::deserialize(value).map_err(|e| Rejection::one(e.to_string()))?;
    if metric.data.is_some() {
        return Ok(Decoded::whole(metric));
    }
    // `data` is a flattened Option in opentelemetry-proto's serde: an unreadable value inside it turns the whole
    // oneof into None instead of an error. Find the error and the points it hides.
    for key in METRIC_DATA_KEYS {
        let Some(data) = value.get(key) else { continue };
        let points = data.get("dataPoints").and_then(Value::as_array).map_or(1, |p| p.len().max(1)) as u64;
        let mut single = serde_json::Map::new();
        single.insert(key.to_string(), data.clone());
        let error =
            serde_json::from_value::<opentelemetry_proto::tonic::metrics::v1::metric::Data>(Value::Object(single))
                .err()
                .map_or_else(|| "unreadable".to_string(), |e| e.to_string());
        return Err(Rejection { reason: format!("{}: {key}: {error}", metric.name), count: points });
    }
    Ok(Decoded::whole(metric))
}

/// The metric with its points' `asInt` strings as JSON numbers, if it has any (None: nothing to change).
///
/// OTLP/JSON writes int64 as a string (`"asInt": "7"`, as the collector sends it), but opentelemetry-proto's serde
/// reads only a number there, and its flattened `value` oneof turns a string into "no value" without an error.
fn with_int_numbers(metric: &Value) -> Option<Value> {
    let has_string = |point: &Value| point.get("asInt").is_some_and(Value::is_string);
    let points = |key: &str| metric.get(key).and_then(|d| d.get("dataPoints")).and_then(Value::as_array);
    let any = ["sum", "gauge"].iter().any(|key| points(key).is_some_and(|p| p.iter().any(has_string)));
    if !any {
        return None;
    }
    let mut metric = metric.clone();
    for key in ["sum", "gauge"] {
        let Some(points) = metric.get_mut(key).and_then(|d| d.get_mut("dataPoints")).and_then(Value::as_array_mut)
        else {
            continue;
        };
        for point in points {
            let parsed = point.get("asInt").and_then(Value::as_str).and_then(|text| text.trim().parse::<i64>().ok());
            if let Some(number) = parsed {
                point["asInt"] = Value::from(number);
            }
        }
    }
    Some(metric)
}

/// A record (or metric) that could not be read, and how many records it stands for.
struct Rejection {
    reason: String,
    count: u64,
}

impl Rejection {
    fn one(reason: String) -> Rejection {
        Rejection { reason, count: 1 }
    }
}

/// Counts the spans of an ExportTraceServiceRequest in OTLP/JSON (spans are not stored).
pub fn count_spans(body: &[u8]) -> Result<usize, DecodeError> {
    let root = parse(body)?;
    let mut spans = 0;
    for resource in array(&root, "resourceSpans")? {
        for scope in array(resource, "scopeSpans")? {
            spans += array(scope, "spans")?.len();
        }
    }
    Ok(spans)
}

fn parse(body: &[u8]) -> Result<Value, DecodeError> {
    serde_json::from_slice(body).map_err(|e| DecodeError::Json(e.to_string()))
}

/// Parses the body; invalid UTF-8 inside strings is replaced with U+FFFD rather than failing every record, and
/// reported as a warning (Some) in `partial_success`.
fn parse_lossy(body: &[u8]) -> Result<(Value, Option<String>), DecodeError> {
    match parse(body) {
        Ok(value) => Ok((value, None)),
        Err(error) if std::str::from_utf8(body).is_err() => {
            let text = String::from_utf8_lossy(body);
            let value = serde_json::from_str(&text).map_err(|_| error)?;
            Ok((value, Some("invalid UTF-8 in the request was replaced with U+FFFD".to_string())))
        }
        Err(error) => Err(error),
    }
}

/// The array under `key`; absent or null is empty, anything else is a malformed envelope.
fn array<'a>(object: &'a Value, key: &str) -> Result<&'a [Value], DecodeError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(DecodeError::Json(format!("{key} is not an array"))),
    }
}

fn decode<T>(
    body: &[u8],
    resources_key: &str,
    scopes_key: &str,
    items_key: &str,
    what: &str,
    decode_item: impl Fn(&Value) -> Result<Decoded<T>, Rejection>,
) -> Result<Request<T>, DecodeError> {
    let (root, warning) = parse_lossy(body)?;
    if !root.is_object() {
        return Err(DecodeError::Json("the request is not a JSON object".into()));
    }
    let mut request = Request::default();
    // A warning is reported but counts no record as rejected.
    request.unreadable.extend(warning);
    for resource_group in array(&root, resources_key)? {
        let resource = match resource_group.get("resource").and_then(|r| r.get("attributes")) {
            Some(attributes) => lenient_attributes(attributes).0,
            None => Vec::new(),
        };
        for scope_group in array(resource_group, scopes_key)? {
            let scope_name = scope_group
                .get("scope")
                .and_then(|s| s.get("name"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let mut items = Vec::new();
            for (index, item) in array(scope_group, items_key)?.iter().enumerate() {
                match decode_item(item) {
                    Ok(decoded) => items.push(decoded),
                    Err(rejection) => {
                        request.unreadable.push(format!("{what} {index}: {}", rejection.reason));
                        request.unreadable_count += rejection.count;
                    }
                }
            }
            request.groups.push(Scoped { resource: resource.clone(), scope_name, items });
        }
    }
    Ok(request)
}

/// A log record: whole when it deserializes, else without its attributes plus whichever of them can be read.
fn decode_record<T: DeserializeOwned + WithAttributes>(value: &Value) -> Result<Decoded<T>, String> {
    if let Ok(record) = T::deserialize(value) {
        return Ok(Decoded::whole(record));
    }
    let Value::Object(fields) = value else {
        return Err("not a JSON object".into());
    };
    let mut without_attributes = fields.clone();
    let attributes = without_attributes.remove("attributes");
    let mut record = T::deserialize(&Value::Object(without_attributes)).map_err(|e| e.to_string())?;
    let (attributes, unreadable_keys) = attributes.as_ref().map(lenient_attributes).unwrap_or_default();
    record.set_attributes(attributes);
    Ok(Decoded { item: record, unreadable_keys })
}

/// Records whose attributes can be replaced after a lenient read.
pub trait WithAttributes {
    /// Replaces the attributes.
    fn set_attributes(&mut self, attributes: Vec<KeyValue>);
}

impl WithAttributes for LogRecord {
    fn set_attributes(&mut self, attributes: Vec<KeyValue>) {
        self.attributes = attributes;
    }
}

/// Reads a JSON attribute list one KeyValue at a time. An unreadable value is kept as its raw JSON text and its
/// key reported; an element without a string key is dropped and reported under `?`.
fn lenient_attributes(value: &Value) -> (Vec<KeyValue>, Vec<String>) {
    let Value::Array(items) = value else {
        return (Vec::new(), vec!["attributes".into()]);
    };
    let mut attributes = Vec::with_capacity(items.len());
    let mut unreadable = Vec::new();
    for item in items {
        match KeyValue::deserialize(item) {
            Ok(kv) => attributes.push(kv),
            Err(_) => match item.get("key").and_then(Value::as_str) {
                Some(key) => {
                    let raw = item.get("value").map(Value::to_string).unwrap_or_default();
                    attributes.push(KeyValue {
                        key: key.to_string(),
                        value: Some(AnyValue { value: Some(OtlpValue::StringValue(raw)) }),
                    });
                    unreadable.push(key.to_string());
                }
                None => unreadable.push("?".into()),
            },
        }
    }
    (attributes, unreadable)
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as Number;

    use super::*;

    fn first_point_value(body: &str) -> Option<Number> {
        let request = decode_metrics(body.as_bytes()).unwrap();
        match &request.groups[0].items[0].item.data {
            Some(Data::Sum(sum)) => sum.data_points[0].value,
            Some(Data::Gauge(gauge)) => gauge.data_points[0].value,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_as_int_point_written_as_the_spec_says_keeps_its_value() {
        // issue 8's bad-input table: `"asInt": "7"` (the collector's OTLP/JSON) was read as a point without a value.
        let sum = r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"n","sum":{"dataPoints":[{"asInt":"7"}]}}]}]}]}"#;
        assert_eq!(first_point_value(sum), Some(Number::AsInt(7)));
        let gauge = r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"n","gauge":{"dataPoints":[{"asInt":-3}]}}]}]}]}"#;
        assert_eq!(first_point_value(gauge), Some(Number::AsInt(-3)));
        let not_a_number = r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"n","sum":{"dataPoints":[{"asInt":"x"}]}}]}]}]}"#;
        assert_eq!(first_point_value(not_a_number), None, "still a point without a value, rejected in reshaping");
    }
}
