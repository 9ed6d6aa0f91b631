import { expect, test } from "@playwright/test";
import { startServer, type Server } from "./server";

let server: Server;

test.beforeAll(async () => {
  // A replay that ends: quotes stop changing, so the page can be compared with the API exactly.
  server = await startServer(["--feed", "replay:server/samples/us-open.csv", "--replay-speed", "max"]);
});

test.afterAll(async () => {
  await server.stop();
});

test.use({ timezoneId: "Asia/Tokyo" });

type Quote = { symbol: string; last: number; prev_close: number; volume: number; ts: number };

function abbreviated(volume: number): string {
  for (const [scale, unit] of [[1e12, "T"], [1e9, "B"], [1e6, "M"], [1e3, "K"]] as const) {
    if (volume >= scale) {
      const v = volume / scale;
      return `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)}${unit}`;
    }
  }
  return String(volume);
}

test("times in the viewer's time zone, volumes abbreviated, changes signed and coloured", async ({ page }) => {
  await page.goto(server.url);
  await expect(page.getByTestId("connection")).toHaveText("Live");
  // Wait until the replay is over and the page agrees with the API.
  let quotes: Quote[] = [];
  await expect
    .poll(async () => {
      quotes = ((await (await fetch(`${server.url}/api/quotes`)).json()) as { quotes: Quote[] }).quotes;
      const aapl = quotes.find((q) => q.symbol === "AAPL")!;
      return (await page.locator('tr[data-symbol="AAPL"] td.vol').innerText()) === abbreviated(aapl.volume);
    }, { timeout: 15_000 })
    .toBe(true);
  for (const q of quotes) {
    const row = page.locator(`tr[data-symbol="${q.symbol}"]`);
    const tokyo = new Date(q.ts).toLocaleTimeString("en-GB", { timeZone: "Asia/Tokyo", hour12: false });
    await expect(row.locator("td.time")).toHaveText(tokyo);
    await expect(row.locator("td.vol")).toHaveText(abbreviated(q.volume));
    const change = q.last - q.prev_close;
    const chg = row.locator("td.chg");
    if (change > 0.004) {
      await expect(chg).toHaveText(/^\+/);
      await expect(chg).toHaveClass(/\bup\b/);
    } else if (change < -0.004) {
      await expect(chg).toHaveText(/^−/);
      await expect(chg).toHaveClass(/\bdown\b/);
    }
  }
  // The colour a viewer sees follows the sign of the change, in both themes:
  // green for a rise, red for a fall (a swap of the two fails here).
  const rising = quotes.filter((q) => q.last - q.prev_close > 0.004).map((q) => q.symbol);
  const falling = quotes.filter((q) => q.last - q.prev_close < -0.004).map((q) => q.symbol);
  expect(rising.length, "the replay ends with some symbols up").toBeGreaterThan(0);
  expect(falling.length, "the replay ends with some symbols down").toBeGreaterThan(0);
  for (const theme of ["dark", "light"]) {
    await page.evaluate((t) => (document.documentElement.dataset.theme = t), theme);
    const colours = await page.evaluate(() =>
      [...document.querySelectorAll("table.quotes tbody tr[data-symbol]")].map((tr) => ({
        symbol: tr.getAttribute("data-symbol") ?? "",
        cells: [...tr.querySelectorAll("td.chg, td.pct")].map((td) => getComputedStyle(td).color),
      })),
    );
    const hue = (css: string) => {
      const [r, g, b] = (css.match(/\d+(\.\d+)?/g) ?? []).map(Number);
      return g > r && g > b ? "green" : r > g && r > b ? "red" : "neither";
    };
    for (const { symbol, cells } of colours) {
      const expected = rising.includes(symbol) ? "green" : falling.includes(symbol) ? "red" : undefined;
      if (!expected) continue;
      expect(cells.length).toBe(2);
      expect(cells.map(hue), `${symbol}'s change and change % in the ${theme} theme: ${cells}`).toEqual([expected, expected]);
    }
  }
});
