//! How numbers and times read on screen. Pure functions, so the server and
//! the browser render the same text and hydration matches.

use crate::calendar;
use crate::protocol::{MarketSession, TradingDay};

/// Decimals for a price: cents for most stocks, more for sub-dollar prices.
pub fn price_decimals(price: f64) -> usize {
    // About four significant digits below a dollar (crypto and penny
    // stocks), cents above; the same magnitude always gets the same count,
    // so a column does not jiggle as the price moves.
    match price.abs() {
        p if p == 0.0 || p >= 1.0 => 2,
        p if p >= 0.01 => 4,
        p if p >= 0.0001 => 6,
        _ => 8,
    }
}

/// `1,234.56`; `—` when there is no price.
pub fn price(value: f64) -> String {
    if !value.is_finite() || value <= 0.0 {
        return "—".into();
    }
    grouped(value, price_decimals(value))
}

/// A signed change in price units: `+1.23`, `−0.45`, `0.00`.
pub fn change(value: f64, reference: f64) -> String {
    let decimals = price_decimals(reference);
    signed(value, decimals, "")
}

/// A signed percentage: `+0.53%`.
pub fn change_pct(pct: f64) -> String {
    signed(pct, 2, "%")
}

fn signed(value: f64, decimals: usize, suffix: &str) -> String {
    if !value.is_finite() {
        return "—".into();
    }
    let text = grouped(value.abs(), decimals);
    let is_zero = text.chars().all(|c| matches!(c, '0' | '.' | ','));
    let sign = if is_zero {
        ""
    } else if value > 0.0 {
        "+"
    } else {
        "−"
    };
    format!("{sign}{text}{suffix}")
}

/// Which way a price moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Up,
    Down,
    Flat,
}

impl Direction {
    /// The CSS class that colours it: `up`, `down` or `flat`.
    pub fn class(self) -> &'static str {
        match self {
            Direction::Up => "up",
            Direction::Down => "down",
            Direction::Flat => "flat",
        }
    }
}

/// The direction of a change.
pub fn direction(value: f64) -> Direction {
    if value > 0.0 {
        Direction::Up
    } else if value < 0.0 {
        Direction::Down
    } else {
        Direction::Flat
    }
}

/// A non-negative number with thousands separators and fixed decimals.
fn grouped(value: f64, decimals: usize) -> String {
    let text = format!("{value:.decimals$}");
    let (int, frac) = text
        .split_once('.')
        .map_or((text.as_str(), None), |(i, f)| (i, Some(f)));
    let (sign, digits) = int.strip_prefix('-').map_or(("", int), |d| ("-", d));
    let mut out = String::with_capacity(text.len() + digits.len() / 3);
    out.push_str(sign);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(frac) = frac {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// Volume abbreviated to three significant figures: `842`, `12.3K`, `1.24M`, `3.05B`.
pub fn volume(value: u64) -> String {
    const UNITS: [(f64, &str); 4] = [(1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")];
    let v = value as f64;
    for (scale, unit) in UNITS {
        if v >= scale {
            let scaled = v / scale;
            let decimals = if scaled >= 100.0 {
                0
            } else if scaled >= 10.0 {
                1
            } else {
                2
            };
            return format!("{scaled:.decimals$}{unit}");
        }
    }
    value.to_string()
}

/// The date of a daily bar starting at `ms` (its trading day's midnight,
/// which falls within that UTC date), e.g. "Fri 27 Nov 2026".
pub fn day_date(ms: i64) -> String {
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = ms.div_euclid(crate::protocol::DAY_MS);
    let (year, month, day) = crate::protocol::civil_date(days);
    let weekday = WEEKDAYS[days.rem_euclid(7) as usize];
    format!("{weekday} {day} {} {year}", MONTHS[(month - 1) as usize])
}

/// `HH:MM:SS` of a Unix-ms time, shifted by `offset_min` minutes from UTC.
pub fn clock_time(ms: i64, offset_min: i32) -> String {
    if ms <= 0 {
        return "—".into();
    }
    let local = ms.div_euclid(1000) + i64::from(offset_min) * 60;
    let secs = local.rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// How a session reads on a badge.
pub fn session_label(session: MarketSession) -> &'static str {
    match session {
        MarketSession::Pre => "Pre-market",
        MarketSession::Regular => "Open",
        MarketSession::Post => "After hours",
        MarketSession::Closed => "Closed",
        MarketSession::Halted => "Halted",
    }
}

/// What a price outside the regular session is called: "Pre-market"
/// before the open, "After hours" after the close (and while closed).
pub fn extended_label(session: MarketSession) -> &'static str {
    if session == MarketSession::Pre {
        "Pre-market"
    } else {
        "After hours"
    }
}

/// `2 h 14 m`, `45 m`, `under a minute`: how long until an instant.
pub fn duration_until(ms: i64) -> String {
    let minutes = ms.max(0) / 60_000;
    match (minutes / 60, minutes % 60) {
        (0, 0) => "under a minute".into(),
        (0, m) => format!("{m} m"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} m"),
    }
}

/// The US equities market's state at `now` (Unix ms), as the top bar says
/// it: "US market open · closes in 2 h 14 m", "Pre-market · opens in 45 m",
/// "After hours · opens Mon 09:30 ET", "Closed · opens Mon 09:30 ET".
pub fn market_status(now: i64) -> String {
    let us = TradingDay::NewYork;
    let session = us.session_at(now);
    let opens = |prefix: &str| match us.next_open(now) {
        Some(open) if open - now < 6 * 3_600_000 => {
            format!("{prefix} · opens in {}", duration_until(open - now))
        }
        Some(open) => {
            const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
            let (day, _) = calendar::new_york_local(open);
            format!(
                "{prefix} · opens {} 09:30 ET",
                WEEKDAYS[day.rem_euclid(7) as usize]
            )
        }
        None => prefix.to_string(),
    };
    match session {
        MarketSession::Regular => match us.regular_close(now) {
            Some(close) => format!("US market open · closes in {}", duration_until(close - now)),
            None => "US market open".into(),
        },
        MarketSession::Pre => opens("Pre-market"),
        MarketSession::Post => opens("After hours"),
        _ => opens("US market closed"),
    }
}

/// SVG polyline points for a sparkline of `width` × `height`: one point per
/// minute of [`SPARK_MINUTES`](crate::store::SPARK_MINUTES), newest at the
/// right edge, scaled to the values' own range.
pub fn spark_points(values: &[f64], width: u32, height: u32) -> String {
    let (w, h) = (f64::from(width), f64::from(height));
    let (lo, hi) = values
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    let range = if hi > lo { hi - lo } else { 1.0 };
    let step = w / (crate::store::SPARK_MINUTES.max(2) - 1) as f64;
    let n = values.len();
    let mut out = String::with_capacity(n * 12);
    for (i, v) in values.iter().enumerate() {
        let x = w - (n - 1 - i) as f64 * step;
        let y = if hi > lo {
            h - 1.0 - (v - lo) / range * (h - 2.0)
        } else {
            h / 2.0
        };
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&format!("{x:.1},{y:.1}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_grouped_with_fixed_decimals() {
        assert_eq!(price(228.5), "228.50");
        assert_eq!(price(1234.567), "1,234.57");
        assert_eq!(price(1_234_567.0), "1,234,567.00");
        assert_eq!(price(0.123456), "0.1235");
        assert_eq!(price(0.08), "0.0800", "a DOGE-like coin keeps 4 decimals");
        assert_eq!(price(0.004321), "0.004321");
        assert_eq!(price(0.0000123456), "0.00001235", "a SHIB-like coin");
        assert_eq!(price(0.0), "—");
        assert_eq!(price(f64::NAN), "—");
    }

    #[test]
    fn changes_are_signed_and_zero_is_unsigned() {
        assert_eq!(change(1.234, 100.0), "+1.23");
        assert_eq!(change(-0.456, 100.0), "−0.46");
        assert_eq!(change(-0.001, 100.0), "0.00");
        assert_eq!(change_pct(0.5312), "+0.53%");
        assert_eq!(change_pct(-12.0), "−12.00%");
        assert_eq!(
            [0.1, -0.1, 0.0, f64::NAN].map(|v| direction(v).class()),
            ["up", "down", "flat", "flat"]
        );
    }

    #[test]
    fn volumes_abbreviate() {
        assert_eq!(volume(842), "842");
        assert_eq!(volume(12_345), "12.3K");
        assert_eq!(volume(1_240_000), "1.24M");
        assert_eq!(volume(123_456_789), "123M");
        assert_eq!(volume(3_050_000_000), "3.05B");
    }

    #[test]
    fn sparklines_fill_from_the_right_and_span_the_height() {
        assert_eq!(
            spark_points(&[10.0, 12.0, 11.0], 58, 24),
            "54.0,23.0 56.0,1.0 58.0,12.0"
        );
        assert_eq!(spark_points(&[5.0], 58, 24), "58.0,12.0");
        assert_eq!(spark_points(&[], 58, 24), "");
    }

    #[test]
    fn clock_times_shift_by_the_offset() {
        let ms = 1_700_000_000_000; // 2023-11-14 22:13:20 UTC
        assert_eq!(clock_time(ms, 0), "22:13:20");
        assert_eq!(clock_time(ms, 120), "00:13:20");
        assert_eq!(clock_time(ms, -300), "17:13:20");
        assert_eq!(clock_time(0, 0), "—");
    }
}
