//! A program of its own that serves tickertape with an adapter written
//! outside the repository: everything the `tickertape` binary does (flags,
//! logging, TLS, history, SIGTERM), fed by `Lighthouse`, a made-up source
//! that quotes two symbols on a slow, repeating swell.
//!
//! ```text
//! cargo run -p tickertape --example custom_feed -- --addr 127.0.0.1:3000
//! ```
//!
//! docs/writing-a-feed-adapter.md walks through it, with the Cargo.toml of
//! a crate of its own.

use std::time::Duration;

use tickertape::{
    CancellationToken, Feed, FeedError, FeedOutput, SymbolInfo, Tick, TradingDay, async_trait,
};

/// Every symbol trades once per interval.
const EVERY: Duration = Duration::from_millis(250);

/// The source: each symbol swings around its base price, a step per trade.
struct Lighthouse {
    symbols: Vec<(&'static str, &'static str, f64)>,
    step: u64,
}

impl Lighthouse {
    fn new() -> Lighthouse {
        Lighthouse {
            symbols: vec![
                ("BEAM", "Beam Lighting Co.", 42.0),
                ("TIDE", "Tide Works Ltd.", 7.5),
            ],
            step: 0,
        }
    }

    /// The price of a symbol based at `base` at step `n`: within 2 % of it.
    fn price(base: f64, n: u64) -> f64 {
        let swell = (n as f64 / 20.0).sin() * 0.02;
        (base * (1.0 + swell) * 100.0).round() / 100.0
    }
}

#[async_trait]
impl Feed for Lighthouse {
    fn name(&self) -> &str {
        "lighthouse"
    }

    fn symbols(&self) -> Vec<SymbolInfo> {
        self.symbols
            .iter()
            .map(|&(symbol, name, _)| SymbolInfo {
                symbol: symbol.into(),
                name: name.into(),
                currency: "USD".into(),
                // Trades around the clock, so its daily bars follow UTC days.
                trading_day: TradingDay::Utc,
            })
            .collect()
    }

    async fn run(
        &mut self,
        out: &mut FeedOutput,
        stop: CancellationToken,
    ) -> Result<(), FeedError> {
        out.set_live();
        let mut interval = tokio::time::interval(EVERY);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                _ = interval.tick() => {
                    self.step += 1;
                    for &(symbol, _, base) in &self.symbols {
                        let price = Lighthouse::price(base, self.step);
                        let ts = tickertape::now_ms();
                        out.send(Tick::trade(symbol, price, 100.0, ts)).await?;
                    }
                }
            }
        }
    }
}

fn main() -> anyhow::Result<()> {
    tickertape::run_with_feeds(vec![Box::new(Lighthouse::new())])
}
