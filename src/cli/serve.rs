//! `tokenledger serve`: bind the listeners, start the sink, run until SIGTERM or Ctrl-C, then shut down in
//! stages: stop accepting and finish requests in flight, then flush the batchers.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::pipeline::Pipeline;
use crate::receive::{grpc, http, Ingest};
use crate::reshape::StageMap;
use crate::sink::{client, schema, CostCounters, Sink};
use crate::telemetry::{self, Readiness};

/// How long the batchers get to flush after the listeners stop.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the relay until a termination signal.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let prometheus =
        telemetry::install_recorder(Duration::from_secs(config.cost_metrics.idle_secs))?;
    let client = client::build(&config.clickhouse);
    if config.clickhouse.apply_schema {
        schema::apply(&client, &config.clickhouse.database)
            .await
            .with_context(|| format!("applying the schema to {}", config.clickhouse.url))?;
        tracing::info!(database = %config.clickhouse.database, "schema applied");
    }
    let grpc_listener = bind(config.otlp.grpc_addr).await?;
    let http_listener = bind(config.otlp.http_addr).await?;
    let admin_listener = bind(config.admin.addr).await?;
    tracing::info!(
        grpc = %grpc_listener.local_addr()?,
        http = %http_listener.local_addr()?,
        admin = %admin_listener.local_addr()?,
        "listening"
    );
    let relay = Relay::start(&config, client.clone(), prometheus);
    let readiness = ClickHouseReady {
        client,
        database: config.clickhouse.database.clone(),
    };
    relay
        .serve(
            grpc_listener,
            http_listener,
            admin_listener,
            readiness,
            terminate(),
        )
        .await?;
    Ok(())
}

/// The running parts, for `serve` and for tests that bind port 0.
pub struct Relay {
    ingest: Arc<Ingest>,
    tasks: crate::sink::SinkTasks,
    prometheus: metrics_exporter_prometheus::PrometheusHandle,
}

impl Relay {
    /// Starts the sink and builds the listeners' state.
    pub fn start(
        config: &Config,
        client: clickhouse::Client,
        prometheus: metrics_exporter_prometheus::PrometheusHandle,
    ) -> Relay {
        let cost = Arc::new(CostCounters::new(
            config.cost_metrics.max_series,
            Duration::from_secs(config.cost_metrics.idle_secs),
        ));
        let (sink, tasks) = Sink::start(client, &config.clickhouse, &config.batch, cost);
        let pipeline = Pipeline::new(StageMap::new(config.stages.clone()), sink);
        let ingest = Arc::new(Ingest::new(
            pipeline,
            config.auth.token.clone(),
            config.otlp.max_request_bytes,
        ));
        Relay {
            ingest,
            tasks,
            prometheus,
        }
    }

    /// Serves until `shutdown` resolves; then stops accepting, lets requests in flight finish, and flushes.
    pub async fn serve(
        self,
        grpc_listener: TcpListener,
        http_listener: TcpListener,
        admin_listener: TcpListener,
        readiness: impl Readiness,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let signal = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        let admin = telemetry::admin_router(self.prometheus.clone(), readiness);
        let admin_task = tokio::spawn({
            let stopped = signal(stopped.clone());
            async move {
                axum::serve(admin_listener, admin)
                    .with_graceful_shutdown(stopped)
                    .await
            }
        });
        let grpc_task = tokio::spawn(grpc::serve(
            grpc_listener,
            self.ingest.clone(),
            signal(stopped.clone()),
        ));
        let http_task = tokio::spawn(http::serve(
            http_listener,
            self.ingest.clone(),
            signal(stopped),
        ));

        shutdown.await;
        tracing::info!("shutting down: no new requests; finishing those in flight");
        let _ = stop.send(true);
        grpc_task.await?.context("OTLP/gRPC listener")?;
        http_task.await?.context("OTLP/HTTP listener")?;
        // The listeners held the last pipelines; dropping ours closes the batchers' channels so they flush.
        drop(self.ingest);
        if !self.tasks.drained(DRAIN_TIMEOUT).await {
            tracing::error!("batchers did not flush within {DRAIN_TIMEOUT:?}; rows not yet answered were not acknowledged");
        }
        admin_task.await?.context("admin listener")?;
        tracing::info!("stopped");
        Ok(())
    }
}

struct ClickHouseReady {
    client: clickhouse::Client,
    database: String,
}

impl Readiness for ClickHouseReady {
    async fn check(&self) -> Result<(), String> {
        client::check_ready(&self.client, &self.database).await
    }
}

async fn bind(addr: std::net::SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))
}

/// Resolves on SIGTERM or Ctrl-C.
async fn terminate() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("termination signal received");
}
