//! OTLP/HTTP: POST /v1/logs, /v1/metrics, /v1/traces, in protobuf or JSON, optionally gzip or zstd compressed.
//!
//! Success is 200 with an Export*ServiceResponse in the request's format (`partial_success` set when records
//! were rejected); failures follow [`super::error`].

use std::io::Read;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use serde::Serialize;

use super::decode::{json, protobuf};
use super::{Ingest, ReceiveError, Slot};
use crate::telemetry::names;

/// The OTLP/HTTP router. Tests call it without a socket.
pub fn router(ingest: Arc<Ingest>) -> Router {
    Router::new()
        .route("/v1/logs", post(logs))
        .route("/v1/metrics", post(metrics))
        .route("/v1/traces", post(traces))
        .with_state(ingest)
}

/// Largest read buffer of one OTLP/HTTP connection. hyper's default (~400 KB) is reached by every connection that
/// sends large bodies, and a buffer that size is reserved again for each request.
const MAX_READ_BUFFER: usize = 64 * 1024;

/// Serves the router on `listener` until `shutdown` resolves, then waits for requests in flight.
///
/// Not `axum::serve`, which offers none of hyper's connection settings. Two are set:
/// - half-closed connections are allowed: otherwise, while a request waits for its commit, hyper reads the idle
///   socket to notice a sender hanging up, and reserves a read buffer as large as the last body read for it (up
///   to ~400 KB per connection; 48 MB at 64 requests in flight, measured with heaptrack). A sender that hangs up
///   is then noticed when its answer is written; its rows are committed either way;
/// - a connection's read buffer is held to [`MAX_READ_BUFFER`] (bodies are read in chunks that size).
pub async fn serve(
    listener: tokio::net::TcpListener,
    ingest: Arc<Ingest>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let service = TowerToHyperService::new(router(ingest));
    let mut connections = auto::Builder::new(TokioExecutor::new());
    connections.http1().half_close(true).max_buf_size(MAX_READ_BUFFER);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors, say: wait instead of spinning; the listener itself is fine.
                    tracing::warn!(%error, "OTLP/HTTP: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let connection = connections.serve_connection(TokioIo::new(stream), service.clone()).into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "OTLP/HTTP connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// The two OTLP/HTTP encodings.
#[derive(Clone, Copy, PartialEq)]
enum Format {
    Protobuf,
    Json,
}

async fn logs(State(ingest): State<Arc<Ingest>>, headers: HeaderMap, body: Body) -> Response {
    let format = format_of(&headers);
    let result = async {
        let slot = enter(&ingest, &headers).await?;
        let (format, body) = read(&ingest, &headers, body).await?;
        let request = match format {
            Format::Protobuf => protobuf::decode_logs(body)?,
            Format::Json => json::decode_logs(&body)?,
        };
        ingest.logs(request, slot).await
    }
    .await;
    respond("logs", format, result)
}

async fn metrics(State(ingest): State<Arc<Ingest>>, headers: HeaderMap, body: Body) -> Response {
    let format = format_of(&headers);
    let result = async {
        let slot = enter(&ingest, &headers).await?;
        let (format, body) = read(&ingest, &headers, body).await?;
        let request = match format {
            Format::Protobuf => protobuf::decode_metrics(body)?,
            Format::Json => json::decode_metrics(&body)?,
        };
        ingest.metrics(request, slot).await
    }
    .await;
    respond("metrics", format, result)
}

async fn traces(State(ingest): State<Arc<Ingest>>, headers: HeaderMap, body: Body) -> Response {
    let format = format_of(&headers);
    let result = async {
        let _slot = enter(&ingest, &headers).await?;
        let (format, body) = read(&ingest, &headers, body).await?;
        let spans = match format {
            Format::Protobuf => protobuf::count_spans(body)?,
            Format::Json => json::count_spans(&body)?,
        };
        Ok(ingest.traces(spans))
    }
    .await;
    respond("traces", format, result)
}

/// Checks the token, then waits for a request slot: a sender without the token never takes one.
async fn enter(ingest: &Ingest, headers: &HeaderMap) -> Result<Slot, ReceiveError> {
    ingest.authorize(headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()))?;
    ingest.enter().await
}

/// Checks the content type, reads the body (at most `otlp.max_request_bytes`) and decompresses it.
async fn read(ingest: &Ingest, headers: &HeaderMap, body: Body) -> Result<(Format, Bytes), ReceiveError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let format = match media_type(content_type).as_str() {
        "application/x-protobuf" | "application/protobuf" => Format::Protobuf,
        "application/json" => Format::Json,
        _ => return Err(ReceiveError::UnsupportedContentType(content_type.to_string())),
    };
    let limit = ingest.max_request_bytes();
    let body = axum::body::to_bytes(body, limit).await.map_err(|error| body_error(error, limit))?;
    let encoding = headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or("");
    let body = decompress(encoding, body, limit)?;
    Ok((format, body))
}

/// A body over the limit is 413; one the sender broke off is malformed.
fn body_error(error: axum::Error, limit: usize) -> ReceiveError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(current) = source {
        if current.is::<http_body_util::LengthLimitError>() {
            return ReceiveError::TooLarge { limit };
        }
        source = current.source();
    }
    ReceiveError::Decompress(format!("cannot read the body: {error}"))
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
