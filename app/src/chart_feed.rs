//! The chart's data path, apart from its drawing: which series a chart shows
//! ([`Series`]) and the bars on their way to it ([`ChartFeed`]). The
//! connection decides which series it asks the server for and passes on the
//! bars of that one; the chart panel attaches its drawing once mounted.

use crate::protocol::{Candle, Interval};

/// One symbol's bars at one interval: what a chart shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Series {
    pub symbol: String,
    pub interval: Interval,
}

impl Series {
    pub fn new(symbol: &str, interval: Interval) -> Series {
        Series {
            symbol: symbol.to_string(),
            interval,
        }
    }

    /// Whether a message about `symbol` at `interval` is about this series.
    pub fn is(&self, symbol: &str, interval: Interval) -> bool {
        self.symbol == symbol && self.interval == interval
    }
}

/// Where a chart's bars are drawn.
pub trait Drawing {
    /// Replaces every bar (history, oldest first).
    fn history(&mut self, interval: Interval, candles: &[Candle]);
    /// One bar changed: updated in place, or appended when it is new.
    fn candle(&mut self, candle: &Candle);
}

/// The bars of the charted series on their way to the chart's [`Drawing`]:
/// history that arrives before the chart is mounted waits here.
#[derive(Default)]
pub struct ChartFeed {
    drawing: Option<Box<dyn Drawing>>,
    /// History that arrived before there was a drawing.
    pending: Option<(Series, Vec<Candle>)>,
}

impl ChartFeed {
    /// A `candles` message for the charted series: replaces the bars.
    pub fn history(&mut self, series: Series, candles: Vec<Candle>) {
        match self.drawing.as_mut() {
            Some(drawing) => drawing.history(series.interval, &candles),
            None => self.pending = Some((series, candles)),
        }
    }

    /// A `candle` message for the charted series (none reach a chart that
    /// is not drawn yet: the history it will get holds them).
    pub fn candle(&mut self, candle: &Candle) {
        if let Some(drawing) = self.drawing.as_mut() {
            drawing.candle(candle);
        }
    }

    /// The chart is mounted, showing `showing`: it draws from now on,
    /// starting with the history that waited, if that is of `showing`.
    pub fn attach(&mut self, drawing: Box<dyn Drawing>, showing: Option<&Series>) {
        self.drawing = Some(drawing);
        if let Some((series, candles)) = self.pending.take()
            && Some(&series) == showing
        {
            self.history(series, candles);
        }
    }

    /// The chart is gone; bars wait again.
    pub fn detach(&mut self) {
        self.drawing = None;
    }
}

/// The page's one [`ChartFeed`], shared by the connection and the chart
/// panel (browser only: a drawing holds JavaScript objects).
#[cfg(feature = "hydrate")]
#[derive(Clone, Copy)]
pub struct SharedChartFeed(leptos::prelude::StoredValue<ChartFeed, leptos::prelude::LocalStorage>);

#[cfg(feature = "hydrate")]
impl SharedChartFeed {
    pub fn new() -> SharedChartFeed {
        SharedChartFeed(leptos::prelude::StoredValue::new_local(ChartFeed::default()))
    }

    /// Runs `f` on the feed (`None` once the page that made it is gone).
    pub fn with<T>(&self, f: impl FnOnce(&mut ChartFeed) -> T) -> Option<T> {
        use leptos::prelude::UpdateValue;
        self.0.try_update_value(f)
    }
}

#[cfg(feature = "hydrate")]
impl Default for SharedChartFeed {
    fn default() -> Self {
        SharedChartFeed::new()
    }
}

/// Every chart's feed, by chart number (0: the main chart).
#[cfg(feature = "hydrate")]
#[derive(Clone, Copy)]
pub struct ChartFeeds(pub [SharedChartFeed; crate::protocol::MAX_CHARTS as usize]);

#[cfg(feature = "hydrate")]
impl ChartFeeds {
    pub fn new() -> ChartFeeds {
        ChartFeeds(std::array::from_fn(|_| SharedChartFeed::new()))
    }

    /// Chart `chart`'s feed.
    pub fn get(&self, chart: u8) -> Option<SharedChartFeed> {
        self.0.get(usize::from(chart)).copied()
    }

    /// Runs `f` on chart `chart`'s feed, if there is one.
    pub fn with<T>(&self, chart: u8, f: impl FnOnce(&mut ChartFeed) -> T) -> Option<T> {
        self.get(chart)?.with(f)
    }
}

#[cfg(feature = "hydrate")]
impl Default for ChartFeeds {
    fn default() -> Self {
        ChartFeeds::new()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use super::*;

    /// What a test drawing was asked to draw.
    #[derive(Clone, Default)]
    struct Drawn(Rc<RefCell<Vec<String>>>);

    impl Drawing for Drawn {
        fn history(&mut self, interval: Interval, candles: &[Candle]) {
            let entry = format!("history {interval} x{}", candles.len());
            self.0.borrow_mut().push(entry);
        }

        fn candle(&mut self, candle: &Candle) {
            self.0.borrow_mut().push(format!("candle {}", candle.t));
        }
    }

    fn bar(t: i64) -> Candle {
        Candle::open(t, 1.0, 1)
    }

    #[test]
    fn history_waits_for_the_chart_and_live_bars_do_not() {
        let mut feed = ChartFeed::default();
        let aapl = Series::new("AAPL", Interval::M1);
        feed.history(aapl.clone(), vec![bar(0), bar(60_000)]);
        feed.candle(&bar(120_000));
        let drawn = Drawn::default();
        feed.attach(Box::new(drawn.clone()), Some(&aapl));
        feed.candle(&bar(180_000));
        assert_eq!(*drawn.0.borrow(), ["history 1m x2", "candle 180000"]);
    }

    #[test]
    fn history_of_a_series_no_longer_shown_is_not_drawn() {
        let mut feed = ChartFeed::default();
        feed.history(Series::new("AAPL", Interval::M1), vec![bar(0)]);
        let drawn = Drawn::default();
        feed.attach(
            Box::new(drawn.clone()),
            Some(&Series::new("AAPL", Interval::S5)),
        );
        assert!(drawn.0.borrow().is_empty());
        feed.detach();
        feed.candle(&bar(1));
        assert!(
            drawn.0.borrow().is_empty(),
            "a detached drawing gets nothing"
        );
    }

    #[test]
    fn a_series_is_its_symbol_and_interval() {
        let series = Series::new("MSFT", Interval::S5);
        assert!(series.is("MSFT", Interval::S5));
        assert!(!series.is("MSFT", Interval::M1));
        assert!(!series.is("AAPL", Interval::S5));
    }
}
