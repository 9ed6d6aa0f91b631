import { expect, test, type Page } from "@playwright/test";
import { startServer, type Server } from "./server";

// Indicators on the chart, against a replay that ends (its bars no longer
// change), so what the readout shows can be compared with values worked
// out here from the API's bars.

let server: Server;

test.beforeAll(async () => {
  server = await startServer(["--feed", "replay:server/samples/us-open.csv", "--replay-speed", "max"]);
});

test.afterAll(async () => {
  await server.stop();
});

type Bar = { t: number; c: number };

async function bars(symbol: string, interval: string): Promise<Bar[]> {
  return (await fetch(`${server.url}/api/candles/${symbol}?interval=${interval}&limit=5000`)).json();
}

/** The simple average of the last `n` closes. */
function sma(closes: number[], n: number): number {
  return closes.slice(-n).reduce((a, b) => a + b, 0) / n;
}

/** Wilder's RSI at the last close: averages seeded by the first `n` changes' mean. */
function rsi(closes: number[], n: number): number {
  let gain = 0;
  let loss = 0;
  for (let i = 1; i < closes.length; i++) {
    const change = closes[i] - closes[i - 1];
    const [g, l] = [Math.max(change, 0), Math.max(-change, 0)];
    if (i <= n) {
      gain += g / n;
      loss += l / n;
    } else {
      gain = (gain * (n - 1) + g) / n;
      loss = (loss * (n - 1) + l) / n;
    }
  }
  return loss === 0 ? 100 : 100 - 100 / (1 + gain / loss);
}

async function readout(page: Page, key: string): Promise<string> {
  return page.getByTestId("readout").locator(`[data-study="${key}"] b`).innerText();
}

test("indicators named in the URL are drawn, read out as the API's bars say, and chosen from the menu", async ({ page }) => {
  const symbol = "AAPL";
  // The replay is over once the newest bar stops changing.
  let closes: number[] = [];
  await expect
    .poll(async () => {
      const before = JSON.stringify(await bars(symbol, "5s"));
      await new Promise((r) => setTimeout(r, 300));
      const after = await bars(symbol, "5s");
      closes = after.map((b) => b.c);
      return before === JSON.stringify(after) && after.length > 30;
    })
    .toBe(true);

  await page.goto(`${server.url}/?symbol=${symbol}&interval=5s&ind=sma5,rsi14`);
  await expect(page.getByTestId("connection")).toHaveText("Live");
  const chart = page.getByTestId("chart");
  await expect(chart).toHaveAttribute("data-bars", String(closes.length));
  await expect(chart).toHaveAttribute("data-studies", "2");
  await expect(chart).toHaveAttribute("data-panes", "2", { timeout: 5_000 });

  // The readout (no bar under the pointer: the newest) against values
  // worked out here from the same bars.
  expect(await readout(page, "sma5")).toBe(sma(closes, 5).toFixed(2));
  expect(await readout(page, "rsi14")).toBe(rsi(closes, 14).toFixed(2));
  await expect(page.getByTestId("readout")).toContainText("SMA 5");
  await expect(page.getByTestId("readout")).toContainText("RSI 14");

  // The menu: RSI off (its pane goes), MACD and Bollinger on; the URL follows.
  await page.getByTestId("indicators").locator("summary").click();
  const menu = page.getByTestId("indicators");
  await menu.getByRole("checkbox", { name: "RSI 14" }).uncheck();
  await expect(chart).toHaveAttribute("data-panes", "1");
  await expect(page.getByTestId("readout").locator("[data-study=rsi14]")).toHaveCount(0);
  await menu.getByRole("checkbox", { name: "MACD" }).check();
  await menu.getByRole("checkbox", { name: "BB 20" }).check();
  await expect(chart).toHaveAttribute("data-studies", "3");
  await expect(chart).toHaveAttribute("data-panes", "2");
  await expect(page).toHaveURL(/[?&]ind=sma5,macd,bb20(&|$)/);
  const bands = (await readout(page, "bb20")).split(" ").map(Number);
  expect(bands[1]).toBeCloseTo(sma(closes, 20), 2);
  expect(bands[0]).toBeLessThan(bands[1]);
  expect(bands[2]).toBeGreaterThan(bands[1]);

  // Another interval keeps them; a reload restores the whole view.
  await page.getByRole("button", { name: "1m", exact: true }).click();
  await expect(page).toHaveURL(/interval=1m&ind=sma5,macd,bb20/);
  await page.reload();
  await expect(page.getByTestId("connection")).toHaveText("Live");
  await expect(chart).toHaveAttribute("data-studies", "3");
  await page.getByTestId("indicators").locator("summary").click();
  await expect(menu.getByRole("checkbox", { name: "MACD" })).toBeChecked();
  await expect(menu.getByRole("checkbox", { name: "RSI 14" })).not.toBeChecked();
});

test("symbols compared with the charted one are drawn in percent from a common start, listed, removable, and kept in the URL", async ({ page }) => {
  await page.goto(`${server.url}/?symbol=AAPL&interval=5s`);
  await expect(page.getByTestId("connection")).toHaveText("Live");
  const chart = page.getByTestId("chart");
  await expect(chart).toHaveAttribute("data-bars", /^[1-9]/);
  await page.getByTestId("indicators").locator("summary").click();
  const add = page.getByRole("textbox", { name: "Compare with a symbol" });
  await add.fill("nvda");
  await add.press("Enter");
  await expect(chart).toHaveAttribute("data-compare", "1");
  await expect(chart).toHaveAttribute("data-scale", "percent");
  await expect(page.getByTestId("compare")).toContainText("NVDA");
  await expect(page).toHaveURL(/[?&]cmp=NVDA(&|$)/);
  // Enter in the menu's field is the field's: the table's keys leave the chart alone.
  await expect(page).toHaveURL(/[?&]symbol=AAPL&/);
  await add.fill("NOPE");
  await add.press("Enter");
  await expect(page.getByTestId("indicators").getByRole("alert")).toHaveText("No symbol NOPE");
  await add.fill("JPM");
  await add.press("Enter");
  await expect(chart).toHaveAttribute("data-compare", "2");

  // A link restores the comparison; each chip removes its symbol.
  await page.reload();
  await expect(page.getByTestId("connection")).toHaveText("Live");
  await expect(chart).toHaveAttribute("data-compare", "2");
  await expect(page.getByTestId("compare").locator(".compare-chip")).toHaveText(["NVDA×", "JPM×"]);
  await page.getByRole("button", { name: "Stop comparing NVDA" }).click();
  await expect(chart).toHaveAttribute("data-compare", "1");
  await expect(page).toHaveURL(/[?&]cmp=JPM(&|$)/);
  await page.getByRole("button", { name: "Stop comparing JPM" }).click();
  await expect(chart).toHaveAttribute("data-compare", "0");
  await expect(chart).toHaveAttribute("data-scale", "price");
  await expect(page).not.toHaveURL(/cmp=/);
});
