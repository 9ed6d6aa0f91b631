//! `tickertape.v1.bin`: protocol v1's `snapshot` and `diff` as compact
//! binary frames, for the connections that negotiate it. Same messages,
//! same semantics as their JSON: a symbol is an id, announced once with its
//! name; prices are integers at a scale stated per change; numbers are
//! varints; a change's `ts` counts from the frame's. Every other message
//! stays a JSON text frame.
//!
//! The layout is `docs/DESIGN.md`'s "Binary frames". The server encodes
//! each change once per batch ([`encode_change`]) and frames the shared
//! bytes per client ([`frame`]); [`Decoder`] turns frames back into the
//! [`ServerMsg`] the JSON would have parsed to, bit for bit.

use std::collections::HashMap;

use crate::protocol::{Change, DecodeError, MarketSession, Quote, ServerMsg};

/// The first byte of a `snapshot` frame.
pub const SNAPSHOT: u8 = 1;
/// The first byte of a `diff` frame.
pub const DIFF: u8 = 2;

/// A change's field set: one bit per field, in the order the fields follow
/// (the common ones first, so most sets fit one byte).
mod bit {
    pub const LAST: u64 = 1 << 0;
    pub const BID: u64 = 1 << 1;
    pub const ASK: u64 = 1 << 2;
    pub const HIGH: u64 = 1 << 3;
    pub const LOW: u64 = 1 << 4;
    pub const VOLUME: u64 = 1 << 5;
    pub const TS: u64 = 1 << 6;
    pub const OPEN: u64 = 1 << 7;
    pub const PREV_CLOSE: u64 = 1 << 8;
    pub const CLOSE: u64 = 1 << 9;
    pub const SESSION: u64 = 1 << 10;
    /// The symbol's name follows the field set.
    pub const NAME: u64 = 1 << 11;
    pub const KNOWN: u64 = (1 << 12) - 1;
    /// The price fields, in the order their values follow.
    pub const PRICES: [u64; 8] = [LAST, BID, ASK, HIGH, LOW, OPEN, PREV_CLOSE, CLOSE];
    pub const ANY_PRICE: u64 = LAST | BID | ASK | HIGH | LOW | OPEN | PREV_CLOSE | CLOSE;
}

/// Prices are integers × 10^-scale for a scale up to this...
const MAX_SCALE: u8 = 12;
/// ...or, with this scale, raw IEEE 754 doubles, little-endian.
const RAW: u8 = 255;
const POW10: [f64; MAX_SCALE as usize + 1] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12,
];
/// Mantissas stay below 2^53, where every integer is an exact double.
const EXACT: f64 = 9_007_199_254_740_992.0;

/// The price fields of a change, in wire order.
fn prices(change: &Change) -> [Option<f64>; 8] {
    [
        change.last,
        change.bid,
        change.ask,
        change.high,
        change.low,
        change.open,
        change.prev_close,
        change.close,
    ]
}

fn price_mut(change: &mut Change, index: usize) -> &mut Option<f64> {
    match index {
        0 => &mut change.last,
        1 => &mut change.bid,
        2 => &mut change.ask,
        3 => &mut change.high,
        4 => &mut change.low,
        5 => &mut change.open,
        6 => &mut change.prev_close,
        _ => &mut change.close,
    }
}

/// What a decoder computes from a mantissa at `scale`.
fn unscale(mantissa: i64, scale: u8) -> f64 {
    mantissa as f64 / POW10[usize::from(scale.min(MAX_SCALE))]
}

/// `price` as an integer at `scale`, if that decodes to the same bits.
fn scaled(price: f64, scale: u8) -> Option<i64> {
    let m = (price * POW10[usize::from(scale)]).round();
    if m.is_nan() || m.abs() >= EXACT {
        return None;
    }
    let m = m as i64;
    (unscale(m, scale).to_bits() == price.to_bits()).then_some(m)
}

/// The smallest scale at which every price decodes exactly, and the
/// mantissas at it; `None` when some price needs raw bits.
fn scale_of(prices: &[f64]) -> Option<(u8, Vec<i64>)> {
    (0..=MAX_SCALE).find_map(|scale| {
        let mantissas: Option<Vec<i64>> = prices.iter().map(|&p| scaled(p, scale)).collect();
        Some((scale, mantissas?))
    })
}

fn session_code(session: MarketSession) -> u8 {
    match session {
        MarketSession::Pre => 0,
        MarketSession::Regular => 1,
        MarketSession::Post => 2,
        MarketSession::Closed => 3,
        MarketSession::Halted => 4,
    }
}

fn session_of(code: u8) -> Option<MarketSession> {
    Some(match code {
        0 => MarketSession::Pre,
        1 => MarketSession::Regular,
        2 => MarketSession::Post,
        3 => MarketSession::Closed,
        4 => MarketSession::Halted,
        _ => return None,
    })
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

/// Appends one change of symbol `id`, its `ts` relative to `base_ts`. A
/// change carrying every field carries the symbol's name too: that is how
/// a symbol first reaches a client, so every client learns each id it
/// will see.
pub fn encode_change(id: u32, change: &Change, base_ts: i64, out: &mut Vec<u8>) {
    let prices = prices(change);
    let mut fields = 0;
    for (bit, price) in bit::PRICES.iter().zip(&prices) {
        if price.is_some() {
            fields |= bit;
        }
    }
    let named = change.is_full();
    for (bit, present) in [
        (bit::VOLUME, change.volume.is_some()),
        (bit::TS, change.ts.is_some()),
        (bit::SESSION, change.session.is_some()),
        (bit::NAME, named),
    ] {
        if present {
            fields |= bit;
        }
    }
    put_varint(out, u64::from(id));
    put_varint(out, fields);
    if named {
        put_varint(out, change.symbol.len() as u64);
        out.extend_from_slice(change.symbol.as_bytes());
    }
    let present: Vec<f64> = prices.into_iter().flatten().collect();
    if !present.is_empty() {
        match scale_of(&present) {
            Some((scale, mantissas)) => {
                out.push(scale);
                // Each price after the first as its difference from the one
                // before: bid, ask, high and low sit close to last.
                let mut previous = 0i64;
                for m in mantissas {
                    put_varint(out, zigzag(m.wrapping_sub(previous)));
                    previous = m;
                }
            }
            None => {
                out.push(RAW);
                for p in present {
                    out.extend_from_slice(&p.to_le_bytes());
                }
            }
        }
    }
    if let Some(volume) = change.volume {
        put_varint(out, volume);
    }
    if let Some(ts) = change.ts {
        put_varint(out, zigzag(ts.wrapping_sub(base_ts)));
    }
    if let Some(session) = change.session {
        out.push(session_code(session));
    }
}

/// A frame's header: which message, its `seq` and `batch`, the time its
/// changes' `ts` count from (a diff's own `ts`), and how many changes follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub kind: u8,
    pub seq: u64,
    pub batch: u64,
    pub base_ts: i64,
    pub count: u64,
}

/// One frame: the header, then `body` (`count` changes encoded against
/// `base_ts`, as [`encode_change`] or [`Snapshot`] wrote them).
pub fn frame(header: Header, body: &[u8]) -> Vec<u8> {
    frame_of(header, &[body])
}

/// [`frame`] with a body in parts (each change's bytes, say), copied once.
pub fn frame_of(header: Header, parts: &[&[u8]]) -> Vec<u8> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let mut out = Vec::with_capacity(len + 24);
    out.push(header.kind);
    put_varint(&mut out, header.seq);
    put_varint(&mut out, header.batch);
    put_varint(&mut out, zigzag(header.base_ts));
    put_varint(&mut out, header.count);
    for part in parts {
        out.extend_from_slice(part);
    }
    out
}

/// The body of a `snapshot` frame: every quote with its symbol's name.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub base_ts: i64,
    pub count: u64,
    pub body: Vec<u8>,
}

impl Snapshot {
    pub fn new<'a>(quotes: impl Iterator<Item = (u32, &'a Quote)> + Clone) -> Snapshot {
        let base_ts = quotes.clone().map(|(_, q)| q.ts).max().unwrap_or(0);
        let mut body = Vec::new();
        let mut count = 0;
        for (id, quote) in quotes {
            encode_change(id, &Change::full(quote), base_ts, &mut body);
            count += 1;
        }
        Snapshot {
            base_ts,
            count,
            body,
        }
    }

    /// The whole frame with `seq`, current as of `batch`.
    pub fn frame(&self, seq: u64, batch: u64) -> Vec<u8> {
        let header = Header {
            kind: SNAPSHOT,
            seq,
            batch,
            base_ts: self.base_ts,
            count: self.count,
        };
        frame(header, &self.body)
    }
}

/// Reads a frame's header without decoding its changes (what a load
/// generator needs to count them).
pub fn header(frame: &[u8]) -> Result<Header, DecodeError> {
    Reader { bytes: frame }.header()
}

fn bad(what: impl Into<String>) -> DecodeError {
    DecodeError(what.into())
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, DecodeError> {
        let (&first, rest) = self
            .bytes
            .split_first()
            .ok_or_else(|| bad("frame ends early"))?;
        self.bytes = rest;
        Ok(first)
    }

    fn take(&mut self, n: u64) -> Result<&[u8], DecodeError> {
        let n = usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.bytes.len())
            .ok_or_else(|| bad("frame ends early"))?;
        let (taken, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(taken)
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                break;
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(bad("varint longer than 64 bits"))
    }

    fn signed(&mut self) -> Result<i64, DecodeError> {
        Ok(unzigzag(self.varint()?))
    }

    fn header(&mut self) -> Result<Header, DecodeError> {
        let kind = self.byte()?;
        if kind != SNAPSHOT && kind != DIFF {
            return Err(bad(format!("unknown frame kind {kind}")));
        }
        Ok(Header {
            kind,
            seq: self.varint()?,
            batch: self.varint()?,
            base_ts: self.signed()?,
            count: self.varint()?,
        })
    }
}

/// Reads a server's frames: remembers the name of every symbol id it was
/// told, so later changes can name their symbol. Ids belong to the server's
/// epoch (the same on every connection to it): a client keeps its decoder
/// across reconnects and tells it each `hello`'s epoch ([`Decoder::epoch`]).
#[derive(Debug, Default)]
pub struct Decoder {
    names: HashMap<u64, String>,
    epoch: String,
}

impl Decoder {
    /// The message a frame holds, as its JSON would have parsed.
    pub fn decode(&mut self, frame: &[u8]) -> Result<ServerMsg, DecodeError> {
        let mut reader = Reader { bytes: frame };
        let header = reader.header()?;
        // Every change takes at least two bytes (its id and field set).
        if header.count > (reader.bytes.len() / 2) as u64 {
            return Err(bad(format!(
                "{} changes cannot fit in {} bytes",
                header.count,
                reader.bytes.len()
            )));
        }
        let mut changes = Vec::with_capacity(header.count as usize);
        for _ in 0..header.count {
            changes.push(self.change(&mut reader, header.base_ts)?);
        }
        if !reader.bytes.is_empty() {
            return Err(bad(format!(
                "{} bytes after the last change",
                reader.bytes.len()
            )));
        }
        let Header {
            kind, seq, batch, ..
        } = header;
        if kind == DIFF {
            return Ok(ServerMsg::Diff {
                seq,
                batch,
                ts: header.base_ts,
                changes,
            });
        }
        let quotes = changes
            .iter()
            .map(|c| {
                c.to_quote()
                    .ok_or_else(|| bad(format!("snapshot quote of {} lacks fields", c.symbol)))
            })
            .collect::<Result<_, _>>()?;
        Ok(ServerMsg::Snapshot { seq, batch, quotes })
    }

    fn change(&mut self, reader: &mut Reader, base_ts: i64) -> Result<Change, DecodeError> {
        let id = reader.varint()?;
        let fields = reader.varint()?;
        if fields & !bit::KNOWN != 0 {
            return Err(bad(format!("unknown fields {fields:#x} of symbol id {id}")));
        }
        let mut change = Change::default();
        if fields & bit::NAME != 0 {
            let len = reader.varint()?;
            let name = std::str::from_utf8(reader.take(len)?)
                .map_err(|_| bad(format!("symbol name of id {id} is not UTF-8")))?;
            if self.names.get(&id).is_none_or(|known| known != name) {
                self.names.insert(id, name.to_string());
            }
        }
        change.symbol = self
            .names
            .get(&id)
            .ok_or_else(|| bad(format!("symbol id {id} was never named")))?
            .clone();
        if fields & bit::ANY_PRICE != 0 {
            let scale = reader.byte()?;
            if scale > MAX_SCALE && scale != RAW {
                return Err(bad(format!("price scale {scale}")));
            }
            let mut previous = 0i64;
            for (index, bit) in bit::PRICES.iter().enumerate() {
                if fields & bit == 0 {
                    continue;
                }
                let price = if scale == RAW {
                    let raw = reader.take(8)?;
                    let mut bytes = [0; 8];
                    bytes.copy_from_slice(raw);
                    f64::from_le_bytes(bytes)
                } else {
                    previous = previous.wrapping_add(reader.signed()?);
                    unscale(previous, scale)
                };
                *price_mut(&mut change, index) = Some(price);
            }
        }
        if fields & bit::VOLUME != 0 {
            change.volume = Some(reader.varint()?);
        }
        if fields & bit::TS != 0 {
            change.ts = Some(base_ts.wrapping_add(reader.signed()?));
        }
        if fields & bit::SESSION != 0 {
            let code = reader.byte()?;
            let session = session_of(code).ok_or_else(|| bad(format!("session code {code}")))?;
            change.session = Some(session);
        }
        Ok(change)
    }

    /// The epoch a new connection's `hello` named: another than before
    /// means other ids, so every name is forgotten.
    pub fn epoch(&mut self, epoch: &str) {
        if epoch != self.epoch {
            self.names.clear();
            self.epoch = epoch.to_string();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::tests::quote;

    /// SplitMix64: a seeded, repeatable stream (this crate also builds for
    /// wasm, where a random-number crate would need the browser).
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        /// Uniform in `0..n`.
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n.max(1)
        }

        fn chance(&mut self, p: f64) -> bool {
            (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
        }
    }

    fn json_of(msg: &ServerMsg) -> ServerMsg {
        serde_json::from_str(&serde_json::to_string(msg).unwrap()).unwrap()
    }

    fn diff_frame(seq: u64, ts: i64, changes: &[(u32, Change)]) -> Vec<u8> {
        let mut body = Vec::new();
        for (id, change) in changes {
            encode_change(*id, change, ts, &mut body);
        }
        let header = Header {
            kind: DIFF,
            seq,
            batch: seq + 100,
            base_ts: ts,
            count: changes.len() as u64,
        };
        frame(header, &body)
    }

    /// A price as feeds send them: cents, crypto decimals, or anything.
    fn price(rng: &mut Rng) -> f64 {
        match rng.below(6) {
            0 => (1 + rng.below(10_000_000)) as f64 / 100.0,
            1 => (1 + rng.below(10_000_000_000)) as f64 / 1e8,
            2 => (rng.next() >> 11) as f64 / (1u64 << 53) as f64 * 1e6,
            3 => f64::from_bits(rng.next()),
            4 => [0.0, -0.0, f64::MAX, f64::MIN_POSITIVE, 5e-324, 1e300][rng.below(6) as usize],
            _ => -((1 + rng.below(1_000_000)) as f64) / 1000.0,
        }
    }

    fn change(rng: &mut Rng, symbol: &str) -> Change {
        let mut change = Change {
            symbol: symbol.into(),
            ..Change::default()
        };
        for index in 0..8 {
            if rng.chance(0.5) {
                *price_mut(&mut change, index) = Some(price(rng));
            }
        }
        if rng.chance(0.5) {
            change.volume = Some(rng.next());
        }
        if rng.chance(0.5) {
            change.ts = Some(rng.next() as i64);
        }
        if rng.chance(0.3) {
            change.session = session_of(rng.below(5) as u8);
        }
        change
    }

    /// Compares bit for bit (NaN payloads, -0.0): what `PartialEq` cannot.
    fn same(a: &ServerMsg, b: &ServerMsg) -> bool {
        format!("{a:?}") == format!("{b:?}")
            && match (a, b) {
                (ServerMsg::Diff { changes: x, .. }, ServerMsg::Diff { changes: y, .. }) => {
                    x.iter().zip(y).all(|(x, y)| {
                        prices(x).map(|p| p.map(f64::to_bits))
                            == prices(y).map(|p| p.map(f64::to_bits))
                    })
                }
                _ => true,
            }
    }

    #[test]
    fn a_snapshot_and_its_diffs_decode_to_what_their_json_says() {
        let quotes = [quote("AAPL", 189.23), quote("BTC-USD", 97_123.456_78)];
        let snapshot = Snapshot::new(quotes.iter().enumerate().map(|(i, q)| (i as u32, q)));
        let mut decoder = Decoder::default();
        let msg = ServerMsg::Snapshot {
            seq: 1,
            batch: 7,
            quotes: quotes.to_vec(),
        };
        assert_eq!(
            decoder.decode(&snapshot.frame(1, 7)).unwrap(),
            json_of(&msg)
        );
        // Known ids need no name; prices at their own scale.
        let changes = vec![
            (0, quote("AAPL", 1.0).diff(&quote("AAPL", 189.25)).unwrap()),
            (
                1,
                Change {
                    symbol: "BTC-USD".into(),
                    last: Some(97_124.1),
                    volume: Some(7),
                    ..Change::default()
                },
            ),
        ];
        let msg = ServerMsg::Diff {
            seq: 2,
            batch: 102,
            ts: 1_764_460_801_000,
            changes: changes.iter().map(|(_, c)| c.clone()).collect(),
        };
        let bytes = diff_frame(2, 1_764_460_801_000, &changes);
        assert_eq!(decoder.decode(&bytes).unwrap(), json_of(&msg));
    }

    #[test]
    fn a_typical_change_is_a_fraction_of_its_json() {
        let old = quote("AAPL", 189.23);
        let mut new = quote("AAPL", 189.31);
        new.volume += 300;
        new.ts += 250;
        let change = old.diff(&new).unwrap();
        let mut bytes = Vec::new();
        encode_change(7, &change, new.ts - 100, &mut bytes);
        let json = serde_json::to_string(&change).unwrap();
        assert!(
            bytes.len() * 4 < json.len(),
            "{} bytes vs {} of JSON ({json})",
            bytes.len(),
            json.len()
        );
    }

    #[test]
    fn random_changes_round_trip_bit_for_bit_and_agree_with_json() {
        let mut rng = Rng(19);
        let mut decoder = Decoder::default();
        let names = ["A", "BRK.B", "ETH-USD", "ÆØÅ", ""];
        let quotes: Vec<Quote> = names.iter().map(|n| quote(n, 10.0)).collect();
        let snapshot = Snapshot::new(quotes.iter().enumerate().map(|(i, q)| (i as u32, q)));
        decoder.decode(&snapshot.frame(1, 1)).unwrap();
        for seq in 2..2_000 {
            let count = rng.below(6);
            let changes: Vec<(u32, Change)> = (0..count)
                .map(|_| {
                    let id = rng.below(names.len() as u64) as usize;
                    (id as u32, change(&mut rng, names[id]))
                })
                .collect();
            let ts = rng.next() as i64;
            let expected = ServerMsg::Diff {
                seq,
                batch: seq + 100,
                ts,
                changes: changes.iter().map(|(_, c)| c.clone()).collect(),
            };
            let decoded = decoder.decode(&diff_frame(seq, ts, &changes)).unwrap();
            assert!(same(&decoded, &expected), "{decoded:?} != {expected:?}");
            if changes
                .iter()
                .all(|(_, c)| prices(c).iter().flatten().all(|p| p.is_finite()))
            {
                assert!(
                    same(&decoded, &json_of(&expected)),
                    "JSON disagrees: {expected:?}"
                );
            }
        }
    }

    #[test]
    fn garbage_is_an_error_never_a_panic() {
        let mut rng = Rng(7);
        let mut decoder = Decoder::default();
        let snapshot = Snapshot::new([(0, &quote("A", 1.5))].into_iter());
        let valid = snapshot.frame(3, 3);
        for _ in 0..20_000 {
            let mut bytes = valid.clone();
            match rng.below(3) {
                0 => bytes.truncate(rng.below(bytes.len() as u64) as usize),
                1 => {
                    let i = rng.below(bytes.len() as u64) as usize;
                    bytes[i] = rng.next() as u8;
                }
                _ => bytes = (0..rng.below(40)).map(|_| rng.next() as u8).collect(),
            }
            let _ = decoder.decode(&bytes);
        }
        for (bytes, why) in [
            (&[][..], "frame ends early"),
            (&[9, 1, 0, 0][..], "unknown frame kind 9"),
            (
                &[DIFF, 1, 5, 0, 200, 1][..],
                "200 changes cannot fit in 0 bytes",
            ),
            (
                &[DIFF, 1, 5, 0, 1, 42, 1, 0, 2][..],
                "symbol id 42 was never named",
            ),
            (
                &[
                    DIFF, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
                ][..],
                "varint longer than 64 bits",
            ),
        ] {
            assert_eq!(Decoder::default().decode(bytes), Err(bad(why)));
        }
    }

    #[test]
    fn a_header_reads_without_the_changes() {
        let bytes = diff_frame(
            41,
            -5,
            &[(
                0,
                Change {
                    symbol: "A".into(),
                    ..Change::full(&quote("A", 2.0))
                },
            )],
        );
        assert_eq!(
            header(&bytes),
            Ok(Header {
                kind: DIFF,
                seq: 41,
                batch: 141,
                base_ts: -5,
                count: 1
            })
        );
    }
}
