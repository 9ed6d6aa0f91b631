//! Chart indicators as pure functions of bars, kept up to date one live bar
//! at a time.
//!
//! A live chart's newest bar changes many times before the next one opens.
//! Each [`Study`] therefore has two steps: [`Study::commit`] folds a closed
//! bar into its running state, and [`Study::peek`] works out the value a bar
//! would have on top of that state without changing it. [`Live`] uses them:
//! a bar with the newest bar's time is peeked again (O(period) at most), a
//! newer one commits the bar before it. Nothing is recomputed over the
//! history per tick.
//!
//! Definitions follow the usual charting conventions (TradingView's): an
//! EMA and the RSI's averages start from the simple average of their first
//! `period` inputs; Bollinger Bands use the population standard deviation;
//! VWAP averages the typical price `(h + l + c) / 3` weighted by volume from
//! the first bar of each trading day.

use std::collections::VecDeque;

use crate::protocol::{Candle, TradingDay};

/// One indicator's running state.
pub trait Study {
    type Value: Copy;
    /// The value `bar` has, given every bar committed before it.
    fn peek(&self, bar: &Candle) -> Option<Self::Value>;
    /// Folds a closed bar in.
    fn commit(&mut self, bar: &Candle);
}

/// A study over a chart's bars: history first, then live bars as they change.
#[derive(Clone, Debug)]
pub struct Live<S> {
    study: S,
    /// The newest bar, not committed yet (it may still change).
    last: Option<Candle>,
}

impl<S: Study + Clone> Live<S> {
    pub fn new(study: S) -> Live<S> {
        Live { study, last: None }
    }

    /// The study's value at each of `bars` (oldest first), the newest one
    /// kept open for live updates.
    pub fn history(study: S, bars: &[Candle]) -> (Live<S>, Vec<Option<S::Value>>) {
        let mut live = Live::new(study);
        let values = bars.iter().map(|bar| live.bar(bar)).collect();
        (live, values)
    }

    /// Takes a bar: the newest one changed (same time) or a new one (later).
    /// A bar older than the newest is ignored (`None`): the chart's history
    /// is reloaded when old bars change.
    pub fn bar(&mut self, bar: &Candle) -> Option<S::Value> {
        match self.last {
            Some(last) if bar.t < last.t => return None,
            Some(last) if bar.t > last.t => self.study.commit(&last),
            _ => {}
        }
        self.last = Some(*bar);
        self.study.peek(bar)
    }
}

/// The last `period` inputs and their sum.
#[derive(Clone, Debug)]
struct Window {
    period: usize,
    values: VecDeque<f64>,
    sum: f64,
}

impl Window {
    fn new(period: usize) -> Window {
        Window {
            period: period.max(1),
            values: VecDeque::new(),
            sum: 0.0,
        }
    }

    fn push(&mut self, x: f64) {
        self.values.push_back(x);
        self.sum += x;
        if self.values.len() > self.period {
            self.sum -= self.values.pop_front().unwrap_or_default();
        }
    }

    /// The window as it would be with `x` pushed: its values, once full.
    fn with(&self, x: f64) -> Option<impl Iterator<Item = f64> + '_> {
        let full = self.values.len() + 1 >= self.period;
        let skip = (self.values.len() + 1).saturating_sub(self.period);
        full.then(|| self.values.iter().copied().skip(skip).chain([x]))
    }

    /// The mean with `x` pushed, once full.
    fn mean_with(&self, x: f64) -> Option<f64> {
        if self.values.len() + 1 < self.period {
            return None;
        }
        let dropped = if self.values.len() == self.period {
            self.values.front().copied().unwrap_or_default()
        } else {
            0.0
        };
        Some((self.sum - dropped + x) / self.period as f64)
    }
}

/// Simple moving average of the close.
#[derive(Clone, Debug)]
pub struct Sma(Window);

impl Sma {
    pub fn new(period: usize) -> Sma {
        Sma(Window::new(period))
    }
}

impl Study for Sma {
    type Value = f64;

    fn peek(&self, bar: &Candle) -> Option<f64> {
        self.0.mean_with(bar.c)
    }

    fn commit(&mut self, bar: &Candle) {
        self.0.push(bar.c);
    }
}

/// An exponential average of a series, seeded with the simple average of its
/// first `period` inputs.
#[derive(Clone, Debug)]
struct Ema {
    seed: Window,
    value: Option<f64>,
    alpha: f64,
}

impl Ema {
    fn new(period: usize) -> Ema {
        Ema {
            seed: Window::new(period),
            value: None,
            alpha: 2.0 / (period.max(1) as f64 + 1.0),
        }
    }

    fn peek(&self, x: f64) -> Option<f64> {
        match self.value {
            Some(ema) => Some(ema + self.alpha * (x - ema)),
            None => self.seed.mean_with(x),
        }
    }

    fn commit(&mut self, x: f64) {
        if self.value.is_none() {
            self.seed.push(x);
        }
        self.value = match self.value {
            Some(_) => self.peek(x),
            None => (self.seed.values.len() == self.seed.period)
                .then(|| self.seed.sum / self.seed.period as f64),
        };
    }
}

/// Exponential moving average of the close.
#[derive(Clone, Debug)]
pub struct CloseEma(Ema);

impl CloseEma {
    pub fn new(period: usize) -> CloseEma {
        CloseEma(Ema::new(period))
    }
}

impl Study for CloseEma {
    type Value = f64;

    fn peek(&self, bar: &Candle) -> Option<f64> {
        self.0.peek(bar.c)
    }

    fn commit(&mut self, bar: &Candle) {
        self.0.commit(bar.c);
    }
}

/// Bollinger Bands: the SMA of the close and `k` population standard
/// deviations either side.
#[derive(Clone, Debug)]
pub struct Bollinger {
    window: Window,
    k: f64,
}

/// Lower band, middle (the SMA), upper band.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bands {
    pub lower: f64,
    pub middle: f64,
    pub upper: f64,
}

impl Bollinger {
    pub fn new(period: usize, k: f64) -> Bollinger {
        Bollinger {
            window: Window::new(period),
            k,
        }
    }
}

impl Study for Bollinger {
    type Value = Bands;

    fn peek(&self, bar: &Candle) -> Option<Bands> {
        let middle = self.window.mean_with(bar.c)?;
        let n = self.window.period as f64;
        let variance = self
            .window
            .with(bar.c)?
            .map(|x| (x - middle).powi(2))
            .sum::<f64>()
            / n;
        let width = self.k * variance.sqrt();
        Some(Bands {
            lower: middle - width,
            middle,
            upper: middle + width,
        })
    }

    fn commit(&mut self, bar: &Candle) {
        self.window.push(bar.c);
    }
}

/// Wilder's relative strength index of the close (0–100).
#[derive(Clone, Debug)]
pub struct Rsi {
    period: usize,
    previous: Option<f64>,
    /// Gains and losses until the first `period` changes are in.
    seed: Vec<(f64, f64)>,
    /// Wilder's smoothed average gain and loss.
    averages: Option<(f64, f64)>,
}

impl Rsi {
    pub fn new(period: usize) -> Rsi {
        Rsi {
            period: period.max(1),
            previous: None,
            seed: Vec::new(),
            averages: None,
        }
    }

    /// The averages with the change to `close` folded in.
    fn averages_with(&self, close: f64) -> Option<(f64, f64)> {
        let change = close - self.previous?;
        let (gain, loss) = (change.max(0.0), (-change).max(0.0));
        let n = self.period as f64;
        match self.averages {
            Some((g, l)) => Some(((g * (n - 1.0) + gain) / n, (l * (n - 1.0) + loss) / n)),
            None if self.seed.len() + 1 == self.period => {
                let (g, l) = self
                    .seed
                    .iter()
                    .fold((gain, loss), |(g, l), (a, b)| (g + a, l + b));
                Some((g / n, l / n))
            }
            None => None,
        }
    }
}

impl Study for Rsi {
    type Value = f64;

    fn peek(&self, bar: &Candle) -> Option<f64> {
        let (gain, loss) = self.averages_with(bar.c)?;
        Some(if loss == 0.0 {
            100.0
        } else if gain == 0.0 {
            0.0
        } else {
            100.0 - 100.0 / (1.0 + gain / loss)
        })
    }

    fn commit(&mut self, bar: &Candle) {
        if let Some(previous) = self.previous {
            let averages = self.averages_with(bar.c);
            if self.averages.is_none() && averages.is_none() {
                let change = bar.c - previous;
                self.seed.push((change.max(0.0), (-change).max(0.0)));
            } else {
                self.averages = averages;
                self.seed.clear();
            }
        }
        self.previous = Some(bar.c);
    }
}

/// MACD: the fast EMA less the slow EMA of the close, its signal line (an
/// EMA of the MACD) and their difference.
#[derive(Clone, Debug)]
pub struct Macd {
    fast: Ema,
    slow: Ema,
    signal: Ema,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MacdValue {
    pub macd: f64,
    /// None until the signal's EMA has `signal` MACD values.
    pub signal: Option<f64>,
    pub histogram: Option<f64>,
}

impl Macd {
    pub fn new(fast: usize, slow: usize, signal: usize) -> Macd {
        Macd {
            fast: Ema::new(fast),
            slow: Ema::new(slow),
            signal: Ema::new(signal),
        }
    }

    fn macd(&self, close: f64) -> Option<f64> {
        Some(self.fast.peek(close)? - self.slow.peek(close)?)
    }
}

impl Study for Macd {
    type Value = MacdValue;

    fn peek(&self, bar: &Candle) -> Option<MacdValue> {
        let macd = self.macd(bar.c)?;
        let signal = self.signal.peek(macd);
        Some(MacdValue {
            macd,
            signal,
            histogram: signal.map(|s| macd - s),
        })
    }

    fn commit(&mut self, bar: &Candle) {
        if let Some(macd) = self.macd(bar.c) {
            self.signal.commit(macd);
        }
        self.fast.commit(bar.c);
        self.slow.commit(bar.c);
    }
}

/// Volume-weighted average price from the first bar of each trading day.
#[derive(Clone, Debug)]
pub struct Vwap {
    day: TradingDay,
    /// The trading day summed, and its Σ price × volume and Σ volume.
    current: Option<(i64, f64, f64)>,
}

impl Vwap {
    pub fn new(day: TradingDay) -> Vwap {
        Vwap { day, current: None }
    }

    fn sums_with(&self, bar: &Candle) -> (i64, f64, f64) {
        let day = self.day.session_day(bar.t);
        let (pv, v) = match self.current {
            Some((d, pv, v)) if d == day => (pv, v),
            _ => (0.0, 0.0),
        };
        let typical = (bar.h + bar.l + bar.c) / 3.0;
        let volume = bar.v as f64;
        (day, pv + typical * volume, v + volume)
    }
}

impl Study for Vwap {
    type Value = f64;

    fn peek(&self, bar: &Candle) -> Option<f64> {
        let (_, pv, v) = self.sums_with(bar);
        (v > 0.0).then(|| pv / v)
    }

    fn commit(&mut self, bar: &Candle) {
        self.current = Some(self.sums_with(bar));
    }
}

/// An indicator a chart can show, named as the URL names it: `sma20`,
/// `ema50`, `bb20` (Bollinger, 2 deviations), `vwap`, `rsi14`, `macd`
/// (12, 26, 9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spec {
    Sma(u16),
    Ema(u16),
    Bollinger(u16),
    Vwap,
    Rsi(u16),
    Macd,
}

/// Indicators one chart shows at most.
pub const MAX_STUDIES: usize = 6;
/// Periods allowed in a name.
const PERIODS: std::ops::RangeInclusive<u16> = 2..=500;

/// The indicators offered in the chart's menu.
pub const PRESETS: [Spec; 6] = [
    Spec::Sma(20),
    Spec::Ema(50),
    Spec::Bollinger(20),
    Spec::Vwap,
    Spec::Rsi(14),
    Spec::Macd,
];

impl Spec {
    /// The name in the URL.
    pub fn key(self) -> String {
        match self {
            Spec::Sma(n) => format!("sma{n}"),
            Spec::Ema(n) => format!("ema{n}"),
            Spec::Bollinger(n) => format!("bb{n}"),
            Spec::Vwap => "vwap".into(),
            Spec::Rsi(n) => format!("rsi{n}"),
            Spec::Macd => "macd".into(),
        }
    }

    pub fn parse(text: &str) -> Option<Spec> {
        let text = text.trim().to_ascii_lowercase();
        match text.as_str() {
            "vwap" => return Some(Spec::Vwap),
            "macd" => return Some(Spec::Macd),
            _ => {}
        }
        let digits = text.find(|c: char| c.is_ascii_digit())?;
        let period: u16 = text[digits..]
            .parse()
            .ok()
            .filter(|n| PERIODS.contains(n))?;
        match &text[..digits] {
            "sma" => Some(Spec::Sma(period)),
            "ema" => Some(Spec::Ema(period)),
            "bb" => Some(Spec::Bollinger(period)),
            "rsi" => Some(Spec::Rsi(period)),
            _ => None,
        }
    }

    /// How the chart's menu and readout name it.
    pub fn label(self) -> String {
        match self {
            Spec::Sma(n) => format!("SMA {n}"),
            Spec::Ema(n) => format!("EMA {n}"),
            Spec::Bollinger(n) => format!("BB {n}"),
            Spec::Vwap => "VWAP".into(),
            Spec::Rsi(n) => format!("RSI {n}"),
            Spec::Macd => "MACD".into(),
        }
    }

    /// Whether it has a pane of its own (else it is drawn over the price).
    pub fn own_pane(self) -> bool {
        matches!(self, Spec::Rsi(_) | Spec::Macd)
    }

    /// How many lines it draws (their values come in this order).
    pub fn lines(self) -> usize {
        match self {
            Spec::Bollinger(_) | Spec::Macd => 3,
            _ => 1,
        }
    }
}

/// The indicators a URL's `ind` names (unknown names skipped, each once,
/// at most [`MAX_STUDIES`]).
pub fn parse_list(text: &str) -> Vec<Spec> {
    let mut specs: Vec<Spec> = Vec::new();
    for spec in text.split(',').filter_map(Spec::parse) {
        if !specs.contains(&spec) && specs.len() < MAX_STUDIES {
            specs.push(spec);
        }
    }
    specs
}

/// The URL's `ind` for `specs`.
pub fn list_key(specs: &[Spec]) -> String {
    specs.iter().map(|s| s.key()).collect::<Vec<_>>().join(",")
}

/// A running indicator of any kind.
#[derive(Clone, Debug)]
pub enum Running {
    Sma(Live<Sma>),
    Ema(Live<CloseEma>),
    Bollinger(Live<Bollinger>),
    Vwap(Live<Vwap>),
    Rsi(Live<Rsi>),
    Macd(Live<Macd>),
}

/// An indicator's values at one bar, in [`Spec::lines`] order.
pub type Values = [Option<f64>; 3];

impl Running {
    /// `spec`, on a market whose days are `day`'s (for VWAP).
    pub fn new(spec: Spec, day: TradingDay) -> Running {
        let n = |p: u16| usize::from(p);
        match spec {
            Spec::Sma(p) => Running::Sma(Live::new(Sma::new(n(p)))),
            Spec::Ema(p) => Running::Ema(Live::new(CloseEma::new(n(p)))),
            Spec::Bollinger(p) => Running::Bollinger(Live::new(Bollinger::new(n(p), 2.0))),
            Spec::Vwap => Running::Vwap(Live::new(Vwap::new(day))),
            Spec::Rsi(p) => Running::Rsi(Live::new(Rsi::new(n(p)))),
            Spec::Macd => Running::Macd(Live::new(Macd::new(12, 26, 9))),
        }
    }

    /// Takes a bar (see [`Live::bar`]); its values.
    pub fn bar(&mut self, bar: &Candle) -> Values {
        let one = |v: Option<f64>| [v, None, None];
        match self {
            Running::Sma(s) => one(s.bar(bar)),
            Running::Ema(s) => one(s.bar(bar)),
            Running::Vwap(s) => one(s.bar(bar)),
            Running::Rsi(s) => one(s.bar(bar)),
            Running::Bollinger(s) => s.bar(bar).map_or([None; 3], |b| {
                [Some(b.lower), Some(b.middle), Some(b.upper)]
            }),
            Running::Macd(s) => s
                .bar(bar)
                .map_or([None; 3], |m| [Some(m.macd), m.signal, m.histogram]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Worked out by the textbook definitions over the whole series, apart
    // from this code (a script summing windows directly), and pasted here.
    /// 30 hourly bars from a UTC midnight (the last six on the next day).
    const BARS: [(i64, f64, f64, f64, f64, u64); 30] = [
        (1700006400000, 100.0, 100.69, 99.67, 100.39, 722),
        (1700010000000, 100.39, 102.46, 99.41, 102.36, 973),
        (1700013600000, 102.36, 102.69, 100.99, 101.33, 796),
        (1700017200000, 101.33, 103.74, 101.31, 102.95, 108),
        (1700020800000, 102.95, 103.67, 102.1, 102.68, 304),
        (1700024400000, 102.68, 103.24, 100.55, 100.71, 914),
        (1700028000000, 100.71, 101.36, 99.74, 100.91, 601),
        (1700031600000, 100.91, 102.6, 100.48, 102.14, 454),
        (1700035200000, 102.14, 103.55, 101.31, 103.41, 761),
        (1700038800000, 103.41, 104.04, 103.1, 103.94, 921),
        (1700042400000, 103.94, 104.81, 103.91, 104.39, 890),
        (1700046000000, 104.39, 104.87, 102.57, 102.98, 295),
        (1700049600000, 102.98, 103.09, 101.38, 101.65, 833),
        (1700053200000, 101.65, 102.24, 100.0, 100.6, 889),
        (1700056800000, 100.6, 101.52, 100.59, 101.19, 564),
        (1700060400000, 101.19, 102.16, 99.78, 100.27, 685),
        (1700064000000, 100.27, 101.13, 99.73, 100.66, 459),
        (1700067600000, 100.66, 101.74, 100.4, 101.62, 753),
        (1700071200000, 101.62, 102.71, 101.07, 102.71, 566),
        (1700074800000, 102.71, 103.46, 100.85, 101.77, 863),
        (1700078400000, 101.77, 101.99, 100.97, 101.05, 655),
        (1700082000000, 101.05, 103.94, 100.15, 103.0, 378),
        (1700085600000, 103.0, 103.83, 101.73, 102.5, 161),
        (1700089200000, 102.5, 102.68, 101.79, 101.82, 840),
        (1700092800000, 101.82, 104.19, 101.28, 103.8, 707),
        (1700096400000, 103.8, 104.07, 101.39, 102.32, 342),
        (1700100000000, 102.32, 103.0, 101.62, 102.29, 426),
        (1700103600000, 102.29, 102.37, 100.27, 100.93, 386),
        (1700107200000, 100.93, 101.83, 99.28, 99.43, 758),
        (1700110800000, 99.43, 101.66, 98.51, 101.43, 928),
    ];
    const SMA_5: [Option<f64>; 30] = [
        None,
        None,
        None,
        None,
        Some(101.942),
        Some(102.006),
        Some(101.71600000000001),
        Some(101.878),
        Some(101.96999999999998),
        Some(102.222),
        Some(102.95800000000001),
        Some(103.372),
        Some(103.274),
        Some(102.71200000000002),
        Some(102.162),
        Some(101.338),
        Some(100.874),
        Some(100.86800000000001),
        Some(101.28999999999999),
        Some(101.40599999999999),
        Some(101.562),
        Some(102.03),
        Some(102.20599999999999),
        Some(102.02799999999999),
        Some(102.434),
        Some(102.68800000000002),
        Some(102.546),
        Some(102.232),
        Some(101.754),
        Some(101.28),
    ];
    const EMA_5: [Option<f64>; 30] = [
        None,
        None,
        None,
        None,
        Some(101.942),
        Some(101.53133333333334),
        Some(101.32422222222223),
        Some(101.59614814814816),
        Some(102.20076543209878),
        Some(102.78051028806586),
        Some(103.31700685871058),
        Some(103.2046712391404),
        Some(102.68644749276027),
        Some(101.99096499517351),
        Some(101.72397666344901),
        Some(101.23931777563268),
        Some(101.0462118504218),
        Some(101.23747456694788),
        Some(101.72831637796526),
        Some(101.74221091864351),
        Some(101.51147394576233),
        Some(102.0076492971749),
        Some(102.17176619811661),
        Some(102.05451079874442),
        Some(102.63634053249628),
        Some(102.53089368833085),
        Some(102.45059579222057),
        Some(101.94373052814706),
        Some(101.10582035209805),
        Some(101.21388023473204),
    ];
    const BOLLINGER_5_2: [Option<(f64, f64, f64)>; 30] = [
        None,
        None,
        None,
        None,
        Some((100.04069939252099, 101.942, 103.843300607479)),
        Some((100.30721926076376, 102.006, 103.70478073923624)),
        Some((99.86933381468117, 101.71600000000001, 103.56266618531885)),
        Some((100.05321946525068, 101.878, 103.70278053474932)),
        Some((99.90741909249599, 101.96999999999998, 104.03258090750398)),
        Some((99.63324276920372, 102.222, 104.81075723079627)),
        Some((100.4151386195862, 102.95800000000001, 105.50086138041382)),
        Some((101.81459703352023, 103.372, 104.92940296647977)),
        Some((101.39116809034901, 103.274, 105.15683190965099)),
        Some((99.88585350698165, 102.71200000000002, 105.53814649301839)),
        Some((99.43731579811532, 102.162, 104.88668420188469)),
        Some((99.44049005272699, 101.338, 103.235509947273)),
        Some((99.89923028360539, 100.874, 101.8487697163946)),
        Some((99.91222596812845, 100.86800000000001, 101.82377403187157)),
        Some((99.59941430267494, 101.28999999999999, 102.98058569732504)),
        Some((99.67956552397723, 101.40599999999999, 103.13243447602275)),
        Some((100.164779902807, 101.562, 102.959220097193)),
        Some((100.58794590947497, 102.03, 103.47205409052503)),
        Some((100.79254465935423, 102.20599999999999, 103.61945534064574)),
        Some((100.69117390809424, 102.02799999999999, 103.36482609190574)),
        Some((100.54019536382445, 102.434, 104.32780463617554)),
        Some((101.34395238179596, 102.68800000000002, 104.03204761820407)),
        Some((101.21383784770772, 102.546, 103.87816215229229)),
        Some((100.36981203956206, 102.232, 104.09418796043794)),
        Some((98.80459734861448, 101.754, 104.70340265138553)),
        Some((99.15036153302961, 101.28, 103.40963846697039)),
    ];
    const RSI_5: [Option<f64>; 30] = [
        None,
        None,
        None,
        None,
        None,
        Some(52.33236151603493),
        Some(54.00843881856537),
        Some(63.79489308698358),
        Some(71.59570569633134),
        Some(74.4656708587394),
        Some(76.938668268148),
        Some(55.77978802111729),
        Some(42.1215446730006),
        Some(33.9241684321847),
        Some(41.87006878085391),
        Some(33.919536362071085),
        Some(39.960628612691),
        Some(53.141577812572315),
        Some(64.27342451891874),
        Some(51.1694828166206),
        Some(42.81239940941814),
        Some(63.17395386105114),
        Some(56.70310439043769),
        Some(48.29374284128047),
        Some(66.41986538531353),
        Some(50.03217554318454),
        Some(49.721338969955454),
        Some(36.77464504201985),
        Some(27.060340963615275),
        Some(49.3567000679182),
    ];
    const MACD_3_6_4: [(Option<f64>, Option<f64>); 30] = [
        (None, None),
        (None, None),
        (None, None),
        (None, None),
        (None, None),
        (Some(-0.17291666666666572), None),
        (Some(-0.26360119047618014), None),
        (Some(0.005240221088428143), None),
        (Some(0.3726492650631599), Some(-0.01465709274781446)),
        (Some(0.564202600045121), Some(0.21688678436935974)),
        (Some(0.6484427053893711), Some(0.3895091527773643)),
        (Some(0.283750927956703), Some(0.34720586284909977)),
        (Some(-0.17203198226306426), Some(0.13951072480423415)),
        (Some(-0.5352355955896826), Some(-0.13038780335333255)),
        (Some(-0.4620603724078194), Some(-0.2630568309751273)),
        (Some(-0.5670605966417526), Some(-0.3846583372417774)),
        (Some(-0.43998059149078017), Some(-0.40678723894137847)),
        (Some(-0.12602621943817383), Some(-0.2944828311400966)),
        (Some(0.23767551621463667), Some(-0.08161949219820328)),
        (Some(0.1321867766314142), Some(0.0039030153336437265)),
        (Some(-0.07865731273849974), Some(-0.029121115895213663)),
        (Some(0.2751351285920265), Some(0.0925813818996824)),
        (Some(0.25504169641121166), Some(0.15756550770429412)),
        (Some(0.0657166568593226), Some(0.1208259673663055)),
        (Some(0.4129981917537293), Some(0.23769485712127503)),
        (Some(0.1608847125369124), Some(0.20697079928752998)),
        (Some(0.041432082454207375), Some(0.14075531255420093)),
        (Some(-0.2985770114973576), Some(-0.034977617066422495)),
        (Some(-0.6987835434090073), Some(-0.3004999876034564)),
        (Some(-0.3133167986047454), Some(-0.305626712003972)),
    ];
    const VWAP: [Option<f64>; 30] = [
        Some(100.25),
        Some(100.91588790560472),
        Some(101.15686471296668),
        Some(101.21960369372836),
        Some(101.38684693994718),
        Some(101.41394201379792),
        Some(101.31274030481363),
        Some(101.35255473453749),
        Some(101.54224569501153),
        Some(101.8445270064083),
        Some(102.1464709833423),
        Some(102.19704914502304),
        Some(102.1817876030487),
        Some(102.06572983828349),
        Some(102.01139850374066),
        Some(101.92986803610333),
        Some(101.87138030859225),
        Some(101.83234412570599),
        Some(101.84734571855648),
        Some(101.85893690859612),
        Some(101.83451258984245),
        Some(101.84840957545421),
        Some(101.85768832359345),
        Some(101.87073621492796),
        Some(103.08999999999999),
        Some(102.92807435653002),
        Some(102.74764067796609),
        Some(102.42456206340677),
        Some(101.77493318060328),
        Some(101.45009397613006),
    ];

    fn bars() -> Vec<Candle> {
        BARS.iter()
            .map(|&(t, o, h, l, c, v)| Candle { t, o, h, l, c, v })
            .collect()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9 * b.abs().max(1.0)
    }

    fn assert_series(name: &str, got: &[Option<f64>], want: &[Option<f64>]) {
        assert_eq!(got.len(), want.len(), "{name}");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            match (g, w) {
                (Some(g), Some(w)) => assert!(close(*g, *w), "{name}[{i}]: {g} != {w}"),
                (None, None) => {}
                _ => panic!("{name}[{i}]: {g:?} != {w:?} (warm-up)"),
            }
        }
    }

    #[test]
    fn moving_averages_match_the_reference_including_their_warm_up() {
        let (_, sma) = Live::history(Sma::new(5), &bars());
        assert_series("SMA(5)", &sma, &SMA_5);
        let (_, ema) = Live::history(CloseEma::new(5), &bars());
        assert_series("EMA(5)", &ema, &EMA_5);
    }

    #[test]
    fn bollinger_rsi_macd_and_vwap_match_the_reference() {
        let (_, bands) = Live::history(Bollinger::new(5, 2.0), &bars());
        for (part, pick) in [("lower", 0usize), ("middle", 1), ("upper", 2)] {
            let got: Vec<Option<f64>> = bands
                .iter()
                .map(|b| b.map(|b| [b.lower, b.middle, b.upper][pick]))
                .collect();
            let want: Vec<Option<f64>> = BOLLINGER_5_2
                .iter()
                .map(|b| b.map(|(l, m, u)| [l, m, u][pick]))
                .collect();
            assert_series(part, &got, &want);
        }
        let (_, rsi) = Live::history(Rsi::new(5), &bars());
        assert_series("RSI(5)", &rsi, &RSI_5);
        let (_, macd) = Live::history(Macd::new(3, 6, 4), &bars());
        let line: Vec<Option<f64>> = macd.iter().map(|m| m.map(|m| m.macd)).collect();
        let signal: Vec<Option<f64>> = macd.iter().map(|m| m.and_then(|m| m.signal)).collect();
        assert_series("MACD", &line, &MACD_3_6_4.map(|m| m.0));
        assert_series("signal", &signal, &MACD_3_6_4.map(|m| m.1));
        for m in macd.iter().flatten() {
            if let (Some(s), Some(h)) = (m.signal, m.histogram) {
                assert!(close(h, m.macd - s));
            }
        }
        let (_, vwap) = Live::history(Vwap::new(TradingDay::Utc), &bars());
        assert_series("VWAP", &vwap, &VWAP);
        // It starts again with the next day's first bar.
        let day_two = &bars()[24];
        assert!(close(
            vwap[24].unwrap(),
            (day_two.h + day_two.l + day_two.c) / 3.0
        ));
    }

    #[test]
    fn a_live_bar_changing_many_times_ends_where_the_history_does() {
        let bars = bars();
        // The first 20 bars as history, then each later bar arrives as it
        // forms: its close wanders three times before the final one.
        let (mut live, _) = Live::history(Macd::new(3, 6, 4), &bars[..20]);
        let (mut rsi, _) = Live::history(Rsi::new(5), &bars[..20]);
        let (mut sma, _) = Live::history(Sma::new(5), &bars[..20]);
        let mut got = (Vec::new(), Vec::new(), Vec::new());
        for bar in &bars[20..] {
            for wander in [-1.5, 0.7, 3.0] {
                let forming = Candle {
                    c: bar.c + wander,
                    ..*bar
                };
                live.bar(&forming);
                rsi.bar(&forming);
                sma.bar(&forming);
            }
            got.0.push(live.bar(bar).map(|m| m.macd));
            got.1.push(rsi.bar(bar));
            got.2.push(sma.bar(bar));
        }
        assert_series("MACD live", &got.0, &MACD_3_6_4.map(|m| m.0)[20..]);
        assert_series("RSI live", &got.1, &RSI_5[20..]);
        assert_series("SMA live", &got.2, &SMA_5[20..]);
        // An older bar (a late correction) is not folded in.
        assert_eq!(sma.bar(&bars[3]), None);
        assert_series("SMA after", &[sma.bar(&bars[29])], &[SMA_5[29]]);
    }

    #[test]
    fn flat_prices_read_sensibly() {
        let flat: Vec<Candle> = (0..8)
            .map(|i| Candle {
                t: i * 60_000,
                o: 10.0,
                h: 10.0,
                l: 10.0,
                c: 10.0,
                v: 0,
            })
            .collect();
        let (_, rsi) = Live::history(Rsi::new(3), &flat);
        assert_eq!(rsi[3], Some(100.0), "no loss: 100, as charting tools show");
        let (_, bands) = Live::history(Bollinger::new(3, 2.0), &flat);
        let b = bands[5].unwrap();
        assert_eq!((b.lower, b.middle, b.upper), (10.0, 10.0, 10.0));
        let (_, vwap) = Live::history(Vwap::new(TradingDay::Utc), &flat);
        assert_eq!(vwap[7], None, "no volume: no VWAP");
    }

    #[test]
    fn indicator_names_read_back_and_bad_ones_are_skipped() {
        for spec in PRESETS {
            assert_eq!(Spec::parse(&spec.key()), Some(spec));
        }
        assert_eq!(
            parse_list("sma5,RSI14,sma5,bogus,sma1,ema501,bb20,vwap,macd,ema9,sma7"),
            [
                Spec::Sma(5),
                Spec::Rsi(14),
                Spec::Bollinger(20),
                Spec::Vwap,
                Spec::Macd,
                Spec::Ema(9)
            ],
            "each once, periods 2 to 500, at most six"
        );
        assert_eq!(list_key(&[Spec::Sma(5), Spec::Macd]), "sma5,macd");
        assert!(parse_list("").is_empty());
    }

    #[test]
    fn a_running_indicator_gives_its_lines_in_order() {
        let bars = bars();
        let mut bb = Running::new(Spec::Bollinger(5), TradingDay::Utc);
        let values: Vec<Values> = bars.iter().map(|b| bb.bar(b)).collect();
        let (l, m, u) = BOLLINGER_5_2[10].unwrap();
        assert_eq!(values[3], [None; 3]);
        assert!(close(values[10][0].unwrap(), l) && close(values[10][1].unwrap(), m));
        assert!(close(values[10][2].unwrap(), u));
    }
}
