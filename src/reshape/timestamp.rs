//! Timestamps: OTLP's unsigned nanoseconds to the signed nanoseconds of DateTime64(9), and Claude Code's
//! `event.timestamp` text for records that carry no OTLP time.

/// `nanos` as DateTime64(9) nanoseconds, or None when it is 0 (OTLP's "unset") or past the year 2262.
pub fn nanos_or(nanos: u64) -> Option<i64> {
    (nanos != 0).then_some(nanos).and_then(|n| i64::try_from(n).ok())
}

/// Parses `2026-11-25T08:01:49.035Z` (RFC 3339, UTC or with an offset) into nanoseconds since the epoch.
pub fn parse_rfc3339_nanos(text: &str) -> Option<i64> {
    let text = text.trim();
    let (date, rest) = text.split_once(['T', ' '])?;
    let mut ymd = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (year, month, day) = (ymd.next()??, ymd.next()??, ymd.next()??);
    let (clock, offset_secs) = split_offset(rest)?;
    let (hms, fraction) = clock.split_once('.').unwrap_or((clock, ""));
    let mut parts = hms.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (hour, minute, second) = (parts.next()??, parts.next()??, parts.next()??);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    if !fraction.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let digits: String = fraction.chars().chain(std::iter::repeat('0')).take(9).collect();
    let nanos_part: i64 = digits.parse().ok()?;
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_secs;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos_part)
}

fn split_offset(rest: &str) -> Option<(&str, i64)> {
    if let Some(clock) = rest.strip_suffix(['Z', 'z']) {
        return Some((clock, 0));
    }
    let at = rest.rfind(['+', '-'])?;
    let (clock, offset) = rest.split_at(at);
    let sign = if offset.starts_with('-') { -1 } else { 1 };
    let (h, m) = offset[1..].split_once(':')?;
    Some((clock, sign * (h.parse::<i64>().ok()? * 3_600 + m.parse::<i64>().ok()? * 60)))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claude_code_event_timestamps_parse() {
        // 1795593709035000000 is the timeUnixNano of the same record in the fixtures.
        assert_eq!(parse_rfc3339_nanos("2026-11-25T08:01:49.035Z"), Some(1_795_593_709_035_000_000));
        assert_eq!(parse_rfc3339_nanos("2026-11-25T09:01:49.035+01:00"), Some(1_795_593_709_035_000_000));
        assert_eq!(parse_rfc3339_nanos("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339_nanos("yesterday"), None);
        assert_eq!(parse_rfc3339_nanos("2026-13-01T00:00:00Z"), None);
    }

    #[test]
    fn unset_and_out_of_range_nanos_are_none() {
        assert_eq!(nanos_or(0), None);
        assert_eq!(nanos_or(u64::MAX), None);
        assert_eq!(nanos_or(5), Some(5));
    }
}
