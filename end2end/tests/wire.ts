/**
 * Reads what the server sends a page's socket as protocol v1 messages:
 * JSON text frames as they are, and `tickertape.v1.bin` binary frames
 * (snapshot and diff) decoded by the layout in docs/DESIGN.md, "Binary
 * frames". Written from the document, not from the Rust decoder, so the
 * tests also check that the two agree. Symbol ids belong to the server's
 * epoch: one reader serves every socket of a page, and forgets the names
 * when a `hello` names another epoch.
 */

export type Change = { symbol: string; [field: string]: unknown };
export type WireMsg = { type: string; seq?: number; batch?: number; ts?: number; changes?: Change[]; quotes?: Change[]; [field: string]: unknown };

const PRICES = ["last", "bid", "ask", "high", "low", "open", "prev_close", "close"];
const PRICE_BITS = [0, 1, 2, 3, 4, 7, 8, 9];
const SESSIONS = ["pre", "regular", "post", "closed", "halted"];

export function frameReader(): (payload: string | Buffer) => WireMsg {
  const names = new Map<number, string>();
  let epoch: unknown;
  return (payload) => {
    if (typeof payload !== "string") return decode(payload, names);
    const msg = JSON.parse(payload);
    if (msg.type === "hello" && msg.epoch !== epoch) {
      names.clear();
      epoch = msg.epoch;
    }
    return msg;
  };
}

function decode(bytes: Buffer, names: Map<number, string>): WireMsg {
  let at = 0;
  const byte = () => {
    if (at >= bytes.length) throw new Error("frame ends early");
    return bytes[at++];
  };
  // Numbers up to 2^53 are exact, which seq, ts, ids and volumes stay under.
  const varint = () => {
    let value = 0;
    for (let scale = 1; ; scale *= 128) {
      const b = byte();
      value += (b & 0x7f) * scale;
      if (b < 0x80) return value;
    }
  };
  const zigzag = () => {
    const v = varint();
    return v % 2 === 0 ? v / 2 : -(v + 1) / 2;
  };
  const kind = byte();
  const seq = varint();
  const batch = varint();
  const baseTs = zigzag();
  const count = varint();
  const changes: Change[] = [];
  for (let i = 0; i < count; i++) {
    const id = varint();
    const fields = varint();
    const has = (bit: number) => Math.floor(fields / 2 ** bit) % 2 === 1;
    if (has(11)) {
      const len = varint();
      names.set(id, bytes.toString("utf8", at, at + len));
      at += len;
    }
    const symbol = names.get(id);
    if (symbol === undefined) throw new Error(`symbol id ${id} was never named`);
    const change: Change = { symbol };
    if (PRICE_BITS.some(has)) {
      const scale = byte();
      let m = 0;
      PRICES.forEach((field, k) => {
        if (!has(PRICE_BITS[k])) return;
        if (scale === 255) {
          change[field] = bytes.readDoubleLE(at);
          at += 8;
        } else {
          m += zigzag();
          change[field] = m / 10 ** scale;
        }
      });
    }
    if (has(5)) change.volume = varint();
    if (has(6)) change.ts = baseTs + zigzag();
    if (has(10)) change.session = SESSIONS[byte()];
    changes.push(change);
  }
  if (at !== bytes.length) throw new Error(`${bytes.length - at} bytes after the last change`);
  return kind === 1 ? { type: "snapshot", seq, batch, quotes: changes } : { type: "diff", seq, batch, ts: baseTs, changes };
}
