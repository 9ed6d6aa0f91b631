import { expect, test } from "@playwright/test";
import { MockFinnhub } from "./mock-finnhub";
import { startServer } from "./server";

// Crypto pairs (Finnhub streams them too) trade around the clock, so what
// these tests watch does not depend on the hour they run at; market time
// for US equities is market.spec.ts's.
test("a provider feed that drops shows stale on the page, then live again", async ({ page }) => {
  const mock = await MockFinnhub.start();
  const server = await startServer(["--feed", "finnhub", "--backfill-bars", "0", "--finnhub-url", mock.url, "--finnhub-token", "t", "--symbols", "BINANCE:BTCUSDT,BINANCE:ETHUSDT"]);
  try {
    await expect.poll(async () => (await (await fetch(`${server.url}/api/quotes`)).json()).quotes.length).toBe(2);
    await page.goto(server.url);
    const feed = page.locator("[data-feed=finnhub]");
    const row = page.locator('tr[data-symbol="BINANCE:BTCUSDT"]');
    await expect(page.getByTestId("connection")).toHaveText("Live");
    await expect(feed).toHaveText("finnhub: live");
    await expect(row).not.toHaveClass(/stale/);

    await mock.stop();
    await expect(feed).toHaveText(/^finnhub: (stale|reconnecting)$/);
    await expect(row).toHaveClass(/stale/);
    await expect(page.getByTestId("connection")).toHaveText("Live"); // the page's own link is fine

    await mock.listen();
    await expect(feed).toHaveText("finnhub: live", { timeout: 20_000 });
    await expect(row).not.toHaveClass(/stale/);
    const before = await row.locator("td.last").innerText();
    await expect.poll(() => row.locator("td.last").innerText(), { timeout: 5_000 }).not.toBe(before);
  } finally {
    await server.stop();
    await mock.stop();
  }
});

test("garbage from the provider is skipped; silence makes the feed stale until trades resume", async ({ page }) => {
  const mock = await MockFinnhub.start();
  const server = await startServer([
    "--feed", "finnhub", "--backfill-bars", "0", "--finnhub-url", mock.url, "--finnhub-token", "t", "--symbols", "BINANCE:BTCUSDT,BINANCE:ETHUSDT", "--feed-timeout", "2",
  ]);
  try {
    await expect.poll(async () => (await (await fetch(`${server.url}/api/quotes`)).json()).quotes.length).toBe(2);
    await page.goto(server.url);
    const feed = page.locator("[data-feed=finnhub]");
    const row = page.locator('tr[data-symbol="BINANCE:BTCUSDT"]');
    await expect(feed).toHaveText("finnhub: live");

    mock.sendGarbage();
    const before = await row.locator("td.last").innerText();
    await expect.poll(() => row.locator("td.last").innerText(), { timeout: 5_000 }).not.toBe(before);
    await expect(feed).toHaveText("finnhub: live");

    mock.silent = true;
    await expect(feed).toHaveText(/^finnhub: (stale|reconnecting)$/, { timeout: 10_000 });
    await expect(row).toHaveClass(/stale/);
    mock.silent = false;
    await expect(feed).toHaveText("finnhub: live", { timeout: 15_000 });
    await expect(row).not.toHaveClass(/stale/);
  } finally {
    await server.stop();
    await mock.stop();
  }
});
