//! Time arithmetic the rules need: working days, end of day, durations.
//! Nothing here reads a clock: every function is given its instant.

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, TimeDelta, Utc, Weekday};
use serde::{Deserialize, Serialize};

/// An instant in UTC.
pub type Timestamp = DateTime<Utc>;

/// Working days are Monday to Friday.
pub fn is_working_day(date: NaiveDate) -> bool {
    !matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

/// The date `n` working days after `from` (`from` itself does not count):
/// Friday + 1 is Monday, Saturday + 1 is Monday, Monday + 0 is Monday.
pub fn add_working_days(from: NaiveDate, n: u32) -> NaiveDate {
    let mut date = from;
    let mut left = n;
    while left > 0 {
        date = date.checked_add_days(Days::new(1)).unwrap_or(date);
        if is_working_day(date) {
            left -= 1;
        }
    }
    date
}

/// The earliest and latest date funds are expected, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArrivalWindow {
    pub earliest: NaiveDate,
    pub latest: NaiveDate,
}

impl ArrivalWindow {
    /// `min..=max` working days after the UTC date of `from`.
    pub fn working_days_after(from: Timestamp, min: u32, max: u32) -> Self {
        let day = from.date_naive();
        ArrivalWindow {
            earliest: add_working_days(day, min),
            latest: add_working_days(day, max),
        }
    }

    /// The instant after which a payment that has not arrived is overdue:
    /// the end of the latest day.
    pub fn overdue_after(&self) -> Timestamp {
        end_of_day(self.latest)
    }
}

/// The last second of `date`, 23:59:59 UTC.
pub fn end_of_day(date: NaiveDate) -> Timestamp {
    let t = NaiveTime::from_hms_opt(23, 59, 59).unwrap_or(NaiveTime::MIN);
    date.and_time(t).and_utc()
}

/// `instant + days` (whole 24-hour days), saturating at the far future.
pub fn plus_days(instant: Timestamp, days: u32) -> Timestamp {
    instant
        .checked_add_signed(TimeDelta::days(i64::from(days)))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `instant + hours`, saturating at the far future.
pub fn plus_hours(instant: Timestamp, hours: u32) -> Timestamp {
    instant
        .checked_add_signed(TimeDelta::hours(i64::from(hours)))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `instant − hours`, saturating at the far past.
pub fn minus_hours(instant: Timestamp, hours: u32) -> Timestamp {
    instant
        .checked_sub_signed(TimeDelta::hours(i64::from(hours)))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// An instant as the API writes it: RFC 3339, UTC, `Z`, to the second
/// (for messages; JSON fields keep their full precision).
pub fn rfc3339(instant: Timestamp) -> String {
    instant.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
