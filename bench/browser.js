// Browser side of `make bench`: 500 symbols updating at 10 Hz in headless
// Chromium. Reports (medians of --runs) the main thread's busy share over
// 10 s of live updates (Chrome DevTools Protocol Performance metrics) and the
// time from navigation to the first live update in the table.
// Usage: node bench/browser.js [--runs 3] [--symbols 500]   (needs `make build`)

"use strict";
const { resolve } = require("node:path");
const { readFileSync, statSync } = require("node:fs");
const { gzipSync } = require("node:zlib");
const { root, startServer, launchChromium, median } = require("./lib");

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, a, i, all) => (a.startsWith("--") ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []),
);
const RUNS = Number(args.runs ?? 3);
const SYMBOLS = Number(args.symbols ?? 500);

async function once() {
  const server = await startServer(["--sim-symbols", String(SYMBOLS), "--sim-rate", "10", "--seed", "1"]);
  try {
    const browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    if (process.env.REDUCED) await page.emulateMedia({ reducedMotion: "reduce" });
    // The first time a price in the table changes after the server-rendered paint.
    await page.addInitScript(() => {
      document.addEventListener("DOMContentLoaded", () => {
        const body = document.querySelector("table.quotes tbody");
        if (!body) return;
        const seen = new MutationObserver(() => {
          window.__firstUpdate ??= performance.now();
          seen.disconnect();
        });
        seen.observe(body, { subtree: true, characterData: true, childList: true });
      });
    });
    await page.goto(server.url);
    await page.getByTestId("connection").filter({ hasText: "Live" }).waitFor();
    await page.waitForFunction(() => window.__firstUpdate !== undefined);
    const firstUpdateMs = await page.evaluate(() => window.__firstUpdate);
    await page.waitForTimeout(2000);
    const cdp = await page.context().newCDPSession(page);
    await cdp.send("Performance.enable");
    const metric = async () => Object.fromEntries((await cdp.send("Performance.getMetrics")).metrics.map((m) => [m.name, m.value]));
    const before = await metric();
    await page.waitForTimeout(10_000);
    const after = await metric();
    await browser.close();
    const wall = after.Timestamp - before.Timestamp;
    const share = (k) => Math.round((1000 * (after[k] - before[k])) / wall) / 10;
    const parts = { script: share("ScriptDuration"), layout: share("LayoutDuration"), style: share("RecalcStyleDuration") };
    return { busyPct: (100 * (after.TaskDuration - before.TaskDuration)) / wall, firstUpdateMs, parts };
  } finally {
    server.stop();
  }
}

(async () => {
  const runs = [];
  for (let i = 0; i < RUNS; i++) {
    runs.push(await once());
    const r = runs.at(-1);
    console.error(`browser run ${i + 1}: ${r.busyPct.toFixed(1)} % busy (script ${r.parts.script} %, style ${r.parts.style} %, layout ${r.parts.layout} %), first update ${Math.round(r.firstUpdateMs)} ms`);
  }
  const wasm = resolve(root, "target/site/pkg/tickertape.wasm");
  console.log(
    JSON.stringify({
      runs,
      busyPct: median(runs.map((r) => r.busyPct)),
      firstUpdateMs: median(runs.map((r) => r.firstUpdateMs)),
      wasmRawKiB: statSync(wasm).size / 1024,
      wasmGzipKiB: gzipSync(readFileSync(wasm), { level: 9 }).length / 1024,
      command: `node bench/browser.js --runs ${RUNS} --symbols ${SYMBOLS}`,
    }),
  );
})();
