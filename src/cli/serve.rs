//! `tokenledger serve`: bind the configured addresses and run the relay (which applies the schema, waiting for
//! ClickHouse as long as it takes) until SIGTERM or Ctrl-C.

use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::relay::Relay;
use crate::sink::client;
use crate::telemetry;

/// Runs the relay until a termination signal.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let prometheus = telemetry::install_recorder(Duration::from_secs(config.cost_metrics.idle_secs))?;
    let client = client::build(&config.clickhouse);
    let grpc_listener = bind(config.otlp.grpc_addr).await?;
    let http_listener = bind(config.otlp.http_addr).await?;
    let admin_listener = bind(config.admin.addr).await?;
    tracing::info!(
        grpc = %grpc_listener.local_addr()?,
        http = %http_listener.local_addr()?,
        admin = %admin_listener.local_addr()?,
        "listening"
    );
    let relay = Relay::start(&config, client, prometheus);
    relay.serve(grpc_listener, http_listener, admin_listener, terminate()).await
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
