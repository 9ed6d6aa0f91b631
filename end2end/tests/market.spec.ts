import { expect, test } from "@playwright/test";
import { startServer } from "./server";

// The simulator on the US equities calendar, its clock set to a known
// instant, so what the page says about market time does not depend on when
// the test runs.

test("after hours: the top bar says the market is closed until the next open, rows carry a badge, the detail panel shows the close and the after-hours price", async ({ page }) => {
  // Tuesday 24 November 2026, 17:00 in New York: after hours; Wednesday opens at 09:30.
  const server = await startServer(["--sim-clock", "market", "--sim-start", "2026-11-24T17:00:00-05:00", "--sim-rate", "20", "--seed", "4"]);
  try {
    await page.goto(`${server.url}/?symbol=AAPL`);
    await expect(page.getByTestId("connection")).toHaveText("Live");
    await expect(page.getByTestId("market-status")).toHaveText("After hours · opens Wed 09:30 ET");
    const row = page.locator("tr[data-symbol=AAPL]");
    await expect(row.getByTestId("session-badge")).toHaveText("After hours");
    const detail = page.getByTestId("detail");
    await expect(detail.getByTestId("session-badge")).toHaveText("After hours");
    // The big price is the close; the after-hours trades show apart, measured from it.
    const close = await detail.getByTestId("detail-price").innerText();
    await expect(detail.getByTestId("detail-extended")).toContainText("After hours", { timeout: 15_000 });
    await expect(detail.getByTestId("detail-extended")).toHaveText(/After hours [\d,]+\.\d{2} [+−-]?\d+\.\d{2} ?%/);
    expect(await detail.getByTestId("detail-price").innerText()).toBe(close);
    await expect(row.locator("td.last")).toHaveText(close);

    // The chart shades the after-hours bars, and its times can be New York's.
    const chart = page.getByTestId("chart");
    await expect.poll(async () => Number(await chart.getAttribute("data-shaded"))).toBeGreaterThan(0);
    const clock = page.getByTestId("clock-toggle");
    await expect(clock).toHaveText("Local");
    await clock.click();
    await expect(clock).toHaveText("ET");
    await expect(page.getByTestId("readout").locator(".readout-time")).toHaveText(/^17:0\d:\d\d$/);
    await page.reload();
    await expect(page.getByTestId("connection")).toHaveText("Live");
    await expect(page.getByTestId("clock-toggle")).toHaveText("ET", { timeout: 5_000 });
  } finally {
    await server.stop();
  }
});

test("in the regular session the top bar counts down to the close; a halted row is unmistakable and does not flash", async ({ page }) => {
  // Tuesday 24 November 2026, 14:00 in New York, the clock at 60x: halts come often.
  const server = await startServer(["--sim-clock", "market", "--sim-start", "2026-11-24T14:00:00-05:00", "--sim-speed", "60", "--sim-halts", "--sim-rate", "20", "--seed", "4"]);
  try {
    await page.goto(server.url);
    await expect(page.getByTestId("connection")).toHaveText("Live");
    await expect(page.getByTestId("market-status")).toHaveText(/^US market open · closes in 1 h \d+ m$/);
    await expect(page.locator("tr[data-symbol] [data-testid=session-badge]").filter({ hasText: "After hours" })).toHaveCount(0);
    const halted = page.locator("tr.halted").first();
    await expect(halted).toBeVisible({ timeout: 15_000 });
    await expect(halted.getByTestId("session-badge")).toHaveText("Halted");
    await expect(halted.locator("td.last")).not.toHaveClass(/flash-(up|down)/);
  } finally {
    await server.stop();
  }
});

test.describe("in a viewer's clock that goes back", () => {
  test.use({ timezoneId: "America/New_York" });

  // Bars sit at their real times, so the repeated hour is two hours by
  // construction; this guards the page against errors there, in either clock.
  test("around clocks going back the chart draws its minutes, in the viewer's clock and in ET", async ({ page }) => {
    // Sunday 1 November 2026, 03:00 EST: an hour after New York's clocks went back,
    // so the chart's minutes of history hold 01:00-01:59 twice.
    const server = await startServer(["--sim-clock", "market", "--sim-start", "2026-11-01T03:00:00-05:00", "--seed", "4"]);
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    try {
      await page.goto(`${server.url}/?symbol=AAPL&interval=1m`);
      await expect(page.getByTestId("connection")).toHaveText("Live");
      const chart = page.getByTestId("chart");
      await expect.poll(async () => Number(await chart.getAttribute("data-bars"))).toBeGreaterThanOrEqual(1000);
      const first = Number(await chart.getAttribute("data-first-time"));
      const last = Number(await chart.getAttribute("data-last-time"));
      expect(last - first).toBeGreaterThan(3 * 3_600_000);
      await page.getByTestId("clock-toggle").click();
      await expect(page.getByTestId("clock-toggle")).toHaveText("ET");
      expect(errors).toEqual([]);
      // The canvas has candles on it.
      const inked = await chart.locator("canvas").first().evaluate((c: HTMLCanvasElement) => {
        const ctx = c.getContext("2d");
        if (!ctx) return 0;
        const data = ctx.getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 0; i < data.length; i += 16) if (data[i + 3] > 0) n++;
        return n;
      });
      expect(inked).toBeGreaterThan(100);
    } finally {
      await server.stop();
    }
  });
});
