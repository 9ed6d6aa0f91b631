//! The chart's reactive state, shared by its controls, readout and drawing.

use leptos::prelude::*;

use std::sync::Arc;

use crate::indicators::{Spec, Values};
use crate::protocol::{Candle, Interval, TradingDay};
use crate::selection::Selection;

/// What one chart draws: its series, its indicators and the symbols it
/// compares with. The main chart's come from the [`Selection`]; a linked
/// chart's from the layout (with the main chart's indicators, no comparisons).
#[derive(Clone, Copy)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub struct Charted {
    pub symbol: Signal<Option<Arc<str>>>,
    pub interval: Signal<Interval>,
    pub indicators: Signal<Vec<Spec>>,
    pub compare: Signal<Vec<Arc<str>>>,
}

impl From<Selection> for Charted {
    fn from(selection: Selection) -> Charted {
        Charted {
            symbol: selection.symbol.into(),
            interval: selection.interval.into(),
            indicators: selection.indicators.into(),
            compare: selection.compare.into(),
        }
    }
}

impl Charted {
    /// Chart `chart` of the layout.
    pub fn linked(selection: Selection, chart: u8) -> Charted {
        let layout = selection.layout;
        let series = Memo::new(move |_| layout.series(chart));
        Charted {
            symbol: Signal::derive(move || {
                series.with(|s| s.as_ref().map(|s| s.symbol.as_str().into()))
            }),
            interval: Signal::derive(move || {
                series.with(|s| s.as_ref().map(|s| s.interval).unwrap_or_default())
            }),
            indicators: selection.indicators.into(),
            compare: Signal::stored(Vec::new()),
        }
    }
}

/// How the price is drawn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ChartMode {
    #[default]
    Candles,
    Line,
    Area,
}

impl ChartMode {
    pub const ALL: [ChartMode; 3] = [ChartMode::Candles, ChartMode::Line, ChartMode::Area];

    pub fn as_str(self) -> &'static str {
        match self {
            ChartMode::Candles => "candles",
            ChartMode::Line => "line",
            ChartMode::Area => "area",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ChartMode::Candles => "Candles",
            ChartMode::Line => "Line",
            ChartMode::Area => "Area",
        }
    }
}

/// Whether the charts' crosshairs and visible time ranges move together
/// (both by default); remembered in the browser.
#[derive(Clone, Copy)]
pub struct Links {
    pub crosshair: RwSignal<bool>,
    pub range: RwSignal<bool>,
}

impl Links {
    /// Both linked (the drawing reads the viewer's choice once hydrated).
    pub fn new() -> Links {
        Links {
            crosshair: RwSignal::new(true),
            range: RwSignal::new(true),
        }
    }
}

impl Default for Links {
    fn default() -> Self {
        Links::new()
    }
}

/// What the chart shows beyond its drawing, provided as context.
#[derive(Clone, Copy)]
pub struct ChartView {
    pub mode: RwSignal<ChartMode>,
    /// The bar under the crosshair.
    pub hovered: RwSignal<Option<Candle>>,
    /// The newest bar shown.
    pub latest: RwSignal<Option<Candle>>,
    /// Whether the newest bar is in view (else "back to live" shows).
    pub at_live: RwSignal<bool>,
    /// Bars loaded for the current symbol and interval.
    pub bars: RwSignal<usize>,
    /// Times in the exchange's clock (else the viewer's); remembered.
    pub exchange_time: RwSignal<bool>,
    /// The charted symbol's calendar.
    pub calendar: RwSignal<TradingDay>,
    /// Each indicator's values at the readout's bar.
    pub studies: RwSignal<Vec<(Spec, Values)>>,
}

impl Default for ChartView {
    fn default() -> Self {
        ChartView::new()
    }
}

impl ChartView {
    pub fn new() -> ChartView {
        ChartView {
            mode: RwSignal::new(ChartMode::default()),
            hovered: RwSignal::new(None),
            latest: RwSignal::new(None),
            at_live: RwSignal::new(true),
            bars: RwSignal::new(0),
            exchange_time: RwSignal::new(false),
            calendar: RwSignal::new(TradingDay::Utc),
            studies: RwSignal::new(Vec::new()),
        }
    }

    /// Minutes east of UTC of the clock times are shown in, at `ms`:
    /// the exchange's, or the viewer's (`viewer_min`).
    pub fn offset_min(&self, ms: i64, viewer_min: i32) -> i32 {
        if self.exchange_time.get() {
            self.calendar.get().utc_offset_minutes(ms)
        } else {
            viewer_min
        }
    }

    /// A whole new history is drawn.
    pub fn show_history(&self, candles: &[Candle]) {
        self.latest.set(candles.last().copied());
        self.hovered.set(None);
        self.bars.set(candles.len());
    }

    /// One bar was drawn: a correction to an older bar changes nothing
    /// here, the newest bar updates, a newer one is one bar more.
    pub fn show_candle(&self, candle: Candle) {
        match self.latest.get_untracked() {
            Some(latest) if candle.t < latest.t => {}
            Some(latest) if candle.t == latest.t => self.latest.set(Some(candle)),
            _ => {
                self.bars.update(|n| *n += 1);
                self.latest.set(Some(candle));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_bars_update_the_newest_or_add_one_and_corrections_change_neither() {
        Owner::new().with(|| {
            let view = ChartView::new();
            let bar = |t, c| Candle {
                c,
                ..Candle::open(t, 1.0, 1)
            };
            view.show_history(&[bar(0, 1.0), bar(60, 2.0)]);
            assert_eq!(
                (view.bars.get_untracked(), view.latest.get_untracked()),
                (2, Some(bar(60, 2.0)))
            );
            view.show_candle(bar(60, 3.0));
            assert_eq!(
                (view.bars.get_untracked(), view.latest.get_untracked()),
                (2, Some(bar(60, 3.0)))
            );
            view.show_candle(bar(0, 9.0));
            assert_eq!(
                (view.bars.get_untracked(), view.latest.get_untracked()),
                (2, Some(bar(60, 3.0)))
            );
            view.show_candle(bar(120, 4.0));
            assert_eq!(
                (view.bars.get_untracked(), view.latest.get_untracked()),
                (3, Some(bar(120, 4.0)))
            );
        });
    }
}
