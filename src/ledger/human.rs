//! Numbers for people: thousands separators, dollars, percentages, durations, UTC dates. Pure.

/// `1234567` → `1,234,567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Dollars: two decimals from $1 up, four below (a single request costs fractions of a cent).
pub fn usd(value: f64) -> String {
    if value.abs() >= 1.0 {
        format!("${value:.2}")
    } else {
        format!("${value:.4}")
    }
}

/// A share as a percentage with one decimal (`0.769` → `76.9 %`); `–` when there is none.
pub fn percent(share: Option<f64>) -> String {
    match share {
        Some(share) if share.is_finite() => format!("{:.1} %", share * 100.0),
        _ => "–".into(),
    }
}

/// A relative change (`0.25` → `+25.0 %`), `–` when there was nothing to compare with.
pub fn change(change: Option<f64>) -> String {
    match change {
        Some(change) if change.is_finite() => format!("{:+.1} %", change * 100.0),
        _ => "–".into(),
    }
}

/// A difference of two shares in percentage points (`0.05` → `+5.0 pp`).
pub fn points(difference: Option<f64>) -> String {
    match difference {
        Some(difference) if difference.is_finite() => format!("{:+.1} pp", difference * 100.0),
        _ => "–".into(),
    }
}

/// Milliseconds as seconds, minutes or hours: `850 ms`, `12.3 s`, `4 min 05 s`, `2 h 03 min`.
pub fn duration_ms(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms} ms"),
        1_000..=59_999 => format!("{:.1} s", ms as f64 / 1_000.0),
        60_000..=3_599_999 => format!("{} min {:02} s", ms / 60_000, ms / 1_000 % 60),
        _ => format!("{} h {:02} min", ms / 3_600_000, ms / 60_000 % 60),
    }
}

/// The assessment's stages in workflow order; other stages come after them, by name.
pub const STAGE_ORDER: [&str; 4] = ["analyze", "plan", "implement", "review"];

/// Sorts stage names in workflow order (see [`STAGE_ORDER`]).
pub fn sort_stages(stages: &mut [String]) {
    let rank = |stage: &str| STAGE_ORDER.iter().position(|s| *s == stage).unwrap_or(STAGE_ORDER.len());
    stages.sort_by(|a, b| (rank(a), a).cmp(&(rank(b), b)));
}

/// Nanoseconds since the epoch as `YYYY-MM-DD HH:MM UTC`.
pub fn utc_minute(nanos: i64) -> String {
    let secs = nanos.div_euclid(1_000_000_000);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let of_day = secs.rem_euclid(86_400);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02} UTC", of_day / 3_600, of_day / 60 % 60)
}

/// Nanoseconds since the epoch as `YYYY-MM-DD HH:MM:SS.mmm`, the text ClickHouse reads as a UTC DateTime64(3).
pub fn clickhouse_time(nanos: i64) -> String {
    let millis = nanos.div_euclid(1_000_000);
    let secs = millis.div_euclid(1_000);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let of_day = secs.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:03}",
        of_day / 3_600,
        of_day / 60 % 60,
        of_day % 60,
        millis.rem_euclid(1_000)
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_as_people_write_them() {
        assert_eq!(count(0), "0");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(999), "999");
        assert_eq!(usd(0.011), "$0.0110");
        assert_eq!(usd(12.345), "$12.35");
        assert_eq!(percent(Some(5000.0 / 6500.0)), "76.9 %");
        assert_eq!(percent(None), "–");
        assert_eq!(change(Some(0.25)), "+25.0 %");
        assert_eq!(change(Some(-0.5)), "-50.0 %");
        assert_eq!(points(Some(-0.05)), "-5.0 pp");
        assert_eq!(duration_ms(12), "12 ms");
        assert_eq!(duration_ms(245_000), "4 min 05 s");
        let mut stages: Vec<String> = ["review", "deploy", "analyze", "plan"].map(String::from).to_vec();
        sort_stages(&mut stages);
        assert_eq!(stages, ["analyze", "plan", "review", "deploy"]);
    }

    #[test]
    fn dates_are_utc() {
        // 1795593706692000000 ns is 2026-11-25T08:01:46.692Z (a fixture's event.timestamp).
        assert_eq!(utc_minute(1_795_593_706_692_000_000), "2026-11-25 08:01 UTC");
        assert_eq!(clickhouse_time(1_795_593_706_692_000_000), "2026-11-25 08:01:46.692");
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }
}
