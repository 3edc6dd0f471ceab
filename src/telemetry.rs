//! The relay's own observability: structured logs (tracing), the Prometheus recorder with every metric name as
//! a constant, and the admin router with /metrics, /healthz and /readyz.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use metrics_util::MetricKindMask;

/// Metric names: the contract with dashboards and alert rules.
pub mod names {
    /// Records received, by `signal` (logs | metrics | traces) and `event` (full event name; logs only).
    pub const RECORDS_RECEIVED: &str = "tokenledger_records_received_total";
    /// Records rejected in whole or from their typed table, by `signal`.
    pub const RECORDS_REJECTED: &str = "tokenledger_records_rejected_total";
    /// Rows committed, by `table`.
    pub const ROWS_INSERTED: &str = "tokenledger_rows_inserted_total";
    /// Insert duration in seconds, by `table`.
    pub const INSERT_SECONDS: &str = "tokenledger_insert_duration_seconds";
    /// INSERTs committed (ended), by `table` and `trigger` (rows | bytes | idle | delay | shutdown); its rate
    /// per table is bounded by `batch.max_inserts_per_sec`.
    pub const INSERTS: &str = "tokenledger_inserts_total";
    /// Rows per insert, by `table`.
    pub const BATCH_ROWS: &str = "tokenledger_batch_rows";
    /// Errors, by `kind`.
    pub const ERRORS: &str = "tokenledger_errors_total";
    /// OTLP requests answered, by `transport`, `signal` and `outcome`.
    pub const REQUESTS: &str = "tokenledger_requests_total";
    /// OTLP requests waiting for a request slot (`otlp.max_concurrent_requests`) before their body is read.
    pub const REQUESTS_WAITING: &str = "tokenledger_requests_waiting";
    /// Rows accepted but not yet committed.
    pub const PENDING_ROWS: &str = "tokenledger_pending_rows";
    /// Cost in USD of committed api_request events, by workflow_id, stage, agent, model.
    pub const COST_USD: &str = "tokenledger_cost_usd_total";
    /// Tokens of committed api_request events, by workflow_id, stage, agent, model and `type`.
    pub const TOKENS: &str = "tokenledger_tokens_total";
    /// Rows dropped before writing because a row with the same content key was committed recently, by `table`.
    pub const DUPLICATES_DROPPED: &str = "tokenledger_duplicates_dropped_total";
    /// Content keys remembered for dropping redeliveries.
    pub const DEDUP_KEYS: &str = "tokenledger_dedup_keys";
    /// Rotations of the remembered keys, by `reason` (window: its time passed; full: `dedup.max_keys` reached).
    pub const DEDUP_ROTATIONS: &str = "tokenledger_dedup_rotations_total";
    /// Records counted under workflow_id="_overflow" because `cost_metrics.max_series` was reached.
    pub const SERIES_OVERFLOW: &str = "tokenledger_cost_series_overflow_total";
}

/// Starts structured logging to stderr; `RUST_LOG` filters (default `info`), `TOKENLEDGER_LOG_FORMAT=json`
/// switches to JSON lines.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let result = if std::env::var("TOKENLEDGER_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    // Already initialised (tests): keep the first.
    let _ = result;
}

/// The Prometheus recorder could not be installed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot install the Prometheus recorder: {0}")]
pub struct RecorderError(String);

/// Installs the global Prometheus recorder, once per process (later calls get the same handle). Series idle for
/// `idle` are dropped, so per-workflow series of finished workflows do not pile up.
pub fn install_recorder(idle: Duration) -> Result<PrometheusHandle, RecorderError> {
    static HANDLE: std::sync::OnceLock<Result<PrometheusHandle, RecorderError>> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .idle_timeout(MetricKindMask::COUNTER | MetricKindMask::GAUGE, Some(idle))
                .set_buckets(&[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
                .and_then(|builder| builder.install_recorder())
                .map_err(|error| RecorderError(error.to_string()))
        })
        .clone()
}

/// What /readyz asks: is ClickHouse reachable with the schema in place.
pub trait Readiness: Send + Sync + 'static {
    /// Ok when ready, else why not.
    fn check(&self) -> impl std::future::Future<Output = Result<(), String>> + Send;
}

struct Admin<R> {
    prometheus: PrometheusHandle,
    readiness: R,
}

/// The admin router: /metrics (Prometheus text), /healthz (the process runs), /readyz.
pub fn admin_router<R: Readiness>(prometheus: PrometheusHandle, readiness: R) -> Router {
    let state = std::sync::Arc::new(Admin { prometheus, readiness });
    Router::new()
        .route(
            "/metrics",
            get(|State(admin): State<std::sync::Arc<Admin<R>>>| async move { admin.prometheus.render() }),
        )
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(|State(admin): State<std::sync::Arc<Admin<R>>>| async move {
                match admin.readiness.check().await {
                    Ok(()) => (StatusCode::OK, "ready\n".to_string()),
                    Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")),
                }
            }),
        )
        .with_state(state)
}
