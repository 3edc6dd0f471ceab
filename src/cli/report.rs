//! `tokenledger report`: ask the ledger, build the report, render it; with `--watch`, again every N seconds.

use std::io::{IsTerminal, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::Config;
use crate::ledger::{activity, prices, status, usage, LedgerError, Scope};
use crate::report::build::{self, Pricing};
use crate::report::model::{Dimension, Report};
use crate::report::{self, Format};
use crate::sink::client;

/// The options of `tokenledger report`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// One workflow: per stage and per agent.
    #[arg(long, value_name = "ID", conflicts_with_all = ["since", "by", "limit"])]
    pub workflow: Option<String>,
    /// Without --workflow: the top rows by cost over this window (`7d`, `24h`, `90m`, `2w`).
    #[arg(long, value_name = "DURATION", value_parser = parse_window, default_value = "7d")]
    pub since: Duration,
    /// Without --workflow: what a row is.
    #[arg(long, value_enum, default_value_t = Dimension::Workflow)]
    pub by: Dimension,
    /// Without --workflow: most rows shown.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Refresh every SECS seconds (default 5) until interrupted; on a terminal the screen is redrawn.
    #[arg(long, value_name = "SECS", num_args = 0..=1, default_missing_value = "5",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub watch: Option<u64>,
}

/// `7d`, `24h`, `1w`, `90m`, `30s` (humantime's syntax: `1d 12h` too).
fn parse_window(text: &str) -> Result<Duration, String> {
    let window = humantime::parse_duration(text.trim()).map_err(|e| format!("{e} (examples: 7d, 24h, 90m)"))?;
    if window.is_zero() {
        return Err("the window must be longer than 0".into());
    }
    Ok(window)
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

/// Queries and builds one report.
pub async fn fetch(config: &Config, args: &ReportArgs) -> Result<Report, LedgerError> {
    let ch = &config.clickhouse;
    let client = client::build(ch);
    let pricing = Pricing::new(&config.prices);
    let thresholds = prices::thresholds(&config.prices);
    if let Some(id) = &args.workflow {
        let scope = Scope::Workflow(id.clone());
        let usage = usage::fetch(&client, &ch.url, &scope, &thresholds).await?;
        let activity = activity::fetch(&client, &ch.url, &scope).await?;
        if usage.is_empty() && activity.is_empty() {
            return Err(LedgerError::UnknownWorkflow { workflow_id: id.clone(), database: ch.database.clone() });
        }
        return Ok(Report::Workflow(build::workflow_report(id, &usage, &activity, &pricing)));
    }
    let to_ms = now_ms();
    let from_ms = to_ms - args.since.as_millis() as i64;
    let scope = Scope::Range { from_ms, to_ms };
    let usage = usage::fetch(&client, &ch.url, &scope, &thresholds).await?;
    let activity = activity::fetch(&client, &ch.url, &scope).await?;
    let statuses = if args.by == Dimension::Workflow {
        let mut ids: Vec<&str> = usage.iter().map(|r| r.workflow_id.as_str()).collect();
        ids.dedup();
        status::fetch(&client, &ch.url, &ids).await?
    } else {
        Vec::new()
    };
    Ok(Report::Top(build::top_report(
        from_ms,
        to_ms,
        to_ms,
        args.by,
        args.limit as usize,
        &usage,
        &activity,
        &statuses,
        &pricing,
    )))
}

/// Runs the report once, or every `--watch` seconds.
pub async fn run(config: &Config, args: &ReportArgs) -> anyhow::Result<()> {
    let terminal = std::io::stdout().is_terminal();
    let colour = terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let Some(every) = args.watch else {
        let report = fetch(config, args).await?;
        print!("{}", report::render(&report, args.format, colour));
        return Ok(());
    };
    loop {
        let text = match fetch(config, args).await {
            Ok(report) => report::render(&report, args.format, colour),
            // While watching, a workflow that has not sent anything yet, or a ClickHouse restart, is not the end.
            Err(error) => format!("tokenledger: {error}\n"),
        };
        let mut out = std::io::stdout().lock();
        if terminal {
            // Clear the screen and home the cursor, then draw.
            write!(out, "\x1b[2J\x1b[H")?;
        }
        write!(out, "{text}")?;
        if terminal {
            write!(out, "\n(refreshing every {every}s; Ctrl-C to stop)\n")?;
        }
        out.flush()?;
        drop(out);
        tokio::time::sleep(Duration::from_secs(every)).await;
    }
}
