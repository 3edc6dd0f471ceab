//! Posting the demo over OTLP/HTTP with protobuf bodies (`/v1/logs`, `/v1/metrics`) to a collector or a relay,
//! as an OTLP exporter does: a few requests in flight, retries on 429/502/503/504 and connection errors (the
//! relay deduplicates a redelivery), and every `partial_success` added up so a rejected record is reported.

use std::time::Duration;

use futures::stream::{self, StreamExt};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use prost::Message;

use super::Demo;

/// Sessions per request (a few hundred records: the size of a collector batch).
const SESSIONS_PER_REQUEST: usize = 8;
/// Requests in flight.
const IN_FLIGHT: usize = 4;
/// Attempts per request before giving up on a retryable answer (waits of 0.5, 1, 2, 2, 2 s: a relay or collector
/// that is still starting gets ~8 s).
const ATTEMPTS: u32 = 6;
/// Longest wait between two attempts.
const MAX_WAIT: Duration = Duration::from_secs(2);

/// Why the demo could not be delivered whole.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Nothing answered (after retries).
    #[error("cannot reach {url}: {source} (is the stack up? `docker compose up -d`, or --endpoint a relay)")]
    Unreachable {
        /// The URL posted to.
        url: String,
        /// The client's error.
        source: reqwest::Error,
    },
    /// A retryable status every time (the receiver is starting or overloaded).
    #[error("{url} answered {status} {attempts} times: {body}")]
    Unavailable {
        /// The URL posted to.
        url: String,
        /// The last status.
        status: u16,
        /// Attempts made.
        attempts: u32,
        /// The last body.
        body: String,
    },
    /// The receiver refused the request as a whole (bad request, too large, unauthorized, …).
    #[error("{url} refused the request with {status}: {body}")]
    Refused {
        /// The URL posted to.
        url: String,
        /// The status.
        status: u16,
        /// Its body.
        body: String,
    },
    /// Some records were rejected (`partial_success`); the rest was accepted.
    #[error("{log_records} log records and {data_points} metric points were rejected: {message}")]
    Rejected {
        /// Rejected log records, all requests.
        log_records: i64,
        /// Rejected data points, all requests.
        data_points: i64,
        /// The receiver's messages.
        message: String,
    },
}

/// What the receiver took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivered {
    /// Requests sent (each once, retries not counted).
    pub requests: usize,
}

/// Posts every log and metric request of `demo` to `endpoint` (a base URL: `/v1/logs` and `/v1/metrics` are
/// appended), with `Authorization: Bearer token` when given.
pub async fn send(demo: &Demo, endpoint: &str, token: Option<&str>) -> Result<Delivered, SendError> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|source| SendError::Unreachable { url: endpoint.to_string(), source })?;
    let base = endpoint.trim_end_matches('/');
    let (logs_url, metrics_url) = (format!("{base}/v1/logs"), format!("{base}/v1/metrics"));
    let mut bodies: Vec<(&str, Vec<u8>)> = Vec::new();
    bodies.extend(demo.log_requests(SESSIONS_PER_REQUEST).iter().map(|r| (logs_url.as_str(), r.encode_to_vec())));
    bodies.extend(demo.metric_requests(SESSIONS_PER_REQUEST).iter().map(|r| (metrics_url.as_str(), r.encode_to_vec())));
    let requests = bodies.len();
    let answers: Vec<Result<Partial, SendError>> = stream::iter(bodies)
        .map(|(url, body)| post(&client, url, body, token))
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    let mut rejected = Partial::default();
    for answer in answers {
        let partial = answer?;
        rejected.log_records += partial.log_records;
        rejected.data_points += partial.data_points;
        if !partial.message.is_empty() && !rejected.message.contains(&partial.message) {
            rejected.message = [rejected.message.as_str(), partial.message.as_str()]
                .iter()
                .filter(|m| !m.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join("; ");
        }
    }
    if rejected.log_records > 0 || rejected.data_points > 0 {
        return Err(SendError::Rejected {
            log_records: rejected.log_records,
            data_points: rejected.data_points,
            message: rejected.message,
        });
    }
    Ok(Delivered { requests })
}

/// A response's partial_success.
#[derive(Debug, Default)]
struct Partial {
    log_records: i64,
    data_points: i64,
    message: String,
}

async fn post(client: &reqwest::Client, url: &str, body: Vec<u8>, token: Option<&str>) -> Result<Partial, SendError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut request = client.post(url).header("content-type", "application/x-protobuf").body(body.clone());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let wait = Duration::from_millis(250 * 2u64.pow(attempt.min(4))).min(MAX_WAIT);
        let response = match request.send().await {
            Ok(response) => response,
            Err(source) if attempt < ATTEMPTS && (source.is_connect() || source.is_timeout()) => {
                tokio::time::sleep(wait).await;
                continue;
            }
            Err(source) => return Err(SendError::Unreachable { url: url.to_string(), source }),
        };
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(|source| SendError::Unreachable { url: url.to_string(), source })?;
        match status {
            200..=299 => return Ok(partial(url, &bytes)),
            429 | 502 | 503 | 504 if attempt < ATTEMPTS => tokio::time::sleep(wait).await,
            429 | 502 | 503 | 504 => {
                let body = String::from_utf8_lossy(&bytes).into_owned();
                return Err(SendError::Unavailable { url: url.to_string(), status, attempts: attempt, body });
            }
            _ => {
                let body = String::from_utf8_lossy(&bytes).into_owned();
                return Err(SendError::Refused { url: url.to_string(), status, body });
            }
        }
    }
}

/// The partial_success of a 2xx answer (an empty body means none, as OTLP allows).
fn partial(url: &str, bytes: &[u8]) -> Partial {
    if url.ends_with("/v1/logs") {
        let response = ExportLogsServiceResponse::decode(bytes).unwrap_or_default();
        let p = response.partial_success.unwrap_or_default();
        Partial { log_records: p.rejected_log_records, data_points: 0, message: p.error_message }
    } else {
        let response = ExportMetricsServiceResponse::decode(bytes).unwrap_or_default();
        let p = response.partial_success.unwrap_or_default();
        Partial { log_records: 0, data_points: p.rejected_data_points, message: p.error_message }
    }
}
