//! Times as Claude Code writes them: milliseconds (its clock's resolution) and `event.timestamp` in RFC 3339.

use std::time::{Duration, UNIX_EPOCH};

/// `2026-11-25T08:01:46.569Z` for `nanos` since the epoch (≥ 0).
pub fn rfc3339_ms(nanos: i64) -> String {
    let time = UNIX_EPOCH + Duration::from_nanos(nanos.max(0) as u64);
    humantime::format_rfc3339_millis(time).to_string()
}

/// `nanos` cut to whole milliseconds.
pub fn to_ms(nanos: i64) -> i64 {
    nanos - nanos.rem_euclid(1_000_000)
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_like_the_cli() {
        assert_eq!(super::rfc3339_ms(1_795_593_706_569_000_000), "2026-11-25T08:01:46.569Z");
        assert_eq!(super::to_ms(1_795_593_706_569_123_456), 1_795_593_706_569_000_000);
    }
}
