//! The store in one SQLite file (`<data-dir>/tickertape.db`, WAL mode).
//!
//! One writer thread owns the writing connection: every [`FLUSH_EVERY`] it
//! takes the pending set (merged by key, so a bar changed fifty times is
//! written once) and commits it in one transaction, so a crash loses at
//! most the changes of the last flush and never half of one. Readers use a
//! connection of their own; in WAL mode they never wait for the writer.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use app::protocol::{Candle, Interval, Quote};
use rand::SeedableRng;
use rusqlite::{Connection, OptionalExtension, params};

use super::{Changes, Health, Restored, Retention, Store, StoreError};
use crate::backoff::Backoff;
use crate::market::{Universe, now_ms};
use crate::metrics::SharedMetrics;

/// The database's file name in the data directory.
pub const FILE_NAME: &str = "tickertape.db";
/// How often the writer commits what is pending: a bar that changes many
/// times a second is written once a second (a crash loses at most about a
/// second).
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// How often bars past their retention are deleted.
const RETENTION_EVERY: Duration = Duration::from_secs(60);
/// Bars waiting while writes fail; beyond, new bars are dropped (counted).
const MAX_PENDING_BARS: usize = 500_000;

/// The schema, one migration per version (version n is `MIGRATIONS[n - 1]`).
/// Append only: a released migration never changes.
const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE bars (
        symbol   TEXT    NOT NULL,
        interval TEXT    NOT NULL,
        t        INTEGER NOT NULL,
        o REAL NOT NULL, h REAL NOT NULL, l REAL NOT NULL, c REAL NOT NULL,
        v INTEGER NOT NULL,
        PRIMARY KEY (symbol, interval, t)
    ) WITHOUT ROWID;
    CREATE TABLE quotes (
        symbol     TEXT PRIMARY KEY,
        last REAL NOT NULL, bid REAL NOT NULL, ask REAL NOT NULL,
        open REAL NOT NULL, high REAL NOT NULL, low REAL NOT NULL,
        prev_close REAL NOT NULL,
        volume     INTEGER NOT NULL,
        ts         INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
",
    "
    -- Market time: each quote's session and its latest regular close
    -- (0 for a quote stored before: read as its previous close).
    ALTER TABLE quotes ADD COLUMN session TEXT NOT NULL DEFAULT 'regular';
    ALTER TABLE quotes ADD COLUMN close REAL NOT NULL DEFAULT 0;
",
    "
    -- Price alert rules, each as its JSON (docs/DESIGN.md, Alert).
    CREATE TABLE alerts (id INTEGER PRIMARY KEY, alert TEXT NOT NULL);
",
];

pub struct SqliteStore {
    shared: Arc<Shared>,
    path: PathBuf,
    reader: Mutex<Connection>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

/// Between the hub's side and the writer thread.
struct Shared {
    pending: Mutex<Pending>,
    /// Signalled when closing.
    wake: Condvar,
    health: Mutex<Health>,
    metrics: SharedMetrics,
}

#[derive(Default)]
struct Pending {
    bars: HashMap<(Arc<str>, Interval, i64), Candle>,
    quotes: HashMap<String, Quote>,
    /// When the oldest change not yet written was recorded.
    since: Option<Instant>,
    closing: bool,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.bars.is_empty() && self.quotes.is_empty()
    }

    fn take(&mut self) -> Pending {
        Pending {
            bars: std::mem::take(&mut self.bars),
            quotes: std::mem::take(&mut self.quotes),
            since: self.since.take(),
            closing: self.closing,
        }
    }

    /// Puts back a write that failed, under what was recorded since (newer).
    fn restore(&mut self, failed: Pending) {
        for (key, bar) in failed.bars {
            self.bars.entry(key).or_insert(bar);
        }
        for (symbol, quote) in failed.quotes {
            self.quotes.entry(symbol).or_insert(quote);
        }
        self.since = failed.since.or(self.since);
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database in `dir`, migrates it, checks
    /// it can be written, and starts the writer.
    pub fn open(
        dir: &Path,
        retention: Retention,
        metrics: SharedMetrics,
    ) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir {
            dir: dir.to_owned(),
            source,
        })?;
        // SQLite says only "unable to open database file"; this says why.
        let probe = dir.join(".write-probe");
        std::fs::write(&probe, b"")
            .and_then(|()| std::fs::remove_file(&probe))
            .map_err(|source| StoreError::ReadOnly {
                dir: dir.to_owned(),
                source,
            })?;
        let path = dir.join(FILE_NAME);
        let open = |path: &Path| {
            let conn = Connection::open(path)?;
            conn.busy_timeout(Duration::from_secs(5))?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            // With WAL, NORMAL syncs at checkpoints: a crash of the process
            // loses nothing committed, a crash of the machine at most the
            // last transactions, and the file is never corrupt.
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            Ok(conn)
        };
        let mut writer = open(&path).map_err(|source| StoreError::Open {
            path: path.clone(),
            source,
        })?;
        migrate(&mut writer, &path)?;
        writer
            .execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('opened_at', ?1)",
                params![now_ms().to_string()],
            )
            .map_err(|source| StoreError::NotWritable {
                path: path.clone(),
                source,
            })?;
        let reader = open(&path).map_err(|source| StoreError::Open {
            path: path.clone(),
            source,
        })?;
        let shared = Arc::new(Shared {
            pending: Mutex::default(),
            wake: Condvar::new(),
            health: Mutex::new(Health::Ok),
            metrics,
        });
        let thread = {
            let (shared, path) = (shared.clone(), path.clone());
            std::thread::Builder::new()
                .name("store-writer".into())
                .spawn(move || Writer::new(writer, shared, path, retention).run())
                .map_err(|source| StoreError::Dir {
                    dir: dir.to_owned(),
                    source,
                })?
        };
        tracing::info!(path = %path.display(), "history store open");
        Ok(SqliteStore {
            shared,
            path,
            reader: Mutex::new(reader),
            writer: Mutex::new(Some(thread)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn reader(&self) -> MutexGuard<'_, Connection> {
        self.reader.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Brings the schema to [`MIGRATIONS`]' version; refuses a newer one.
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let known = MIGRATIONS.len() as i64;
    let found: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if found > known {
        return Err(StoreError::Newer {
            path: path.to_owned(),
            found,
            known,
        });
    }
    for (version, sql) in (found + 1..).zip(&MIGRATIONS[found as usize..]) {
        let tx = conn
            .transaction()
            .map_err(|source| StoreError::NotWritable {
                path: path.to_owned(),
                source,
            })?;
        tx.execute_batch(sql)
            .and_then(|()| tx.pragma_update(None, "user_version", version))
            .and_then(|()| tx.commit())
            .map_err(|source| StoreError::NotWritable {
                path: path.to_owned(),
                source,
            })?;
        tracing::info!(version, "history store schema migrated");
    }
    Ok(())
}

impl Store for SqliteStore {
    fn record(&self, changes: Changes) {
        if changes.is_empty() {
            return;
        }
        let mut pending = lock(&self.shared.pending);
        pending.since.get_or_insert_with(Instant::now);
        let mut dropped = 0;
        for (symbol, interval, bar) in changes.bars {
            let full = pending.bars.len() >= MAX_PENDING_BARS;
            let key = (symbol, interval, bar.t);
            if full && !pending.bars.contains_key(&key) {
                dropped += 1;
                continue;
            }
            pending.bars.insert(key, bar);
        }
        for quote in changes.quotes {
            pending.quotes.insert(quote.symbol.clone(), quote);
        }
        let waiting = pending.bars.len() + pending.quotes.len();
        drop(pending);
        let metrics = &self.shared.metrics;
        metrics.store_pending_rows.set(waiting as i64);
        if dropped > 0 {
            metrics.store_dropped_rows.inc_by(dropped);
        }
    }

    fn restore(&self, universe: &Universe, depth: usize) -> Result<Restored, StoreError> {
        let conn = self.reader();
        let mut restored = Restored::default();
        let mut quotes = conn.prepare(
            "SELECT symbol, last, bid, ask, open, high, low, prev_close, volume, ts, session, close FROM quotes",
        )?;
        let rows = quotes.query_map([], |row| {
            let prev_close: f64 = row.get(7)?;
            let close: f64 = row.get(11)?;
            let session: String = row.get(10)?;
            Ok(Quote {
                symbol: row.get(0)?,
                last: row.get(1)?,
                bid: row.get(2)?,
                ask: row.get(3)?,
                open: row.get(4)?,
                high: row.get(5)?,
                low: row.get(6)?,
                prev_close,
                volume: row.get::<_, i64>(8)?.max(0) as u64,
                ts: row.get(9)?,
                session: serde_json::from_value(serde_json::Value::String(session))
                    .unwrap_or_default(),
                close: if close > 0.0 { close } else { prev_close },
            })
        })?;
        for quote in rows {
            let quote = quote?;
            if let Some(id) = universe.lookup(&quote.symbol) {
                restored.quotes.push((id, quote));
            }
        }
        restored.quotes.sort_by_key(|(id, _)| *id);
        let mut newest = conn.prepare_cached(NEWEST_BEFORE)?;
        for (id, info) in universe.symbols().iter().enumerate() {
            for interval in Interval::ALL {
                let bars = read_bars(&mut newest, &info.symbol, interval, i64::MAX, depth)?;
                if !bars.is_empty() {
                    restored.bars.push((id, interval, bars));
                }
            }
        }
        Ok(restored)
    }

    fn bars_before(
        &self,
        symbol: &str,
        interval: Interval,
        before: i64,
        limit: usize,
    ) -> Result<Vec<Candle>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(NEWEST_BEFORE)?;
        Ok(read_bars(&mut stmt, symbol, interval, before, limit)?)
    }

    fn health(&self) -> Health {
        lock(&self.shared.health).clone()
    }

    fn alerts(&self) -> Result<(Vec<app::protocol::Alert>, u64), StoreError> {
        let conn = self.reader();
        let next: Option<String> = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'next_alert_id'",
                [],
                |row| row.get(0),
            )
            .optional()?;
        let next = next.and_then(|n| n.parse().ok()).unwrap_or(1);
        let mut rows = conn.prepare("SELECT alert FROM alerts ORDER BY id")?;
        let texts = rows.query_map([], |row| row.get::<_, String>(0))?;
        let mut alerts = Vec::new();
        for text in texts {
            match serde_json::from_str(&text?) {
                Ok(alert) => alerts.push(alert),
                Err(e) => tracing::warn!(error = %e, "skipped an unreadable stored alert"),
            }
        }
        Ok((alerts, next))
    }

    fn put_alert(&self, alert: &app::protocol::Alert) -> Result<(), StoreError> {
        let text = serde_json::to_string(alert).unwrap_or_default();
        let id = i64::try_from(alert.id).unwrap_or(i64::MAX);
        let conn = self.reader();
        conn.execute(
            "INSERT OR REPLACE INTO alerts (id, alert) VALUES (?1, ?2)",
            params![id, text],
        )?;
        // The next id: past every id ever given, kept when rules are deleted.
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('next_alert_id', ?1)
             ON CONFLICT (key) DO UPDATE SET value = max(CAST(value AS INTEGER), ?1)",
            params![id.saturating_add(1)],
        )?;
        Ok(())
    }

    fn delete_alert(&self, id: u64) -> Result<(), StoreError> {
        let id = i64::try_from(id).unwrap_or(i64::MAX);
        self.reader()
            .execute("DELETE FROM alerts WHERE id = ?1", params![id])?;
        Ok(())
    }

    fn backlog(&self) -> usize {
        let pending = lock(&self.shared.pending);
        if pending.closing {
            0
        } else {
            pending.bars.len() + pending.quotes.len()
        }
    }

    fn close(&self) {
        lock(&self.shared.pending).closing = true;
        self.shared.wake.notify_all();
        if let Some(thread) = lock(&self.writer).take()
            && thread.join().is_err()
        {
            tracing::error!("the history store's writer panicked");
        }
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.close();
    }
}

const NEWEST_BEFORE: &str = "SELECT t, o, h, l, c, v FROM bars
    WHERE symbol = ?1 AND interval = ?2 AND t < ?3 ORDER BY t DESC LIMIT ?4";

/// The newest `limit` bars before `before`, oldest first.
fn read_bars(
    stmt: &mut rusqlite::CachedStatement<'_>,
    symbol: &str,
    interval: Interval,
    before: i64,
    limit: usize,
) -> rusqlite::Result<Vec<Candle>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = stmt.query_map(params![symbol, interval.as_str(), before, limit], |row| {
        Ok(Candle {
            t: row.get(0)?,
            o: row.get(1)?,
            h: row.get(2)?,
            l: row.get(3)?,
            c: row.get(4)?,
            v: row.get::<_, i64>(5)?.max(0) as u64,
        })
    })?;
    let mut bars = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    bars.reverse();
    Ok(bars)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing holding these locks can panic halfway through a change.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The writer thread's state.
struct Writer {
    conn: Connection,
    shared: Arc<Shared>,
    path: PathBuf,
    retention: Retention,
    /// Every symbol written to, for the retention pass.
    symbols: HashSet<String>,
    retained_at: Instant,
    failures: u32,
    backoff: Backoff,
}

impl Writer {
    fn new(conn: Connection, shared: Arc<Shared>, path: PathBuf, retention: Retention) -> Writer {
        let symbols = conn
            .prepare("SELECT symbol FROM quotes")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .unwrap_or_default();
        Writer {
            conn,
            shared,
            path,
            retention,
            symbols,
            // The first pass soon after start.
            retained_at: Instant::now() - RETENTION_EVERY + Duration::from_secs(5),
            failures: 0,
            backoff: Backoff {
                base: Duration::from_millis(500),
                max: Duration::from_secs(30),
                reset_after: Duration::ZERO,
            },
        }
    }

    fn run(mut self) {
        let mut rng = rand::rngs::StdRng::from_os_rng();
        let mut wait = FLUSH_EVERY;
        loop {
            let batch = {
                let mut pending = lock(&self.shared.pending);
                if !pending.closing {
                    pending = self
                        .shared
                        .wake
                        .wait_timeout(pending, wait)
                        .map(|(guard, _)| guard)
                        .unwrap_or_else(|e| e.into_inner().0);
                }
                pending.take()
            };
            let closing = batch.closing;
            wait = FLUSH_EVERY;
            if !batch.is_empty() {
                if let Err(failed) = self.write(batch) {
                    self.failures = self.failures.saturating_add(1);
                    if closing {
                        tracing::error!(
                            bars = failed.bars.len(),
                            quotes = failed.quotes.len(),
                            "history store: changes not written at shutdown"
                        );
                        return;
                    }
                    lock(&self.shared.pending).restore(failed);
                    wait = self.backoff.delay(self.failures - 1, &mut rng);
                    continue;
                }
                self.failures = 0;
            }
            if closing {
                return;
            }
            if self.retained_at.elapsed() >= RETENTION_EVERY {
                self.retained_at = Instant::now();
                self.apply_retention();
            }
        }
    }

    /// Commits `batch` in one transaction; on failure, hands it back.
    fn write(&mut self, batch: Pending) -> Result<(), Pending> {
        let rows = (batch.bars.len() + batch.quotes.len()) as u64;
        match self.commit(&batch) {
            Ok(()) => {
                let metrics = &self.shared.metrics;
                if let Some(since) = batch.since {
                    metrics
                        .store_write_lag_seconds
                        .observe(since.elapsed().as_secs_f64());
                }
                metrics.store_rows_written.inc_by(rows);
                let waiting = {
                    let pending = lock(&self.shared.pending);
                    pending.bars.len() + pending.quotes.len()
                };
                metrics.store_pending_rows.set(waiting as i64);
                metrics.store_failing.set(0);
                metrics.store_bytes.set(self.size() as i64);
                self.symbols.extend(batch.quotes.into_keys());
                let mut health = lock(&self.shared.health);
                if *health != Health::Ok {
                    tracing::info!("history store writing again");
                    *health = Health::Ok;
                }
                Ok(())
            }
            Err(e) => {
                let reason = format!("cannot write {}: {e}", self.path.display());
                let metrics = &self.shared.metrics;
                metrics.store_errors.inc();
                metrics.store_failing.set(1);
                let mut health = lock(&self.shared.health);
                if *health == Health::Ok {
                    tracing::error!(error = %e, path = %self.path.display(), "history store failing; retrying");
                }
                *health = Health::Failing(reason);
                Err(batch)
            }
        }
    }

    fn commit(&mut self, batch: &Pending) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut bar = tx.prepare_cached(
                "INSERT OR REPLACE INTO bars (symbol, interval, t, o, h, l, c, v)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for ((symbol, interval, t), c) in &batch.bars {
                let v = i64::try_from(c.v).unwrap_or(i64::MAX);
                bar.execute(params![
                    &**symbol,
                    interval.as_str(),
                    t,
                    c.o,
                    c.h,
                    c.l,
                    c.c,
                    v
                ])?;
            }
            let mut quote = tx.prepare_cached(
                "INSERT OR REPLACE INTO quotes
                 (symbol, last, bid, ask, open, high, low, prev_close, volume, ts, session, close)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?;
            for q in batch.quotes.values() {
                let volume = i64::try_from(q.volume).unwrap_or(i64::MAX);
                quote.execute(params![
                    q.symbol,
                    q.last,
                    q.bid,
                    q.ask,
                    q.open,
                    q.high,
                    q.low,
                    q.prev_close,
                    volume,
                    q.ts,
                    q.session.as_str(),
                    q.close
                ])?;
            }
        }
        tx.commit()
    }

    /// Deletes bars older than their interval's retention, counted back
    /// from each series' newest bar (so a replay of old recorded trades is
    /// kept like live ones).
    fn apply_retention(&mut self) {
        let started = Instant::now();
        let mut deleted = 0;
        let result = (|| -> rusqlite::Result<()> {
            let tx = self.conn.transaction()?;
            {
                let mut delete = tx.prepare_cached(
                    "DELETE FROM bars WHERE symbol = ?1 AND interval = ?2 AND t < (
                        SELECT max(t) FROM bars WHERE symbol = ?1 AND interval = ?2) - ?3",
                )?;
                for interval in Interval::ALL {
                    let Some(keep) = self.retention.of(interval) else {
                        continue;
                    };
                    let keep = i64::try_from(keep.as_millis()).unwrap_or(i64::MAX);
                    for symbol in &self.symbols {
                        deleted += delete.execute(params![symbol, interval.as_str(), keep])?;
                    }
                }
            }
            tx.commit()
        })();
        match result {
            Ok(()) if deleted > 0 => tracing::debug!(
                deleted,
                ms = started.elapsed().as_millis() as u64,
                "history store: old bars deleted"
            ),
            Ok(()) => {}
            Err(e) => tracing::warn!(error = %e, "history store: cannot delete old bars"),
        }
        self.shared.metrics.store_bytes.set(self.size() as i64);
    }

    /// Bytes on disk: the database and its write-ahead log.
    fn size(&self) -> u64 {
        let wal = PathBuf::from(format!("{}-wal", self.path.display()));
        [&self.path, &wal]
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use app::protocol::{MarketSession, SymbolInfo};

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "tickertape-store-{name}-{}-{}",
            std::process::id(),
            now_ms()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn open(dir: &Path) -> SqliteStore {
        SqliteStore::open(dir, Retention::default(), Arc::new(Metrics::new())).expect("open")
    }

    fn universe(symbols: &[&str]) -> Universe {
        Universe::new(
            symbols
                .iter()
                .map(|s| SymbolInfo {
                    symbol: s.to_string(),
                    name: s.to_string(),
                    currency: "USD".into(),
                    trading_day: Default::default(),
                })
                .collect(),
        )
    }

    fn bar(t: i64, c: f64) -> Candle {
        Candle {
            t,
            o: c - 1.0,
            h: c + 1.0,
            l: c - 2.0,
            c,
            v: 10,
        }
    }

    fn quote(symbol: &str, last: f64, ts: i64) -> Quote {
        Quote {
            symbol: symbol.into(),
            last,
            bid: last - 0.01,
            ask: last + 0.01,
            open: 100.0,
            high: 110.0,
            low: 90.0,
            prev_close: 99.0,
            volume: 12_345,
            ts,
            session: MarketSession::Post,
            close: 101.5,
        }
    }

    #[test]
    fn what_is_recorded_comes_back_after_a_reopen() {
        let dir = scratch("reopen");
        let store = open(&dir);
        // Recent bars: retention would delete old ones.
        let t0 = Interval::M1.bucket(now_ms()) - 10 * 60_000;
        let aapl: Arc<str> = "AAPL".into();
        let mut bars: Vec<_> = (0..10)
            .map(|m| {
                (
                    aapl.clone(),
                    Interval::M1,
                    bar(t0 + m * 60_000, 100.0 + m as f64),
                )
            })
            .collect();
        // A bar changed again later in the same flush: the newest state wins.
        bars.push((aapl.clone(), Interval::M1, bar(t0 + 9 * 60_000, 200.0)));
        store.record(Changes {
            bars,
            quotes: vec![
                quote("AAPL", 200.0, t0 + 9 * 60_000 + 5),
                quote("GONE", 5.0, 1),
            ],
        });
        store.close();
        drop(store);

        let store = open(&dir);
        let restored = store.restore(&universe(&["MSFT", "AAPL"]), 4).unwrap();
        assert_eq!(
            restored.quotes,
            vec![(1, quote("AAPL", 200.0, t0 + 9 * 60_000 + 5))],
            "symbols outside the universe are left out"
        );
        assert_eq!(restored.bars.len(), 1);
        let (id, interval, newest) = &restored.bars[0];
        assert_eq!((*id, *interval), (1, Interval::M1));
        let starts: Vec<i64> = newest.iter().map(|b| (b.t - t0) / 60_000).collect();
        assert_eq!(starts, [6, 7, 8, 9], "the newest `depth`, oldest first");
        assert_eq!(newest[3].c, 200.0);
        let older = store
            .bars_before("AAPL", Interval::M1, t0 + 6 * 60_000, 100)
            .unwrap();
        assert_eq!(older.len(), 6);
        assert_eq!(older[0], bar(t0, 100.0));
        assert!(
            store
                .bars_before("AAPL", Interval::S1, i64::MAX, 10)
                .unwrap()
                .is_empty()
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_version_1_database_is_migrated_and_its_quotes_read_as_regular() {
        let dir = scratch("v1");
        std::fs::create_dir_all(&dir).unwrap();
        {
            let conn = Connection::open(dir.join("tickertape.db")).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.execute_batch(
                "PRAGMA user_version = 1;
                 INSERT INTO quotes VALUES ('AAPL', 200, 199.9, 200.1, 198, 201, 197, 196.5, 1000, 5);",
            )
            .unwrap();
        }
        let store = open(&dir);
        let restored = store.restore(&universe(&["AAPL"]), 10).unwrap();
        let q = &restored.quotes[0].1;
        assert_eq!(
            (q.session, q.close, q.prev_close),
            (MarketSession::Regular, 196.5, 196.5)
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_rebuilt_daily_bar_of_a_us_equity_is_its_regular_session() {
        let dir = scratch("daily");
        let store = open(&dir);
        // The last full trading day before today in New York, every minute
        // from 08:00 to 17:59.
        let (today, _) = app::calendar::new_york_local(now_ms());
        let day = (1..10)
            .map(|back| today - back)
            .find(|d| {
                matches!(
                    app::calendar::day_kind(*d),
                    app::calendar::DayKind::Trading { close, .. } if close == 16 * 3_600_000
                )
            })
            .unwrap();
        let minute =
            |hh: i64, mm: i64| app::calendar::new_york_instant(day, (hh * 60 + mm) * 60_000);
        let nvda: Arc<str> = "NVDA".into();
        let bars: Vec<_> = (8 * 60..18 * 60)
            .map(|m| {
                (
                    nvda.clone(),
                    Interval::M1,
                    bar(minute(0, m), 100.0 + m as f64 / 100.0),
                )
            })
            .collect();
        store.record(Changes {
            bars,
            quotes: Vec::new(),
        });
        store.close();
        drop(store);
        let store = open(&dir);
        let universe = Universe::new(vec![SymbolInfo {
            symbol: "NVDA".into(),
            name: "NVIDIA".into(),
            currency: "USD".into(),
            trading_day: app::protocol::TradingDay::NewYork,
        }]);
        let mut restored = store.restore(&universe, 1_200).unwrap();
        crate::store::rebuild_open_bars(&mut restored, &store, &universe).unwrap();
        let (_, _, days) = restored
            .bars
            .iter()
            .find(|(_, interval, _)| *interval == Interval::D1)
            .expect("a daily bar rebuilt");
        let regular: Vec<Candle> = (8 * 60..18 * 60)
            .map(|m| bar(minute(0, m), 100.0 + m as f64 / 100.0))
            .filter(|b| {
                app::protocol::TradingDay::NewYork.session_at(b.t) == MarketSession::Regular
            })
            .collect();
        assert_eq!(regular.len(), 390, "09:30 to 15:59");
        assert_eq!(days.len(), 1);
        let d = days[0];
        assert_eq!(d.o, regular[0].o, "the open is 09:30's");
        assert_eq!(d.c, regular.last().unwrap().c, "the close is 15:59's");
        assert_eq!(
            d.v,
            10 * regular.len() as u64,
            "pre-market and after hours left out"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_database_from_a_newer_tickertape_is_refused_untouched() {
        let dir = scratch("newer");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(FILE_NAME);
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE future (x); PRAGMA user_version = 99;")
            .unwrap();
        drop(conn);
        let err = SqliteStore::open(&dir, Retention::default(), Arc::new(Metrics::new()))
            .err()
            .expect("refused");
        let message = err.to_string();
        assert!(message.contains("schema version 99"), "{message}");
        assert!(
            message.contains("newer than this tickertape knows"),
            "{message}"
        );
        let conn = Connection::open(&path).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, 99, "left as it was");
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'bars'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 0, "nothing of ours created in it");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_locked_database_is_reported_failing_and_written_once_free() {
        let dir = scratch("locked");
        let metrics = Arc::new(Metrics::new());
        let store = SqliteStore::open(&dir, Retention::default(), metrics.clone()).unwrap();
        // Another process holds the write lock past the busy timeout.
        let other = Connection::open(dir.join(FILE_NAME)).unwrap();
        other.execute_batch("BEGIN EXCLUSIVE").unwrap();
        let t = Interval::M1.bucket(now_ms());
        store.record(Changes {
            bars: vec![("AAPL".into(), Interval::M1, bar(t, 100.0))],
            quotes: vec![quote("AAPL", 100.0, 1)],
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        while store.health() == Health::Ok {
            assert!(Instant::now() < deadline, "never reported failing");
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(metrics.store_failing.get(), 1);
        other.execute_batch("COMMIT").unwrap();
        while store.health() != Health::Ok {
            assert!(Instant::now() < deadline, "never recovered");
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(metrics.store_failing.get(), 0);
        assert_eq!(
            store
                .bars_before("AAPL", Interval::M1, i64::MAX, 5)
                .unwrap(),
            vec![bar(t, 100.0)],
            "the change kept while failing was written"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn bars_older_than_their_retention_before_the_newest_are_deleted() {
        let dir = scratch("retention");
        let mut retention = Retention::default();
        retention.set(Interval::S1, Some(Duration::from_secs(60)));
        let store = SqliteStore::open(&dir, retention, Arc::new(Metrics::new())).unwrap();
        let now = now_ms();
        let sym: Arc<str> = "AAPL".into();
        store.record(Changes {
            bars: vec![
                (sym.clone(), Interval::S1, bar(now - 120_000, 1.0)),
                (sym.clone(), Interval::S1, bar(now - 1_000, 2.0)),
                (sym.clone(), Interval::M1, bar(now - 120_000, 3.0)),
            ],
            quotes: vec![quote("AAPL", 2.0, now)],
        });
        // The first pass runs a few seconds after start.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s1 = store
                .bars_before("AAPL", Interval::S1, i64::MAX, 10)
                .unwrap();
            if s1.len() == 1 {
                assert_eq!(s1[0].c, 2.0, "the recent bar stays");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "old 1 s bar never deleted: {s1:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(
            store
                .bars_before("AAPL", Interval::M1, i64::MAX, 10)
                .unwrap()
                .len(),
            1,
            "1 m bars are kept a year"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
