//! `tokenledger weekly [--from T] [--to T] [--format markdown|json]`: the summary of a period (default: the 7
//! days before now).

use anyhow::Context;
use clap::{Args, ValueEnum};

use crate::config::Config;
use crate::ledger::weekly::{self, Period};
use crate::reshape::timestamp::parse_rfc3339_nanos;
use crate::sink::client;

const WEEK_NS: i64 = 7 * 86_400 * 1_000_000_000;

/// `weekly` flags.
#[derive(Debug, Args)]
pub struct WeeklyArgs {
    /// Start (included): RFC 3339 (`2026-11-24T00:00:00Z`) or a UTC date (`2026-11-24`). Default: 7 days before
    /// --to.
    #[arg(long)]
    pub from: Option<String>,
    /// End (excluded), same forms. Default: now.
    #[arg(long)]
    pub to: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Markdown)]
    pub format: Format,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Markdown, ready to post.
    Markdown,
    /// JSON: the same figures, with the SQL of each hint.
    Json,
}

/// A `--from`/`--to` that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PeriodError {
    /// Not a time.
    #[error("--{flag} {value:?}: expected RFC 3339 (2026-11-24T00:00:00Z) or a date (2026-11-24)")]
    NotATime {
        /// `from` or `to`.
        flag: &'static str,
        /// What was given.
        value: String,
    },
    /// An empty or reversed period.
    #[error("--from must be before --to")]
    Empty,
}

/// Reads a `--from`/`--to` value: RFC 3339, or a date meaning midnight UTC.
pub fn parse_time(text: &str) -> Option<i64> {
    if text.len() == 10 {
        parse_rfc3339_nanos(&format!("{text}T00:00:00Z"))
    } else {
        parse_rfc3339_nanos(text)
    }
}

/// The period the flags ask for, `now_ns` standing for "now".
pub fn period(args: &WeeklyArgs, now_ns: i64) -> Result<Period, PeriodError> {
    let read = |flag: &'static str, value: &Option<String>| -> Result<Option<i64>, PeriodError> {
        value
            .as_deref()
            .map(|text| parse_time(text).ok_or_else(|| PeriodError::NotATime { flag, value: text.to_string() }))
            .transpose()
    };
    let (from, to) = (read("from", &args.from)?, read("to", &args.to)?);
    let to_ns = to.unwrap_or(now_ns);
    let from_ns = from.unwrap_or(to_ns - WEEK_NS);
    if from_ns >= to_ns {
        return Err(PeriodError::Empty);
    }
    Ok(Period { from_ns, to_ns })
}

/// Prints the summary.
pub fn run(config: &Config, args: WeeklyArgs) -> anyhow::Result<()> {
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or_default();
    let period = period(&args, now_ns)?;
    let client = client::build(&config.clickhouse);
    let summary = super::runtime()?
        .block_on(weekly::fetch(&client, period, &config.weekly))
        .with_context(|| format!("querying {}", config.clickhouse.url))?;
    match args.format {
        Format::Markdown => print!("{}", weekly::markdown::render(&summary)),
        Format::Json => println!("{}", serde_json::to_string_pretty(&summary)?),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(from: Option<&str>, to: Option<&str>) -> WeeklyArgs {
        WeeklyArgs { from: from.map(Into::into), to: to.map(Into::into), format: Format::Markdown }
    }

    #[test]
    fn the_period_defaults_to_the_week_before_to() {
        let to = parse_time("2026-12-01").unwrap();
        assert_eq!(period(&args(None, Some("2026-12-01")), 0).unwrap(), Period { from_ns: to - WEEK_NS, to_ns: to });
        assert_eq!(period(&args(None, None), to).unwrap().from_ns, to - WEEK_NS);
        let from = parse_time("2026-11-30T12:00:00Z").unwrap();
        assert_eq!(period(&args(Some("2026-11-30T12:00:00Z"), Some("2026-12-01")), 0).unwrap().from_ns, from);
        assert!(period(&args(Some("2026-12-02"), Some("2026-12-01")), 0).is_err());
        assert!(period(&args(Some("last tuesday"), None), to).unwrap_err().to_string().contains("--from"));
    }
}
