//! Minting workflow ids for `--workflow new`: `wf-YYYYMMDD-HHMMSS-xxxxxx` (UTC time, then 24 random bits), so ids
//! sort by start time and two workflows started in the same second still differ.

use std::time::{SystemTime, UNIX_EPOCH};

/// The `--workflow` value that asks for a new id.
pub const NEW: &str = "new";

/// A new workflow id.
pub fn mint() -> Result<String, getrandom::Error> {
    let mut random = [0u8; 3];
    getrandom::fill(&mut random)?;
    Ok(format_id(SystemTime::now(), random))
}

/// The id for a start time and random bytes.
pub fn format_id(at: SystemTime, random: [u8; 3]) -> String {
    let secs = at.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (year, month, day) = civil_date(secs / 86_400);
    let of_day = secs % 86_400;
    format!(
        "wf-{year:04}{month:02}{day:02}-{:02}{:02}{:02}-{:02x}{:02x}{:02x}",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60,
        random[0],
        random[1],
        random[2]
    )
}

/// (year, month, day) of a count of days since 1970-01-01 (the proleptic Gregorian calendar; H. Hinnant's
/// days-to-civil algorithm).
fn civil_date(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn ids_carry_the_utc_time_and_the_random_bits() {
        // 2026-12-01T16:08:01Z and 2000-02-29T23:59:59Z (a leap day), computed independently with `date -u -d`.
        let at = |secs| UNIX_EPOCH + Duration::from_secs(secs);
        assert_eq!(format_id(at(1_796_141_281), [0xab, 0x01, 0xff]), "wf-20261201-160801-ab01ff");
        assert_eq!(format_id(at(951_868_799), [0, 0, 0]), "wf-20000229-235959-000000");
        assert_eq!(format_id(at(0), [1, 2, 3]), "wf-19700101-000000-010203");
    }

    #[test]
    fn minted_ids_differ() {
        let (a, b) = (mint().unwrap(), mint().unwrap());
        assert_ne!(a, b);
        assert!(a.starts_with("wf-") && a.len() == "wf-20261201-160801-ab01ff".len(), "{a}");
    }
}
