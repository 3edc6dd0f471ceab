//! The ledger exporter: reads [`super::figures`] every `ledger_export.refresh_secs` (never per scrape), keeps the
//! last snapshot, and renders it for /metrics. A failed read keeps the last figures and marks them stale
//! (`tokenledger_ledger_up` 0) rather than exporting zeros, which an alert would take for "no spend".

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use super::exposition::{self, Health};
use super::figures::{self, Figures};
use crate::config::{BudgetsConfig, LedgerExportConfig};

/// The shortest time a read may take before it counts as failed.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The last snapshot and the exporter's health, shared by the refresh task and the /metrics handler.
pub struct LedgerExport {
    budgets: BudgetsConfig,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    figures: Option<Figures>,
    health: Health,
}

impl LedgerExport {
    /// An exporter with no figures yet (up 0).
    pub fn new(budgets: BudgetsConfig) -> Arc<LedgerExport> {
        Arc::new(LedgerExport { budgets, state: Mutex::new(State::default()) })
    }

    /// The figures and health in the text exposition format.
    pub fn render(&self) -> String {
        let state = self.lock();
        exposition::render(state.figures.as_ref(), &self.budgets, &state.health)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Reads once and records the outcome; the figures are replaced as a whole or not at all.
    pub async fn refresh(&self, client: &clickhouse::Client, url: &str, config: &LedgerExportConfig) {
        let started = Instant::now();
        // A ClickHouse that hangs must not leave the figures marked up: a read that takes longer than a refresh
        // period (at least READ_TIMEOUT, so a short period on a busy server does not fail every read) fails.
        let limit = config.refresh().max(READ_TIMEOUT);
        let result = tokio::time::timeout(limit, figures::fetch(client, url, config)).await;
        let elapsed = started.elapsed().as_secs_f64();
        let mut state = self.lock();
        state.health.observe(elapsed);
        match result {
            Ok(Ok(figures)) => {
                state.figures = Some(figures);
                state.health.up = true;
                let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
                state.health.last_success = Some(now.as_secs_f64());
            }
            Ok(Err(error)) => {
                state.health.up = false;
                state.health.errors += 1;
                tracing::warn!(error = %error_chain(&error), "ledger refresh failed; keeping the last figures");
            }
            Err(_) => {
                state.health.up = false;
                state.health.errors += 1;
                tracing::warn!(timeout = ?limit, "ledger refresh timed out; keeping the last figures");
            }
        }
    }
}

/// An error with its sources, for one log line.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// What the refresh task needs: where to read, and whether the relay's schema step is done.
pub struct Refresher {
    /// The relay's ClickHouse client.
    pub client: clickhouse::Client,
    /// Its URL, for messages.
    pub url: String,
    /// Window, cap and period.
    pub config: LedgerExportConfig,
    /// Ok once the tables exist (the relay's start-up step); reads wait for it rather than count as failures.
    pub ready: Box<dyn Fn() -> bool + Send + Sync>,
}

/// Refreshes `export` every period until `shutdown` resolves. The first read happens as soon as the schema is in
/// place.
pub async fn run(export: Arc<LedgerExport>, refresher: Refresher, shutdown: impl std::future::Future<Output = ()>) {
    let Refresher { client, url, config, ready } = refresher;
    let mut ticks = tokio::time::interval(config.refresh());
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    let mut schema_ready = false;
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = ticks.tick() => {}
        }
        // Until the schema step is done the tables may not exist: poll quickly instead of failing.
        while !schema_ready {
            schema_ready = ready();
            if schema_ready {
                break;
            }
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
        export.refresh(&client, &url, &config).await;
    }
}
