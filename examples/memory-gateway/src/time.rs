//! Timestamps: milliseconds since the Unix epoch, written and read as RFC 3339.
//!
//! Only what the tools need (`2025-06-18T09:30:00Z`, fractions, `+02:00` offsets), so a date
//! crate is not worth its weight here.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// A point in time, in milliseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

const MILLIS_PER_DAY: i64 = 86_400_000;

impl Timestamp {
    /// The current time.
    #[must_use]
    pub fn now() -> Timestamp {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX))
    }

    /// The timestamp `millis` milliseconds after the epoch.
    #[must_use]
    pub fn from_millis(millis: i64) -> Timestamp {
        Timestamp(millis)
    }

    /// Milliseconds since the epoch.
    #[must_use]
    pub fn as_millis(self) -> i64 {
        self.0
    }

    /// Parses RFC 3339: `YYYY-MM-DDTHH:MM:SS`, an optional fraction, then `Z` or `±HH:MM`.
    ///
    /// # Errors
    ///
    /// A message saying what was expected, when `text` is not such a timestamp.
    pub fn parse_rfc3339(text: &str) -> Result<Timestamp, String> {
        let invalid =
            || format!("`{text}` is not an RFC 3339 timestamp such as `2025-06-18T09:30:00Z`");
        let bytes = text.as_bytes();
        if bytes.len() < 20
            || bytes[4] != b'-'
            || bytes[7] != b'-'
            || !matches!(bytes[10], b'T' | b't' | b' ')
            || bytes[13] != b':'
            || bytes[16] != b':'
        {
            return Err(invalid());
        }
        let number = |range: std::ops::Range<usize>| -> Result<i64, String> {
            let digits = text.get(range).ok_or_else(invalid)?;
            if digits.bytes().all(|byte| byte.is_ascii_digit()) {
                digits.parse().map_err(|_| invalid())
            } else {
                Err(invalid())
            }
        };
        let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
        let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
        if !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 60
        {
            return Err(invalid());
        }
        let mut rest = &text[19..];
        let mut millis = 0;
        if let Some(fraction) = rest.strip_prefix('.') {
            let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(invalid());
            }
            // Milliseconds: the first three digits, padded; finer digits are dropped.
            for position in 0..3 {
                millis = millis * 10
                    + fraction
                        .as_bytes()
                        .get(position)
                        .filter(|byte| byte.is_ascii_digit())
                        .map_or(0, |byte| i64::from(byte - b'0'));
            }
            rest = &fraction[digits..];
        }
        let offset_minutes = match rest {
            "Z" | "z" => 0,
            _ => {
                let sign = match rest.as_bytes().first() {
                    Some(b'+') => 1,
                    Some(b'-') => -1,
                    _ => return Err(invalid()),
                };
                if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                    return Err(invalid());
                }
                let offset = |range: std::ops::Range<usize>| -> Result<i64, String> {
                    let digits = rest.get(range).ok_or_else(invalid)?;
                    if digits.bytes().all(|byte| byte.is_ascii_digit()) {
                        digits.parse().map_err(|_| invalid())
                    } else {
                        Err(invalid())
                    }
                };
                let (hours, minutes) = (offset(1..3)?, offset(4..6)?);
                if hours > 23 || minutes > 59 {
                    return Err(invalid());
                }
                sign * (hours * 60 + minutes)
            }
        };
        // A leap second is read as the last millisecond of its minute.
        let (second, millis) = if second == 60 {
            (59, 999)
        } else {
            (second, millis)
        };
        let local = days_from_civil(year, month, day) * MILLIS_PER_DAY
            + ((hour * 60 + minute) * 60 + second) * 1000
            + millis;
        Ok(Timestamp(local - offset_minutes * 60_000))
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC with milliseconds: `2025-06-18T09:30:00.000Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.0.div_euclid(MILLIS_PER_DAY);
        let within = self.0.rem_euclid(MILLIS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        let (seconds, millis) = (within / 1000, within % 1000);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
            seconds / 3600,
            seconds / 60 % 60,
            seconds % 60
        )
    }
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date, counting in 400-year eras that
/// start on 1 March, so that the leap day ends each year.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::Timestamp;

    #[test]
    fn formats_in_utc_with_milliseconds() {
        assert_eq!(
            Timestamp::from_millis(0).to_string(),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(
            Timestamp::from_millis(1_750_239_000_123).to_string(),
            "2025-06-18T09:30:00.123Z"
        );
        assert_eq!(
            Timestamp::from_millis(-1).to_string(),
            "1969-12-31T23:59:59.999Z"
        );
        assert_eq!(
            Timestamp::from_millis(951_782_400_000).to_string(),
            "2000-02-29T00:00:00.000Z"
        );
    }

    #[test]
    fn parses_what_it_formats_and_offsets() {
        for millis in [0, 1_750_239_000_123, -1, 951_782_400_000, 4_102_444_800_000] {
            let stamp = Timestamp::from_millis(millis);
            assert_eq!(Timestamp::parse_rfc3339(&stamp.to_string()), Ok(stamp));
        }
        let utc = Timestamp::parse_rfc3339("2025-06-18T09:30:00Z").unwrap();
        assert_eq!(utc.as_millis(), 1_750_239_000_000);
        assert_eq!(
            Timestamp::parse_rfc3339("2025-06-18T11:30:00+02:00"),
            Ok(utc)
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2025-06-18T04:00:00-05:30"),
            Ok(utc)
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2025-06-18T09:30:00.5Z").map(Timestamp::as_millis),
            Ok(1_750_239_000_500)
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2025-06-18T09:30:00.123456789Z").map(Timestamp::as_millis),
            Ok(1_750_239_000_123)
        );
    }

    #[test]
    fn rejects_what_is_not_rfc_3339() {
        for text in [
            "",
            "yesterday",
            "2025-06-18",
            "2025-06-18T09:30:00",
            "2025-02-29T00:00:00Z",
            "2025-13-01T00:00:00Z",
            "2025-06-18T24:00:00Z",
            "2025-06-18T09:30:00.Z",
            "2025-06-18T09:30:00+2:00",
            "2025-06-18T09:30:00+02:00x",
            "2025-06-18T09:3a:00Z",
            "+025-06-18T09:30:00Z",
            "2025-06-18T09:30:00+é:00",
        ] {
            assert!(
                Timestamp::parse_rfc3339(text).is_err(),
                "{text:?} was accepted"
            );
        }
    }
}
