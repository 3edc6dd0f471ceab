//! Why an OTLP request was not accepted, and the one place where that becomes an HTTP status or a gRPC code.
//!
//! The codes follow the OTLP spec and what the collector's exporters do with them: only 429/502/503/504
//! (UNAVAILABLE, RESOURCE_EXHAUSTED with retry info) are retried, so anything that may succeed later is a 503
//! with Retry-After, never a 500; malformed input is 400 / INVALID_ARGUMENT, which the sender drops.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::decode::DecodeError;
use crate::sink::SinkError;

/// Seconds a sender is asked to wait before retrying a 503.
pub const RETRY_AFTER_SECS: u64 = 2;

/// A request the relay did not accept.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    /// `auth.token` is set and the request did not carry it.
    #[error("missing or wrong bearer token")]
    Unauthorized,
    /// Content-Type is neither application/x-protobuf nor application/json.
    #[error("unsupported content type {0:?}; use application/x-protobuf or application/json")]
    UnsupportedContentType(String),
    /// Content-Encoding other than gzip, zstd or identity.
    #[error("unsupported content encoding {0:?}; use gzip, zstd or none")]
    UnsupportedEncoding(String),
    /// The body, compressed or decompressed, is over `otlp.max_request_bytes`.
    #[error("request body over the {limit} byte limit")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body does not decompress.
    #[error("cannot decompress the body: {0}")]
    Decompress(String),
    /// The body is not an OTLP request.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// Every request slot (`otlp.max_concurrent_requests`) stayed taken for `otlp.max_wait_ms`.
    #[error("busy: no request slot free within {} ms; retry later", waited.as_millis())]
    Busy {
        /// How long the request waited.
        waited: std::time::Duration,
    },
    /// The rows could not be committed.
    #[error(transparent)]
    Sink(#[from] SinkError),
}

impl ReceiveError {
    /// The HTTP status for this error.
    pub fn http_status(&self) -> StatusCode {
        match self {
            ReceiveError::Unauthorized => StatusCode::UNAUTHORIZED,
            ReceiveError::UnsupportedContentType(_) | ReceiveError::UnsupportedEncoding(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            ReceiveError::TooLarge { .. } | ReceiveError::Sink(SinkError::TooLarge { .. }) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ReceiveError::Decompress(_) | ReceiveError::Decode(_) => StatusCode::BAD_REQUEST,
            ReceiveError::Busy { .. } | ReceiveError::Sink(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The gRPC status for this error.
    pub fn grpc_status(&self) -> tonic::Status {
        let message = self.to_string();
        match self {
            ReceiveError::Unauthorized => tonic::Status::unauthenticated(message),
            ReceiveError::TooLarge { .. } | ReceiveError::Sink(SinkError::TooLarge { .. }) => {
                tonic::Status::resource_exhausted(message)
            }
            ReceiveError::Busy { .. } | ReceiveError::Sink(_) => tonic::Status::unavailable(message),
            _ => tonic::Status::invalid_argument(message),
        }
    }

    /// A short label for the requests metric.
    pub fn outcome(&self) -> &'static str {
        match self {
            ReceiveError::Unauthorized => "unauthorized",
            ReceiveError::UnsupportedContentType(_) | ReceiveError::UnsupportedEncoding(_) => "unsupported",
            ReceiveError::TooLarge { .. } => "too_large",
            ReceiveError::Decompress(_) | ReceiveError::Decode(_) => "malformed",
            ReceiveError::Busy { .. } => "busy",
            ReceiveError::Sink(error) => error.kind(),
        }
    }
}

/// `google.rpc.Status`, the body of an OTLP/HTTP error response.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    /// The gRPC code.
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// The message.
    #[prost(string, tag = "2")]
    pub message: String,
}

impl ReceiveError {
    /// The HTTP response, with a body in the request's format (`json`: OTLP/JSON, else protobuf).
    pub fn into_http(self, json: bool) -> Response {
        let status = self.http_status();
        let rpc = RpcStatus { code: self.grpc_status().code() as i32, message: self.to_string() };
        let (content_type, body) = if json {
            (
                "application/json",
                serde_json::json!({ "code": rpc.code, "message": rpc.message }).to_string().into_bytes(),
            )
        } else {
            ("application/x-protobuf", prost::Message::encode_to_vec(&rpc))
        };
        let mut response = (status, [(header::CONTENT_TYPE, content_type)], body).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        response
    }
}
