// Measures the README's claim: time from `make run` (warm cache) to a live page.
// Usage: node bench/time-to-live.js [runs]   (port 3000 must be free)
// Prints one JSON line per run and the medians.

const { resolve } = require("node:path");
const { existsSync } = require("node:fs");
const { spawn } = require("node:child_process");
const root = resolve(__dirname, "..");
const { chromium } = require(resolve(root, "end2end/node_modules/@playwright/test"));

const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const launch = {
  executablePath: existsSync(chromiumPath) ? chromiumPath : undefined,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
};

async function once() {
  const t0 = Date.now();
  const make = spawn("make", ["--no-print-directory", "run"], { cwd: root, stdio: "ignore", detached: true });
  try {
    for (;;) {
      try {
        if ((await fetch("http://127.0.0.1:3000/healthz")).ok) break;
      } catch {}
      await new Promise((r) => setTimeout(r, 20));
    }
    const healthy = Date.now();
    const browser = await chromium.launch(launch);
    const page = await browser.newPage();
    const navigated = Date.now();
    await page.goto("http://127.0.0.1:3000");
    await page.getByTestId("connection").filter({ hasText: "Live" }).waitFor();
    const live = Date.now();
    await browser.close();
    return { make_to_healthy_ms: healthy - t0, navigate_to_live_ms: live - navigated, make_to_live_ms: live - t0 };
  } finally {
    process.kill(-make.pid, "SIGTERM");
    await new Promise((r) => setTimeout(r, 500));
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

(async () => {
  const runs = [];
  for (let i = 0; i < Number(process.argv[2] ?? 5); i++) {
    runs.push(await once());
    console.log(JSON.stringify(runs.at(-1)));
  }
  const keys = Object.keys(runs[0]);
  console.log(JSON.stringify({ median: Object.fromEntries(keys.map((k) => [k, median(runs.map((r) => r[k]))])) }));
})();
