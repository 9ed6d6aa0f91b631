//! History that outlives the process: every interval's bars and each
//! symbol's session figures (the quote as of its last trade), written behind
//! the hub and read back at start and for bars older than the hub holds.
//!
//! The hub never waits for the disk. [`Store::record`] merges what one batch
//! changed into a pending set and returns; the store's own writer commits
//! that set in one transaction per flush. A store that cannot write keeps
//! the pending set (bounded), says so through [`Store::health`] and retries.
//!
//! [`sqlite`] is the one implementation; a server database would be another
//! behind the same trait, without the hub noticing.

pub mod sqlite;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use app::protocol::{Candle, Interval, MarketSession, Quote};
use prometheus::IntGauge;

use crate::candles::aggregate_on;
use crate::market::{SymbolId, Universe};

/// What changed in one batch (or one history merge).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Changes {
    /// Bars as they are now, by symbol and interval.
    pub bars: Vec<(Arc<str>, Interval, Candle)>,
    /// Symbols' quotes as they are now (their session figures).
    pub quotes: Vec<Quote>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.bars.is_empty() && self.quotes.is_empty()
    }
}

/// Where the store left off, for a hub starting on it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Restored {
    /// Each symbol's last quote, by symbol id.
    pub quotes: Vec<(SymbolId, Quote)>,
    /// Each series' newest bars (oldest first), by symbol id and interval.
    pub bars: Vec<(SymbolId, Interval, Vec<Candle>)>,
}

impl Restored {
    /// The restored quote of `symbol`.
    pub fn quote(&self, symbol: &str) -> Option<&Quote> {
        self.quotes
            .iter()
            .map(|(_, q)| q)
            .find(|q| q.symbol == symbol)
    }

    /// Whether any bar of `symbol`'s was restored.
    pub fn has_bars(&self, id: SymbolId) -> bool {
        self.bars
            .iter()
            .any(|(i, _, bars)| *i == id && !bars.is_empty())
    }
}

/// Whether a bar of `interval` is recorded every time it changes. Longer
/// bars are recorded once they close (and at shutdown): every trade is in
/// the 1 m bars, so the bars of longer intervals that were still open are
/// rebuilt from those at restore ([`rebuild_open_bars`]). Well under half
/// the rows are written.
pub fn written_live(interval: Interval) -> bool {
    interval <= Interval::M1
}

/// At most this many stored minutes are read to rebuild one open bar (a
/// trading day is 1,440; a 25 h day with a margin).
const MAX_REBUILD_MINUTES: usize = 1_600;

/// Rebuilds, from stored 1 m bars, each series' bars of the longer
/// intervals from its newest stored one on (the one that was open, and any
/// that closed after the last write); a series with none stored (none had
/// closed yet), from every minute restored.
pub fn rebuild_open_bars(
    restored: &mut Restored,
    store: &dyn Store,
    universe: &Universe,
) -> Result<(), StoreError> {
    let index: std::collections::HashMap<(SymbolId, Interval), usize> = restored
        .bars
        .iter()
        .enumerate()
        .map(|(i, (id, interval, _))| ((*id, *interval), i))
        .collect();
    let mut rebuilt = Vec::new();
    for (id, info) in universe.symbols().iter().enumerate() {
        let Some(&m) = index.get(&(id, Interval::M1)) else {
            continue;
        };
        let minutes = &restored.bars[m].2;
        let Some(first_minute) = minutes.first().map(|b| b.t) else {
            continue;
        };
        for interval in Interval::ALL.into_iter().filter(|i| !written_live(*i)) {
            let s = index.get(&(id, interval)).copied();
            let newest = s.and_then(|s| restored.bars[s].2.last().map(|b| b.t));
            let from = newest.unwrap_or(first_minute);
            let mut since = Vec::new();
            if first_minute > from {
                let missing = ((first_minute - from) / 60_000) as usize + 1;
                let older = missing.min(MAX_REBUILD_MINUTES);
                let stored = store.bars_before(&info.symbol, Interval::M1, first_minute, older)?;
                since.extend(stored.into_iter().filter(|b| b.t >= from));
            }
            since.extend(minutes.iter().filter(|b| b.t >= from).copied());
            // A daily bar is its regular session's (the minutes outside it
            // are extended hours).
            if interval == Interval::D1 {
                since.retain(|b| info.trading_day.session_at(b.t) == MarketSession::Regular);
            }
            if !since.is_empty() {
                let bars = aggregate_on(&since, interval, info.trading_day);
                rebuilt.push((id, interval, s, from, bars));
            }
        }
    }
    for (id, interval, s, from, bars) in rebuilt {
        match s {
            Some(s) => {
                let series = &mut restored.bars[s].2;
                series.retain(|b| b.t < from);
                series.extend(bars);
            }
            None => restored.bars.push((id, interval, bars)),
        }
    }
    Ok(())
}

/// Whether the store writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    Ok,
    /// The last write failed (disk full, read-only, ...); pending changes are
    /// kept and the write retried.
    Failing(String),
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the data directory {dir}: {source}")]
    Dir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write to the data directory {dir}: {source}")]
    ReadOnly {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "the database {path} has schema version {found}, newer than this tickertape knows ({known}); \
         run a newer tickertape, or move the data directory away"
    )]
    Newer {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("cannot write to the database {path}: {source}")]
    NotWritable {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("reading history: {0}")]
    Read(String),
}

/// Durable history behind a hub.
pub trait Store: Send + Sync {
    /// Queues `changes` for the next write; never blocks on the disk.
    fn record(&self, changes: Changes);
    /// The last quote of every symbol in `universe` and the newest `depth`
    /// bars of each of its series.
    fn restore(&self, universe: &Universe, depth: usize) -> Result<Restored, StoreError>;
    /// The newest `limit` bars of a series that start strictly before
    /// `before`, oldest first. Blocks on the disk: call it off the runtime's
    /// worker threads.
    fn bars_before(
        &self,
        symbol: &str,
        interval: Interval,
        before: i64,
        limit: usize,
    ) -> Result<Vec<Candle>, StoreError>;
    fn health(&self) -> Health;
    /// Rows waiting to be written (0 once closing).
    fn backlog(&self) -> usize;
    /// Writes what is pending and stops writing (at shutdown). Blocks.
    fn close(&self);
    /// Every stored alert rule, and the id the next one gets (ids are never
    /// reused, deleted ones included). Blocks on the disk.
    fn alerts(&self) -> Result<(Vec<app::protocol::Alert>, u64), StoreError>;
    /// Stores an alert rule as it is now (made, fired, re-armed). Blocks.
    fn put_alert(&self, alert: &app::protocol::Alert) -> Result<(), StoreError>;
    /// Deletes an alert rule. Blocks.
    fn delete_alert(&self, id: u64) -> Result<(), StoreError>;
}

pub type SharedStore = Arc<dyn Store>;

/// Bars handed to the store at once by [`record_in_background`].
const HISTORY_CHUNK: usize = 50_000;

/// Has `store` keep many bars (a feed's history) without holding up the
/// caller or swelling the pending set: handed over a chunk at a time as
/// the writer catches up, from a thread of its own.
/// `waiting` counts the bars not yet handed over.
pub fn record_in_background(
    store: SharedStore,
    bars: Vec<(Arc<str>, Interval, Candle)>,
    waiting: IntGauge,
) {
    waiting.add(bars.len() as i64);
    let feed = move || {
        for chunk in bars.chunks(HISTORY_CHUNK) {
            while store.backlog() > HISTORY_CHUNK {
                std::thread::sleep(Duration::from_millis(50));
            }
            store.record(Changes {
                bars: chunk.to_vec(),
                quotes: Vec::new(),
            });
            waiting.sub(chunk.len() as i64);
        }
    };
    if let Err(e) = std::thread::Builder::new()
        .name("store-history".into())
        .spawn(feed)
    {
        tracing::error!(error = %e, "cannot start writing history to the store");
    }
}

/// How long each interval's bars are kept (older ones are deleted in the
/// background); `None`: for ever.
#[derive(Clone, Debug, PartialEq)]
pub struct Retention {
    keep: Vec<(Interval, Option<Duration>)>,
}

const DAY: Duration = Duration::from_secs(86_400);

impl Default for Retention {
    /// 1 s bars for 3 days, 5 s for 2 weeks, 1 m for a year, 5 m and 15 m
    /// for five years, hourly for ten, daily for ever.
    fn default() -> Retention {
        let keep = Interval::ALL
            .into_iter()
            .map(|interval| {
                let days = match interval {
                    Interval::S1 => Some(3),
                    Interval::S5 => Some(14),
                    Interval::M1 => Some(365),
                    Interval::M5 | Interval::M15 => Some(5 * 365),
                    Interval::H1 => Some(10 * 365),
                    Interval::D1 => None,
                };
                (interval, days.map(|d| DAY * d))
            })
            .collect();
        Retention { keep }
    }
}

impl Retention {
    /// How long `interval`'s bars are kept.
    pub fn of(&self, interval: Interval) -> Option<Duration> {
        self.keep
            .iter()
            .find(|(i, _)| *i == interval)
            .and_then(|(_, keep)| *keep)
    }

    /// Keeps `interval`'s bars for `keep` (`None`: for ever).
    pub fn set(&mut self, interval: Interval, keep: Option<Duration>) {
        match self.keep.iter_mut().find(|(i, _)| *i == interval) {
            Some(slot) => slot.1 = keep,
            None => self.keep.push((interval, keep)),
        }
    }
}
