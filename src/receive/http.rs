//! OTLP/HTTP: POST /v1/logs, /v1/metrics, /v1/traces, in protobuf or JSON, optionally gzip or zstd compressed.
//!
//! Success is 200 with an Export*ServiceResponse in the request's format (`partial_success` set when records
//! were rejected); failures follow [`super::error`].

use std::io::Read;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde::Serialize;

use super::decode::{json, protobuf};
use super::{Ingest, ReceiveError};
use crate::telemetry::names;

/// The OTLP/HTTP router. Tests call it without a socket.
pub fn router(ingest: Arc<Ingest>) -> Router {
    let limit = ingest.max_request_bytes();
    Router::new()
        .route("/v1/logs", post(logs))
        .route("/v1/metrics", post(metrics))
        .route("/v1/traces", post(traces))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(ingest)
}

/// Serves the router on `listener` until `shutdown` resolves, then waits for requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    ingest: Arc<Ingest>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(ingest)).with_graceful_shutdown(shutdown).await
}

/// The two OTLP/HTTP encodings.
#[derive(Clone, Copy, PartialEq)]
enum Format {
    Protobuf,
    Json,
}

async fn logs(State(ingest): State<Arc<Ingest>>, headers: HeaderMap, body: Bytes) -> Response {
    let format = format_of(&headers);
    let result = async {
        let (format, body) = read(&ingest, &headers, body)?;
        let request = match format {
            Format::Protobuf => protobuf::decode_logs(body)?,
            Format::Json => json::decode_logs(&body)?,
        };
        ingest.logs(request).await
    }
    .await;
    respond("logs", format, result)
}

async fn metrics(State(ingest): State<Arc<Ingest>>, headers: HeaderMap, body: Bytes) -> Response {
    let format = format_of(&headers);
    let result = async {
        let (format, body) = read(&ingest, &headers, body)?;
        let request = match format {
            Format::Protobuf => protobuf::decode_metrics(body)?,
            Format::Json => json::decode_metrics(&body)?,
        };
        ingest.metrics(request).await
    }
    .await;
    respond("metrics", format, result)
}

async fn traces(State(ingest): State<Arc<Ingest>>, headers: HeaderMap, body: Bytes) -> Response {
    let format = format_of(&headers);
    let result = (|| {
        let (format, body) = read(&ingest, &headers, body)?;
        let spans = match format {
            Format::Protobuf => protobuf::count_spans(body)?,
            Format::Json => json::count_spans(&body)?,
        };
        Ok(ingest.traces(spans))
    })();
    respond("traces", format, result)
}

/// Checks the token and the content type, and decompresses the body.
fn read(ingest: &Ingest, headers: &HeaderMap, body: Bytes) -> Result<(Format, Bytes), ReceiveError> {
    ingest.authorize(headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()))?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let format = match media_type(content_type).as_str() {
        "application/x-protobuf" | "application/protobuf" => Format::Protobuf,
        "application/json" => Format::Json,
        _ => return Err(ReceiveError::UnsupportedContentType(content_type.to_string())),
    };
    let encoding = headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or("");
    let body = decompress(encoding, body, ingest.max_request_bytes())?;
    Ok((format, body))
}

fn media_type(content_type: &str) -> String {
    content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

/// The format errors are answered in: the request's, protobuf when unknown.
fn format_of(headers: &HeaderMap) -> Format {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if media_type(content_type) == "application/json" {
        Format::Json
    } else {
        Format::Protobuf
    }
}

/// Decompresses gzip or zstd, refusing to inflate past `limit` (a small body must not become a huge one).
fn decompress(encoding: &str, body: Bytes, limit: usize) -> Result<Bytes, ReceiveError> {
    let reader: Box<dyn Read + '_> = match encoding.trim().to_ascii_lowercase().as_str() {
        "" | "identity" => return Ok(body),
        "gzip" | "x-gzip" => Box::new(flate2::read::MultiGzDecoder::new(&body[..])),
        "zstd" => {
            Box::new(zstd::stream::read::Decoder::new(&body[..]).map_err(|e| ReceiveError::Decompress(e.to_string()))?)
        }
        other => return Err(ReceiveError::UnsupportedEncoding(other.to_string())),
    };
    let mut out = Vec::new();
    reader.take(limit as u64 + 1).read_to_end(&mut out).map_err(|e| ReceiveError::Decompress(e.to_string()))?;
    if out.len() > limit {
        return Err(ReceiveError::TooLarge { limit });
    }
    Ok(Bytes::from(out))
}

fn respond<T: prost::Message + Serialize>(
    signal: &'static str,
    format: Format,
    result: Result<T, ReceiveError>,
) -> Response {
    match result {
        Ok(response) => {
            metrics::counter!(names::REQUESTS, "transport" => "http", "signal" => signal, "outcome" => "ok")
                .increment(1);
            let (content_type, body) = match format {
                Format::Protobuf => ("application/x-protobuf", response.encode_to_vec()),
                Format::Json => ("application/json", serde_json::to_vec(&response).unwrap_or_else(|_| b"{}".to_vec())),
            };
            (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body).into_response()
        }
        Err(error) => {
            let outcome = error.outcome();
            metrics::counter!(names::REQUESTS, "transport" => "http", "signal" => signal, "outcome" => outcome)
                .increment(1);
            if error.http_status().is_server_error() {
                tracing::warn!(%error, signal, "OTLP/HTTP request refused; the sender will retry");
            } else {
                tracing::info!(%error, signal, "OTLP/HTTP request rejected");
            }
            error.into_http(format == Format::Json)
        }
    }
}
