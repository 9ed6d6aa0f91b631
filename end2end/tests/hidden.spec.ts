import { expect, test, type Page } from "@playwright/test";
import { appliedChanges, expectPricesToMove } from "./page";
import { startServer, type Server } from "./server";
import { frameReader } from "./wire";

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

test("a hidden tab slows to one message a second and catches up when shown, with no gap and no resync", async ({ page }) => {
  const sent: Array<{ op: string; symbols?: string[]; symbol?: string | null; max_hz?: number | null }> = [];
  const received: Array<{ type: string; seq?: number; changes?: Array<{ symbol: string }>; quotes?: unknown[] }> = [];
  page.on("websocket", (ws) => {
    ws.on("framesent", (f) => typeof f.payload === "string" && sent.push(JSON.parse(f.payload)));
    const read = frameReader();
    ws.on("framereceived", (f) => received.push(read(f.payload)));
  });
  await page.goto(`${server.url}/?symbol=MSFT&interval=1s`);
  await expect(page.getByTestId("connection")).toHaveText("Live");
  await expect(page.getByTestId("chart")).toHaveAttribute("data-bars", /^[1-9]\d*$/);
  const snapshots = () => received.filter((m) => m.type === "snapshot").length;
  const before = snapshots();

  await setHidden(page, true);
  await expect.poll(() => sent.some((m) => m.op === "rate" && m.max_hz === 1)).toBe(true);
  const hiddenAt = sent.length;
  expect(sent.slice(hiddenAt - 2).map((m) => m.op)).toEqual(["rate", "chart"]);
  expect(sent.at(-1)!.symbol ?? null).toBeNull(); // the chart stream stops
  expect(sent.slice(hiddenAt - 2).some((m) => m.op === "subscribe" || m.op === "unsubscribe")).toBe(false);
  // Once the server has the rate: about one diff a second, about every
  // symbol, and no bars.
  await page.waitForTimeout(1_500);
  const from = received.length;
  await page.waitForTimeout(4_000);
  const meanwhile = received.slice(from);
  const diffs = meanwhile.filter((m) => m.type === "diff");
  expect(diffs.length).toBeGreaterThanOrEqual(3);
  expect(diffs.length).toBeLessThanOrEqual(6); // 10 a second when shown
  expect(new Set(diffs.flatMap((m) => m.changes!.map((c) => c.symbol))).size).toBeGreaterThan(1);
  expect(meanwhile.filter((m) => m.type === "candle")).toEqual([]);
  // The tab's title still follows MSFT, and every row is still there.
  await expect
    .poll(() => page.evaluate(() => document.title.split(" ")[1] === document.querySelector('tr[data-symbol="MSFT"] td.last')?.textContent))
    .toBe(true);
  expect(await page.locator("table.quotes tbody tr[data-symbol]").count()).toBeGreaterThanOrEqual(30);

  // Shown again: every batch again and the chart's history, with seq
  // running on: no snapshot, no resync.
  const applied = await appliedChanges(page);
  await setHidden(page, false);
  await expect.poll(() => sent.slice(hiddenAt).some((m) => m.op === "rate" && m.max_hz == null)).toBe(true);
  await expect.poll(() => sent.slice(hiddenAt).some((m) => m.op === "chart" && m.symbol === "MSFT")).toBe(true);
  await expect.poll(() => appliedChanges(page)).toBeGreaterThan(applied);
  await expectPricesToMove(page);
  const bars = Number(await page.getByTestId("chart").getAttribute("data-bars"));
  await expect.poll(async () => Number(await page.getByTestId("chart").getAttribute("data-bars"))).toBeGreaterThan(bars);
  expect(snapshots()).toBe(before);
  expect(sent.some((m) => m.op === "resync")).toBe(false);
  const seqs = received.filter((m) => m.type === "diff" || m.type === "snapshot").map((m) => m.seq!);
  seqs.forEach((seq, i) => i > 0 && expect(seq).toBe(seqs[i - 1] + 1));
});

test("a phone-sized window asks for four messages a second, and for every batch once it is wider", async ({ page }) => {
  const sent: Array<{ op: string; max_hz?: number | null }> = [];
  page.on("websocket", (ws) => ws.on("framesent", (f) => typeof f.payload === "string" && sent.push(JSON.parse(f.payload))));
  await page.setViewportSize({ width: 390, height: 800 });
  await page.goto(server.url);
  await expect(page.getByTestId("connection")).toHaveText("Live");
  await expect.poll(() => sent.filter((m) => m.op === "rate").map((m) => m.max_hz ?? null)).toEqual([4]);
  expect(sent.findIndex((m) => m.op === "rate")).toBeGreaterThan(sent.findIndex((m) => m.op === "subscribe"));
  await expectPricesToMove(page);
  await page.setViewportSize({ width: 1280, height: 800 });
  await expect.poll(() => sent.filter((m) => m.op === "rate").map((m) => m.max_hz ?? null)).toEqual([4, null]);
  await expectPricesToMove(page);
});
