//! What a hub has published: every symbol's quote as of the newest batch,
//! the ring of recent batches, and the newest batch's number. Read by
//! sessions, the API and the bus through [`Published`]; written only through
//! the hub's one [`Publisher`].

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use app::binary;
use app::protocol::Quote;
use tokio::sync::watch;

use crate::batch::Batch;
use crate::market::SymbolId;
use crate::metrics::SharedMetrics;
use crate::subscription::Subscription;
use crate::wire;

/// Every symbol's published quote, `None` before its first trade. Shared
/// with readers: a snapshot takes the `Arc` under the lock and copies
/// nothing there; publishing replaces quotes in place unless a reader still
/// holds the previous version.
pub type Quotes = Arc<Vec<Option<Arc<Quote>>>>;

/// A merge of the batches from the first number to the second, inclusive.
type Merge = ((u64, u64), Arc<Batch>);

/// Merged spans kept for sessions that fell behind: more than the distinct
/// spans a crowd of lagging sessions is at within one batch.
const MERGES_KEPT: usize = 32;

/// The reader was further behind than the hub retains.
#[derive(Debug, PartialEq, Eq)]
pub struct Lagged;

/// `no`, `quotes` and `ring` always describe the same instant.
struct State {
    no: u64,
    /// The newest batch's number as clients see it ([`Batch::public`]).
    public: u64,
    /// Names the public numbering (random per node with feeds; an edge takes
    /// its ingest node's): a client's `resume` from another epoch cannot
    /// continue here.
    epoch: u64,
    /// The first batch numbered in this epoch: public numbers of batches
    /// before it belong to another.
    since: u64,
    quotes: Quotes,
    ring: VecDeque<Arc<Batch>>,
}

struct Shared {
    state: RwLock<State>,
    head: watch::Sender<u64>,
    /// The `*` snapshot's encoded quotes, for the batch they are current as of.
    snapshot_cache: Mutex<Option<(u64, Arc<str>)>>,
    /// The same in `tickertape.v1.bin`.
    bin_snapshot_cache: Mutex<Option<(u64, Arc<binary::Snapshot>)>>,
    /// Recent merges of several batches, by their first and last number,
    /// newest last: shared by every session behind by the same span.
    merges: Mutex<VecDeque<Merge>>,
    retained: usize,
    metrics: SharedMetrics,
}

/// The read side: cheap to clone, never blocks the writer for long (readers
/// copy an `Arc` under the lock, nothing more).
#[derive(Clone)]
pub struct Published {
    shared: Arc<Shared>,
}

/// The only way to publish: one per hub, held by its folder or its mirror.
pub struct Publisher {
    published: Published,
}

/// A new, empty publication for `symbols` quotes and its one writer.
/// `retained` batches are kept for readers that fall behind.
pub fn new(symbols: usize, retained: usize, metrics: SharedMetrics) -> (Published, Publisher) {
    let state = State {
        no: 0,
        public: 0,
        // Exact in every JSON reader: the bus carries it as a number.
        epoch: rand::random::<u64>() >> 11,
        since: 0,
        quotes: Arc::new(vec![None; symbols]),
        ring: VecDeque::new(),
    };
    let shared = Arc::new(Shared {
        state: RwLock::new(state),
        head: watch::Sender::new(0),
        snapshot_cache: Mutex::new(None),
        bin_snapshot_cache: Mutex::new(None),
        merges: Mutex::new(VecDeque::with_capacity(MERGES_KEPT)),
        retained: retained.max(1),
        metrics,
    });
    let published = Published { shared };
    let publisher = Publisher {
        published: published.clone(),
    };
    (published, publisher)
}

impl Published {
    fn read(&self) -> RwLockReadGuard<'_, State> {
        // A panic while holding the lock cannot leave `State` half-written
        // (publishing builds everything first), so a poisoned lock is valid.
        self.shared.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The published quotes and the batch number they are current as of.
    pub fn quotes(&self) -> (u64, Quotes) {
        let state = self.read();
        (state.no, state.quotes.clone())
    }

    /// [`Published::quotes`] with the batch's public number.
    fn current(&self) -> (u64, u64, Quotes) {
        let state = self.read();
        (state.no, state.public, state.quotes.clone())
    }

    /// The hub's public batch numbering (see [`ServerMsg::Hello`]).
    ///
    /// [`ServerMsg::Hello`]: app::protocol::ServerMsg::Hello
    pub fn epoch(&self) -> u64 {
        self.read().epoch
    }

    /// Where a client that holds public batch `public` of `epoch` is in
    /// this hub's numbering: the batch number after which it continues, if
    /// this hub still holds that batch and published it itself (an edge
    /// that copied the state anew skipped the numbers in between).
    pub fn resume_point(&self, epoch: &str, public: u64) -> Option<u64> {
        let state = self.read();
        if epoch != epoch_name(state.epoch) {
            return None;
        }
        if public == state.public && state.no >= state.since {
            return Some(state.no);
        }
        state
            .ring
            .iter()
            .find(|b| b.no >= state.since && b.public == public)
            .map(|b| b.no)
    }

    /// The newest batch number.
    pub fn no(&self) -> u64 {
        self.read().no
    }

    /// Runs `f` with the newest batch number, holding off the next
    /// publication until it returns: what `f` reads is as of that batch.
    pub fn at_head<R>(&self, f: impl FnOnce(u64) -> R) -> R {
        let state = self.read();
        f(state.no)
    }

    /// The newest batch number; changes wake the receiver.
    pub fn watch_head(&self) -> watch::Receiver<u64> {
        self.shared.head.subscribe()
    }

    /// The published quotes a subscription covers, and the batch number they
    /// are current as of: the next diff for them is batch `no + 1`.
    pub fn snapshot(&self, sub: &Subscription) -> (u64, Vec<Quote>) {
        let (no, quotes) = self.quotes();
        let mine = quotes
            .iter()
            .enumerate()
            .filter(|(id, _)| sub.contains(*id))
            .filter_map(|(_, q)| q.as_deref().cloned());
        (no, mine.collect())
    }

    /// Every symbol's published quote (`None` before its first trade) and
    /// the batch number they are current as of.
    pub fn state(&self) -> (u64, Vec<Option<Quote>>) {
        let (no, quotes) = self.quotes();
        (no, quotes.iter().map(|q| q.as_deref().cloned()).collect())
    }

    /// A `snapshot` message with `seq` for a subscription, and the batch
    /// number it is current as of. Every `*` subscriber asking during one
    /// batch shares one encoding of the quotes (a crowd resyncing at once
    /// costs one encode, not one each).
    pub fn snapshot_frame(&self, seq: u64, sub: &Subscription) -> (u64, String) {
        let (no, public, quotes) = self.current();
        let tail = if sub.is_all() {
            self.all_quotes_encoded(no, &quotes)
        } else {
            let mine = quotes
                .iter()
                .enumerate()
                .filter(|(id, _)| sub.contains(*id))
                .filter_map(|(_, q)| q.as_deref());
            wire::snapshot_tail(mine).into()
        };
        (no, wire::snapshot_frame(seq, public, &tail))
    }

    fn all_quotes_encoded(&self, no: u64, quotes: &Quotes) -> Arc<str> {
        cached(&self.shared.snapshot_cache, no, || {
            wire::snapshot_tail(quotes.iter().flatten().map(|q| &**q)).into()
        })
    }

    /// [`Published::snapshot_frame`] in `tickertape.v1.bin`: every quote
    /// with its symbol's name and id.
    pub fn snapshot_bin(&self, seq: u64, sub: &Subscription) -> (u64, Vec<u8>) {
        let (no, public, quotes) = self.current();
        let mine = || {
            quotes
                .iter()
                .enumerate()
                .filter(|(id, _)| sub.contains(*id))
                .filter_map(|(id, q)| Some((wire::bin_id(id), q.as_deref()?)))
        };
        let frame = if sub.is_all() {
            cached(&self.shared.bin_snapshot_cache, no, || {
                Arc::new(binary::Snapshot::new(mine()))
            })
            .frame(seq, public)
        } else {
            binary::Snapshot::new(mine()).frame(seq, public)
        };
        (no, frame)
    }

    /// One batch equivalent to `batches` (consecutive, oldest first), as
    /// [`wire::merged`] makes it: what a session that fell behind sends.
    /// Made once per span and shared by every session behind by the same
    /// span, so a crowd that lags costs one merge and one encoding, not one
    /// each. With `make` false, only a merge someone already made.
    pub fn merged(&self, batches: &[Arc<Batch>], make: bool) -> Option<Arc<Batch>> {
        let span = (batches.first()?.no, batches.last()?.no);
        // Held while merging: a session after the same span waits for this
        // merge instead of making its own.
        let mut merges = self.shared.merges.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, merged)) = merges.iter().rev().find(|(s, _)| *s == span) {
            self.shared.metrics.merges_shared.inc();
            return Some(merged.clone());
        }
        if !make {
            return None;
        }
        let merged = Arc::new(wire::merged(batches)?);
        if merges.len() == MERGES_KEPT {
            merges.pop_front();
        }
        merges.push_back((span, merged.clone()));
        Some(merged)
    }

    /// Every batch numbered above `no`, oldest first.
    pub fn batches_after(&self, no: u64) -> Result<Vec<Arc<Batch>>, Lagged> {
        let state = self.read();
        let Some(oldest) = state.ring.front().map(|b| b.no) else {
            return Ok(Vec::new());
        };
        if no + 1 < oldest {
            return Err(Lagged);
        }
        let skip = usize::try_from(no + 1 - oldest).unwrap_or(usize::MAX);
        Ok(state.ring.iter().skip(skip).cloned().collect())
    }

    #[cfg(test)]
    pub(super) fn cached_snapshot(&self) -> Option<(u64, Arc<str>)> {
        self.shared.snapshot_cache.lock().unwrap().clone()
    }
}

/// What `cache` holds for batch `no`, made by `make` unless it is there:
/// one encoding per batch, shared by every reader.
fn cached<T: Clone>(cache: &Mutex<Option<(u64, T)>>, no: u64, make: impl FnOnce() -> T) -> T {
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    match &*cache {
        Some((cached, value)) if *cached == no => value.clone(),
        _ => {
            let value = make();
            *cache = Some((no, value.clone()));
            value
        }
    }
}

/// How an epoch is written for clients: 16 hex digits.
pub fn epoch_name(epoch: u64) -> String {
    format!("{epoch:016x}")
}

impl Publisher {
    /// Numbers the batches published from now on in `epoch` (an edge
    /// following another ingest node): clients of the old one cannot resume.
    pub fn set_epoch(&self, epoch: u64) {
        let shared = &self.published.shared;
        let mut state = shared.state.write().unwrap_or_else(|e| e.into_inner());
        if state.epoch != epoch {
            state.epoch = epoch;
            state.since = state.no + 1;
        }
    }

    /// What has been published so far.
    pub fn published(&self) -> &Published {
        &self.published
    }

    /// Publishes `batch` with the quotes it changed (`None`: withdrawn),
    /// then wakes every reader.
    pub fn publish(&self, batch: Batch, quotes: impl Iterator<Item = (SymbolId, Option<Quote>)>) {
        let shared = &self.published.shared;
        let no = batch.no;
        {
            let mut state = shared.state.write().unwrap_or_else(|e| e.into_inner());
            let all = Arc::make_mut(&mut state.quotes);
            for (id, quote) in quotes {
                all[id] = quote.map(Arc::new);
            }
            state.no = no;
            state.public = batch.public;
            state.ring.push_back(Arc::new(batch));
            while state.ring.len() > shared.retained {
                state.ring.pop_front();
            }
        }
        shared.metrics.batches.inc();
        shared.head.send_replace(no);
    }
}
