//! OTLP/protobuf, decoded lazily: the envelope (resources and scopes) with prost, then each record from its own
//! bytes, so one record with, say, invalid UTF-8 is rejected alone instead of failing the whole request.
//!
//! The lazy messages below mirror the OTLP protos' field numbers but keep records as bytes; prost's `Bytes`
//! fields slice the request buffer, so nothing is copied twice.

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::Metric;
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

use super::DecodeError;
use crate::reshape::{Decoded, LogsRequest, MetricsRequest, Request, Scoped};

/// ExportLogsServiceRequest (opentelemetry/proto/collector/logs/v1) with records left encoded.
#[derive(Clone, PartialEq, Message)]
struct LazyLogsRequest {
    #[prost(message, repeated, tag = "1")]
    resource_logs: Vec<LazyResourceGroup>,
}

/// ExportMetricsServiceRequest with metrics left encoded. Same shape as logs: resource = 1, scopes = 2.
#[derive(Clone, PartialEq, Message)]
struct LazyMetricsRequest {
    #[prost(message, repeated, tag = "1")]
    resource_metrics: Vec<LazyResourceGroup>,
}

/// ResourceLogs / ResourceMetrics: `resource = 1`, `scope_logs`/`scope_metrics = 2`.
#[derive(Clone, PartialEq, Message)]
struct LazyResourceGroup {
    #[prost(message, optional, tag = "1")]
    resource: Option<Resource>,
    #[prost(message, repeated, tag = "2")]
    scopes: Vec<LazyScopeGroup>,
}

/// ScopeLogs / ScopeMetrics: `scope = 1`, `log_records`/`metrics = 2`.
#[derive(Clone, PartialEq, Message)]
struct LazyScopeGroup {
    #[prost(message, optional, tag = "1")]
    scope: Option<InstrumentationScope>,
    #[prost(bytes = "bytes", repeated, tag = "2")]
    items: Vec<Bytes>,
}

/// Decodes an ExportLogsServiceRequest body.
pub fn decode_logs(body: Bytes) -> Result<LogsRequest, DecodeError> {
    let lazy = LazyLogsRequest::decode(body)?;
    Ok(decode_groups(lazy.resource_logs, "log record", LogRecord::decode))
}

/// Decodes an ExportMetricsServiceRequest body.
pub fn decode_metrics(body: Bytes) -> Result<MetricsRequest, DecodeError> {
    let lazy = LazyMetricsRequest::decode(body)?;
    Ok(decode_groups(lazy.resource_metrics, "metric", Metric::decode))
}

/// Decodes an ExportTraceServiceRequest body and counts its spans (spans are not stored).
pub fn count_spans(body: Bytes) -> Result<usize, DecodeError> {
    let request = ExportTraceServiceRequest::decode(body)?;
    Ok(request.resource_spans.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len()).sum())
}

fn decode_groups<T>(
    groups: Vec<LazyResourceGroup>,
    what: &str,
    decode: impl Fn(Bytes) -> Result<T, prost::DecodeError>,
) -> Request<T> {
    let mut request = Request::default();
    for group in groups {
        let resource = group.resource.map(|r| r.attributes).unwrap_or_default();
        for scope in group.scopes {
            let mut items = Vec::with_capacity(scope.items.len());
            for (index, bytes) in scope.items.into_iter().enumerate() {
                match decode(bytes) {
                    Ok(item) => items.push(Decoded::whole(item)),
                    Err(error) => request.reject(format!("{what} {index}: {error}")),
                }
            }
            request.groups.push(Scoped {
                resource: resource.clone(),
                scope_name: scope.scope.map(|s| s.name).unwrap_or_default(),
                items,
            });
        }
    }
    request
}
