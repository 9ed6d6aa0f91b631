//! Synthetic price history for the simulator: the same geometric random walk,
//! run backwards from the opening price, so charts have a past that joins the
//! live price without a jump.
//!
//! The last [`FINE_SECONDS`] are walked at sub-second resolution (feeding the
//! 1 s and 5 s series and the newest minutes), the [`COARSE_MINUTES`] before
//! them at sub-minute resolution, the [`LONG_HOURS`] before those hour by
//! hour and the [`LONG_DAYS`] before those day by day (UTC days); coarser
//! intervals are rolled up from finer ones, so every interval tells the same
//! story.

use app::protocol::{Candle, DAY_MS, Interval};
use rand::Rng;

use super::walk::{TRADING_SECONDS_PER_YEAR, Walk, normal, round_cents};
use crate::candles::aggregate;

/// Seconds walked second by second (enough for a full 5 s series).
pub const FINE_SECONDS: i64 = 5_000;
/// Minutes walked before the fine part (enough for a full 5 m series).
pub const COARSE_MINUTES: i64 = 5_000;
/// Hours walked before the minutes (about two months of hourly bars).
pub const LONG_HOURS: i64 = 1_440;
/// Days walked before the hours (a year of daily bars in all).
pub const LONG_DAYS: i64 = 300;
const HOUR_MS: i64 = 3_600_000;
const CALENDAR_SECONDS_PER_YEAR: f64 = 365.25 * 86_400.0;
const FINE_STEPS_PER_BAR: usize = 2;
const COARSE_STEPS_PER_BAR: usize = 4;
/// Average shares per simulated trade (see `trade_size`).
const SHARES_PER_TRADE: f64 = 1_400.0;

/// Bars for every interval, oldest first, ending just before `now_ms` at
/// `end_price`, indexed like [`Interval::ALL`].
pub fn history(
    walk: Walk,
    end_price: f64,
    now_ms: i64,
    rng: &mut impl Rng,
) -> [Vec<Candle>; Interval::COUNT] {
    let end = Interval::S1.bucket(now_ms);
    let fine_start = Interval::M5.bucket(end - FINE_SECONDS * 1_000);
    let coarse_start = Interval::H1.bucket(fine_start - COARSE_MINUTES * 60_000);
    let hours_start = Interval::D1.bucket(coarse_start - LONG_HOURS * HOUR_MS);
    let days_start = hours_start - LONG_DAYS * DAY_MS;
    let fine_bars = ((end - fine_start) / 1_000) as usize;
    let fine = walk_back(walk, end_price, 1_000, FINE_STEPS_PER_BAR, fine_bars, rng);
    let coarse_minutes = ((fine_start - coarse_start) / 60_000) as usize;
    let coarse = walk_back(
        walk,
        fine[0],
        60_000,
        COARSE_STEPS_PER_BAR,
        coarse_minutes,
        rng,
    );
    let long_hours = ((coarse_start - hours_start) / HOUR_MS) as usize;
    // Hours and days move at the instrument's volatility per calendar year:
    // at the live walk's pace (every second a trading second) a year of
    // daily bars would wander several "years".
    let calendar = Walk {
        volatility: walk.volatility * (TRADING_SECONDS_PER_YEAR / CALENDAR_SECONDS_PER_YEAR).sqrt(),
        ..walk
    };
    let hourly = walk_back(
        calendar,
        coarse[0],
        HOUR_MS,
        COARSE_STEPS_PER_BAR,
        long_hours,
        rng,
    );
    let daily = walk_back(
        calendar,
        hourly[0],
        DAY_MS,
        COARSE_STEPS_PER_BAR,
        LONG_DAYS as usize,
        rng,
    );
    let seconds = bars(walk, &fine, fine_start, 1_000, FINE_STEPS_PER_BAR, rng);
    let mut minutes = bars(
        walk,
        &coarse,
        coarse_start,
        60_000,
        COARSE_STEPS_PER_BAR,
        rng,
    );
    minutes.extend(aggregate(&seconds, Interval::M1));
    let five_seconds = aggregate(&seconds, Interval::S5);
    let five_minutes = aggregate(&minutes, Interval::M5);
    let fifteen_minutes = aggregate(&minutes, Interval::M15);
    let mut hours = bars(
        walk,
        &hourly,
        hours_start,
        HOUR_MS,
        COARSE_STEPS_PER_BAR,
        rng,
    );
    hours.extend(aggregate(&minutes, Interval::H1));
    let mut days = bars(walk, &daily, days_start, DAY_MS, COARSE_STEPS_PER_BAR, rng);
    days.extend(aggregate(&hours, Interval::D1));
    [
        seconds,
        five_seconds,
        minutes,
        five_minutes,
        fifteen_minutes,
        hours,
        days,
    ]
}

/// Prices at every sub-step of `count` bars of `bar_ms`, walked backwards from
/// `end_price`; returned oldest first (`count * steps + 1` points).
fn walk_back(
    walk: Walk,
    end_price: f64,
    bar_ms: i64,
    steps: usize,
    count: usize,
    rng: &mut impl Rng,
) -> Vec<f64> {
    let step_years = bar_ms as f64 / 1_000.0 / steps as f64 / TRADING_SECONDS_PER_YEAR;
    let sigma = walk.volatility * step_years.sqrt();
    let mut points = Vec::with_capacity(count * steps + 1);
    let mut price = end_price;
    points.push(price);
    for _ in 0..count * steps {
        price *= (-sigma * normal(rng)).exp();
        points.push(price);
    }
    points.reverse();
    points
}

/// Cuts a path into bars of `steps` sub-steps each, starting at `start`.
fn bars(
    walk: Walk,
    points: &[f64],
    start: i64,
    bar_ms: i64,
    steps: usize,
    rng: &mut impl Rng,
) -> Vec<Candle> {
    let shares_per_bar = walk.trades_per_second * SHARES_PER_TRADE * bar_ms as f64 / 1_000.0;
    points
        .windows(steps + 1)
        .step_by(steps)
        .enumerate()
        .map(|(i, w)| {
            let (lo, hi) = w
                .iter()
                .fold((f64::MAX, f64::MIN), |(lo, hi), p| (lo.min(*p), hi.max(*p)));
            let volume = shares_per_bar * (0.6 * normal(rng) - 0.18).exp();
            Candle {
                t: start + i as i64 * bar_ms,
                o: round_cents(w[0]),
                h: round_cents(hi),
                l: round_cents(lo),
                c: round_cents(w[steps]),
                v: volume.round().max(1.0) as u64,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    const NOW: i64 = 1_800_000_123_456;

    fn sample(seed: u64) -> [Vec<Candle>; Interval::COUNT] {
        let walk = Walk {
            volatility: 0.3,
            trades_per_second: 4.0,
        };
        history(
            walk,
            150.0,
            NOW,
            &mut rand_chacha::ChaCha8Rng::seed_from_u64(seed),
        )
    }

    #[test]
    fn every_interval_is_deep_enough_and_ordered() {
        let history = sample(1);
        for (interval, bars) in Interval::ALL.into_iter().zip(&history) {
            let deep_enough = match interval {
                Interval::M15 => COARSE_MINUTES as usize / 15,
                Interval::D1 => LONG_DAYS as usize,
                _ => crate::candles::CAPACITY.min(1_000),
            };
            assert!(bars.len() >= deep_enough, "{interval}: {} bars", bars.len());
            assert!(
                bars.windows(2).all(|w| w[1].t - w[0].t == interval.ms()),
                "{interval}: gapless, oldest first"
            );
            assert!(
                bars.iter().all(|b| b.t == interval.bucket(b.t)),
                "{interval}: aligned"
            );
            assert!(
                bars.iter()
                    .all(|b| b.l <= b.o.min(b.c) && b.h >= b.o.max(b.c) && b.l > 0.0 && b.v > 0)
            );
        }
        // At least the last two hours of minutes, ending just before now.
        let minutes = &history[Interval::M1.index()];
        assert!(NOW - minutes[0].t >= 2 * 3_600_000);
        assert_eq!(
            history[0].last().unwrap().t,
            Interval::S1.bucket(NOW) - 1_000
        );
    }

    #[test]
    fn history_joins_the_live_price_and_intervals_agree() {
        let history = sample(2);
        for bars in &history {
            assert_eq!(
                bars.last().unwrap().c,
                150.0,
                "the last close is the opening price"
            );
        }
        let minutes = &history[Interval::M1.index()];
        let rolled = aggregate(minutes, Interval::M5);
        assert_eq!(&rolled, &history[Interval::M5.index()]);
        let hours = &history[Interval::H1.index()];
        assert_eq!(
            aggregate(hours, Interval::D1),
            history[Interval::D1.index()][LONG_DAYS as usize..],
            "today and the days of hourly bars are rolled up from them"
        );
        let rolled = aggregate(minutes, Interval::H1);
        assert_eq!(&hours[hours.len() - rolled.len()..], &rolled[..]);
        let fine_minutes = aggregate(&history[Interval::S1.index()], Interval::M1);
        assert_eq!(
            &minutes[minutes.len() - fine_minutes.len()..],
            &fine_minutes[..]
        );
    }

    #[test]
    fn history_is_plausible_for_the_volatility() {
        let minutes = &sample(3)[Interval::M1.index()];
        let returns: Vec<f64> = minutes.windows(2).map(|w| (w[1].c / w[0].c).ln()).collect();
        let sd = (returns.iter().map(|r| r * r).sum::<f64>() / returns.len() as f64).sqrt();
        let expected = 0.3 * (60.0 / TRADING_SECONDS_PER_YEAR).sqrt();
        assert!(
            (0.85..1.15).contains(&(sd / expected)),
            "minute return sd {sd} vs {expected}"
        );
        let (lo, hi) = minutes
            .iter()
            .fold((f64::MAX, 0.0f64), |(lo, hi), b| (lo.min(b.l), hi.max(b.h)));
        assert!(
            lo > 75.0 && hi < 300.0,
            "stays in a plausible range: {lo}..{hi}"
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_history() {
        assert_eq!(sample(4), sample(4));
        assert_ne!(sample(4), sample(5));
    }
}
