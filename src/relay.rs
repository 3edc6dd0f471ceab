//! The running relay: the OTLP listeners, the admin listener and the sink, started together and stopped in
//! stages (stop accepting and finish requests in flight, then flush the batchers). Takes its listeners and its
//! shutdown signal, so tests run it on port 0. Until its start-up step is done (schema applied, subagent names
//! reloaded; [`crate::sink::startup`]) it listens but refuses rows retryably and is not ready.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::pipeline::Pipeline;
use crate::receive::{grpc, http, Gate, Ingest};
use crate::reshape::{AgentDirectory, StageMap};
use crate::sink::startup::{self, SchemaGate};
use crate::sink::{client, CostCounters, RecentKeys, Sink};
use crate::telemetry::{self, Readiness};

/// How long the batchers get to flush after the listeners stop.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// The running parts, for `serve` and for tests that bind port 0.
pub struct Relay {
    ingest: Arc<Ingest>,
    tasks: crate::sink::SinkTasks,
    prometheus: metrics_exporter_prometheus::PrometheusHandle,
    readiness: ClickHouseReady,
    startup: tokio::task::JoinHandle<()>,
}

impl Relay {
    /// Starts the sink, the start-up step and builds the listeners' state. Must run inside a tokio runtime.
    pub fn start(
        config: &Config,
        client: clickhouse::Client,
        prometheus: metrics_exporter_prometheus::PrometheusHandle,
    ) -> Relay {
        let cost = Arc::new(CostCounters::new(
            config.cost_metrics.max_series,
            Duration::from_secs(config.cost_metrics.idle_secs),
        ));
        let database = config.clickhouse.database.clone();
        let gate = if config.clickhouse.apply_schema {
            SchemaGate::closed(format!("waiting for ClickHouse at {}: not tried yet", config.clickhouse.url))
        } else {
            SchemaGate::open()
        };
        let agents = Arc::new(AgentDirectory::new());
        let recent = Arc::new(RecentKeys::new(config.dedup.window(), config.dedup.max_keys));
        let startup = tokio::spawn(startup::prepare(
            client.clone(),
            startup::Target { url: config.clickhouse.url.clone(), database: database.clone() },
            config.clickhouse.apply_schema.then(|| startup::SchemaStep { prices: config.prices.clone() }),
            startup::Memory { agents: agents.clone(), recent: recent.clone() },
            gate.clone(),
        ));
        let readiness = ClickHouseReady { client: client.clone(), database, schema: gate.clone() };
        let (sink, tasks) = Sink::start(client, &config.clickhouse, &config.batch, cost, recent, gate);
        let pipeline = Pipeline::new(StageMap::new(config.stages.clone()), agents, config.limits.clone(), sink);
        let gate = Gate::new(config.otlp.max_concurrent_requests, config.otlp.max_wait());
        let ingest = Arc::new(Ingest::new(pipeline, config.auth.token.clone(), config.otlp.max_request_bytes, gate));
        Relay { ingest, tasks, prometheus, readiness, startup }
    }

    /// Serves until `shutdown` resolves; then stops accepting, lets requests in flight finish, and flushes.
    pub async fn serve(
        self,
        grpc_listener: TcpListener,
        http_listener: TcpListener,
        admin_listener: TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let signal = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        let admin = telemetry::admin_router(self.prometheus.clone(), self.readiness);
        let admin_task = tokio::spawn({
            let stopped = signal(stopped.clone());
            async move { axum::serve(admin_listener, admin).with_graceful_shutdown(stopped).await }
        });
        let grpc_task = tokio::spawn(grpc::serve(grpc_listener, self.ingest.clone(), signal(stopped.clone())));
        let http_task = tokio::spawn(http::serve(http_listener, self.ingest.clone(), signal(stopped)));

        shutdown.await;
        tracing::info!("shutting down: no new requests; finishing those in flight");
        self.startup.abort();
        let _ = stop.send(true);
        grpc_task.await?.context("OTLP/gRPC listener")?;
        http_task.await?.context("OTLP/HTTP listener")?;
        // The listeners held the last pipelines; dropping ours closes the batchers' channels so they flush.
        drop(self.ingest);
        if !self.tasks.drained(DRAIN_TIMEOUT).await {
            tracing::error!(
                "batchers did not flush within {DRAIN_TIMEOUT:?}; rows not yet answered were not acknowledged"
            );
        }
        admin_task.await?.context("admin listener")?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Ready when the schema step has succeeded, ClickHouse answers and every table is in place.
pub struct ClickHouseReady {
    /// The relay's client.
    pub client: clickhouse::Client,
    /// The configured database.
    pub database: String,
    /// Open once the schema is applied at start.
    pub schema: SchemaGate,
}

impl Readiness for ClickHouseReady {
    async fn check(&self) -> Result<(), String> {
        self.schema.check()?;
        client::check_ready(&self.client, &self.database).await
    }
}
