//! OTLP ingress: gRPC ([`grpc`]) and HTTP ([`http`]) listeners for logs, metrics and traces, compatible with
//! the OpenTelemetry Collector's `otlp` / `otlphttp` exporters and with Claude Code exporting directly.
//!
//! Both listeners decode with [`decode`], then hand the request to [`Ingest`], which checks the token, runs the
//! pipeline and builds the OTLP response. Errors become status codes in one place, [`error`].

pub mod decode;
pub mod error;
pub mod gate;
pub mod grpc;
pub mod http;

use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsPartialSuccess, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsPartialSuccess, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;

use crate::pipeline::{Accepted, Pipeline};
use crate::reshape::{LogsRequest, MetricsRequest};
pub use error::ReceiveError;
pub use gate::{Gate, Slot};

/// What both listeners share: the pipeline, the token, the size limit and the request slots.
pub struct Ingest {
    pipeline: Pipeline,
    token: Option<String>,
    max_request_bytes: usize,
    gate: Gate,
}

impl Ingest {
    /// Listeners' shared state.
    pub fn new(pipeline: Pipeline, token: Option<String>, max_request_bytes: usize, gate: Gate) -> Ingest {
        Ingest { pipeline, token, max_request_bytes, gate }
    }

    /// Waits for a request slot; take it before reading a body (see [`gate`]).
    pub async fn enter(&self) -> Result<Slot, ReceiveError> {
        self.gate.enter().await
    }

    /// Checks an `authorization` header value against `auth.token`.
    pub fn authorize(&self, authorization: Option<&[u8]>) -> Result<(), ReceiveError> {
        let Some(token) = &self.token else {
            return Ok(());
        };
        let presented = authorization.and_then(|value| value.strip_prefix(b"Bearer "));
        match presented {
            Some(presented) if constant_time_eq(presented, token.as_bytes()) => Ok(()),
            _ => Err(ReceiveError::Unauthorized),
        }
    }

    /// The largest body accepted, compressed or not.
    pub fn max_request_bytes(&self) -> usize {
        self.max_request_bytes
    }

    /// Stores a logs request and builds its response; `slot` is given back once the rows are queued.
    pub async fn logs(&self, request: LogsRequest, slot: Slot) -> Result<ExportLogsServiceResponse, ReceiveError> {
        let stored = self.pipeline.logs(request)?;
        drop(slot);
        let accepted = stored.committed().await?;
        Ok(ExportLogsServiceResponse {
            partial_success: partial(&accepted).map(|(rejected, error_message)| ExportLogsPartialSuccess {
                rejected_log_records: rejected,
                error_message,
            }),
        })
    }

    /// Stores a metrics request and builds its response; `slot` is given back once the rows are queued.
    pub async fn metrics(
        &self,
        request: MetricsRequest,
        slot: Slot,
    ) -> Result<ExportMetricsServiceResponse, ReceiveError> {
        let stored = self.pipeline.metrics(request)?;
        drop(slot);
        let accepted = stored.committed().await?;
        Ok(ExportMetricsServiceResponse {
            partial_success: partial(&accepted).map(|(rejected, error_message)| ExportMetricsPartialSuccess {
                rejected_data_points: rejected,
                error_message,
            }),
        })
    }

    /// Counts a traces request's spans and builds its response.
    pub fn traces(&self, spans: usize) -> ExportTraceServiceResponse {
        self.pipeline.traces(spans);
        ExportTraceServiceResponse { partial_success: None }
    }
}

/// `partial_success` is set only when something was rejected or there is a warning to pass on.
fn partial(accepted: &Accepted) -> Option<(i64, String)> {
    (accepted.rejected > 0 || !accepted.message.is_empty())
        .then(|| (i64::try_from(accepted.rejected).unwrap_or(i64::MAX), accepted.message.clone()))
}

/// Compares without an early exit, so response time does not reveal how much of a token matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
