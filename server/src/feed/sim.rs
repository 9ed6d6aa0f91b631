//! The simulated feed: a seeded geometric random walk per instrument.
//!
//! Each step (`--tick-ms`) moves every instrument's mid price by a log-normal
//! return scaled to its annualised volatility, then, with the instrument's
//! trade probability, prints a trade at the bid or the ask of a spread of a
//! few basis points. The walk depends only on the seed and the step count,
//! never on the clock, so a seed reproduces the same tick sequence.
//!
//! Its history (see [`backfill`]) is the same walk run backwards from the
//! opening price; the session is the UTC day, and the opening trade carries
//! the day's figures from that history, so the quote agrees with the chart.
//! Started on stored history ([`Feed::resume`]), it continues instead: each
//! walk from its stored last price, the stored day's figures if that day is
//! today (else a new day whose previous close is that price), and no
//! generated history for symbols the store has bars of.
//!
//! Market time (`--sim-clock market`): the symbols follow the US equities
//! calendar ([`app::calendar`]): full activity in the regular session, a
//! tenth of it before and after, none when closed; with `--sim-halts` a
//! symbol is halted now and then for a minute of simulated time. The
//! simulated clock starts at `--sim-start` (default: now) and runs
//! `--sim-speed` times as fast as the wall clock; a clock that is not the
//! wall clock's is recorded time, and the simulator tells the hub each time
//! its calendar's session changes, so sessions move while nothing trades.
//!
//! Order books: each symbol has a made-up book of [`BOOK_LEVELS`] levels a
//! side, its best bid and ask the last trade's quote, the others on a grid
//! of about a basis point of the price (at least a cent), with round-lot
//! sizes and now and then a large one. Every run starts with a snapshot of
//! each; then a step in which a symbol traded sends the levels that
//! changed: those the new quote leaves inside the spread or beyond the
//! depth go (size 0), new ones come, and a few sizes change. The books draw
//! on an RNG of their own, so the trades are the same with or without them.
//!
//! Remote control ([`SimRemote`], the control API's): paused (from the
//! start with `--sim-paused`), the walk takes steps only when told to, so
//! the same seed and the same number of steps give the same prices; a
//! symbol can be made to trade at a given price (the walk goes on from
//! there) or be halted until told otherwise.

use std::sync::Arc;
use std::time::Duration;

use app::protocol::{
    Candle, Interval, Level, MarketSession, Quote, SymbolInfo, TradeSide, TradingDay,
};
use async_trait::async_trait;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use super::backfill;
use super::remote::Command;
pub use super::remote::{MAX_STEPS, NotRunning, SimRemote};
use super::universe::Instrument;
use super::walk::{TRADING_SECONDS_PER_YEAR, Walk, normal, round_cents};
use super::{Depth, DepthChange, Feed, FeedError, FeedOutput, History, Resume, Session, Tick};
use crate::market::now_ms;

/// Mixed into the seed for the history's own RNG.
const HISTORY_SEED: u64 = 0x4849_5354_4f52_5921;
/// Mixed into the seed for the order books' own RNG.
const BOOK_SEED: u64 = 0x424f_4f4b_5345_4544;
/// Price levels per side of a simulated order book.
pub const BOOK_LEVELS: usize = 25;

/// What the simulator trades and how fast.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub seed: u64,
    /// Wall time between steps of the walk.
    pub tick: Duration,
    pub instruments: Vec<Instrument>,
    /// Trades per symbol per second; `None` gives each symbol its own
    /// random activity (1.5 to 8 a second).
    pub rate: Option<f64>,
    /// Whether it keeps market time.
    pub clock: SimClock,
    /// Where the simulated clock starts (Unix ms; `None`: now) and how much
    /// faster than the wall clock it runs.
    pub start: Option<i64>,
    pub speed: f64,
    /// Halt a symbol now and then (market time only).
    pub halts: bool,
    /// Starts paused: no steps until [`SimRemote`] asks for them.
    pub paused: bool,
}

/// `--sim-clock`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum SimClock {
    /// Every hour is the middle of a trading day (the default: `make run`
    /// is always lively).
    #[default]
    Always,
    /// The US equities calendar.
    Market,
}

/// Mean simulated time between halts of one symbol, and a halt's length.
const HALT_EVERY_MS: f64 = 30.0 * 60_000.0;
const HALT_FOR_MS: i64 = 60_000;
/// Activity outside the regular session, as a share of it.
const EXTENDED_ACTIVITY: f64 = 0.1;

/// One instrument's random walk.
#[derive(Clone, Debug)]
struct Walker {
    symbol: Arc<str>,
    name: Arc<str>,
    mid: f64,
    prev_close: f64,
    /// Standard deviation of one step's log return.
    sigma: f64,
    /// Trades per step, on average (the fraction is a probability).
    trades_per_step: f64,
    walk: Walk,
    /// Half the quoted spread, as a fraction of the mid.
    half_spread: f64,
    /// Today's figures as the generated or stored history has them, once
    /// it exists.
    day: Option<Session>,
    /// The store has this walk's history: none is generated.
    resumed: bool,
    /// Halted until this simulated time.
    halted_until: Option<i64>,
    /// The order book around its quote, once it has traded.
    book: Option<Ladder>,
}

/// The simulator; see the module docs.
pub struct Simulator {
    config: SimConfig,
    rng: ChaCha8Rng,
    /// The order books' (apart, so they leave the trades as they are).
    book_rng: ChaCha8Rng,
    walkers: Vec<Walker>,
    opened: bool,
    /// The simulated clock's origin: (wall ms, simulated ms) at start.
    origin: (i64, i64),
    /// When the calendar's session next changes, in simulated time.
    next_change: Option<i64>,
    symbols: Arc<[Arc<str>]>,
    /// What the remote control asks; its handle is [`Feed::remote`]'s.
    commands: mpsc::Receiver<Command>,
    remote: SimRemote,
}

impl Simulator {
    pub fn new(config: SimConfig) -> Simulator {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let step_years = config.tick.as_secs_f64() / TRADING_SECONDS_PER_YEAR;
        let walkers: Vec<Walker> = config
            .instruments
            .iter()
            .map(|i| Walker::new(i, step_years, &config, &mut rng))
            .collect();
        let wall = now_ms();
        let symbols = walkers.iter().map(|w: &Walker| w.symbol.clone()).collect();
        let (remote, commands) = SimRemote::new(config.paused);
        Simulator {
            commands,
            remote,
            origin: (wall, config.start.unwrap_or(wall)),
            book_rng: ChaCha8Rng::seed_from_u64(config.seed ^ BOOK_SEED),
            config,
            rng,
            walkers,
            opened: false,
            next_change: None,
            symbols,
        }
    }

    /// The simulated clock at wall time `wall` (Unix ms).
    pub fn sim_time(&self, wall: i64) -> i64 {
        let (wall0, sim0) = self.origin;
        sim0 + ((wall - wall0) as f64 * self.config.speed) as i64
    }

    /// The calendar the symbols trade on.
    fn calendar(&self) -> TradingDay {
        match self.config.clock {
            SimClock::Always => TradingDay::Utc,
            SimClock::Market => TradingDay::NewYork,
        }
    }

    /// How lively a session is, as a share of the regular session's rate.
    fn activity(session: MarketSession) -> f64 {
        match session {
            MarketSession::Regular => 1.0,
            MarketSession::Pre | MarketSession::Post => EXTENDED_ACTIVITY,
            MarketSession::Closed | MarketSession::Halted => 0.0,
        }
    }

    /// The opening cross: one trade per instrument carrying its previous close,
    /// so every quote exists from the first batch on.
    pub fn open(&mut self, ts: i64) -> Vec<Tick> {
        self.opened = true;
        let rng = &mut self.rng;
        let book_rng = &mut self.book_rng;
        self.walkers
            .iter_mut()
            .map(|w| {
                let mut tick = w.trade(rng, ts);
                tick.size = rng.random_range(20_000..400_000) as f64;
                tick.session = w.opening_figures(tick.price, tick.size);
                if let (Some(bid), Some(ask)) = (tick.bid, tick.ask) {
                    w.book = Some(Ladder::new(bid, ask, book_rng));
                }
                tick
            })
            .collect()
    }

    /// Every symbol's whole order book (those that have one), at `ts`.
    pub fn snapshots(&self, ts: i64) -> Vec<Depth> {
        self.walkers
            .iter()
            .filter_map(|w| {
                Some(Depth {
                    symbol: w.symbol.clone(),
                    ts,
                    change: w.book.as_ref()?.snapshot(),
                })
            })
            .collect()
    }

    /// One step of the walk: the trades printed during one tick interval
    /// ending at simulated time `ts`.
    pub fn step(&mut self, ts: i64) -> Vec<Tick> {
        self.step_with_halts(ts).ticks
    }

    /// Takes a step at `now` and hands the hub what it printed.
    async fn step_out(&mut self, out: &mut FeedOutput, now: i64) -> Result<(), FeedError> {
        self.remote.stepped();
        self.tell_clock(out, now).await?;
        let step = self.step_with_halts(now);
        for (symbol, halted) in step.halts {
            out.send_halt(symbol, halted, now).await?;
        }
        Self::publish(out, step.ticks).await?;
        Self::publish_depths(out, step.depths).await
    }

    /// Does what the remote control asks, and says when it is done.
    async fn obey(&mut self, command: Command, out: &mut FeedOutput) -> Result<(), FeedError> {
        if command.abandoned() {
            return Ok(());
        }
        match command {
            Command::Step(n, done) => {
                for _ in 0..n {
                    let now = self.sim_time(now_ms());
                    self.step_out(out, now).await?;
                }
                let _ = done.send(());
            }
            Command::Trade(symbol, price, size, done) => {
                let now = self.sim_time(now_ms());
                let Some(w) = self.walkers.iter_mut().find(|w| w.symbol == symbol) else {
                    let _ = done.send(false);
                    return Ok(());
                };
                let tick = w.trade_at(price, size, now);
                let depth = w.follow_book(
                    tick.bid.unwrap_or(price),
                    tick.ask.unwrap_or(price),
                    &mut self.book_rng,
                    now,
                );
                out.send(tick).await?;
                Self::publish_depths(out, depth.into_iter().collect()).await?;
                let _ = done.send(true);
            }
            Command::Halt(symbol, halted, done) => {
                let now = self.sim_time(now_ms());
                let Some(w) = self.walkers.iter_mut().find(|w| w.symbol == symbol) else {
                    let _ = done.send(false);
                    return Ok(());
                };
                w.halted_until = halted.then_some(i64::MAX);
                out.send_halt(symbol, halted, now).await?;
                let _ = done.send(true);
            }
        }
        Ok(())
    }

    /// A step, with the halts it started or ended and the changes to the
    /// books of the symbols that traded.
    fn step_with_halts(&mut self, ts: i64) -> Step {
        let session = self.calendar().session_at(ts);
        let activity = Simulator::activity(session);
        let halt_chance = if self.config.halts && session == MarketSession::Regular {
            self.config.tick.as_millis() as f64 * self.config.speed / HALT_EVERY_MS
        } else {
            0.0
        };
        let rng = &mut self.rng;
        let book_rng = &mut self.book_rng;
        let mut ticks = Vec::new();
        let mut halts = Vec::new();
        let mut depths = Vec::new();
        for w in &mut self.walkers {
            w.walk(rng);
            match w.halted_until {
                Some(until) if ts < until => continue,
                Some(_) => {
                    w.halted_until = None;
                    halts.push((w.symbol.clone(), false));
                }
                None if halt_chance > 0.0 && rng.random::<f64>() < halt_chance => {
                    w.halted_until = Some(ts + HALT_FOR_MS);
                    halts.push((w.symbol.clone(), true));
                    continue;
                }
                None => {}
            }
            if activity < 1.0 && rng.random::<f64>() >= activity {
                continue;
            }
            let first = ticks.len();
            for _ in 0..w.trades_now(rng) {
                ticks.push(w.trade(rng, ts));
            }
            // Within a step the quote stays: the last trade's is the book's.
            if let Some(&Tick {
                bid: Some(bid),
                ask: Some(ask),
                ..
            }) = ticks[first..].last()
            {
                depths.extend(w.follow_book(bid, ask, book_rng, ts));
            }
        }
        Step {
            ticks,
            halts,
            depths,
        }
    }

    /// Continues from stored history, as of `now_ms` (see the module docs).
    fn resume_at(&mut self, from: &Resume, now_ms: i64) {
        for w in &mut self.walkers {
            if let Some(quote) = from.quote(&w.symbol) {
                let has_bars = from.newest_minute.contains_key(&*w.symbol);
                w.resume(quote, has_bars, now_ms);
            }
        }
    }

    /// On a clock of its own, tells the hub where it is each time the
    /// calendar's session has changed (and once at the start): at every
    /// change it passed, in order, even if a slow step jumped over several.
    async fn tell_clock(&mut self, out: &mut FeedOutput, now: i64) -> Result<(), FeedError> {
        if !self.recorded_time() {
            return Ok(());
        }
        let calendar = self.calendar();
        let after = |at: i64| {
            calendar
                .next_change(at)
                .unwrap_or_else(|| (at.div_euclid(DAY_MS) + 1) * DAY_MS)
        };
        match self.next_change {
            None => {
                self.next_change = Some(after(now));
                out.send_clock(self.symbols.clone(), now).await?;
            }
            Some(mut at) => {
                while at <= now {
                    out.send_clock(self.symbols.clone(), at).await?;
                    at = after(at);
                }
                self.next_change = Some(at);
            }
        }
        Ok(())
    }

    async fn publish(out: &mut FeedOutput, ticks: Vec<Tick>) -> Result<(), FeedError> {
        for tick in ticks {
            out.send(tick).await?;
        }
        Ok(())
    }

    async fn publish_depths(out: &mut FeedOutput, depths: Vec<Depth>) -> Result<(), FeedError> {
        for depth in depths {
            out.send_depth(depth).await?;
        }
        Ok(())
    }
}

/// What one step of the walk printed.
struct Step {
    ticks: Vec<Tick>,
    /// Halts started or ended: (symbol, halted).
    halts: Vec<(Arc<str>, bool)>,
    depths: Vec<Depth>,
}

/// A simulated order book: prices in cents, each side ascending by price
/// (the best bid last, the best ask first).
#[derive(Clone, Debug)]
struct Ladder {
    /// Cents between the levels behind the best.
    step: i64,
    bids: Vec<(i64, f64)>,
    asks: Vec<(i64, f64)>,
}

impl Ladder {
    fn new(bid: f64, ask: f64, rng: &mut impl Rng) -> Ladder {
        // About a basis point of the price, at least a cent.
        let step = ((bid * 0.01).round() as i64).max(1);
        let mut sized = |prices: Vec<i64>| -> Vec<(i64, f64)> {
            prices.into_iter().map(|p| (p, resting_size(rng))).collect()
        };
        Ladder {
            bids: sized(bid_prices(cents(bid), step)),
            asks: sized(ask_prices(cents(ask), step)),
            step,
        }
    }

    /// The whole book, best levels first.
    fn snapshot(&self) -> DepthChange {
        DepthChange::Snapshot {
            bids: self
                .bids
                .iter()
                .rev()
                .map(|&(p, s)| (dollars(p), s))
                .collect(),
            asks: self.asks.iter().map(|&(p, s)| (dollars(p), s)).collect(),
        }
    }

    /// Moves the book onto a new quote, and a few sizes change: the
    /// levels that changed, (bids, asks).
    fn follow(&mut self, bid: f64, ask: f64, rng: &mut impl Rng) -> (Vec<Level>, Vec<Level>) {
        let (mut bid_changes, mut ask_changes) = (Vec::new(), Vec::new());
        let (bid, ask) = (cents(bid), cents(ask));
        if self.bids.last().map(|l| l.0) != Some(bid) {
            let prices = bid_prices(bid, self.step);
            retarget(&mut self.bids, &prices, rng, &mut bid_changes);
        }
        if self.asks.first().map(|l| l.0) != Some(ask) {
            let prices = ask_prices(ask, self.step);
            retarget(&mut self.asks, &prices, rng, &mut ask_changes);
        }
        for _ in 0..rng.random_range(1..=3) {
            let (side, changes) = if rng.random::<bool>() {
                (&mut self.bids, &mut bid_changes)
            } else {
                (&mut self.asks, &mut ask_changes)
            };
            if side.is_empty() {
                continue;
            }
            let level = rng.random_range(0..side.len());
            let size = resting_size(rng);
            side[level].1 = size;
            set_level(changes, (dollars(side[level].0), size));
        }
        (bid_changes, ask_changes)
    }
}

/// The bid prices of a book whose best bid is `best`, ascending: `best`
/// and the grid points below it.
fn bid_prices(best: i64, step: i64) -> Vec<i64> {
    let mut prices = Vec::with_capacity(BOOK_LEVELS);
    prices.push(best);
    let mut price = (best - 1).div_euclid(step) * step;
    while prices.len() < BOOK_LEVELS && price > 0 {
        prices.push(price);
        price -= step;
    }
    prices.reverse();
    prices
}

/// The ask prices of a book whose best ask is `best`, ascending.
fn ask_prices(best: i64, step: i64) -> Vec<i64> {
    let mut prices = Vec::with_capacity(BOOK_LEVELS);
    prices.push(best);
    let mut price = (best.div_euclid(step) + 1) * step;
    while prices.len() < BOOK_LEVELS {
        prices.push(price);
        price += step;
    }
    prices
}

/// Puts one side on `prices` (ascending): levels not among them go (size
/// 0), new ones get a size; each change is added to `changes`.
fn retarget(
    side: &mut Vec<(i64, f64)>,
    prices: &[i64],
    rng: &mut impl Rng,
    changes: &mut Vec<Level>,
) {
    for &(price, _) in side.iter() {
        if prices.binary_search(&price).is_err() {
            changes.push((dollars(price), 0.0));
        }
    }
    let next = prices
        .iter()
        .map(|&price| match side.binary_search_by_key(&price, |l| l.0) {
            Ok(i) => side[i],
            Err(_) => {
                let size = resting_size(rng);
                changes.push((dollars(price), size));
                (price, size)
            }
        })
        .collect();
    *side = next;
}

/// Sets a level in a list of changes, once.
fn set_level(changes: &mut Vec<Level>, level: Level) {
    match changes.iter_mut().find(|l| l.0 == level.0) {
        Some(known) => known.1 = level.1,
        None => changes.push(level),
    }
}

/// What rests at a level: round lots, now and then a large one.
fn resting_size(rng: &mut impl Rng) -> f64 {
    let lots: u32 = if rng.random_range(0..12) == 0 {
        rng.random_range(20..=200)
    } else {
        rng.random_range(1..=15)
    };
    f64::from(lots * 100)
}

fn cents(price: f64) -> i64 {
    (price * 100.0).round() as i64
}

fn dollars(cents: i64) -> f64 {
    cents as f64 / 100.0
}

impl Walker {
    fn new(
        instrument: &Instrument,
        step_years: f64,
        config: &SimConfig,
        rng: &mut impl Rng,
    ) -> Walker {
        let random_rate = rng.random_range(1.5..8.0);
        let trades_per_second = config.rate.unwrap_or(random_rate);
        // Today's session opens with a gap from the previous close.
        let open = instrument.price * (0.012 * normal(rng)).exp();
        Walker {
            symbol: instrument.symbol.as_ref().into(),
            name: instrument.name.as_ref().into(),
            mid: open,
            prev_close: instrument.price,
            walk: Walk {
                volatility: instrument.volatility,
                trades_per_second,
            },
            sigma: instrument.volatility * step_years.sqrt(),
            trades_per_step: trades_per_second * config.tick.as_secs_f64(),
            half_spread: rng.random_range(0.5e-4..3.0e-4),
            day: None,
            resumed: false,
            halted_until: None,
            book: None,
        }
    }

    /// The session figures the opening trade carries: today's from the
    /// history when there is one (so the quote agrees with the chart; a
    /// day without bars yet opens at this trade), else just the previous
    /// close.
    fn opening_figures(&self, price: f64, size: f64) -> Session {
        let Some(day) = self.day else {
            return Session {
                prev_close: Some(self.prev_close),
                ..Session::default()
            };
        };
        Session {
            prev_close: day.prev_close.or(Some(self.prev_close)),
            open: day.open.or(Some(price)),
            high: Some(day.high.map_or(price, |h| h.max(price))),
            low: Some(day.low.map_or(price, |l| l.min(price))),
            volume: Some(day.volume.map_or(size, |v| v + size)),
        }
    }

    /// Continues from a stored quote; see the module docs.
    fn resume(&mut self, quote: &Quote, has_bars: bool, now_ms: i64) {
        self.mid = quote.last;
        self.prev_close = quote.prev_close;
        self.resumed = has_bars;
        let same_day = quote.ts.div_euclid(DAY_MS) == now_ms.div_euclid(DAY_MS);
        self.day = Some(if same_day {
            Session {
                prev_close: Some(quote.prev_close),
                open: Some(quote.open),
                high: Some(quote.high),
                low: Some(quote.low),
                volume: Some(quote.volume as f64),
            }
        } else {
            self.prev_close = quote.last;
            Session {
                prev_close: Some(quote.last),
                ..Session::default()
            }
        });
    }

    /// How many trades this step prints: the whole part of the rate, plus
    /// one more with the fractional part's probability.
    fn trades_now(&self, rng: &mut impl Rng) -> usize {
        let whole = self.trades_per_step.trunc();
        whole as usize + usize::from(rng.random::<f64>() < self.trades_per_step - whole)
    }

    fn walk(&mut self, rng: &mut impl Rng) {
        // The -σ²/2 drift keeps the expected price flat (a martingale).
        self.mid *= (self.sigma * normal(rng) - 0.5 * self.sigma * self.sigma).exp();
    }

    /// Moves the book onto the quote `bid` / `ask`: the change, unless
    /// the book is new.
    fn follow_book(&mut self, bid: f64, ask: f64, rng: &mut impl Rng, ts: i64) -> Option<Depth> {
        let Some(book) = &mut self.book else {
            self.book = Some(Ladder::new(bid, ask, rng));
            return None;
        };
        let (bids, asks) = book.follow(bid, ask, rng);
        Some(Depth {
            symbol: self.symbol.clone(),
            ts,
            change: DepthChange::Update { bids, asks },
        })
    }

    fn trade(&self, rng: &mut impl Rng, ts: i64) -> Tick {
        let half = (self.mid * self.half_spread).max(0.005);
        let bid = cents_down(self.mid - half).max(0.01);
        let ask = cents_up(self.mid + half).max(bid + 0.01);
        let ask = round_cents(ask);
        // A buyer lifting the offer, or a seller hitting the bid.
        let (price, side) = if rng.random::<bool>() {
            (ask, TradeSide::Buy)
        } else {
            (bid, TradeSide::Sell)
        };
        Tick {
            symbol: self.symbol.clone(),
            price,
            size: trade_size(rng) as f64,
            bid: Some(bid),
            ask: Some(ask),
            session: Session::default(),
            ts,
            side: Some(side),
        }
    }

    /// A trade at `price` (the remote control's), quoted around it; the
    /// walk goes on from there.
    fn trade_at(&mut self, price: f64, size: f64, ts: i64) -> Tick {
        self.mid = price;
        let half = (price * self.half_spread).max(0.005);
        let bid = cents_down(price - half).max(0.01).min(price);
        let ask = round_cents(cents_up(price + half).max(bid + 0.01)).max(price);
        Tick {
            bid: Some(bid),
            ask: Some(ask),
            ..Tick::trade(self.symbol.clone(), price, size, ts)
        }
    }
}

/// Mostly round lots, some odd lots, the occasional block.
fn trade_size(rng: &mut impl Rng) -> u64 {
    match rng.random_range(0..10) {
        0..=5 => 100 * rng.random_range(1..=10),
        6..=8 => rng.random_range(1..100),
        _ => 100 * rng.random_range(10..=200),
    }
}

/// Milliseconds in a day; the simulator's session is the UTC day.
const DAY_MS: i64 = 86_400_000;

/// Today's session figures in `minutes` (1 m bars, oldest first): the open
/// of the first bar since midnight UTC, the high, low and volume since
/// then, and the close of the last bar before it.
fn day_figures(minutes: &[Candle], now_ms: i64) -> Session {
    let start = now_ms.div_euclid(DAY_MS) * DAY_MS;
    let today = minutes.partition_point(|b| b.t < start);
    let (before, day) = minutes.split_at(today);
    let extreme =
        |pick: fn(&Candle) -> f64, better: fn(f64, f64) -> f64| day.iter().map(pick).reduce(better);
    Session {
        prev_close: before.last().map(|b| b.c),
        open: day.first().map(|b| b.o),
        high: extreme(|b| b.h, f64::max),
        low: extreme(|b| b.l, f64::min),
        volume: (!day.is_empty()).then(|| day.iter().map(|b| b.v as f64).sum()),
    }
}

fn cents_down(x: f64) -> f64 {
    (x * 100.0).floor() / 100.0
}

fn cents_up(x: f64) -> f64 {
    (x * 100.0).ceil() / 100.0
}

#[async_trait]
impl Feed for Simulator {
    fn name(&self) -> &str {
        "sim"
    }

    fn symbols(&self) -> Vec<SymbolInfo> {
        let trading_day = self.calendar();
        let info = |w: &Walker| SymbolInfo {
            trading_day,
            symbol: w.symbol.to_string(),
            name: w.name.to_string(),
            currency: "USD".into(),
        };
        self.walkers.iter().map(info).collect()
    }

    /// A clock that is not the wall clock's (`--sim-start`, `--sim-speed`)
    /// is recorded time.
    fn recorded_time(&self) -> bool {
        self.config.start.is_some() || self.config.speed != 1.0
    }

    fn remote(&self) -> Option<SimRemote> {
        Some(self.remote.clone())
    }

    fn resume(&mut self, from: &Resume) {
        let now = self.sim_time(now_ms());
        self.resume_at(from, now);
    }

    /// The walk's past, generated backwards from each opening price with an
    /// RNG of its own, so the live ticks are the same with or without it
    /// (none for a walk the store has the history of). Only before the
    /// first run: a simulator misses nothing while it is down.
    async fn history(&mut self, now_ms: i64) -> Vec<History> {
        if self.opened {
            return Vec::new();
        }
        let now_ms = self.sim_time(now_ms);
        let always = self.config.clock == SimClock::Always;
        let mut rng = ChaCha8Rng::seed_from_u64(self.config.seed ^ HISTORY_SEED);
        let mut out = Vec::with_capacity(self.walkers.len() * Interval::ALL.len());
        for w in &mut self.walkers {
            if w.resumed {
                continue;
            }
            let series = backfill::history(w.walk, round_cents(w.mid), now_ms, &mut rng);
            // On market time the hub keeps the day's figures by the calendar.
            if always {
                w.day = Some(day_figures(&series[Interval::M1.index()], now_ms));
            }
            for (interval, candles) in Interval::ALL.into_iter().zip(series) {
                out.push(History {
                    symbol: w.symbol.clone(),
                    interval,
                    candles,
                });
            }
        }
        out
    }

    async fn run(
        &mut self,
        out: &mut FeedOutput,
        stop: CancellationToken,
    ) -> Result<(), FeedError> {
        let now = self.sim_time(now_ms());
        if !self.opened {
            let ticks = self.open(now);
            Self::publish(out, ticks).await?;
            self.tell_clock(out, now).await?;
        }
        // Every run starts with the whole books (a restart too: the hub
        // may have let them go while the feed was down).
        let books = self.snapshots(now);
        Self::publish_depths(out, books).await?;
        let mut interval = tokio::time::interval(self.config.tick);
        interval.set_missed_tick_behavior(MissedTickBehavior::Skip);
        interval.tick().await;
        loop {
            tokio::select! {
                biased;
                _ = stop.cancelled() => return Ok(()),
                Some(command) = self.commands.recv() => self.obey(command, out).await?,
                _ = interval.tick() => {
                    if !self.remote.paused() {
                        let now = self.sim_time(now_ms());
                        self.step_out(out, now).await?;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;
    use crate::book::OrderBook;
    use crate::feed::universe::DEFAULT_INSTRUMENTS;

    fn sim(seed: u64) -> Simulator {
        Simulator::new(SimConfig {
            seed,
            tick: Duration::from_millis(100),
            instruments: DEFAULT_INSTRUMENTS.to_vec(),
            rate: None,
            clock: SimClock::Always,
            start: None,
            speed: 1.0,
            halts: false,
            paused: false,
        })
    }

    fn session(seed: u64, steps: i64) -> Vec<Tick> {
        let mut s = sim(seed);
        let mut ticks = s.open(0);
        for step in 1..=steps {
            ticks.extend(s.step(step * 100));
        }
        ticks
    }

    #[test]
    fn the_same_seed_gives_the_same_ticks() {
        let a = session(42, 500);
        assert_eq!(a, session(42, 500));
        assert_ne!(a, session(43, 500));
    }

    #[test]
    fn every_instrument_opens_with_its_previous_close() {
        let ticks = sim(1).open(0);
        assert_eq!(ticks.len(), DEFAULT_INSTRUMENTS.len());
        for (tick, instrument) in ticks.iter().zip(DEFAULT_INSTRUMENTS) {
            assert_eq!(&*tick.symbol, instrument.symbol);
            assert_eq!(tick.session.prev_close, Some(instrument.price));
            let gap = (tick.price / instrument.price).ln().abs();
            assert!(
                gap < 0.08,
                "{} opened {} from {}",
                instrument.symbol,
                tick.price,
                instrument.price
            );
        }
    }

    #[tokio::test]
    async fn the_opening_quote_agrees_with_todays_history() {
        // 15:30 UTC: the history's minutes span the day so far and the days before.
        let now = 1_795_000_000_000 - 1_795_000_000_000 % DAY_MS + 15 * 3_600_000 + 1_800_000;
        let midnight = now - now % DAY_MS;
        let mut s = sim(11);
        let history = s.history(now).await;
        let ticks = s.open(now);
        for tick in &ticks {
            let minutes = &history
                .iter()
                .find(|h| h.symbol == tick.symbol && h.interval == Interval::M1)
                .expect("1 m history")
                .candles;
            let today: Vec<&Candle> = minutes.iter().filter(|b| b.t >= midnight).collect();
            let before = minutes.iter().rfind(|b| b.t < midnight).expect("yesterday");
            let figures = tick.session;
            assert_eq!(figures.open, Some(today[0].o), "{}: open", tick.symbol);
            assert_eq!(
                figures.prev_close,
                Some(before.c),
                "{}: prev close",
                tick.symbol
            );
            let high = today.iter().map(|b| b.h).fold(tick.price, f64::max);
            let low = today.iter().map(|b| b.l).fold(tick.price, f64::min);
            assert_eq!(
                (figures.high, figures.low),
                (Some(high), Some(low)),
                "{}",
                tick.symbol
            );
            let volume: u64 = today.iter().map(|b| b.v).sum();
            assert_eq!(
                figures.volume,
                Some(volume as f64 + tick.size),
                "{}",
                tick.symbol
            );
            assert!(low <= today[0].o && today[0].o <= high);
        }
    }

    #[tokio::test]
    async fn a_resumed_walk_continues_the_stored_price_and_day() {
        let now = 1_795_000_000_000 - 1_795_000_000_000 % DAY_MS + 15 * 3_600_000;
        let stored = |symbol: &str, ts: i64| Quote {
            symbol: symbol.into(),
            last: 123.45,
            bid: 123.44,
            ask: 123.46,
            open: 120.0,
            high: 125.0,
            low: 119.0,
            prev_close: 118.0,
            volume: 1_000_000,
            ts,
            session: MarketSession::Regular,
            close: 118.0,
        };
        let mut s = sim(11);
        let symbols: Vec<String> = s.symbols().into_iter().map(|i| i.symbol).collect();
        let (today, yesterday, fresh) = (&symbols[0], &symbols[1], &symbols[2]);
        let from = Resume {
            quotes: vec![stored(today, now - 60_000), stored(yesterday, now - DAY_MS)],
            newest_minute: [
                (today.clone(), now - 120_000),
                (yesterday.clone(), now - DAY_MS),
            ]
            .into(),
        };
        s.resume_at(&from, now);
        let history = s.history(now).await;
        assert!(
            history
                .iter()
                .all(|h| h.symbol.as_ref() != today && h.symbol.as_ref() != yesterday),
            "no history is made up for walks the store has"
        );
        assert!(history.iter().any(|h| h.symbol.as_ref() == fresh));
        let ticks = s.open(now);
        let tick = |symbol: &str| {
            ticks
                .iter()
                .find(|t| t.symbol.as_ref() == symbol)
                .unwrap()
                .clone()
        };

        let t = tick(today);
        assert!(
            (t.price / 123.45 - 1.0).abs() < 0.01,
            "continues from 123.45: {}",
            t.price
        );
        let figures = t.session;
        assert_eq!(
            (figures.open, figures.prev_close),
            (Some(120.0), Some(118.0))
        );
        assert_eq!(figures.high, Some(t.price.max(125.0)));
        assert_eq!(figures.low, Some(t.price.min(119.0)));
        assert_eq!(figures.volume, Some(1_000_000.0 + t.size));

        let t = tick(yesterday);
        let figures = t.session;
        assert_eq!(
            figures.prev_close,
            Some(123.45),
            "yesterday's last closes it"
        );
        assert_eq!(figures.open, Some(t.price), "today opens at this trade");
        assert_eq!((figures.high, figures.low), (Some(t.price), Some(t.price)));
        assert_eq!(figures.volume, Some(t.size));
    }

    #[test]
    fn just_after_midnight_the_day_has_no_figures_yet() {
        let minutes = [Candle {
            t: 0,
            o: 10.0,
            h: 11.0,
            l: 9.0,
            c: 10.5,
            v: 7,
        }];
        let figures = day_figures(&minutes, DAY_MS + 10);
        assert_eq!(figures.prev_close, Some(10.5));
        assert_eq!(
            (figures.open, figures.high, figures.volume),
            (None, None, None)
        );
    }

    #[test]
    fn quotes_are_sane_over_a_long_session() {
        let ticks = session(9, 20_000);
        assert!(
            ticks.len() > 20_000 * DEFAULT_INSTRUMENTS.len() / 10,
            "too few trades: {}",
            ticks.len()
        );
        for t in &ticks {
            let (bid, ask) = (t.bid.unwrap(), t.ask.unwrap());
            assert!(bid > 0.0 && ask > bid, "{t:?}");
            assert!(t.price == bid || t.price == ask, "{t:?}");
            assert!(t.size >= 1.0 && t.size.fract() == 0.0);
            assert_eq!(round_cents(t.price), t.price, "prices are in cents: {t:?}");
            assert!((ask - bid) / bid < 0.002, "spread too wide: {t:?}");
        }
    }

    #[test]
    fn a_fixed_rate_prints_that_many_trades_per_symbol_per_second() {
        let mut s = Simulator::new(SimConfig {
            seed: 5,
            tick: Duration::from_millis(100),
            instruments: crate::feed::universe::instruments(100),
            rate: Some(25.0),
            clock: SimClock::Always,
            start: None,
            speed: 1.0,
            halts: false,
            paused: false,
        });
        let trades: usize = (0..100).map(|i| s.step(i).len()).sum();
        let per_symbol_second = trades as f64 / 100.0 / 10.0;
        assert!(
            (24.0..26.0).contains(&per_symbol_second),
            "{per_symbol_second} trades/symbol/s"
        );
        assert_eq!(s.symbols().len(), 100);
    }

    /// Applies `depth` to the hub-side book of its symbol.
    fn apply(books: &mut HashMap<Arc<str>, OrderBook>, depth: &Depth) {
        let book = books.entry(depth.symbol.clone()).or_default();
        match &depth.change {
            DepthChange::Snapshot { bids, asks } => book.snapshot(bids, asks),
            DepthChange::Update { bids, asks } => book.update(bids, asks),
            DepthChange::Lost => book.lose(),
        }
    }

    #[test]
    fn the_book_sits_on_the_last_quote_and_never_crosses() {
        let mut s = sim(21);
        let mut quotes: HashMap<Arc<str>, (f64, f64)> = s
            .open(0)
            .into_iter()
            .map(|t| (t.symbol, (t.bid.unwrap(), t.ask.unwrap())))
            .collect();
        let mut books = HashMap::new();
        let snapshots = s.snapshots(0);
        assert_eq!(snapshots.len(), DEFAULT_INSTRUMENTS.len(), "one per symbol");
        for depth in &snapshots {
            let DepthChange::Snapshot { bids, asks } = &depth.change else {
                panic!("{depth:?}")
            };
            assert_eq!((bids.len(), asks.len()), (BOOK_LEVELS, BOOK_LEVELS));
            apply(&mut books, depth);
        }
        let (mut updates, mut changed) = (0, 0);
        for step in 1..=4_000 {
            let Step { ticks, depths, .. } = s.step_with_halts(step * 100);
            let traded: HashSet<Arc<str>> = ticks.iter().map(|t| t.symbol.clone()).collect();
            for t in ticks {
                quotes.insert(t.symbol, (t.bid.unwrap(), t.ask.unwrap()));
            }
            assert_eq!(
                depths.len(),
                traded.len(),
                "an update per symbol that traded"
            );
            for depth in &depths {
                let DepthChange::Update { bids, asks } = &depth.change else {
                    panic!("{depth:?}")
                };
                assert!(traded.contains(&depth.symbol));
                assert_eq!(depth.ts, step * 100);
                for &(price, size) in bids.iter().chain(asks) {
                    assert_eq!(round_cents(price), price, "{depth:?}");
                    assert!(size == 0.0 || (size >= 100.0 && size % 100.0 == 0.0));
                }
                updates += 1;
                changed += bids.len() + asks.len();
                apply(&mut books, depth);
            }
            for (symbol, book) in &books {
                let view = book.top(BOOK_LEVELS + 10);
                let (bid, ask) = quotes[symbol];
                assert_eq!(view.bids[0].0, bid, "{symbol} at step {step}");
                assert_eq!(view.asks[0].0, ask, "{symbol} at step {step}");
                assert!(!view.crossed());
                assert!(
                    (BOOK_LEVELS - 1..=BOOK_LEVELS).contains(&view.bids.len())
                        && (BOOK_LEVELS - 1..=BOOK_LEVELS).contains(&view.asks.len()),
                    "{symbol}: {} bids, {} asks",
                    view.bids.len(),
                    view.asks.len()
                );
            }
        }
        let per_update = changed as f64 / updates as f64;
        assert!(updates > 10_000, "{updates} updates");
        assert!(
            per_update < 10.0,
            "{per_update} levels per update: only what changed"
        );
    }

    #[test]
    fn the_books_repeat_by_seed_and_leave_the_trades_as_they_are() {
        let run = |seed: u64, book_seed: Option<u64>| {
            let mut s = sim(seed);
            if let Some(book_seed) = book_seed {
                s.book_rng = ChaCha8Rng::seed_from_u64(book_seed);
            }
            let mut ticks = s.open(0);
            let mut depths = s.snapshots(0);
            for step in 1..=200 {
                let step = s.step_with_halts(step * 100);
                ticks.extend(step.ticks);
                depths.extend(step.depths);
            }
            (ticks, depths)
        };
        let (ticks, depths) = run(8, None);
        assert_eq!((ticks.clone(), depths.clone()), run(8, None));
        assert_ne!(depths, run(9, None).1);
        // Other books, the same trades: the books draw on an RNG of their own.
        let (other_ticks, other_depths) = run(8, Some(1));
        assert_ne!(depths, other_depths);
        assert_eq!(ticks, other_ticks);
    }

    /// A hub stand-in: every event into a channel.
    struct Sink(tokio::sync::mpsc::Sender<crate::market::Event>);

    impl crate::feed::FeedSink for Sink {
        fn events(&self) -> tokio::sync::mpsc::Sender<crate::market::Event> {
            self.0.clone()
        }
        fn set_state(&self, _: crate::market::FeedId, _: app::protocol::FeedState) {}
        fn set_error(&self, _: crate::market::FeedId, _: String) {}
        fn history(&self, _: Vec<History>, _: i64) {}
    }

    #[tokio::test]
    async fn a_run_starts_with_each_symbols_book_then_sends_changes() {
        use crate::market::Event;
        let (tx, mut rx) = tokio::sync::mpsc::channel(64);
        let mut out = FeedOutput::new(
            0,
            "sim".into(),
            Arc::new(Sink(tx)),
            crate::feed::ClockBounds::default(),
            &crate::metrics::Metrics::new(),
        );
        let mut s = Simulator::new(SimConfig {
            tick: Duration::from_millis(5),
            ..sim(4).config
        });
        let stop = CancellationToken::new();
        let run = tokio::spawn({
            let stop = stop.clone();
            async move { s.run(&mut out, stop).await }
        });
        let symbols = DEFAULT_INSTRUMENTS.len();
        let mut snapshots = HashSet::new();
        let mut updates = 0;
        while updates < 5 * symbols {
            let event = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .expect("the simulator goes on")
                .expect("running");
            let Event::Depth(depth) = event else { continue };
            match depth.change {
                DepthChange::Snapshot { .. } => {
                    assert_eq!(updates, 0, "the books come first");
                    assert!(snapshots.insert(depth.symbol), "one snapshot a symbol");
                }
                DepthChange::Update { .. } => {
                    assert_eq!(snapshots.len(), symbols, "after every symbol's book");
                    updates += 1;
                }
                DepthChange::Lost => panic!("the simulator never loses a book"),
            }
        }
        stop.cancel();
        run.await.unwrap().unwrap();
    }

    #[test]
    fn step_returns_match_the_configured_volatility() {
        let mut s = sim(3);
        let steps = 50_000;
        let mut sums = vec![(0.0, 0.0); s.walkers.len()];
        for _ in 0..steps {
            let before: Vec<f64> = s.walkers.iter().map(|w| w.mid).collect();
            s.step(0);
            for ((w, b), (sum, sq)) in s.walkers.iter().zip(before).zip(sums.iter_mut()) {
                let r = (w.mid / b).ln();
                *sum += r;
                *sq += r * r;
            }
        }
        for (w, (sum, sq)) in s.walkers.iter().zip(sums) {
            let mean = sum / steps as f64;
            let sd = (sq / steps as f64 - mean * mean).sqrt();
            let ratio = sd / w.sigma;
            assert!(
                (0.97..1.03).contains(&ratio),
                "{}: sd {sd} vs sigma {}",
                w.symbol,
                w.sigma
            );
            assert!(
                mean.abs() < 4.0 * w.sigma / (steps as f64).sqrt(),
                "{}: drift {mean}",
                w.symbol
            );
        }
    }
}
