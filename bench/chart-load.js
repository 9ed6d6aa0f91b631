// Chart load time for 5,000 1 m bars in headless Chromium (viewport 1440×900).
// The release server runs on a history store (an empty --data-dir) so the
// bars older than memory holds come from the database, as they do for a user.
// In the dashboard page, once live, each run times:
//   - fetch: GET /api/candles/AAPL?interval=1m&limit=5000, the body read,
//   - draw: the page's own chart module (PriceChart from app/js/chart.js, as
//     the page loads it) taking the bars (setData) until two animation frames
//     later (the canvases painted),
// and next to it, as the peer, the same bars drawn by Lightweight Charts
// alone (candles and volume, its documented setData) in the same page. Runs
// alternate which goes first; results are medians.
//
// Usage: node bench/chart-load.js [--runs 7] [--bars 5000]   (needs `make build`)
// Prints JSON.

"use strict";
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { startServer, launchChromium, median, parseArgs, sleep, measuredBuild, SOURCES } = require("./lib");

const args = parseArgs();
const RUNS = Number(args.runs ?? 7);
const BARS = Number(args.bars ?? 5000);
const SYMBOL = "AAPL";

/** In the page: fetch the bars, then draw them with `which` ("tickertape" or "lightweight-charts"). */
async function load({ which, url }) {
  const chartModule = performance.getEntriesByType("resource").find((e) => e.name.endsWith("/js/chart.js"))?.name;
  const el = document.createElement("div");
  el.style.cssText = "position:fixed;left:0;top:0;width:1200px;height:520px;z-index:10;background:#0b0f14";
  document.body.append(el);
  const painted = () => new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(ok)));
  const t0 = performance.now();
  const json = await (await fetch(url)).text();
  const t1 = performance.now();
  let bars = 0;
  let done;
  if (which === "tickertape") {
    const { PriceChart } = await import(chartModule);
    const t = performance.now();
    const chart = new PriceChart(el, () => {}, () => {}, async () => null);
    chart.setData(json, false, false);
    await painted();
    done = performance.now() - t;
    bars = Number(el.dataset.bars);
    chart.remove();
  } else {
    const lwc = await import("/vendor/lightweight-charts.mjs");
    const t = performance.now();
    const rows = JSON.parse(json);
    const chart = lwc.createChart(el, { autoSize: true });
    const candles = chart.addSeries(lwc.CandlestickSeries);
    const volume = chart.addSeries(lwc.HistogramSeries, { priceScaleId: "" });
    candles.setData(rows.map((b) => ({ time: b.t / 1000, open: b.o, high: b.h, low: b.l, close: b.c })));
    volume.setData(rows.map((b) => ({ time: b.t / 1000, value: b.v })));
    await painted();
    done = performance.now() - t;
    bars = rows.length;
    chart.remove();
  }
  el.remove();
  if (!chartModule && which === "tickertape") throw new Error("the page has not loaded its chart module");
  return { fetchMs: t1 - t0, drawMs: done, totalMs: t1 - t0 + done, bars };
}

(async () => {
  const measured = measuredBuild([[path.resolve(__dirname, "../target/release/tickertape"), SOURCES.tickertape]]);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tickertape-chart-load-"));
  const server = await startServer(["--data-dir", dir, "--seed", "1"]);
  const results = { tickertape: [], "lightweight-charts": [] };
  let chromium = null;
  try {
    // The simulator's generated history (over 5,000 minutes) in the database first.
    for (let i = 0; ; i++) {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      if (/^tickertape_store_history_waiting 0$/m.test(text) && /^tickertape_store_pending_rows (\d+)$/m.exec(text)?.[1] < 10_000) break;
      if (i > 3000) throw new Error("the store never caught up with the simulator's history");
      await sleep(100);
    }
    const browser = await launchChromium();
    chromium = browser.version();
    const url = `/api/candles/${SYMBOL}?interval=1m&limit=${BARS}`;
    for (let run = 0; run < RUNS; run++) {
      const order = run % 2 ? ["lightweight-charts", "tickertape"] : ["tickertape", "lightweight-charts"];
      for (const which of order) {
        // A fresh page each time: nothing cached or compiled from the run before.
        const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
        const page = await context.newPage();
        await page.goto(`${server.url}/?symbol=${SYMBOL}&interval=1m`);
        await page.getByTestId("connection").filter({ hasText: "Live" }).waitFor();
        await page.waitForFunction(() => Number(document.querySelector("[data-testid=chart]")?.dataset.bars) > 0);
        const r = await page.evaluate(load, { which, url });
        if (r.bars !== BARS) throw new Error(`${which}: ${r.bars} bars drawn, not ${BARS}`);
        results[which].push(r);
        console.error(`${which} run ${run + 1}: fetch ${r.fetchMs.toFixed(1)} ms, draw ${r.drawMs.toFixed(1)} ms, total ${r.totalMs.toFixed(1)} ms`);
        await context.close();
      }
    }
    await browser.close();
  } finally {
    server.stop();
    await sleep(500);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const summary = Object.fromEntries(
    Object.entries(results).map(([k, rs]) => [k, { fetchMs: median(rs.map((r) => r.fetchMs)), drawMs: median(rs.map((r) => r.drawMs)), totalMs: median(rs.map((r) => r.totalMs)) }]),
  );
  const ratio = median(results.tickertape.map((r, i) => r.totalMs / results["lightweight-charts"][i].totalMs));
  console.log(JSON.stringify({ measured, runs: RUNS, bars: BARS, chromium, summary, ratio, perRun: results }));
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
