//! Candles per symbol and interval, who charts which series, and the
//! encoded chart histories shared by everyone asking during one batch.
//! Read by sessions, the API and the page through [`Charts`]; bars are
//! written only by hub code (`pub(super)`): the folder for each trade, a
//! feed's history through its port, the mirror copying another hub. Memory
//! holds each series' newest [`crate::candles::CAPACITY`] bars; a hub on a
//! store reads older ones from it ([`Charts::history_before`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use app::protocol::{Candle, Interval, ServerMsg};

use crate::batch::CandleEntry;
use crate::candles::{CAPACITY, SymbolCandles};
use crate::market::{History, SymbolId, Universe};
use crate::metrics::SharedMetrics;
use crate::store::{SharedStore, StoreError};
use crate::wire;

/// Chart histories kept per batch: enough for every series a crowd charts at
/// once, bounded whatever limits clients ask for.
const HISTORY_CACHE_ENTRIES: usize = 256;

struct Shared {
    universe: Arc<Universe>,
    /// Per symbol; each lock is held only to fold a trade or copy bars out.
    candles: Vec<Mutex<SymbolCandles>>,
    /// Sessions charting each symbol and interval: `candle` messages are
    /// encoded only for series someone watches.
    watchers: Vec<[AtomicUsize; Interval::COUNT]>,
    /// Encoded chart histories of one batch and history revision.
    history_cache: Mutex<HistoryCache>,
    /// Counts rewrites of candle history (backfills), which batches do not
    /// carry: a mirror that saw a different count must copy the history again.
    rev: AtomicU64,
    /// Where bars older than memory holds are read from.
    store: Option<SharedStore>,
    metrics: SharedMetrics,
}

/// `candles` messages valid while the hub is at batch `no` and history
/// revision `rev`, by symbol, interval and limit.
#[derive(Default)]
struct HistoryCache {
    no: u64,
    rev: u64,
    frames: HashMap<(SymbolId, Interval, usize), Arc<str>>,
}

/// A cheap handle to a hub's candles.
#[derive(Clone)]
pub struct Charts {
    shared: Arc<Shared>,
}

impl Charts {
    pub(super) fn new(
        universe: Arc<Universe>,
        store: Option<SharedStore>,
        metrics: SharedMetrics,
    ) -> Charts {
        let shared = Shared {
            store,
            metrics,
            candles: universe
                .symbols()
                .iter()
                .map(|s| Mutex::new(SymbolCandles::new(CAPACITY, s.trading_day)))
                .collect(),
            watchers: (0..universe.len()).map(|_| Default::default()).collect(),
            history_cache: Mutex::default(),
            rev: AtomicU64::new(0),
            universe,
        };
        Charts {
            shared: Arc::new(shared),
        }
    }

    fn of(&self, id: SymbolId) -> MutexGuard<'_, SymbolCandles> {
        // Folding a trade cannot panic halfway, so a poisoned lock is valid.
        self.shared.candles[id]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The newest `limit` bars of one symbol and interval, oldest first.
    pub fn candles(&self, id: SymbolId, interval: Interval, limit: usize) -> Vec<Candle> {
        self.of(id).series(interval).last(limit)
    }

    /// The newest `limit` bars that start strictly before `t`, oldest first.
    pub fn candles_before(
        &self,
        id: SymbolId,
        interval: Interval,
        t: i64,
        limit: usize,
    ) -> Vec<Candle> {
        self.of(id).series(interval).before(t, limit)
    }

    /// The newest `limit` bars that start strictly before `t`, oldest
    /// first, reaching into the store for what memory no longer holds.
    pub async fn history_before(
        &self,
        id: SymbolId,
        interval: Interval,
        t: i64,
        limit: usize,
    ) -> Result<Vec<Candle>, StoreError> {
        let held = self.candles_before(id, interval, t, limit);
        let Some(store) = self.shared.store.clone().filter(|_| held.len() < limit) else {
            return Ok(held);
        };
        // The store has every bar memory has (but the last moment's), so
        // what is missing is older than the oldest bar held.
        let older_than = held.first().map_or(t, |b| b.t);
        let (symbol, wanted) = (self.symbol(id), limit - held.len());
        let older = tokio::task::spawn_blocking(move || {
            store.bars_before(&symbol, interval, older_than, wanted)
        })
        .await
        .map_err(|e| StoreError::Read(e.to_string()))??;
        Ok(older.into_iter().chain(held).collect())
    }

    fn symbol(&self, id: SymbolId) -> Arc<str> {
        self.shared.universe.symbols()[id].symbol.as_str().into()
    }

    /// How many times candle history was rewritten (backfills).
    pub fn rev(&self) -> u64 {
        self.shared.rev.load(Ordering::Acquire)
    }

    /// Registers interest in a series' live candles for as long as the
    /// returned guard lives.
    pub fn watch(&self, id: SymbolId, interval: Interval) -> ChartWatch {
        self.shared.watchers[id][interval.index()].fetch_add(1, Ordering::Relaxed);
        ChartWatch {
            charts: self.clone(),
            id,
            interval,
        }
    }

    pub(super) fn is_charted(&self, id: SymbolId, interval: Interval) -> bool {
        self.shared.watchers[id][interval.index()].load(Ordering::Relaxed) > 0
    }

    /// The `candles` message with a series' newest `limit` bars while the hub
    /// is at batch `no`; shared by every chart asking for the same series and
    /// limit during that batch.
    pub(super) fn history_frame(
        &self,
        no: u64,
        id: SymbolId,
        interval: Interval,
        limit: usize,
    ) -> Arc<str> {
        let rev = self.rev();
        let key = (id, interval, limit);
        let mut cache = self
            .shared
            .history_cache
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if (cache.no, cache.rev) != (no, rev) {
            *cache = HistoryCache {
                no,
                rev,
                frames: HashMap::new(),
            };
        }
        if let Some(frame) = cache.frames.get(&key) {
            return frame.clone();
        }
        let frame: Arc<str> = wire::encode(&ServerMsg::Candles {
            symbol: self.shared.universe.symbols()[id].symbol.clone(),
            interval,
            candles: self.candles(id, interval, limit),
            chart: 0,
        })
        .into();
        if cache.frames.len() < HISTORY_CACHE_ENTRIES {
            cache.frames.insert(key, frame.clone());
        }
        frame
    }

    /// Folds a trade into every interval's bar; returns each touched bar's start.
    pub(super) fn add(
        &self,
        id: SymbolId,
        ts: i64,
        price: f64,
        size: f64,
        regular: bool,
    ) -> [Option<i64>; Interval::COUNT] {
        self.of(id).add(ts, price, size, regular)
    }

    /// A bar's current state.
    pub(super) fn get(&self, id: SymbolId, interval: Interval, t: i64) -> Option<Candle> {
        self.of(id).series(interval).get(t)
    }

    /// Sets one bar (a mirror applying another hub's batch).
    pub(super) fn put(&self, id: SymbolId, interval: Interval, candle: Candle) {
        self.of(id).series_mut(interval).put(candle);
    }

    /// Replaces one series' bars (a mirror taking another hub's history).
    pub(super) fn replace(&self, id: SymbolId, interval: Interval, bars: &[Candle]) {
        self.of(id).series_mut(interval).replace(bars);
    }

    /// Merges a feed's history recorded up to `as_of` (unknown symbols are
    /// skipped), and has the store keep the merged bars.
    pub(super) fn backfill(&self, history: Vec<History>, as_of: i64) {
        let mut merged = Vec::new();
        for h in history {
            let Some(id) = self.shared.universe.lookup(&h.symbol) else {
                tracing::debug!(symbol = %h.symbol, "history for a symbol outside the universe");
                continue;
            };
            let mut candles = self.of(id);
            let series = candles.series_mut(h.interval);
            series.backfill(&h.candles, as_of);
            if self.shared.store.is_some() {
                // Each bar as memory holds it after the merge; one older
                // than memory keeps is stored as it came.
                let bars = h.candles.iter().map(|c| {
                    let t = series.bucket(c.t);
                    series.get(t).unwrap_or(Candle { t, ..*c })
                });
                merged.extend(bars.map(|bar| (h.symbol.clone(), h.interval, bar)));
            }
        }
        // After the merge: whoever copies the history after reading the new
        // number sees it.
        self.shared.rev.fetch_add(1, Ordering::AcqRel);
        if let Some(store) = self.shared.store.clone()
            && !merged.is_empty()
        {
            let waiting = self.shared.metrics.store_history_waiting.clone();
            crate::store::record_in_background(store, merged, waiting);
        }
    }

    /// Sets the bars a store restored.
    pub(super) fn restore(&self, bars: Vec<(SymbolId, Interval, Vec<Candle>)>) {
        for (id, interval, bars) in bars {
            if id < self.shared.candles.len() {
                self.of(id).series_mut(interval).replace(&bars);
            }
        }
    }

    pub(super) fn store(&self) -> Option<&SharedStore> {
        self.shared.store.as_ref()
    }

    /// The `candle` entry of a changed bar; encoded only if someone charts it.
    pub(super) fn entry(&self, id: SymbolId, interval: Interval, candle: Candle) -> CandleEntry {
        let json = self.is_charted(id, interval).then(|| {
            wire::encode(&ServerMsg::Candle {
                symbol: self.shared.universe.symbols()[id].symbol.clone(),
                interval,
                candle,
                chart: 0,
            })
        });
        CandleEntry {
            id,
            interval,
            t: candle.t,
            candle,
            json,
        }
    }
}

/// Interest in one series' candles; see [`Charts::watch`].
pub struct ChartWatch {
    charts: Charts,
    id: SymbolId,
    interval: Interval,
}

impl Drop for ChartWatch {
    fn drop(&mut self) {
        self.charts.shared.watchers[self.id][self.interval.index()].fetch_sub(1, Ordering::Relaxed);
    }
}
