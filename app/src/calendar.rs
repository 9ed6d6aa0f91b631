//! Market time: which session an instrument trades in at an instant.
//!
//! US equities follow the NYSE and Nasdaq calendar in New York time:
//! pre-market 04:00–09:30, the regular session 09:30–16:00, after hours
//! 16:00–20:00, closed at night, on weekends and on exchange holidays; on an
//! early-close day the regular session ends at 13:00 and after hours at
//! 17:00. Daylight saving time is New York's (see [`TradingDay`]). Crypto
//! (and the simulator unless it keeps market time) trades around the clock:
//! always [`MarketSession::Regular`].
//!
//! The holidays and early closes are data, below, from NYSE Group's
//! published calendar ("NYSE Group Announces 2026, 2027 and 2028 Holiday and
//! Early Closings Calendar", 23 December 2025; the same dates are on
//! https://www.nyse.com/markets/hours-calendars). Years the table does not
//! cover have weekdays open: extend [`HOLIDAYS`] and [`EARLY_CLOSES`] each
//! year.

use crate::protocol::{DAY_MS, MarketSession, TradingDay, days_from_civil, new_york_offset};

/// Days the exchanges are closed (year, month, day), as observed.
pub const HOLIDAYS: &[(i64, i64, i64)] = &[
    // 2026
    (2026, 1, 1),   // New Year's Day
    (2026, 1, 19),  // Martin Luther King, Jr. Day
    (2026, 2, 16),  // Washington's Birthday
    (2026, 4, 3),   // Good Friday
    (2026, 5, 25),  // Memorial Day
    (2026, 6, 19),  // Juneteenth
    (2026, 7, 3),   // Independence Day (observed)
    (2026, 9, 7),   // Labor Day
    (2026, 11, 26), // Thanksgiving Day
    (2026, 12, 25), // Christmas Day
    // 2027
    (2027, 1, 1),   // New Year's Day
    (2027, 1, 18),  // Martin Luther King, Jr. Day
    (2027, 2, 15),  // Washington's Birthday
    (2027, 3, 26),  // Good Friday
    (2027, 5, 31),  // Memorial Day
    (2027, 6, 18),  // Juneteenth (observed)
    (2027, 7, 5),   // Independence Day (observed)
    (2027, 9, 6),   // Labor Day
    (2027, 11, 25), // Thanksgiving Day
    (2027, 12, 24), // Christmas Day (observed)
];

/// Days the regular session ends at 13:00 (and after hours at 17:00).
pub const EARLY_CLOSES: &[(i64, i64, i64)] = &[
    (2026, 11, 27), // the day after Thanksgiving
    (2026, 12, 24), // Christmas Eve
    (2027, 11, 26), // the day after Thanksgiving
];

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const PRE_OPEN: i64 = 4 * HOUR_MS;
const OPEN: i64 = 9 * HOUR_MS + 30 * MINUTE_MS;
const CLOSE: i64 = 16 * HOUR_MS;
const POST_CLOSE: i64 = 20 * HOUR_MS;
const EARLY_CLOSE: i64 = 13 * HOUR_MS;
const EARLY_POST_CLOSE: i64 = 17 * HOUR_MS;

/// The day (counted from 1970-01-01) of a date in the tables.
fn day_of((year, month, day): (i64, i64, i64)) -> i64 {
    days_from_civil(year, month, day)
}

/// What a New York calendar day is for the exchanges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DayKind {
    Weekend,
    Holiday,
    /// Trading, with the regular session ending at this time of day (ms after local midnight).
    Trading {
        close: i64,
        post_close: i64,
    },
}

/// The kind of New York day `day` (days from 1970-01-01).
pub fn day_kind(day: i64) -> DayKind {
    // 1970-01-01 was a Thursday: Sunday = 0, Saturday = 6.
    let weekday = (day + 4).rem_euclid(7);
    if weekday == 0 || weekday == 6 {
        DayKind::Weekend
    } else if HOLIDAYS.iter().any(|d| day_of(*d) == day) {
        DayKind::Holiday
    } else if EARLY_CLOSES.iter().any(|d| day_of(*d) == day) {
        DayKind::Trading {
            close: EARLY_CLOSE,
            post_close: EARLY_POST_CLOSE,
        }
    } else {
        DayKind::Trading {
            close: CLOSE,
            post_close: POST_CLOSE,
        }
    }
}

/// The New York day (from 1970-01-01) and time of day (ms) of `ts`.
pub fn new_york_local(ts: i64) -> (i64, i64) {
    let local = ts + new_york_offset(ts);
    (local.div_euclid(DAY_MS), local.rem_euclid(DAY_MS))
}

/// The instant of New York local time `time` (ms after midnight) on `day`.
/// (Session boundaries are never in the hour clocks skip.)
pub fn new_york_instant(day: i64, time: i64) -> i64 {
    let local = day * DAY_MS + time;
    let guess = local - new_york_offset(local + 5 * HOUR_MS);
    local - new_york_offset(guess)
}

impl TradingDay {
    /// The session at `ts` by the calendar (never `Halted`: a halt is a
    /// feed's to state).
    pub fn session_at(self, ts: i64) -> MarketSession {
        match self {
            TradingDay::Utc => MarketSession::Regular,
            TradingDay::NewYork => {
                let (day, time) = new_york_local(ts);
                match day_kind(day) {
                    DayKind::Weekend | DayKind::Holiday => MarketSession::Closed,
                    DayKind::Trading { close, post_close } => match time {
                        t if t < PRE_OPEN => MarketSession::Closed,
                        t if t < OPEN => MarketSession::Pre,
                        t if t < close => MarketSession::Regular,
                        t if t < post_close => MarketSession::Post,
                        _ => MarketSession::Closed,
                    },
                }
            }
        }
    }

    /// The first instant after `ts` at which the calendar's session differs
    /// from the one at `ts`; `None` for a market that never changes.
    pub fn next_change(self, ts: i64) -> Option<i64> {
        let TradingDay::NewYork = self else {
            return None;
        };
        let now = self.session_at(ts);
        let (today, _) = new_york_local(ts);
        // A long weekend with a holiday is at most four closed days.
        (today..today + 10)
            .flat_map(|day| {
                let times = match day_kind(day) {
                    DayKind::Trading { close, post_close } => {
                        vec![PRE_OPEN, OPEN, close, post_close]
                    }
                    _ => Vec::new(),
                };
                times.into_iter().map(move |t| new_york_instant(day, t))
            })
            .find(|&at| at > ts && self.session_at(at) != now)
    }

    /// The next regular open after `ts` (`None` around the clock).
    pub fn next_open(self, ts: i64) -> Option<i64> {
        let TradingDay::NewYork = self else {
            return None;
        };
        let (today, time) = new_york_local(ts);
        (today..today + 10).find_map(|day| match day_kind(day) {
            DayKind::Trading { .. } if day > today || time < OPEN => {
                Some(new_york_instant(day, OPEN))
            }
            _ => None,
        })
    }

    /// The end of the regular session `ts` is in (`None` outside one, or
    /// around the clock).
    pub fn regular_close(self, ts: i64) -> Option<i64> {
        let TradingDay::NewYork = self else {
            return None;
        };
        let (day, time) = new_york_local(ts);
        match day_kind(day) {
            DayKind::Trading { close, .. } if (OPEN..close).contains(&time) => {
                Some(new_york_instant(day, close))
            }
            _ => None,
        }
    }

    /// Minutes east of UTC of the exchange's clock at `ts` (New York's, with
    /// its daylight saving time; 0 around the clock, which keeps UTC).
    pub fn utc_offset_minutes(self, ts: i64) -> i32 {
        match self {
            TradingDay::Utc => 0,
            TradingDay::NewYork => (new_york_offset(ts) / MINUTE_MS) as i32,
        }
    }

    /// The short name of that clock, for labels: "ET" or "UTC".
    pub fn clock_name(self) -> &'static str {
        match self {
            TradingDay::Utc => "UTC",
            TradingDay::NewYork => "ET",
        }
    }

    /// The trading day a regular-session trade at `ts` belongs to, as days
    /// from 1970-01-01: the New York date for equities, the UTC date around
    /// the clock. The day's open, high, low and volume start again when it
    /// changes.
    pub fn session_day(self, ts: i64) -> i64 {
        match self {
            TradingDay::Utc => ts.div_euclid(DAY_MS),
            TradingDay::NewYork => new_york_local(ts).0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// New York local `hh:mm` on a date, as a Unix ms instant.
    fn ny(year: i64, month: i64, day: i64, hh: i64, mm: i64) -> i64 {
        new_york_instant(
            days_from_civil(year, month, day),
            hh * HOUR_MS + mm * MINUTE_MS,
        )
    }

    fn at(year: i64, month: i64, day: i64, hh: i64, mm: i64) -> MarketSession {
        TradingDay::NewYork.session_at(ny(year, month, day, hh, mm))
    }

    #[test]
    fn an_ordinary_day_in_winter_and_in_summer() {
        use MarketSession::*;
        for (month, day) in [(1, 13), (7, 14)] {
            assert_eq!(at(2026, month, day, 3, 59), Closed);
            assert_eq!(at(2026, month, day, 4, 0), Pre);
            assert_eq!(at(2026, month, day, 9, 29), Pre);
            assert_eq!(at(2026, month, day, 9, 30), Regular);
            assert_eq!(at(2026, month, day, 15, 59), Regular);
            assert_eq!(at(2026, month, day, 16, 0), Post);
            assert_eq!(at(2026, month, day, 19, 59), Post);
            assert_eq!(at(2026, month, day, 20, 0), Closed);
        }
        // 09:30 in New York is 14:30 UTC in winter, 13:30 in summer.
        assert_eq!(ny(2026, 1, 13, 9, 30), 1_768_314_600_000);
        assert_eq!(ny(2026, 7, 14, 9, 30), 1_784_035_800_000);
    }

    #[test]
    fn both_daylight_saving_changes() {
        use MarketSession::*;
        // Clocks went forward on Sunday 8 March 2026: Monday opens at 13:30 UTC.
        assert_eq!(
            ny(2026, 3, 9, 9, 30) - days_from_civil(2026, 3, 9) * DAY_MS,
            13 * HOUR_MS + 30 * MINUTE_MS
        );
        assert_eq!(
            ny(2026, 3, 6, 9, 30) - days_from_civil(2026, 3, 6) * DAY_MS,
            14 * HOUR_MS + 30 * MINUTE_MS
        );
        assert_eq!(at(2026, 3, 9, 9, 30), Regular);
        // Back on Sunday 1 November 2026: Monday opens at 14:30 UTC again.
        assert_eq!(
            ny(2026, 11, 2, 9, 30) - days_from_civil(2026, 11, 2) * DAY_MS,
            14 * HOUR_MS + 30 * MINUTE_MS
        );
        assert_eq!(at(2026, 10, 30, 15, 59), Regular);
        // Friday 30 October 2026, 16:00 New York = 20:00 UTC; after the
        // change the same UTC time is 15:00 in New York, still the session.
        let utc_20h = |y, m, d| days_from_civil(y, m, d) * DAY_MS + 20 * HOUR_MS;
        assert_eq!(TradingDay::NewYork.session_at(utc_20h(2026, 10, 30)), Post);
        assert_eq!(
            TradingDay::NewYork.session_at(utc_20h(2026, 11, 2)),
            Regular
        );
    }

    #[test]
    fn holidays_weekends_and_early_closes() {
        use MarketSession::*;
        assert_eq!(at(2026, 11, 26, 11, 0), Closed, "Thanksgiving");
        assert_eq!(at(2027, 3, 26, 11, 0), Closed, "Good Friday 2027");
        assert_eq!(at(2026, 7, 3, 11, 0), Closed, "Independence Day observed");
        assert_eq!(at(2026, 11, 28, 11, 0), Closed, "Saturday");
        assert_eq!(at(2026, 11, 29, 11, 0), Closed, "Sunday");
        assert_eq!(
            at(2026, 11, 27, 12, 59),
            Regular,
            "the day after Thanksgiving"
        );
        assert_eq!(at(2026, 11, 27, 13, 0), Post);
        assert_eq!(at(2026, 11, 27, 16, 59), Post);
        assert_eq!(at(2026, 11, 27, 17, 0), Closed);
        assert_eq!(at(2026, 12, 24, 13, 0), Post, "Christmas Eve");
        assert_eq!(
            at(2027, 12, 23, 15, 0),
            Regular,
            "2027 has no Christmas Eve session: the 24th is the holiday"
        );
    }

    #[test]
    fn the_next_change_skips_weekends_and_holidays() {
        let nd = TradingDay::NewYork;
        // Friday 20:00 → Monday 04:00 (pre-market), over a weekend.
        assert_eq!(
            nd.next_change(ny(2026, 1, 16, 20, 0)),
            Some(ny(2026, 1, 20, 4, 0)),
            "Monday 19 January is MLK Day"
        );
        assert_eq!(
            nd.next_change(ny(2026, 1, 13, 10, 0)),
            Some(ny(2026, 1, 13, 16, 0))
        );
        assert_eq!(
            nd.next_change(ny(2026, 11, 27, 10, 0)),
            Some(ny(2026, 11, 27, 13, 0)),
            "early close"
        );
        assert_eq!(
            nd.next_open(ny(2026, 11, 25, 17, 0)),
            Some(ny(2026, 11, 27, 9, 30)),
            "over Thanksgiving"
        );
        assert_eq!(
            nd.next_open(ny(2026, 11, 27, 8, 0)),
            Some(ny(2026, 11, 27, 9, 30))
        );
        assert_eq!(
            nd.regular_close(ny(2026, 11, 27, 10, 0)),
            Some(ny(2026, 11, 27, 13, 0))
        );
        assert_eq!(nd.regular_close(ny(2026, 11, 27, 14, 0)), None);
        assert_eq!(TradingDay::Utc.next_change(0), None);
        assert_eq!(
            TradingDay::Utc.session_at(ny(2026, 11, 26, 11, 0)),
            MarketSession::Regular
        );
    }

    #[test]
    fn the_tables_hold_real_days() {
        for &(y, m, d) in HOLIDAYS.iter().chain(EARLY_CLOSES) {
            let day = days_from_civil(y, m, d);
            let weekday = (day + 4).rem_euclid(7);
            assert!((1..=5).contains(&weekday), "{y}-{m}-{d} is a weekday");
            assert_eq!(crate::protocol::civil_date(day), (y, m, d));
        }
    }
}
