// History store capacity: the release build on an empty --data-dir, the
// simulator at rising trade rates over 100 symbols. Each step waits until
// the simulator's generated history is written, then measures a window: the
// trades the hub took in per second, the rows the store committed per second,
// the write lag (histogram, from a change reaching the store to its commit)
// and the rows still pending at the end, and the server's CPU (user and
// system). The store absorbs a rate if its lag stays within seconds and
// nothing piles up. Then, from the same databases: bytes on disk per stored
// bar (file size after a clean shutdown over the bars written), and from that
// the bytes one symbol takes per day of trading at each interval and for its
// whole retention. Prints JSON.
//
//   node bench/store.js [--runs 3] [--window 15]

"use strict";
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { parseArgs, median, freePort, sleep, startProcess, stopProcess, waitOk, cpuSecs, metricSum, metricByLabels, measuredBuild, SOURCES } = require("./lib");

const root = path.resolve(__dirname, "..");
const args = parseArgs();
const RUNS = Number(args.runs ?? 3);
const WINDOW_S = Number(args.window ?? 15);
const TICKERTAPE = path.join(root, "target/release/tickertape");
const SYMBOLS = 100;
/** Trades per symbol per second at each step (100 symbols: 1,000 to 100,000 trades/s). */
const RATES = [10, 100, 300, 1000];
/** Retention per interval, in days (docs/DESIGN.md, "History store"); null: kept for ever. */
const INTERVALS = [
  ["1s", 1, 3],
  ["5s", 5, 14],
  ["1m", 60, 365],
  ["5m", 300, 5 * 365],
  ["15m", 900, 5 * 365],
  ["1h", 3600, 10 * 365],
  ["1d", 86400, null],
];

const metrics = async (port) => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();

async function step(rate) {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tickertape-store-bench-"));
  const argv = ["--addr", `127.0.0.1:${port}`, "--data-dir", dir, "--sim-symbols", SYMBOLS, "--sim-rate", rate, "--flush-ms", 100, "--seed", "1", "--log-format", "json"];
  const child = startProcess(TICKERTAPE, argv);
  try {
    await waitOk(`http://127.0.0.1:${port}/readyz`, 120_000, child);
    // The simulator's generated history first (about 1.4 million bars).
    let text;
    for (let i = 0; ; i++) {
      text = await metrics(port);
      if (metricSum(text, "tickertape_store_history_waiting") === 0 && metricSum(text, "tickertape_store_pending_rows") < 10_000) break;
      if (i > 3000) throw new Error("the store never caught up with the simulator's history");
      await sleep(100);
    }
    const historyRows = metricSum(text, "tickertape_store_rows_written_total");
    await sleep(2000);
    const a = await metrics(port);
    const cpuA = cpuSecs(child.pid);
    const t0 = performance.now();
    let pendingMax = 0;
    while (performance.now() - t0 < WINDOW_S * 1000) {
      await sleep(500);
      pendingMax = Math.max(pendingMax, metricSum(await metrics(port), "tickertape_store_pending_rows"));
    }
    const b = await metrics(port);
    const cpuB = cpuSecs(child.pid);
    const secs = (performance.now() - t0) / 1000;
    const delta = (name, labels) => metricSum(b, name, labels) - metricSum(a, name, labels);
    // Write lag: the share of commits later than 2.5 s, and the bucket the 99th percentile falls in.
    const buckets = metricByLabels(b, "tickertape_store_write_lag_seconds_bucket");
    const before = metricByLabels(a, "tickertape_store_write_lag_seconds_bucket");
    const counts = Object.entries(buckets)
      .map(([labels, n]) => [Number(/le="([^"]+)"/.exec(labels)?.[1].replace("+Inf", "Infinity")), n - (before[labels] ?? 0)])
      .sort((x, y) => x[0] - y[0]);
    const total = counts.at(-1)?.[1] ?? 0;
    const p99 = counts.find(([, n]) => n >= 0.99 * total)?.[0] ?? null;
    const late = total ? 1 - (counts.find(([le]) => le === 2.5)?.[1] ?? total) / total : 0;
    const result = {
      rate,
      tradesPerSec: delta("tickertape_feed_events_total") / secs,
      rowsPerSec: delta("tickertape_store_rows_written_total") / secs,
      lagP99Le: p99,
      lateShare: late,
      pendingMax,
      pendingEnd: metricSum(b, "tickertape_store_pending_rows"),
      dropped: metricSum(b, "tickertape_store_dropped_rows_total"),
      cpuUserPct: (100 * (cpuB.user - cpuA.user)) / secs,
      cpuSystemPct: (100 * (cpuB.system - cpuA.system)) / secs,
      rowsWritten: metricSum(b, "tickertape_store_rows_written_total"),
      historyRows,
    };
    await stopProcess(child);
    // After a clean shutdown the WAL is folded into the database file.
    result.dbBytes = fs
      .readdirSync(dir)
      .filter((f) => f.startsWith("tickertape.db"))
      .reduce((sum, f) => sum + fs.statSync(path.join(dir, f)).size, 0);
    return result;
  } finally {
    await stopProcess(child);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

(async () => {
  const measured = measuredBuild([[TICKERTAPE, SOURCES.tickertape]]);
  const runs = Object.fromEntries(RATES.map((r) => [r, []]));
  for (let run = 1; run <= RUNS; run++) {
    for (const rate of RATES) {
      const r = await step(rate);
      runs[rate].push(r);
      console.error(
        `rate ${rate}/symbol run ${run}: ${Math.round(r.tradesPerSec)} trades/s in, ${Math.round(r.rowsPerSec)} rows/s written, ` +
          `lag p99 <= ${r.lagP99Le} s, ${(100 * r.lateShare).toFixed(1)} % later than 2.5 s, pending max ${r.pendingMax}, ` +
          `CPU user ${r.cpuUserPct.toFixed(0)} % sys ${r.cpuSystemPct.toFixed(0)} %, ${(r.dbBytes / 2 ** 20).toFixed(1)} MiB for ${r.rowsWritten} rows`,
      );
    }
  }
  const med = (xs) => median(xs);
  const steps = RATES.map((rate) => {
    const rs = runs[rate];
    const pick = (k) => med(rs.map((r) => r[k]));
    return {
      rate,
      tradesPerSec: pick("tradesPerSec"),
      rowsPerSec: pick("rowsPerSec"),
      lagP99Le: pick("lagP99Le"),
      lateShare: pick("lateShare"),
      pendingMax: pick("pendingMax"),
      pendingEnd: pick("pendingEnd"),
      dropped: Math.max(...rs.map((r) => r.dropped)),
      cpuUserPct: pick("cpuUserPct"),
      cpuSystemPct: pick("cpuSystemPct"),
    };
  });
  // Bytes per bar: the databases of every run (each holds the generated history and its window's bars, each bar once; a
  // bar rewritten as it changes counts once in the file but every time in rows written, so this slightly underestimates).
  const all = Object.values(runs).flat();
  const bytesPerBar = med(all.map((r) => r.dbBytes / r.historyRows));
  const perInterval = INTERVALS.map(([name, secs, days]) => {
    const barsPerDay = 86400 / secs;
    return { interval: name, barsPerDay, retentionDays: days, bytesPerSymbolDay: barsPerDay * bytesPerBar, bytesPerSymbolRetained: days === null ? null : barsPerDay * bytesPerBar * days };
  });
  console.log(JSON.stringify({ measured, runs: RUNS, windowSecs: WINDOW_S, symbols: SYMBOLS, command: `target/release/tickertape --data-dir <empty dir> --sim-symbols ${SYMBOLS} --sim-rate <rate> --flush-ms 100 --seed 1`, steps, bytesPerBar, perInterval, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model }));
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
