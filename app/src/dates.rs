//! How pages show times: one format per precision, in UTC, so every page
//! reads the same and DTOs carry ready strings.

use chrono::{DateTime, Utc};

/// "2026-12-04 13:05 UTC".
pub fn minute(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// "2026-12-04 13:05:09 UTC", where seconds matter (audit trails).
pub fn second(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// "2026-12-04".
pub fn day(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    #[test]
    fn formats() {
        let t = Utc.with_ymd_and_hms(2026, 12, 4, 13, 5, 9).unwrap();
        assert_eq!(minute(t), "2026-12-04 13:05 UTC");
        assert_eq!(second(t), "2026-12-04 13:05:09 UTC");
        assert_eq!(day(t), "2026-12-04");
    }
}
