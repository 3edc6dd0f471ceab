//! OTLP metrics → `otel_metrics` rows: one row per number data point (Sum or Gauge), with the workflow columns.
//!
//! Claude Code sends its counters (token.usage, cost.usage, session.count, active_time.total, ...) as DELTA Sums.
//! Histograms, exponential histograms and summaries have no table: their points are rejected and counted.

use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as NumberValue;
use opentelemetry_proto::tonic::metrics::v1::{AggregationTemporality, Metric, NumberDataPoint};

use super::attrs::{find_str, to_text, Reader};
use super::fields::{Fields, Key};
use super::hash::{hash_attributes, Hasher};
use super::input::MetricsRequest;
use super::limits::{self, Clock};
use super::rows::MetricRow;
use super::timestamp::nanos_or;
use super::workflow::{attribute, StageMap};
use super::Reshaped;

/// Reshapes a decoded metrics request. `clock.now_ns` stands in for a point that carries no time; a point with
/// an over-long attribute or a time outside the clock's window is rejected.
pub fn reshape_metrics(request: MetricsRequest, stages: &StageMap, clock: &Clock) -> Reshaped {
    let mut out = Reshaped { rejected: request.unreadable_count, problems: request.unreadable, ..Reshaped::default() };
    for group in request.groups {
        let resource_hash = hash_attributes(Hasher::new(), &group.resource).finish();
        let service_version = find_str(&group.resource, "service.version").unwrap_or_default().to_string();
        let resource_problem = limits::first_over_long(&group.resource);
        let resource = Fields::new(group.resource);
        for decoded in group.items {
            let metric = &decoded.item;
            let shape = match &metric.data {
                Some(Data::Sum(sum)) => Shape {
                    points: &sum.data_points,
                    temporality: temporality_name(sum.aggregation_temporality),
                    is_monotonic: sum.is_monotonic,
                },
                Some(Data::Gauge(gauge)) => {
                    Shape { points: &gauge.data_points, temporality: "gauge", is_monotonic: false }
                }
                Some(other) => {
                    let (kind, points) = unsupported(other);
                    out.rejected += points.max(1) as u64;
                    out.problems.push(format!("{}: {kind} metrics are not stored", metric.name));
                    continue;
                }
                None => {
                    out.reject(format!("{}: metric without data", metric.name));
                    continue;
                }
            };
            if let Some(problem) = &resource_problem {
                out.rejected += shape.points.len().max(1) as u64;
                out.problems.push(format!("{}: resource {problem}", metric.name));
                continue;
            }
            if !decoded.unreadable_keys.is_empty() {
                out.rejected += shape.points.len().max(1) as u64;
                out.problems.push(format!(
                    "{}: unreadable value for {}",
                    metric.name,
                    decoded.unreadable_keys.join(", ")
                ));
                continue;
            }
            let context =
                Context { resource: &resource, resource_hash, service_version: &service_version, stages, clock };
            for point in shape.points {
                match point_row(metric, &shape, point, &context) {
                    Ok(row) => out.rows.metrics.push(row),
                    Err(problem) => out.reject(problem),
                }
            }
        }
    }
    out
}

struct Shape<'a> {
    points: &'a [NumberDataPoint],
    temporality: &'static str,
    is_monotonic: bool,
}

struct Context<'a> {
    resource: &'a Fields,
    resource_hash: u64,
    service_version: &'a str,
    stages: &'a StageMap,
    clock: &'a Clock,
}

fn point_row(
    metric: &Metric,
    shape: &Shape<'_>,
    point: &NumberDataPoint,
    cx: &Context<'_>,
) -> Result<MetricRow, String> {
    let value = match point.value {
        Some(NumberValue::AsDouble(d)) if d.is_finite() => d,
        Some(NumberValue::AsInt(i)) => i as f64,
        Some(NumberValue::AsDouble(d)) => return Err(format!("{}: data point value {d} is not finite", metric.name)),
        None => return Err(format!("{}: data point without a value", metric.name)),
    };
    if let Some(problem) = limits::first_over_long(&point.attributes) {
        return Err(format!("{}: {problem}", metric.name));
    }
    let mut fields = Fields::new(point.attributes.clone());
    let workflow = attribute(&mut fields, cx.resource, cx.stages, None);
    let mut reader = Reader::default();
    let mut hasher = Hasher::new();
    hasher.u64(cx.resource_hash);
    hasher.str(&metric.name);
    hasher.u64(point.start_time_unix_nano);
    hasher.u64(point.time_unix_nano);
    hasher.u64(value.to_bits());
    let event_key = hash_attributes(hasher, &point.attributes).finish();
    let timestamp = nanos_or(point.time_unix_nano).unwrap_or(cx.clock.now_ns);
    cx.clock
        .check_sent(point.time_unix_nano)
        .and_then(|()| cx.clock.check(timestamp))
        .map_err(|outside| format!("{}: {outside}", metric.name))?;
    Ok(MetricRow {
        timestamp,
        start_timestamp: nanos_or(point.start_time_unix_nano).unwrap_or(timestamp),
        event_key,
        metric_name: metric.name.clone(),
        unit: metric.unit.clone(),
        temporality: shape.temporality.to_string(),
        is_monotonic: shape.is_monotonic,
        r#type: point
            .attributes
            .iter()
            .find(|kv| kv.key == "type")
            .and_then(|kv| kv.value.as_ref())
            .map(to_text)
            .unwrap_or_default(),
        model: reader.string(fields.get(Key::Model)),
        value,
        workflow_id: workflow.workflow_id,
        workflow_path: workflow.workflow_path,
        complexity: workflow.complexity,
        stage: workflow.stage,
        task_id: workflow.task_id,
        agent: workflow.agent,
        model_expected: workflow.model_expected,
        session_id: fields.take_text(Key::SessionId).unwrap_or_default(),
        user_id: reader.string(fields.get(Key::UserId)),
        terminal_type: reader.string(fields.get(Key::TerminalType)),
        service_version: cx.service_version.to_string(),
        attributes: fields
            .rest(|k| matches!(k, Key::Model | Key::UserId | Key::TerminalType))
            .into_iter()
            .filter(|(k, _)| k != "type")
            .collect(),
    })
}

fn temporality_name(code: i32) -> &'static str {
    match AggregationTemporality::try_from(code) {
        Ok(AggregationTemporality::Delta) => "delta",
        Ok(AggregationTemporality::Cumulative) => "cumulative",
        _ => "unspecified",
    }
}

fn unsupported(data: &Data) -> (&'static str, usize) {
    match data {
        Data::Histogram(h) => ("histogram", h.data_points.len()),
        Data::ExponentialHistogram(h) => ("exponential histogram", h.data_points.len()),
        Data::Summary(s) => ("summary", s.data_points.len()),
        Data::Sum(s) => ("sum", s.data_points.len()),
        Data::Gauge(g) => ("gauge", g.data_points.len()),
    }
}
