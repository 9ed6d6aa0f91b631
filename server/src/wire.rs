//! Encoding of server messages, including diffs assembled from the hub's
//! pre-encoded fragments so no session re-serialises a batch, and the HTTP
//! surface's JSON error answer.

use std::borrow::Cow;
use std::collections::{BTreeMap, btree_map};
use std::fmt::Write;
use std::sync::Arc;

use app::binary;
use app::protocol::{ApiError, Change, Interval, Quote, ServerMsg};
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::batch::{Batch, Entry};
use crate::market::SymbolId;
use crate::socket::Outgoing;
use crate::subscription::Subscription;

/// JSON for anything the server sends. Our own types always serialise; a
/// failure would be a bug, reported as an empty object rather than a panic.
pub fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|e| {
        tracing::error!(error = %e, "could not encode a message");
        "{}".into()
    })
}

/// A JSON `{"error": ...}` answer: every refusal of the HTTP surface.
pub fn json_error(status: StatusCode, error: impl Into<String>) -> Response {
    (
        status,
        Json(ApiError {
            error: error.into(),
        }),
    )
        .into_response()
}

pub fn encode(msg: &ServerMsg) -> String {
    to_json(msg)
}

/// `"ts":…,"changes":[…]}`: everything of a diff after its `seq`.
pub fn diff_tail<'a>(ts: i64, changes: impl Iterator<Item = &'a str>) -> String {
    let mut out = String::with_capacity(64);
    let _ = write!(out, "\"ts\":{ts},\"changes\":[");
    for (i, change) in changes.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(change);
    }
    out.push_str("]}");
    out
}

/// `"quotes":[…]}`: everything of a snapshot after its `seq`.
pub fn snapshot_tail<'a>(quotes: impl Iterator<Item = &'a Quote>) -> String {
    let mut out = String::from("\"quotes\":[");
    for (i, quote) in quotes.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&to_json(quote));
    }
    out.push_str("]}");
    out
}

/// A whole `snapshot` message, current as of `batch`, from its shared tail.
pub fn snapshot_frame(seq: u64, batch: u64, tail: &str) -> String {
    let mut out = String::with_capacity(tail.len() + 56);
    let _ = write!(
        out,
        "{{\"type\":\"snapshot\",\"seq\":{seq},\"batch\":{batch},"
    );
    out.push_str(tail);
    out
}

/// `{"type":"diff","seq":…,"batch":…,`: a diff's own head, before its tail.
fn diff_head(seq: u64, batch: u64) -> String {
    let mut head = String::with_capacity(64);
    let _ = write!(head, "{{\"type\":\"diff\",\"seq\":{seq},\"batch\":{batch},");
    head
}

/// A `diff` message of its head and a (shared) tail, borrowed.
fn with_seq(seq: u64, batch: u64, tail: &str) -> Outgoing<'_> {
    Outgoing::text_of(diff_head(seq, batch), tail)
}

/// How a connection's `snapshot` and `diff` messages travel: the
/// subprotocol it negotiated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Encoding {
    /// JSON text frames (`tickertape.v1.json`, or no subprotocol).
    #[default]
    Json,
    /// Binary frames (`tickertape.v1.bin`).
    Binary,
}

/// A symbol's id in binary frames (ids index a few thousand symbols).
pub fn bin_id(id: SymbolId) -> u32 {
    u32::try_from(id).unwrap_or(u32::MAX)
}

/// The entry of `change` in a batch made at `ts`, encoded both ways.
pub fn entry(id: SymbolId, change: Change, ts: i64) -> Entry {
    let json = to_json(&change);
    entry_of(id, change, json, ts)
}

/// The entry of `change`, whose JSON is `json` already (an ingest node's,
/// on an edge).
pub fn entry_of(id: SymbolId, change: Change, json: String, ts: i64) -> Entry {
    let mut bin = Vec::with_capacity(24);
    binary::encode_change(bin_id(id), &change, ts, &mut bin);
    Entry {
        id,
        change,
        json,
        bin,
    }
}

/// One batch equivalent to `batches` (consecutive, oldest first) for
/// quotes: each symbol's changes merged (later fields win), encoded once.
/// Numbered and timed as the newest; no candles, trades or books.
pub fn merged(batches: &[Arc<Batch>]) -> Option<Batch> {
    let last = batches.last()?;
    let entries: Vec<Entry> = merge(batches, |_| true)
        .into_iter()
        .map(|(id, change)| entry(id, change, last.ts))
        .collect();
    Some(Batch {
        no: last.no,
        public: last.public,
        ts: last.ts,
        all_tail: diff_tail(last.ts, entries.iter().map(|e| e.json.as_str())),
        all_bin: all_bin(&entries),
        entries,
        candles: Vec::new(),
        trades: Vec::new(),
        books: Vec::new(),
        resync: false,
        withdrawn: false,
    })
}

/// Every entry's binary encoding, back to back.
pub fn all_bin(entries: &[Entry]) -> Vec<u8> {
    entries.iter().flat_map(|e| &e.bin).copied().collect()
}

/// A binary diff of `count` changes whose bytes are `body`, sent after the
/// diff's own header.
fn bin_diff(seq: u64, batch: u64, ts: i64, count: usize, body: &[u8]) -> Outgoing<'_> {
    Outgoing::binary_of(bin_diff_of(seq, batch, ts, &[], count), body)
}

/// A binary diff of `count` changes whose bytes are `parts`, copied once.
fn bin_diff_of(seq: u64, batch: u64, ts: i64, parts: &[&[u8]], count: usize) -> Vec<u8> {
    let header = binary::Header {
        kind: binary::DIFF,
        seq,
        batch,
        base_ts: ts,
        count: count as u64,
    };
    binary::frame_of(header, parts)
}

/// The diff one session receives for one batch, or `None` if the batch holds
/// nothing it subscribes to. A session of every symbol gets the batch's
/// shared bytes, borrowed.
pub fn diff_frame<'a>(
    seq: u64,
    batch: &'a Batch,
    sub: &Subscription,
    encoding: Encoding,
) -> Option<Outgoing<'a>> {
    if batch.entries.is_empty() {
        return None;
    }
    if sub.is_all() {
        return Some(match encoding {
            Encoding::Json => with_seq(seq, batch.public, &batch.all_tail),
            Encoding::Binary => bin_diff(
                seq,
                batch.public,
                batch.ts,
                batch.entries.len(),
                &batch.all_bin,
            ),
        });
    }
    let mut mine = batch
        .entries
        .iter()
        .filter(|e| sub.contains(e.id))
        .peekable();
    mine.peek()?;
    Some(match encoding {
        Encoding::Json => {
            let mut text = diff_head(seq, batch.public);
            text.push_str(&diff_tail(batch.ts, mine.map(|e| e.json.as_str())));
            Outgoing::text(text)
        }
        Encoding::Binary => {
            let parts: Vec<&[u8]> = mine.map(|e| e.bin.as_slice()).collect();
            Outgoing::binary(bin_diff_of(
                seq,
                batch.public,
                batch.ts,
                &parts,
                parts.len(),
            ))
        }
    })
}

/// Each symbol's changes over `batches` (oldest first) merged into one,
/// for the symbols `keep` wants, in symbol order.
pub fn merge(
    batches: &[Arc<Batch>],
    keep: impl Fn(SymbolId) -> bool,
) -> BTreeMap<SymbolId, Change> {
    let mut merged: BTreeMap<SymbolId, Change> = BTreeMap::new();
    for entry in batches
        .iter()
        .flat_map(|b| &b.entries)
        .filter(|e| keep(e.id))
    {
        match merged.entry(entry.id) {
            btree_map::Entry::Occupied(mut slot) => slot.get_mut().merge(&entry.change),
            btree_map::Entry::Vacant(slot) => {
                slot.insert(entry.change.clone());
            }
        }
    }
    merged
}

/// One diff equivalent to applying every batch in order, merged for one
/// session's symbols alone (see `Published::merged` for the shared one).
pub fn conflated_frame(
    seq: u64,
    batches: &[Arc<Batch>],
    sub: &Subscription,
    encoding: Encoding,
) -> Option<Outgoing<'static>> {
    let last = batches.last()?;
    let merged = merge(batches, |id| sub.contains(id));
    if merged.is_empty() {
        return None;
    }
    Some(match encoding {
        Encoding::Json => Outgoing::text(encode(&ServerMsg::Diff {
            seq,
            batch: last.public,
            ts: last.ts,
            changes: merged.into_values().collect(),
        })),
        Encoding::Binary => {
            let mut body = Vec::new();
            for (id, change) in &merged {
                binary::encode_change(bin_id(*id), change, last.ts, &mut body);
            }
            Outgoing::binary(bin_diff_of(
                seq,
                last.public,
                last.ts,
                &[&body],
                merged.len(),
            ))
        }
    })
}

/// A diff without changes: what answers a `resume` when nothing the client
/// subscribes to changed since its `batch`.
pub fn empty_diff(seq: u64, batch: u64, ts: i64, encoding: Encoding) -> Outgoing<'static> {
    match encoding {
        Encoding::Json => {
            let mut text = diff_head(seq, batch);
            text.push_str(&diff_tail(ts, std::iter::empty()));
            Outgoing::text(text)
        }
        Encoding::Binary => Outgoing::binary(bin_diff_of(seq, batch, ts, &[], 0)),
    }
}

/// The `candle` messages of `batches` for one charted symbol and interval:
/// each bar once, in its latest state, oldest bar first.
pub fn candle_frames(batches: &[Arc<Batch>], id: SymbolId, interval: Interval) -> Vec<&str> {
    let mut latest: BTreeMap<i64, &str> = BTreeMap::new();
    for entry in batches.iter().flat_map(|b| &b.candles) {
        if let (true, Some(json)) = (entry.id == id && entry.interval == interval, &entry.json) {
            latest.insert(entry.t, json);
        }
    }
    latest.into_values().collect()
}

/// A chart message the hub encoded for chart 0, for chart `chart`: the
/// same object with `"chart":n` first (chart 0's carry none).
pub fn for_chart(frame: &str, chart: u8) -> Cow<'_, str> {
    match (chart, frame.strip_prefix('{')) {
        (0, _) | (_, None) => Cow::Borrowed(frame),
        (n, Some(rest)) => Cow::Owned(format!("{{\"chart\":{n},{rest}")),
    }
}

/// The `book` message of `batches` for one symbol: its one change, or the
/// whole book as of the newest batch when several changed it.
pub fn book_frame<'a>(batches: &[&'a Arc<Batch>], id: SymbolId) -> Option<&'a str> {
    let mut frames = batches
        .iter()
        .flat_map(|b| &b.books)
        .filter(|e| e.id == id)
        .filter_map(|e| e.frames.as_ref());
    let first = frames.next()?;
    Some(match frames.next_back() {
        None => &first.diff,
        Some(newest) => &newest.snapshot,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_messages_name_charts_other_than_the_first() {
        let frame = r#"{"type":"candle","symbol":"A"}"#;
        assert_eq!(for_chart(frame, 0), frame);
        assert_eq!(
            for_chart(frame, 3),
            r#"{"chart":3,"type":"candle","symbol":"A"}"#
        );
    }
}
