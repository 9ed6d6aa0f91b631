//! The hub: the latest quote per symbol, the batches that carry changes,
//! candles, and feeds' status, split by who may write what.
//!
//! | part | read through | written only by |
//! |------|--------------|-----------------|
//! | quotes, batch ring, head ([`published`]) | [`Published`] | the hub's one [`Publisher`], held by its [`Folder`] or its [`Mirror`] |
//! | candles, chart watchers ([`charts`]) | [`Charts`] | the folder (each trade), feeds' history (through their [`FeedPort`]), the mirror |
//! | the history store (optional, [`crate::store`]) | [`Charts::history_before`] | the folder (each batch's bars and quotes), feeds' history |
//! | feeds' status ([`feeds`]) | [`FeedBoard`] | [`FeedReports`]: feeds (through their port) or the mirror |
//!
//! [`Hub`] is the read side of all three, cheap to clone. A hub has exactly
//! one writer, chosen when it is built: [`Hub::folding`] returns a
//! [`Folder`] (feeds' events folded into batches, one per flush interval),
//! [`Hub::mirroring`] a [`Mirror`] (batches copied from another hub over the
//! bus). Readers never wait for writers beyond copying an `Arc`, and the
//! writers never wait for a reader.

pub mod charts;
pub mod depth;
pub mod feeds;
pub mod fold;
pub mod handle;
pub mod mirror;
pub mod published;

use std::sync::Arc;
use std::time::Duration;

use app::protocol::SymbolInfo;

pub use self::charts::{ChartWatch, Charts};
pub use self::depth::{DepthWatch, Depths, Watched};
pub use self::feeds::{FeedBoard, FeedReports};
pub use self::fold::{FeedPort, Folder};
pub use self::handle::Hub;
pub use self::mirror::{CopiedDepth, Mirror};
pub use self::published::{Lagged, Published, Publisher};
pub use crate::batch::{Batch, BookEntry, CandleEntry, Entry, TradesEntry};
use crate::candles::CAPACITY;
use crate::market::Universe;
pub use crate::market::{FeedId, FeedStatus, SymbolId};
use crate::metrics::SharedMetrics;
use crate::store::{SharedStore, StoreError};

/// How the hub batches.
#[derive(Clone, Debug)]
pub struct HubConfig {
    /// Interval between batches.
    pub flush: Duration,
    /// Batches kept for sessions that fall behind; a session further behind
    /// than this is a slow consumer and is disconnected.
    pub retained_batches: usize,
    /// Capacity of the event channel shared by every feed.
    pub tick_capacity: usize,
    /// Put every changed bar in each batch, charted or not (an ingest node
    /// publishes them all to the bus).
    pub all_candles: bool,
    pub metrics: SharedMetrics,
}

/// A hub's read side and the writers that come with it.
struct Parts {
    hub: Hub,
    publisher: Publisher,
    reports: FeedReports,
}

impl Hub {
    /// A hub for a fixed universe of symbols, written by feeds (named in
    /// configuration order). The returned [`Folder`] must run for batches
    /// to flow; feeds write to its [`Folder::port`].
    pub fn folding(
        symbols: Vec<SymbolInfo>,
        feed_names: Vec<String>,
        config: &HubConfig,
    ) -> (Hub, Folder) {
        Hub::folding_with(symbols, feed_names, config, None)
    }

    /// A folding hub on a store: it starts where the store left off (each
    /// symbol's last quote and its series' newest bars), its feeds are told
    /// where that is, and everything it folds is recorded.
    pub fn folding_on(
        symbols: Vec<SymbolInfo>,
        feed_names: Vec<String>,
        config: &HubConfig,
        store: SharedStore,
    ) -> Result<(Hub, Folder), StoreError> {
        let universe = Universe::new(symbols.clone());
        let mut restored = store.restore(&universe, CAPACITY)?;
        crate::store::rebuild_open_bars(&mut restored, store.as_ref(), &universe)?;
        let (hub, mut folder) = Hub::folding_with(symbols, feed_names, config, Some(store.clone()));
        folder.restore(&restored);
        let last: std::collections::HashMap<String, (f64, f64)> = restored
            .quotes
            .iter()
            .map(|(_, q)| (q.symbol.clone(), (q.last, q.prev_close)))
            .collect();
        hub.alerts
            .keep_in(store.clone(), |symbol| last.get(symbol).copied());
        hub.charts.restore(restored.bars);
        tracing::info!(
            symbols = folder.restored_quotes(),
            "continuing from the history store"
        );
        Ok((hub, folder))
    }

    fn folding_with(
        symbols: Vec<SymbolInfo>,
        feed_names: Vec<String>,
        config: &HubConfig,
        store: Option<SharedStore>,
    ) -> (Hub, Folder) {
        let Parts {
            hub,
            publisher,
            reports,
        } = Hub::parts(symbols, feed_names, config, store);
        let parts = fold::Parts {
            publisher,
            charts: hub.charts.clone(),
            depths: hub.depths.clone(),
            reports,
            universe: hub.universe.clone(),
            metrics: hub.metrics.clone(),
            alerts: hub.alerts.clone(),
        };
        let settings = fold::Settings {
            flush: config.flush,
            tick_capacity: config.tick_capacity,
            all_candles: config.all_candles,
        };
        (hub, Folder::new(parts, settings))
    }

    /// A hub that copies another: the [`Mirror`] is its only writer.
    pub fn mirroring(
        symbols: Vec<SymbolInfo>,
        feed_names: Vec<String>,
        config: &HubConfig,
    ) -> Mirror {
        let Parts {
            hub,
            publisher,
            reports,
        } = Hub::parts(symbols, feed_names, config, None);
        Mirror {
            books: std::sync::Mutex::new(
                (0..hub.universe.len())
                    .map(|_| Default::default())
                    .collect(),
            ),
            charts: hub.charts.clone(),
            hub,
            publisher,
            reports,
        }
    }

    fn parts(
        symbols: Vec<SymbolInfo>,
        feed_names: Vec<String>,
        config: &HubConfig,
        store: Option<SharedStore>,
    ) -> Parts {
        let universe = Arc::new(Universe::new(symbols));
        let metrics = config.metrics.clone();
        let (published, publisher) =
            published::new(universe.len(), config.retained_batches, metrics.clone());
        let (feeds, reports) = feeds::new(feed_names, metrics.clone());
        let hub = Hub {
            alerts: Arc::default(),
            charts: Charts::new(universe.clone(), store, metrics.clone()),
            depths: Depths::new(universe.clone()),
            universe,
            published,
            feeds,
            metrics,
        };
        Parts {
            hub,
            publisher,
            reports,
        }
    }
}

#[cfg(test)]
mod tests;
