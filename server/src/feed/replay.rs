//! Replay of recorded trades from CSV (`--feed replay:<file>`).
//!
//! The header names the columns, in any order: `ts,symbol,price,size` and
//! optionally `bid,ask`. `ts` is Unix milliseconds or RFC 3339. Rows are
//! paced by their timestamps at `--replay-speed` (a factor, or `max`); the
//! trades keep their own timestamps, so a replayed day charts as that day.
//! At the end the final state stays served; `--replay-loop` starts again,
//! shifted forward by the file's span so time keeps moving.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use app::protocol::SymbolInfo;
use async_trait::async_trait;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::upstream::rfc3339_ms;
use super::{Feed, FeedError, FeedOutput, Resume, Tick, equity_info};

/// How fast to replay.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Speed {
    /// Recorded time divided by this factor.
    Factor(f64),
    /// As fast as the hub takes them.
    Max,
}

/// The slowest and fastest replay factors: beyond them the pacing arithmetic
/// overflows (a factor of 1e-300 makes every wait infinite).
const MIN_SPEED: f64 = 0.001;
const MAX_SPEED: f64 = 1_000_000.0;

/// The longest a replay waits for one row (further rows in a file spanning
/// ages wait again from there).
const FAR: Duration = Duration::from_secs(86_400 * 365);

impl std::str::FromStr for Speed {
    type Err = String;

    fn from_str(s: &str) -> Result<Speed, String> {
        if s == "max" {
            return Ok(Speed::Max);
        }
        match s.parse::<f64>() {
            Ok(f) if (MIN_SPEED..=MAX_SPEED).contains(&f) => Ok(Speed::Factor(f)),
            _ => Err(format!(
                "replay speed must be a factor from {MIN_SPEED} to {MAX_SPEED} or \"max\", not {s:?}"
            )),
        }
    }
}

/// A file that cannot be replayed at all.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
}

/// The recorded trades, in file order.
#[derive(Clone, Debug)]
pub struct Recording {
    pub ticks: Vec<Tick>,
    /// Rows that could not be read (line number and why), skipped.
    pub skipped: Vec<(usize, String)>,
}

/// Column positions from the header.
struct Columns {
    ts: usize,
    symbol: usize,
    price: usize,
    size: usize,
    bid: Option<usize>,
    ask: Option<usize>,
}

impl Columns {
    fn from_header(header: &str) -> Result<Columns, String> {
        let names: Vec<&str> = header.split(',').map(str::trim).collect();
        let find = |name: &str| names.iter().position(|n| n.eq_ignore_ascii_case(name));
        let need = |name: &str| {
            find(name)
                .ok_or_else(|| format!("the header lacks a \"{name}\" column (found: {header})"))
        };
        Ok(Columns {
            ts: need("ts")?,
            symbol: need("symbol")?,
            price: need("price")?,
            size: need("size")?,
            bid: find("bid"),
            ask: find("ask"),
        })
    }

    fn row(&self, line: &str) -> Result<Tick, String> {
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        let cell = |i: usize| cells.get(i).copied().unwrap_or_default();
        let optional = |i: Option<usize>, name: &str| -> Result<Option<f64>, String> {
            match i.map(cell).filter(|c| !c.is_empty()) {
                None => Ok(None),
                Some(c) => positive(c, name).map(Some),
            }
        };
        let symbol = cell(self.symbol);
        if symbol.is_empty() {
            return Err("empty symbol".into());
        }
        let size = cell(self.size)
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0);
        let size = size.ok_or_else(|| format!("bad size {:?}", cell(self.size)))?;
        Ok(Tick {
            bid: optional(self.bid, "bid")?,
            ask: optional(self.ask, "ask")?,
            ..Tick::trade(
                symbol,
                positive(cell(self.price), "price")?,
                size,
                timestamp(cell(self.ts))?,
            )
        })
    }
}

fn positive(text: &str, name: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0)
        .ok_or_else(|| format!("bad {name} {text:?}"))
}

/// Unix milliseconds or RFC 3339.
fn timestamp(text: &str) -> Result<i64, String> {
    text.parse::<i64>()
        .ok()
        .or_else(|| rfc3339_ms(text))
        .ok_or_else(|| format!("bad ts {text:?}"))
}

impl Recording {
    pub fn load(path: &Path) -> Result<Recording, ReplayError> {
        let text = std::fs::read_to_string(path).map_err(|source| ReplayError::Read {
            path: path.into(),
            source,
        })?;
        Recording::parse(&text).map_err(|message| ReplayError::Format {
            path: path.into(),
            message,
        })
    }

    /// Reads CSV text; fails only without a usable header or any usable row.
    pub fn parse(text: &str) -> Result<Recording, String> {
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'));
        let (_, header) = lines.next().ok_or("the file is empty")?;
        let columns = Columns::from_header(header)?;
        let mut recording = Recording {
            ticks: Vec::new(),
            skipped: Vec::new(),
        };
        for (i, line) in lines {
            match columns.row(line) {
                Ok(tick) => recording.ticks.push(tick),
                Err(why) => recording.skipped.push((i + 1, why)),
            }
        }
        if recording.ticks.is_empty() {
            return Err("no usable rows".into());
        }
        Ok(recording)
    }

    /// Symbols in order of first appearance.
    pub fn symbols(&self) -> Vec<String> {
        let mut seen = HashSet::new();
        self.ticks
            .iter()
            .filter(|t| seen.insert(t.symbol.clone()))
            .map(|t| t.symbol.to_string())
            .collect()
    }

    /// Recorded time from the first to the last row.
    fn span_ms(&self) -> i64 {
        let (lo, hi) = self.ticks.iter().fold((i64::MAX, i64::MIN), |(lo, hi), t| {
            (lo.min(t.ts), hi.max(t.ts))
        });
        hi - lo
    }
}

pub struct Replay {
    recording: Recording,
    speed: Speed,
    looped: bool,
    /// Where a restarted run resumes.
    position: usize,
    /// Added to every timestamp: grows by the span on each loop.
    offset: i64,
    /// Each symbol's newest trade time the history store already has: on
    /// the first pass, rows up to it are skipped (not applied twice).
    stored: HashMap<Arc<str>, i64>,
}

impl Replay {
    pub fn new(recording: Recording, speed: Speed, looped: bool) -> Replay {
        for (line, why) in &recording.skipped {
            tracing::warn!(feed = "replay", line, "skipped a row: {why}");
        }
        Replay {
            recording,
            speed,
            looped,
            position: 0,
            offset: 0,
            stored: HashMap::new(),
        }
    }

    /// Sends rows from `position` on, paced from the first of them.
    fn is_stored(&self, row: &Tick) -> bool {
        self.stored.get(&row.symbol).is_some_and(|&ts| row.ts <= ts)
    }

    async fn play(
        &mut self,
        out: &mut FeedOutput,
        stop: &CancellationToken,
    ) -> Result<bool, FeedError> {
        let first_ts = self.recording.ticks.get(self.position).map_or(0, |t| t.ts);
        let start = Instant::now();
        while let Some(row) = self.recording.ticks.get(self.position) {
            if self.offset == 0 && self.is_stored(row) {
                self.position += 1;
                continue;
            }
            let mut tick = row.clone();
            if let Speed::Factor(f) = self.speed {
                // A span too long to represent is capped (a year): never a panic.
                let wait = ((tick.ts - first_ts).max(0) as f64 / 1_000.0) / f;
                let due = start
                    + Duration::try_from_secs_f64(wait)
                        .unwrap_or(Duration::MAX)
                        .min(FAR);
                tokio::select! {
                    biased;
                    _ = stop.cancelled() => return Ok(false),
                    _ = tokio::time::sleep_until(due) => {}
                }
            } else if self.position.is_multiple_of(1_024) {
                // Flat out: still let other tasks run, and notice a stop.
                tokio::task::yield_now().await;
                if stop.is_cancelled() {
                    return Ok(false);
                }
            }
            tick.ts += self.offset;
            out.send(tick).await?;
            self.position += 1;
        }
        Ok(true)
    }
}

#[async_trait]
impl Feed for Replay {
    fn name(&self) -> &str {
        "replay"
    }

    /// Continues a replay the history store has seen part of: its rows up
    /// to each symbol's stored last trade are not applied again.
    fn resume(&mut self, from: &Resume) {
        self.stored = from
            .quotes
            .iter()
            .map(|q| (Arc::from(q.symbol.as_str()), q.ts))
            .collect();
        while self
            .recording
            .ticks
            .get(self.position)
            .is_some_and(|row| self.is_stored(row))
        {
            self.position += 1;
        }
        if self.position > 0 {
            tracing::info!(
                feed = "replay",
                skipped = self.position,
                "continuing the replay after what the history store has"
            );
        }
    }

    fn recorded_time(&self) -> bool {
        true
    }

    fn symbols(&self) -> Vec<SymbolInfo> {
        self.recording
            .symbols()
            .iter()
            .map(|s| equity_info(s))
            .collect()
    }

    async fn run(
        &mut self,
        out: &mut FeedOutput,
        stop: CancellationToken,
    ) -> Result<(), FeedError> {
        out.set_live();
        loop {
            if !self.play(out, &stop).await? {
                return Ok(());
            }
            if !self.looped {
                tracing::info!(
                    feed = "replay",
                    rows = self.position,
                    "replay finished; serving the final state"
                );
                stop.cancelled().await;
                return Ok(());
            }
            self.position = 0;
            self.offset += self.recording.span_ms() + 1_000;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "\
# a comment
ts,symbol,price,size,bid,ask
1700000000000,AAPL,190.10,100,190.09,190.11
2023-11-14T22:13:20.500Z,MSFT,370.5,50,,
1700000001000,AAPL,190.20,25,190.19,190.21
1700000001000,AAPL,-1,25,,
oops,AAPL,190,1,,
1700000002000,,190,1,,
";

    #[test]
    fn rows_parse_with_either_timestamp_and_bad_rows_are_reported() {
        let r = Recording::parse(CSV).unwrap();
        assert_eq!(r.ticks.len(), 3);
        assert_eq!(
            r.ticks[1],
            Tick::trade("MSFT", 370.5, 50.0, 1_700_000_000_500)
        );
        assert_eq!(
            (r.ticks[0].bid, r.ticks[0].ask),
            (Some(190.09), Some(190.11))
        );
        assert_eq!(r.symbols(), vec!["AAPL", "MSFT"]);
        let skipped: Vec<usize> = r.skipped.iter().map(|(line, _)| *line).collect();
        assert_eq!(skipped, vec![6, 7, 8]);
        assert_eq!(r.skipped[0].1, "bad price \"-1\"");
        assert_eq!(r.span_ms(), 1_000);
    }

    #[test]
    fn columns_may_come_in_any_order_and_bid_ask_are_optional() {
        let r = Recording::parse("symbol,size,price,ts\nX,3,1.5,42\n").unwrap();
        assert_eq!(r.ticks, vec![Tick::trade("X", 1.5, 3.0, 42)]);
        let err = Recording::parse("ts,symbol,size\n1,X,1\n").unwrap_err();
        assert!(err.contains("lacks a \"price\" column"), "{err}");
        assert_eq!(Recording::parse("").unwrap_err(), "the file is empty");
        assert_eq!(
            Recording::parse("ts,symbol,price,size\nx,y,z,w\n").unwrap_err(),
            "no usable rows"
        );
    }

    #[test]
    fn speeds_parse() {
        assert_eq!("max".parse::<Speed>(), Ok(Speed::Max));
        assert_eq!("2.5".parse::<Speed>(), Ok(Speed::Factor(2.5)));
        for bad in ["0", "fast", "-1", "1e-300", "1e300", "NaN", "inf"] {
            let err = bad.parse::<Speed>().unwrap_err();
            assert!(err.contains("from 0.001 to 1000000"), "{bad}: {err}");
        }
    }
}
