//! Timestamps: milliseconds since the epoch as RFC 3339, without a clock or a time crate.

use planspec_model::Timestamp;

/// RFC 3339 in UTC for milliseconds since the epoch (`2026-02-04T12:00:00Z`, with `.mmm`
/// when the milliseconds are not zero).
pub fn timestamp(ms: u64) -> Timestamp {
    let secs = ms / 1000;
    let millis = ms % 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (rem / 3600, rem / 60 % 60, rem % 60);
    let text = if millis == 0 {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
    } else {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{millis:03}Z")
    };
    Timestamp::new(text)
}

/// Howard Hinnant's `civil_from_days` for days since 1970-01-01 (non-negative).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(timestamp(0).as_str(), "1970-01-01T00:00:00Z");
        assert_eq!(
            timestamp(1_770_206_400_000).as_str(),
            "2026-02-04T12:00:00Z"
        );
        assert_eq!(
            timestamp(951_782_400_123).as_str(),
            "2000-02-29T00:00:00.123Z"
        );
        assert_eq!(
            timestamp(253_402_300_799_000).as_str(),
            "9999-12-31T23:59:59Z"
        );
    }
}
