//! The geometric random walk the simulator trades on and its history is
//! drawn from: the parts both use.

use rand::Rng;

/// Seconds in a US trading year: 252 sessions of 6.5 hours.
pub const TRADING_SECONDS_PER_YEAR: f64 = 252.0 * 6.5 * 3600.0;

/// What one instrument's walk looks like.
#[derive(Clone, Copy, Debug)]
pub struct Walk {
    /// Annualised volatility.
    pub volatility: f64,
    pub trades_per_second: f64,
}

/// A standard normal draw (Box–Muller), so the walk needs no extra crate.
pub fn normal(rng: &mut impl Rng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

pub fn round_cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
