//! Converts between Unix time and Kazoo's Gregorian seconds.
//!
//! Kazoo stores every timestamp (`pvt_created`, `pvt_modified`, `Timestamp`) as seconds since year 0 of the
//! proleptic Gregorian calendar (Erlang's `calendar:datetime_to_gregorian_seconds/1`): Unix time plus
//! 62,167,219,200.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds between 0000-01-01 and 1970-01-01.
pub const UNIX_EPOCH_IN_GREGORIAN: i64 = 62_167_219_200;

/// Now, in Gregorian seconds.
pub fn now_s() -> i64 {
    unix_to_gregorian(now_unix())
}

/// Now, in Unix seconds.
pub fn now_unix() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

pub fn unix_to_gregorian(unix: i64) -> i64 {
    unix + UNIX_EPOCH_IN_GREGORIAN
}

pub fn gregorian_to_unix(greg: i64) -> i64 {
    greg - UNIX_EPOCH_IN_GREGORIAN
}

/// The (year, month) of a Unix timestamp, in UTC.
pub fn year_month(unix: i64) -> (i32, u32) {
    let (y, m, _) = civil_from_days(unix.div_euclid(86_400));
    (y, m)
}

/// The (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's civil_from_days).
pub fn civil_from_days(days: i64) -> (i32, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    ((if m <= 2 { y + 1 } else { y }) as i32, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gregorian_offset_matches_kazoo() {
        // 2016-03-28T19:02:53Z as Kazoo wrote it in a real document.
        assert_eq!(gregorian_to_unix(63_626_410_973), 1_459_191_773);
        assert_eq!(unix_to_gregorian(0), 62_167_219_200);
        assert!(now_s() > 63_900_000_000);
    }

    #[test]
    fn year_month_of_known_dates() {
        assert_eq!(year_month(0), (1970, 1));
        assert_eq!(year_month(1_459_191_773), (2016, 3));
        assert_eq!(year_month(951_782_400), (2000, 2)); // 2000-02-29
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(year_month(1_704_067_199), (2023, 12));
        assert_eq!(year_month(1_704_067_200), (2024, 1));
    }
}
