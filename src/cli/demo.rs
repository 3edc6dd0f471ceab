//! `tokenledger demo`: generates Claude Code telemetry for N workflows over the last days ([`crate::demo`]),
//! sends it over OTLP/HTTP and prints what it sent, including the one workflow over its budget.

use clap::{Args, ValueEnum};

use crate::config::Config;
use crate::demo::send::SendError;
use crate::demo::{self, plan::MIN_WORKFLOWS, Options, Summary};
use crate::ledger::human;
use crate::reshape::timestamp::parse_rfc3339_nanos;

/// `demo` flags.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// OTLP/HTTP base URL (`/v1/logs`, `/v1/metrics` are appended): the collector `docker compose up -d` publishes,
    /// or a relay's OTLP/HTTP listener.
    #[arg(long, default_value = "http://127.0.0.1:4318", value_name = "URL")]
    pub endpoint: String,
    /// Workflows to generate (at least 6: the over-budget one, two recent ones, the optimisation cases).
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u64).range(MIN_WORKFLOWS as u64..=10_000))]
    pub workflows: u64,
    /// Days before now the workflows are spread over, 2 to 29. The relay rejects events older than
    /// `limits.max_event_age_hours` (720 h, 30 days, by default) from their tables, so --days must stay within it.
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(2..=29))]
    pub days: u32,
    /// Seed: the same seed and --now give the same records (a second send is deduplicated by the relay).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The per-workflow budget (USD) that exactly one recent workflow (a full-path one) crosses; the others stay
    /// well under it. Default: the configured budget of a full-path workflow (`budgets.workflow_path_usd.full`,
    /// else `budgets.workflow_usd`), the one the relay's alerts compare against.
    #[arg(long, value_name = "USD")]
    pub budget_usd: Option<f64>,
    /// End of the time span (RFC 3339, e.g. 2026-12-01T18:00:00Z). Default: now.
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// Print the summary without sending anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Summary format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Summary formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Lines for people.
    Text,
    /// One JSON object (the summary's fields).
    Json,
}

/// Flags that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The span reaches further back than the relay keeps events in their tables.
    #[error("--days {days} reaches past limits.max_event_age_hours ({hours} h): events that old stay out of the typed tables; use --days {max} or less")]
    TooOld {
        /// Asked.
        days: u32,
        /// The configured limit.
        hours: u64,
        /// Most days within it.
        max: u64,
    },
    /// Not a time.
    #[error("--now {0:?}: expected RFC 3339, e.g. 2026-12-01T18:00:00Z")]
    NotATime(String),
    /// A budget that is not a positive number.
    #[error("--budget-usd {0}: expected a positive number of USD")]
    Budget(f64),
}

/// Generates, sends (unless --dry-run) and prints the summary.
pub fn run(config: &Config, args: &DemoArgs) -> anyhow::Result<()> {
    let hours = config.limits.max_event_age_hours;
    if u64::from(args.days) * 24 + 1 > hours {
        return Err(DemoError::TooOld { days: args.days, hours, max: hours.saturating_sub(1) / 24 }.into());
    }
    // A configured budget of 0 means "none"; the demo still needs one to cross, so it falls back to 10 USD.
    let budget_usd = args.budget_usd.or_else(|| config.budgets.for_workflow("full")).unwrap_or(10.0);
    if !(budget_usd.is_finite() && budget_usd > 0.0) {
        return Err(DemoError::Budget(budget_usd).into());
    }
    let now_ns = match &args.now {
        Some(text) => parse_rfc3339_nanos(text).ok_or_else(|| DemoError::NotATime(text.clone()))?,
        None => std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos() as i64,
    };
    let options = Options { workflows: args.workflows as usize, days: args.days, seed: args.seed, budget_usd, now_ns };
    let generated = demo::generate(&options);
    if args.dry_run {
        return print(&generated.summary, args, None);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match runtime.block_on(demo::send::send(&generated, &args.endpoint, config.auth.token.as_deref())) {
        Ok(delivered) => print(&generated.summary, args, Some(delivered.requests)),
        // What was generated is still worth seeing: the rest of the records were taken.
        Err(rejected @ SendError::Rejected { .. }) => {
            print(&generated.summary, args, None)?;
            Err(rejected.into())
        }
        Err(error) => Err(error.into()),
    }
}

fn print(summary: &Summary, args: &DemoArgs, requests: Option<usize>) -> anyhow::Result<()> {
    if args.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(summary)?);
        return Ok(());
    }
    let s = summary;
    println!(
        "tokenledger demo: {} workflows ({} fast, {} full; {} as subagents of one run), {} claude sessions over the last {} days (seed {})",
        s.workflows,
        s.fast_workflows,
        s.workflows - s.fast_workflows,
        s.subagent_workflows,
        s.sessions,
        args.days,
        s.seed
    );
    let records = format!(
        "{} log records ({} api requests) and {} metric points",
        human::count(s.log_records as u64),
        human::count(s.api_requests as u64),
        human::count(s.metric_points as u64)
    );
    match requests {
        Some(n) => println!("  sent {records} to {} in {n} requests; none rejected", args.endpoint),
        None if args.dry_run => println!("  generated {records}; nothing sent (--dry-run)"),
        None => println!("  sent {records} to {}; some were rejected (below)", args.endpoint),
    }
    println!(
        "  total cost {} (today UTC {}, this ISO week {}); budget per workflow {}",
        human::usd(s.cost_usd),
        human::usd(s.day_cost_usd),
        human::usd(s.week_cost_usd),
        human::usd(s.budget_usd)
    );
    println!(
        "  over budget: {} ({} path) cost {:.6} USD",
        s.over_budget.workflow_id, s.over_budget.workflow_path, s.over_budget.cost_usd
    );
    println!("  its report: tokenledger report --workflow {}", s.over_budget.workflow_id);
    Ok(())
}
