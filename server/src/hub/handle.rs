//! [`Hub`]: the read side of a hub, shared by sessions, HTTP handlers, the
//! page and the bus. Nothing here writes.

use std::sync::Arc;

use app::protocol::{Candle, Interval, SymbolInfo};

use super::charts::{ChartWatch, Charts};
use super::depth::Depths;
use super::feeds::FeedBoard;
use super::published::Published;
use crate::market::{SymbolId, Universe};
use crate::metrics::{Metrics, SharedMetrics};

/// A cheap handle to everything a hub publishes.
#[derive(Clone)]
pub struct Hub {
    pub(super) universe: Arc<Universe>,
    pub(super) published: Published,
    pub(super) charts: Charts,
    pub(super) depths: Depths,
    pub(super) feeds: FeedBoard,
    pub(super) metrics: SharedMetrics,
    /// Price alerts, checked by the hub's writer on every trade.
    pub(super) alerts: Arc<crate::alerts::AlertBook>,
}

impl Hub {
    /// Every symbol the hub serves, in display order.
    pub fn symbols(&self) -> &[SymbolInfo] {
        self.universe.symbols()
    }

    pub fn lookup(&self, symbol: &str) -> Option<SymbolId> {
        self.universe.lookup(symbol)
    }

    /// Quotes, batches and the newest batch number.
    pub fn published(&self) -> &Published {
        &self.published
    }

    /// Candles and chart interest.
    pub fn charts(&self) -> &Charts {
        &self.charts
    }

    /// Trades and books, and who watches them.
    pub fn depths(&self) -> &Depths {
        &self.depths
    }

    /// Price alerts.
    pub fn alerts(&self) -> &Arc<crate::alerts::AlertBook> {
        &self.alerts
    }

    pub fn feeds(&self) -> &FeedBoard {
        &self.feeds
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn metrics_handle(&self) -> SharedMetrics {
        self.metrics.clone()
    }

    /// Registers interest in a series' live candles; see [`Charts::watch`].
    pub fn watch_chart(&self, id: SymbolId, interval: Interval) -> ChartWatch {
        self.charts.watch(id, interval)
    }

    /// The `candles` message with a series' newest `limit` bars, and the
    /// batch they are current as of (later batches carry newer bars). Shared
    /// by every chart asking for the same series and limit during one batch.
    /// Register the [`ChartWatch`] first: a batch published after that
    /// carries this series' bars encoded, so none closes unseen.
    pub fn history_frame(&self, id: SymbolId, interval: Interval, limit: usize) -> (u64, Arc<str>) {
        let no = self.published.no();
        (no, self.charts.history_frame(no, id, interval, limit))
    }

    /// The newest `limit` bars of a series and the first batch that will
    /// carry newer states of them: read while no batch can be published (the
    /// writer, which alone moves bars, is not between a flush and its
    /// publication with different bars).
    pub fn candles_as_of(
        &self,
        id: SymbolId,
        interval: Interval,
        limit: usize,
    ) -> (u64, Vec<Candle>) {
        self.published
            .at_head(|no| (no + 1, self.charts.candles(id, interval, limit)))
    }
}
