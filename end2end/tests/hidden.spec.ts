import { expect, test, type Page } from "@playwright/test";
import { appliedChanges, expectPricesToMove } from "./page";
import { startServer, type Server } from "./server";

let server: Server;

test.beforeAll(async () => {
  server = await startServer(["--seed", "11"]);
});

test.afterAll(async () => {
  await server?.stop();
});

/**
 * Hides or shows the page as a switch of tabs does. (Playwright keeps its
 * pages visible, so the page's `document.hidden` is overridden and the
 * event fired, which is what the page listens to.)
 */
async function setHidden(page: Page, hidden: boolean) {
  await page.evaluate((hidden) => {
    Object.defineProperty(document, "hidden", { configurable: true, get: () => hidden });
    Object.defineProperty(document, "visibilityState", { configurable: true, get: () => (hidden ? "hidden" : "visible") });
    document.dispatchEvent(new Event("visibilitychange"));
  }, hidden);
}

test("a hidden tab asks for the charted symbol only and catches up when shown", async ({ page }) => {
  const sent: Array<{ op: string; symbols?: string[]; symbol?: string }> = [];
  const received: Array<{ type: string; changes?: Array<{ symbol: string }>; quotes?: unknown[] }> = [];
  page.on("websocket", (ws) => {
    ws.on("framesent", (f) => typeof f.payload === "string" && sent.push(JSON.parse(f.payload)));
    ws.on("framereceived", (f) => typeof f.payload === "string" && received.push(JSON.parse(f.payload)));
  });
  await page.goto(`${server.url}/?symbol=MSFT&interval=1s`);
  await expect(page.getByTestId("connection")).toHaveText("Live");
  await expect(page.getByTestId("chart")).toHaveAttribute("data-bars", /^[1-9]\d*$/);

  await setHidden(page, true);
  await expect.poll(() => sent.some((m) => m.op === "subscribe" && m.symbols?.join() === "MSFT")).toBe(true);
  const hiddenAt = sent.length;
  expect(sent.slice(hiddenAt - 3).map((m) => m.op)).toEqual(["unsubscribe", "subscribe", "chart"]);
  expect(sent.at(-1)!.symbol ?? null).toBeNull(); // the chart stream stops
  // Once the server has taken the new subscription, only MSFT's quotes and no bars arrive.
  await page.waitForTimeout(1_000);
  const from = received.length;
  await page.waitForTimeout(3_000);
  const meanwhile = received.slice(from);
  const symbols = new Set(meanwhile.flatMap((m) => (m.type === "diff" ? m.changes!.map((c) => c.symbol) : [])));
  expect([...symbols]).toEqual(["MSFT"]);
  expect(meanwhile.filter((m) => m.type === "candle")).toEqual([]);
  // The tab's title still follows MSFT, and every row is still there.
  await expect
    .poll(() => page.evaluate(() => document.title.split(" ")[1] === document.querySelector('tr[data-symbol="MSFT"] td.last')?.textContent))
    .toBe(true);
  expect(await page.locator("table.quotes tbody tr[data-symbol]").count()).toBeGreaterThanOrEqual(30);

  // Shown again: everything, and the chart's history, come back at once.
  const applied = await appliedChanges(page);
  await setHidden(page, false);
  await expect.poll(() => sent.slice(hiddenAt).some((m) => m.op === "subscribe" && m.symbols?.join() === "*")).toBe(true);
  await expect.poll(() => sent.slice(hiddenAt).some((m) => m.op === "chart" && m.symbol === "MSFT")).toBe(true);
  await expect.poll(() => received.slice(from).some((m) => m.type === "snapshot" && (m.quotes?.length ?? 0) >= 30)).toBe(true);
  await expect.poll(() => appliedChanges(page)).toBeGreaterThan(applied);
  await expectPricesToMove(page);
  const bars = Number(await page.getByTestId("chart").getAttribute("data-bars"));
  await expect.poll(async () => Number(await page.getByTestId("chart").getAttribute("data-bars"))).toBeGreaterThan(bars);
});
