//! Human units for people-facing formats (table, Markdown, HTML), and the figure columns they share.

use super::model::Figures;

/// `950`, `12.3k`, `4.56M`.
pub fn tokens(n: u64) -> String {
    let x = n as f64;
    match n {
        0..=999 => n.to_string(),
        1_000..=999_999 => format!("{:.1}k", x / 1e3),
        1_000_000..=999_999_999 => format!("{:.2}M", x / 1e6),
        _ => format!("{:.2}G", x / 1e9),
    }
}

/// `$0.0415`, `$12.30`, `$1234`.
pub fn usd(x: f64) -> String {
    if x == 0.0 {
        "$0".into()
    } else if x.abs() < 1.0 {
        format!("${x:.4}")
    } else if x.abs() < 1000.0 {
        format!("${x:.2}")
    } else {
        format!("${x:.0}")
    }
}

/// `83.3%`, or `-` when there is no rate.
pub fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "-".into(), |r| format!("{:.1}%", r * 100.0))
}

/// `+5.0%` / `-0.3%`, or `-`.
pub fn signed_percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "-".into(), |r| format!("{:+.1}%", r * 100.0))
}

/// `850ms`, `12.3s`, `4m05s`, `1h02m`.
pub fn duration_ms(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms}ms"),
        1_000..=59_999 => format!("{:.1}s", ms as f64 / 1e3),
        60_000..=3_599_999 => format!("{}m{:02}s", ms / 60_000, ms / 1000 % 60),
        _ => format!("{}h{:02}m", ms / 3_600_000, ms / 60_000 % 60),
    }
}

/// Headers of the figure columns, in [`figure_cells`] order.
pub const FIGURE_HEADERS: [&str; 14] = [
    "requests",
    "input",
    "output",
    "cache read",
    "cache write",
    "cache hit",
    "cost",
    "recomputed",
    "span",
    "request time",
    "tools",
    "tool fails",
    "API errors",
    "models",
];

/// The figure columns of one group, in human units. Every column but the last (models) is a number.
pub fn figure_cells(f: &Figures) -> Vec<String> {
    vec![
        f.requests.to_string(),
        tokens(f.input_tokens),
        tokens(f.output_tokens),
        tokens(f.cache_read_tokens),
        tokens(f.cache_creation_tokens),
        percent(f.cache_hit_rate),
        usd(f.cost_usd),
        f.recomputed_cost_usd.map_or_else(|| "unknown model".into(), usd),
        duration_ms(f.wall_clock_ms),
        duration_ms(f.request_duration_ms),
        f.tool_calls.to_string(),
        f.tool_failures.to_string(),
        f.api_errors.to_string(),
        f.models.join(", "),
    ]
}

/// A name for an empty stage or agent.
pub fn name_or_none(name: &str) -> &str {
    if name.is_empty() {
        "(none)"
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!([tokens(950), tokens(12_345), tokens(4_560_000)], ["950", "12.3k", "4.56M"]);
        assert_eq!([usd(0.0415475), usd(12.3), usd(0.0)], ["$0.0415", "$12.30", "$0"]);
        assert_eq!(
            [duration_ms(850), duration_ms(12_300), duration_ms(245_000), duration_ms(3_720_000)],
            ["850ms", "12.3s", "4m05s", "1h02m"]
        );
        assert_eq!(
            (percent(Some(0.8333)), signed_percent(Some(0.05)), percent(None)),
            ("83.3%".into(), "+5.0%".into(), "-".into())
        );
    }
}
