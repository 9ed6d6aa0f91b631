//! The chart's indicators as its drawing holds them (browser only): the
//! bars they are worked out from, each indicator running, and their values
//! by bar time for the readout. What the chart draws goes to `chart.js` as
//! JSON: every line's points after a new history or a change of
//! indicators, then one point per line per live bar.

use std::collections::HashMap;

use serde::Serialize;

use crate::indicators::{Running, Spec, Values};
use crate::protocol::{Candle, TradingDay};

/// Colours of an indicator's lines (a theme's accent and warning colours
/// stay the price's and the alerts').
fn colours(spec: Spec) -> [&'static str; 3] {
    match spec {
        Spec::Sma(_) => ["#e8a33d", "", ""],
        Spec::Ema(_) => ["#b48cff", "", ""],
        Spec::Bollinger(_) => ["#5fa8d3", "#5fa8d3", "#5fa8d3"],
        Spec::Vwap => ["#ff7ab6", "", ""],
        Spec::Rsi(_) => ["#b48cff", "", ""],
        Spec::Macd => ["#4f8cff", "#e8a33d", "rgba(138, 150, 163, 0.55)"],
    }
}

/// One indicator as `chart.js` draws it.
#[derive(Serialize)]
struct Drawn {
    /// 0: over the price; 1, 2…: a pane of its own.
    pane: usize,
    lines: Vec<Line>,
}

#[derive(Serialize)]
struct Line {
    colour: &'static str,
    /// The MACD's third line is a histogram.
    histogram: bool,
    /// `[t, value]` from the first bar that has one.
    data: Vec<(i64, f64)>,
}

/// The indicators of the charted series.
#[derive(Default)]
pub struct Studies {
    specs: Vec<Spec>,
    day: Option<TradingDay>,
    bars: Vec<Candle>,
    running: Vec<Running>,
    values: HashMap<i64, Vec<Values>>,
}

impl Studies {
    /// Shows `specs` from now on; what to draw.
    pub fn choose(&mut self, specs: Vec<Spec>, day: TradingDay) -> String {
        self.specs = specs;
        self.day = Some(day);
        self.redraw()
    }

    /// A new history: every indicator is worked out again; what to draw.
    pub fn history(&mut self, bars: &[Candle], day: TradingDay) -> String {
        self.bars = bars.to_vec();
        self.day = Some(day);
        self.redraw()
    }

    /// Older bars loaded at the left; what to draw.
    pub fn older(&mut self, older: &[Candle]) -> String {
        let first = self.bars.first().map_or(i64::MAX, |b| b.t);
        let mut bars: Vec<Candle> = older.iter().filter(|b| b.t < first).copied().collect();
        bars.append(&mut self.bars);
        self.bars = bars;
        self.redraw()
    }

    /// A live bar; the new points (`[line, t, value]`), if any.
    pub fn candle(&mut self, bar: &Candle) -> Option<String> {
        match self.bars.last() {
            Some(last) if bar.t < last.t => {
                // A late correction: kept for the next full redraw.
                if let Some(held) = self.bars.iter_mut().rev().find(|b| b.t == bar.t) {
                    *held = *bar;
                }
                return None;
            }
            Some(last) if bar.t == last.t => {
                if let Some(held) = self.bars.last_mut() {
                    *held = *bar;
                }
            }
            _ => self.bars.push(*bar),
        }
        if self.running.is_empty() {
            return None;
        }
        let values: Vec<Values> = self.running.iter_mut().map(|r| r.bar(bar)).collect();
        let mut points = Vec::new();
        let mut line = 0;
        for (spec, v) in self.specs.iter().zip(&values) {
            for value in v.iter().take(spec.lines()) {
                if let Some(value) = value {
                    points.push((line, bar.t, *value));
                }
                line += 1;
            }
        }
        self.values.insert(bar.t, values);
        serde_json::to_string(&points).ok()
    }

    /// Each indicator's values at the bar of time `t`.
    pub fn at(&self, t: i64) -> Vec<(Spec, Values)> {
        let values = self.values.get(&t);
        self.specs
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                let v = values.and_then(|v| v.get(i)).copied().unwrap_or([None; 3]);
                (*spec, v)
            })
            .collect()
    }

    fn redraw(&mut self) -> String {
        let day = self.day.unwrap_or(TradingDay::Utc);
        self.running = self.specs.iter().map(|s| Running::new(*s, day)).collect();
        self.values.clear();
        let mut panes = 0;
        let mut drawn: Vec<Drawn> = self
            .specs
            .iter()
            .map(|spec| {
                let pane = if spec.own_pane() {
                    panes += 1;
                    panes
                } else {
                    0
                };
                let colour = colours(*spec);
                let lines = (0..spec.lines())
                    .map(|i| Line {
                        colour: colour[i],
                        histogram: *spec == Spec::Macd && i == 2,
                        data: Vec::new(),
                    })
                    .collect();
                Drawn { pane, lines }
            })
            .collect();
        for bar in &self.bars {
            let values: Vec<Values> = self.running.iter_mut().map(|r| r.bar(bar)).collect();
            for (d, v) in drawn.iter_mut().zip(&values) {
                for (line, value) in d.lines.iter_mut().zip(v) {
                    if let Some(value) = value {
                        line.data.push((bar.t, *value));
                    }
                }
            }
            self.values.insert(bar.t, values);
        }
        serde_json::to_string(&drawn).unwrap_or_else(|_| "[]".into())
    }
}
