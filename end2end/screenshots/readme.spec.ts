// Generates the README's screenshots from the real server in Chromium.
// Run with `make screenshots`; not part of `make test`.

import { expect, test } from "@playwright/test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { repoRoot, startServer, type Server } from "../tests/server";

let server: Server;

test.beforeAll(async () => {
  server = await startServer(["--seed", "2026"]);
});

test.afterAll(async () => {
  await server?.stop();
});

const shots = [
  { name: "dashboard-desktop.png", width: 1440, height: 900, colorScheme: "dark" },
  { name: "dashboard-desktop-light.png", width: 1440, height: 900, colorScheme: "light" },
  { name: "dashboard-mobile.png", width: 390, height: 844, colorScheme: "dark" },
] as const;

for (const shot of shots) {
  test(shot.name, async ({ page }) => {
    await page.emulateMedia({ colorScheme: shot.colorScheme });
    await page.setViewportSize({ width: shot.width, height: shot.height });
    await page.goto(`${server.url}/?symbol=NVDA&interval=1m`);
    await expect(page.getByTestId("connection")).toHaveText("Live");
    await expect(page.getByTestId("latency")).toHaveText(/RTT \d+ ms/, { timeout: 8_000 });
    await expect(page.getByTestId("chart")).toHaveAttribute("data-bars", /^[1-9]/);
    // Let a few batches arrive so some rows are caught mid-flash.
    await page.waitForTimeout(1_500);
    await page.screenshot({ path: resolve(repoRoot, "docs", "screenshots", shot.name) });
  });
}

// Long intervals on scrolled-back history: a server with a history store, so
// the bars older than its memory holds come from the database as the chart
// is zoomed out.
test.describe("long intervals", () => {
  let stored: Server;
  let dataDir: string;

  test.beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "tickertape-shots-"));
    stored = await startServer(["--seed", "2026", "--data-dir", dataDir]);
    // The simulator's generated history reaches the database in the background.
    await expect.poll(async () => (await (await fetch(`${stored.url}/metrics`)).text()).match(/^tickertape_store_history_waiting 0$/m) !== null, { timeout: 60_000 }).toBe(true);
  });

  test.afterAll(async () => {
    await stored?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  for (const interval of ["1h", "1d"]) {
    test(`chart-${interval}.png`, async ({ page }) => {
      await page.emulateMedia({ colorScheme: "dark" });
      await page.setViewportSize({ width: 1440, height: 900 });
      await page.goto(`${stored.url}/?symbol=NVDA&interval=${interval}`);
      await expect(page.getByTestId("connection")).toHaveText("Live");
      const chart = page.getByTestId("chart");
      await expect(chart).toHaveAttribute("data-bars", /^[1-9]/);
      const box = (await chart.boundingBox())!;
      // Hourly: drag back in time past what the server holds in memory (older
      // bars come from the database); daily: a year is in memory. Then hover
      // a bar for the readout.
      const first = Number(await chart.getAttribute("data-first-time"));
      for (let i = 0; interval === "1h" && i < 40 && Number(await chart.getAttribute("data-first-time")) >= first; i++) {
        await page.mouse.move(box.x + box.width * 0.05, box.y + box.height * 0.4);
        await page.mouse.down();
        await page.mouse.move(box.x + box.width * 0.95, box.y + box.height * 0.4, { steps: 6 });
        await page.mouse.up();
        await page.waitForTimeout(150);
      }
      await page.waitForTimeout(500);
      await page.mouse.move(box.x + box.width * 0.45, box.y + box.height * 0.45);
      await page.waitForTimeout(300);
      await page.screenshot({ path: resolve(repoRoot, "docs", "screenshots", `chart-${interval}.png`) });
    });
  }
});

// Outside regular hours: the simulator on the US equities calendar, its
// clock at 120x from ten minutes before a Tuesday's close, so the page shows
// that session's figures and the after-hours trades after it.
test("dashboard-after-hours.png", async ({ page }) => {
  const after = await startServer(["--seed", "2026", "--sim-clock", "market", "--sim-start", "2026-11-24T15:50:00-05:00", "--sim-speed", "120", "--sim-rate", "20"]);
  try {
    await page.emulateMedia({ colorScheme: "dark" });
    await page.setViewportSize({ width: 1440, height: 900 });
    await page.goto(`${after.url}/?symbol=NVDA&interval=1m`);
    await expect(page.getByTestId("connection")).toHaveText("Live");
    await expect(page.getByTestId("market-status")).toHaveText(/After hours/, { timeout: 20_000 });
    await expect(page.getByTestId("detail-extended")).toBeVisible({ timeout: 20_000 });
    // The chart in the exchange's clock.
    await page.getByTestId("clock-toggle").click();
    await expect(page.getByTestId("clock-toggle")).toHaveText("ET");
    // Half an hour of simulated after-hours trading, shaded on the chart.
    await page.waitForTimeout(12_000);
    await page.waitForTimeout(1_000);
    await page.screenshot({ path: resolve(repoRoot, "docs", "screenshots", "dashboard-after-hours.png") });
  } finally {
    await after.stop();
  }
});

// Alerts: rules near NVDA's price (one fires soon), the panel open from the
// top bar, the armed levels on the chart, and a firing's toast.
test("alerts.png", async ({ page }) => {
  const alerts = await startServer(["--seed", "2026", "--sim-rate", "20"]);
  try {
    await page.emulateMedia({ colorScheme: "dark" });
    await page.setViewportSize({ width: 1440, height: 900 });
    await page.goto(`${alerts.url}/?symbol=NVDA&interval=1m`);
    await expect(page.getByTestId("connection")).toHaveText("Live");
    const price = Number((await page.getByTestId("detail-price").innerText()).replace(/,/g, ""));
    const rules = [
      { symbol: "NVDA", condition: "above", value: +(price * 1.0004).toFixed(2), note: "Breakout watch" },
      { symbol: "NVDA", condition: "below", value: +(price * 0.9996).toFixed(2) },
      { symbol: "NVDA", condition: "below", value: +(price * 0.99).toFixed(2), repeat: "every" },
      { symbol: "AAPL", condition: "change_pct_below", value: -5, note: "Risk check" },
    ];
    for (const rule of rules) {
      const made = await fetch(`${alerts.url}/api/alerts`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(rule) });
      expect(made.status).toBe(201);
    }
    await expect(page.getByTestId("toast").first()).toBeVisible({ timeout: 30_000 });
    await page.getByTestId("alerts-button").click();
    await page.waitForTimeout(500);
    await page.screenshot({ path: resolve(repoRoot, "docs", "screenshots", "alerts.png") });
  } finally {
    await alerts.stop();
  }
});

// Indicators: Bollinger Bands, SMA 20 and VWAP over the price, RSI and MACD
// in panes below.
test("chart-indicators.png", async ({ page }) => {
  await page.emulateMedia({ colorScheme: "dark" });
  await page.setViewportSize({ width: 1440, height: 900 });
  await page.goto(`${server.url}/?symbol=NVDA&interval=1m&ind=sma20,bb20,vwap,rsi14,macd`);
  await expect(page.getByTestId("connection")).toHaveText("Live");
  await expect(page.getByTestId("chart")).toHaveAttribute("data-panes", "3");
  await page.waitForTimeout(1_500);
  await page.screenshot({ path: resolve(repoRoot, "docs", "screenshots", "chart-indicators.png") });
});

// Four linked charts at different intervals, two indicators each, the
// crosshair on one moment in all of them.
test("charts-linked.png", async ({ page }) => {
  await page.emulateMedia({ colorScheme: "dark" });
  await page.setViewportSize({ width: 1440, height: 1000 });
  await page.goto(`${server.url}/?symbol=NVDA&interval=1m&ind=sma20,rsi14&layout=4&charts=AAPL:5m,MSFT:1m,TSLA:15m`);
  await expect(page.getByTestId("connection")).toHaveText("Live");
  for (const chart of await page.getByTestId("linked-chart").all()) {
    await expect(chart).toHaveAttribute("data-bars", /^[1-9]/);
  }
  await page.waitForTimeout(1_000);
  const box = (await page.getByTestId("chart").boundingBox())!;
  await page.mouse.move(box.x + box.width * 0.62, box.y + box.height * 0.4);
  await expect(page.getByTestId("linked-chart").first()).toHaveAttribute("data-crosshair", /^\d+$/);
  await page.waitForTimeout(300);
  await page.screenshot({ path: resolve(repoRoot, "docs", "screenshots", "charts-linked.png") });
});

// The order book and trades tape open under the side panel.
test("book-and-tape.png", async ({ page }) => {
  await page.emulateMedia({ colorScheme: "dark" });
  await page.setViewportSize({ width: 1440, height: 1700 });
  await page.addInitScript(() => localStorage.setItem("tickertape.depth", "open"));
  await page.goto(`${server.url}/?symbol=NVDA&interval=1m`);
  await expect(page.getByTestId("connection")).toHaveText("Live");
  await expect(page.getByTestId("book-bid")).toHaveCount(10);
  await expect(page.getByTestId("tape-row").nth(15)).toBeVisible({ timeout: 15_000 });
  await page.waitForTimeout(500);
  // The side column: the symbol's panel, then the book and the tape.
  const detail = (await page.getByTestId("detail").boundingBox())!;
  const depth = (await page.getByTestId("depth").boundingBox())!;
  const clip = { x: detail.x - 12, y: detail.y - 12, width: detail.width + 24, height: depth.y + depth.height - detail.y + 24 };
  await page.screenshot({ path: resolve(repoRoot, "docs", "screenshots", "book-and-tape.png"), clip });
});
