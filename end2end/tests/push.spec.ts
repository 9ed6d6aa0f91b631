import { expect, test } from "@playwright/test";
import { startServer, type Server } from "./server";

// A push feed: prices another program POSTs reach the page exactly. Pairs
// (a "/" in the symbol) trade around the clock, so the hour of the run
// does not matter.

let server: Server;

test.beforeAll(async () => {
  server = await startServer(["--feed", "push:desk", "--symbols", "BTC/USD,ETH/USD", "--feed-timeout", "2"]);
});

test.afterAll(async () => {
  await server.stop();
});

async function push(trades: object[]): Promise<number> {
  const answer = await fetch(`${server.url}/api/feeds/desk/ticks`, { method: "POST", body: JSON.stringify(trades) });
  expect(answer.status).toBe(202);
  return (await answer.json()).accepted;
}

test("pushed prices show on the page exactly, the feed goes stale in silence and live again", async ({ page }) => {
  await page.goto(`${server.url}/?symbol=BTC%2FUSD&interval=1s`);
  await expect(page.getByTestId("connection")).toHaveText("Live");
  const feed = page.locator("[data-feed=desk]");
  await expect(feed).toHaveText("desk: stale");

  expect(await push([{ symbol: "BTC/USD", price: 64000.5, size: 0.25 }, { symbol: "ETH/USD", price: 3200.25, size: 2 }])).toBe(2);
  await expect(feed).toHaveText("desk: live");
  const last = (symbol: string) => page.locator(`tr[data-symbol="${symbol}"] td.last`);
  const shown = async (symbol: string) => (await last(symbol).innerText()).replace(/,/g, "");
  await expect.poll(() => shown("BTC/USD")).toBe("64000.50");
  await expect.poll(() => shown("ETH/USD")).toBe("3200.25");

  // A run of prices, one request each: the table, the side panel and the
  // chart's newest bar end on the last one.
  const prices = [64001.25, 64003.75, 63999.5, 64002, 64000.75];
  for (const price of prices) await push([{ symbol: "BTC/USD", price, size: 0.1 }]);
  await expect.poll(() => shown("BTC/USD")).toBe("64000.75");
  await expect.poll(async () => (await page.getByTestId("detail-price").innerText()).replace(/,/g, "")).toBe("64000.75");
  await expect(page.getByTestId("chart")).toHaveAttribute("data-last-close", "64000.75");

  // Nothing pushed for --feed-timeout: stale; a push: live again.
  await expect(feed).toHaveText("desk: stale", { timeout: 10_000 });
  await push([{ symbol: "ETH/USD", price: 3201 }]);
  await expect(feed).toHaveText("desk: live");
  await expect.poll(() => shown("ETH/USD")).toBe("3201.00");
});
