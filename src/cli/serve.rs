//! `tokenledger serve`: apply the schema, bind the configured addresses, run the relay until SIGTERM or Ctrl-C.

use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::relay::{ClickHouseReady, Relay};
use crate::sink::{client, schema};
use crate::telemetry;

/// Runs the relay until a termination signal.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let prometheus = telemetry::install_recorder(Duration::from_secs(config.cost_metrics.idle_secs))?;
    let client = client::build(&config.clickhouse);
    if config.clickhouse.apply_schema {
        schema::apply(&client, &config.clickhouse.database)
            .await
            .with_context(|| format!("applying the schema to {}", config.clickhouse.url))?;
        crate::ledger::prices::store(&client, &config.prices)
            .await
            .with_context(|| format!("storing the price table in {}", config.clickhouse.url))?;
        tracing::info!(database = %config.clickhouse.database, models = config.prices.len(), "schema and prices applied");
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
    let readiness = ClickHouseReady { client, database: config.clickhouse.database.clone() };
    relay.serve(grpc_listener, http_listener, admin_listener, readiness, terminate()).await?;
    Ok(())
}

async fn bind(addr: std::net::SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))
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
