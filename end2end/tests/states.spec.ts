import { expect, test } from "@playwright/test";
import { startServer, type Server } from "./server";
import { MockFinnhub } from "./mock-finnhub";
import { expectPricesToMove } from "./page";

let server: Server;

test.beforeAll(async () => {
  server = await startServer(["--seed", "32"]);
});

test.afterAll(async () => {
  await server.stop();
});

test("the browser going offline says Offline at once, and comes back live by itself", async ({ page, context }) => {
  await page.goto(server.url);
  const badge = page.getByTestId("connection");
  await expect(badge).toHaveText("Live");
  await context.setOffline(true);
  await expect(badge).toHaveText("Offline", { timeout: 3_000 });
  await expect(badge).toHaveClass(/offline/);
  await context.setOffline(false);
  await expect(badge).toHaveText("Live", { timeout: 10_000 });
  await expectPricesToMove(page);
});

test("before the first trade the table says it is waiting, then fills in live", async ({ page }) => {
  const mock = await MockFinnhub.start();
  mock.silent = true;
  const quiet = await startServer(["--feed", "finnhub", "--backfill-bars", "0", "--finnhub-url", mock.url, "--finnhub-token", "t", "--symbols", "BINANCE:BTCUSDT,BINANCE:ETHUSDT"]);
  try {
    await page.goto(quiet.url);
    await expect(page.getByTestId("connection")).toHaveText("Live");
    await expect(page.getByTestId("no-data")).toHaveText("Waiting for the first prices from the feed…");
    await expect(page.locator("tr[data-symbol]")).toHaveCount(0);
    mock.silent = false;
    await expect(page.locator("tr[data-symbol]")).toHaveCount(2);
    await expect(page.getByTestId("no-data")).toHaveCount(0);
    await expectPricesToMove(page);
  } finally {
    await quiet.stop();
    await mock.stop();
  }
});
