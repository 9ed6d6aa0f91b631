//! Builds the feeds the configuration names.

use std::time::Duration;

use crate::config::Config;
use crate::feed::alpaca::{Alpaca, AlpacaConfig};
use crate::feed::coinbase::{self, Coinbase, CoinbaseConfig};
use crate::feed::finnhub::{Finnhub, FinnhubConfig};
use crate::feed::push::PushFeed;
use crate::feed::replay::{Recording, Replay, ReplayError};
use crate::feed::sim::{SimConfig, Simulator};
use crate::feed::universe::{self, DEFAULT_INSTRUMENTS, Instrument, find};
use crate::feed::{Feed, FeedSpec};

/// A feed the configuration cannot build.
#[derive(Debug, thiserror::Error)]
pub enum FeedConfigError {
    #[error("unknown symbols for the simulator: {0} (it knows the 40 default equities)")]
    UnknownSymbols(String),
    #[error("--feed {feed} needs {what}")]
    Missing {
        feed: &'static str,
        what: &'static str,
    },
    #[error("--sim-rate must be a positive number of trades per second, not {0}")]
    BadRate(f64),
    #[error(transparent)]
    Replay(#[from] ReplayError),
}

/// Every feed `config.feeds` names, in order.
pub fn build(config: &Config) -> Result<Vec<Box<dyn Feed>>, FeedConfigError> {
    config.feeds.iter().map(|spec| feed(config, spec)).collect()
}

fn feed(config: &Config, spec: &FeedSpec) -> Result<Box<dyn Feed>, FeedConfigError> {
    let idle = Duration::from_secs(config.feed_timeout);
    Ok(match spec {
        FeedSpec::Sim => {
            let seed = config.seed.unwrap_or_else(rand::random);
            tracing::info!(seed, "simulated feed");
            let instruments = match config.sim_symbols {
                Some(n) => universe::instruments(n as usize),
                None => sim_instruments(&config.symbols)?,
            };
            let rate = match config.sim_rate {
                Some(r) if !(r.is_finite() && r > 0.0) => return Err(FeedConfigError::BadRate(r)),
                rate => rate,
            };
            Box::new(Simulator::new(SimConfig {
                seed,
                tick: config.tick(),
                instruments,
                rate,
                clock: config.sim_clock,
                start: config.sim_start.map(|t| t.timestamp_millis()),
                speed: config.sim_speed,
                halts: config.sim_halts,
                paused: config.sim_paused,
            }))
        }
        FeedSpec::Replay(path) => {
            let recording = Recording::load(path)?;
            Box::new(Replay::new(
                recording,
                config.replay_speed,
                config.replay_loop,
            ))
        }
        FeedSpec::Finnhub => Box::new(Finnhub::new(FinnhubConfig {
            url: config.finnhub_url.clone(),
            token: required(
                &config.finnhub_token,
                "finnhub",
                "--finnhub-token (or TICKERTAPE_FINNHUB_TOKEN)",
            )?,
            symbols: symbols(&config.finnhub_symbols, &config.symbols, &equities()),
            idle,
            rest_url: config.finnhub_rest_url.clone(),
            depth: config.backfill_bars,
        })),
        FeedSpec::Coinbase => {
            let defaults: Vec<String> = coinbase::DEFAULT_PRODUCTS
                .iter()
                .map(|p| p.to_string())
                .collect();
            let products = symbols(&config.coinbase_products, &config.symbols, &defaults);
            Box::new(Coinbase::new(CoinbaseConfig {
                url: config.coinbase_url.clone(),
                products,
                idle,
                rest_url: config.coinbase_rest_url.clone(),
                depth: config.backfill_bars,
            }))
        }
        FeedSpec::Alpaca => Box::new(Alpaca::new(AlpacaConfig {
            url: config.alpaca_url.clone(),
            key: required(
                &config.alpaca_key,
                "alpaca",
                "--alpaca-key (or TICKERTAPE_ALPACA_KEY)",
            )?,
            secret: required(
                &config.alpaca_secret,
                "alpaca",
                "--alpaca-secret (or TICKERTAPE_ALPACA_SECRET)",
            )?,
            symbols: symbols(&config.alpaca_symbols, &config.symbols, &equities()),
            idle,
            rest_url: config.alpaca_rest_url.clone(),
            depth: config.backfill_bars,
        })),
        FeedSpec::Push(name) => {
            if config.symbols.is_empty() {
                return Err(FeedConfigError::Missing {
                    feed: "push",
                    what: "--symbols: the symbols pushed to it",
                });
            }
            let symbols = config.symbols.iter().map(|s| crate::feed::equity_info(s));
            Box::new(PushFeed::new(name, symbols.collect(), idle))
        }
    })
}

fn required(
    value: &Option<String>,
    feed: &'static str,
    what: &'static str,
) -> Result<String, FeedConfigError> {
    value
        .clone()
        .filter(|v| !v.is_empty())
        .ok_or(FeedConfigError::Missing { feed, what })
}

/// The provider's own list if given, else `--symbols`, else the defaults.
fn symbols(own: &[String], shared: &[String], defaults: &[String]) -> Vec<String> {
    [own, shared, defaults]
        .into_iter()
        .find(|list| !list.is_empty())
        .unwrap_or_default()
        .to_vec()
}

fn equities() -> Vec<String> {
    DEFAULT_INSTRUMENTS
        .iter()
        .map(|i| i.symbol.to_string())
        .collect()
}

/// The simulator's instruments: the default list, or the named subset of it.
fn sim_instruments(symbols: &[String]) -> Result<Vec<Instrument>, FeedConfigError> {
    if symbols.is_empty() {
        return Ok(DEFAULT_INSTRUMENTS.to_vec());
    }
    let unknown: Vec<&str> = symbols
        .iter()
        .filter(|s| find(s).is_none())
        .map(|s| s.as_str())
        .collect();
    if !unknown.is_empty() {
        return Err(FeedConfigError::UnknownSymbols(unknown.join(", ")));
    }
    Ok(symbols.iter().filter_map(|s| find(s)).cloned().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(args: &[&str]) -> Result<Vec<String>, String> {
        let config =
            Config::from_args(std::iter::once("tickertape").chain(args.iter().copied())).unwrap();
        build(&config)
            .map(|feeds| feeds.iter().map(|f| f.name().to_string()).collect())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn feeds_are_built_in_order_and_need_their_credentials() {
        assert_eq!(names(&[]), Ok(vec!["sim".to_string()]));
        assert_eq!(
            names(&["--feed", "coinbase", "--feed", "sim"]),
            Ok(vec!["coinbase".into(), "sim".into()])
        );
        assert_eq!(
            names(&["--feed", "finnhub"]),
            Err("--feed finnhub needs --finnhub-token (or TICKERTAPE_FINNHUB_TOKEN)".into())
        );
        assert!(
            names(&["--feed", "alpaca", "--alpaca-key", "k"])
                .unwrap_err()
                .contains("--alpaca-secret")
        );
        assert!(
            names(&["--feed", "replay:/no/such/file.csv"])
                .unwrap_err()
                .contains("cannot read /no/such/file.csv")
        );
        assert!(
            names(&["--symbols", "AAPL,NOPE"])
                .unwrap_err()
                .contains("NOPE")
        );
    }

    #[test]
    fn provider_symbols_fall_back_in_order() {
        let own = vec!["A".to_string()];
        let shared = vec!["B".to_string()];
        let defaults = vec!["C".to_string()];
        assert_eq!(symbols(&own, &shared, &defaults), own);
        assert_eq!(symbols(&[], &shared, &defaults), shared);
        assert_eq!(symbols(&[], &[], &defaults), defaults);
    }
}
