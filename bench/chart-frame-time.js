// Frame time of the live chart with 1,000 candles loaded, in headless Chromium.
// Usage: node bench/chart-frame-time.js [seconds] [interval]   (needs `make build`)
//
// Starts the release server on a free port, opens /?symbol=AAPL&interval=1s
// (1 s bars: a new bar every second, the most work per second for the chart),
// waits for 1,000 bars, then for N seconds records:
//   - the time spent in requestAnimationFrame callbacks per frame (where the
//     chart library paints): p50 / p95 / p99 / max,
//   - the interval between frames (p50 / p95 / max),
//   - main-thread busy % (Chrome DevTools Protocol Performance metrics).

"use strict";
const { frameProbe, startServer, launchChromium } = require("./lib");

const seconds = Number(process.argv[2] ?? 10);
const interval = process.argv[3] ?? "1s";

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN;
};
const round = (x) => Math.round(x * 100) / 100;

(async () => {
  const server = await startServer(["--seed", "1"]);
  try {
    const browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    // Time every requestAnimationFrame callback, grouped by frame.
    await page.addInitScript(frameProbe);
    await page.goto(`${server.url}/?symbol=AAPL&interval=${interval}`);
    await page.getByTestId("connection").filter({ hasText: "Live" }).waitFor();
    await page.waitForFunction(() => Number(document.querySelector("[data-testid=chart]")?.dataset.bars) >= 1000);
    const cdp = await page.context().newCDPSession(page);
    await cdp.send("Performance.enable");
    const metric = async () => Object.fromEntries((await cdp.send("Performance.getMetrics")).metrics.map((m) => [m.name, m.value]));
    const before = await metric();
    const start = await page.evaluate(() => ({ frames: window.__frames.length, ticks: window.__ticks.length, bars: document.querySelector("[data-testid=chart]").dataset.bars }));
    await page.waitForTimeout(seconds * 1000);
    const after = await metric();
    const sample = await page.evaluate(
      ({ frames, ticks }) => ({
        work: window.__frames.slice(frames).map((f) => f.work),
        ticks: window.__ticks.slice(ticks),
        bars: document.querySelector("[data-testid=chart]").dataset.bars,
      }),
      start,
    );
    const gaps = sample.ticks.slice(1).map((t, i) => t - sample.ticks[i]);
    const busy = (after.TaskDuration - before.TaskDuration) / (after.Timestamp - before.Timestamp);
    console.log(
      JSON.stringify({
        seconds,
        interval,
        bars_at_start: Number(start.bars),
        bars_at_end: Number(sample.bars),
        frames_painted: sample.work.length,
        raf_work_ms: { p50: round(pct(sample.work, 50)), p95: round(pct(sample.work, 95)), p99: round(pct(sample.work, 99)), max: round(Math.max(...sample.work)) },
        frame_interval_ms: { p50: round(pct(gaps, 50)), p95: round(pct(gaps, 95)), max: round(Math.max(...gaps)) },
        main_thread_busy_pct: round(busy * 100),
        script_s: round(after.ScriptDuration - before.ScriptDuration),
      }),
    );
    await browser.close();
  } finally {
    server.stop();
  }
})();
