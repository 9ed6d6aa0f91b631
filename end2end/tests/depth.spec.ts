import AxeBuilder from "@axe-core/playwright";
import { expect, test, type Page } from "@playwright/test";
import { startServer, type Server } from "./server";

// The order book and trades tape panel, against the simulator (trades with
// buy/sell sides and a made-up book per symbol) at a steady few trades a
// second, so the tape moves but a row stays on it for many seconds.

let server: Server;

test.beforeAll(async () => {
  server = await startServer(["--seed", "41", "--sim-rate", "3"]);
});

test.afterAll(async () => {
  await server.stop();
});

/** Opens the dashboard on `symbol`, hydrated and live. */
async function visit(page: Page, symbol = "AAPL"): Promise<void> {
  await page.goto(`${server.url}/?symbol=${symbol}`);
  await expect(page.getByTestId("connection")).toHaveText("Live");
}

/** Opens the panel with its toggle. */
async function openPanel(page: Page): Promise<void> {
  const toggle = page.getByTestId("depth-toggle");
  await expect(toggle).toHaveAttribute("aria-pressed", "false");
  await expect(toggle).toHaveText("Show");
  await toggle.click();
  await expect(toggle).toHaveAttribute("aria-pressed", "true");
  await expect(toggle).toHaveText("Hide");
}

/**
 * The tape's trade times, top to bottom, read in one task of the page
 * (`locator.evaluateAll` finds the rows and reads them in two, and the tape
 * can change in between).
 */
async function tapeTimes(page: Page): Promise<number[]> {
  return page.evaluate(() => [...document.querySelectorAll("[data-testid=tape-row]")].map((r) => Number(r.getAttribute("data-t"))));
}

function nonIncreasing(values: number[]): boolean {
  return values.every((v, i) => i === 0 || values[i - 1] >= v);
}

test("closed by default; opened, trades arrive on top of the tape and rows already there stay the same elements", async ({ page }) => {
  await visit(page);
  await expect(page.getByTestId("depth")).toContainText("Order book · Trades");
  await expect(page.getByTestId("tape")).toHaveCount(0);
  await openPanel(page);

  const rows = page.getByTestId("tape").getByTestId("tape-row");
  await expect(rows.first()).toBeVisible({ timeout: 15_000 });
  await expect(rows.first()).toHaveAttribute("data-side", /^(buy|sell)$/);
  await expect(rows.first()).toHaveAttribute("data-price", /^\d+(\.\d+)?$/);
  await expect(rows.first().locator("td").first()).toHaveText(/^\d\d:\d\d:\d\d$/);
  const first = await tapeTimes(page);
  expect(nonIncreasing(first), `newest first: ${first.join(", ")}`).toBe(true);
  expect(first.length).toBeLessThanOrEqual(60);

  // Mark the top row's element (reading its time in the same task); newer
  // trades must land above it, and the marked element must still be on the
  // tape (not drawn again).
  const top = Number(await rows.first().evaluate((row) => (row.setAttribute("data-e2e-seen", "1"), row.getAttribute("data-t"))));
  await expect.poll(async () => (await tapeTimes(page))[0], { timeout: 15_000, message: "a newer trade lands on top" }).toBeGreaterThan(top);
  const marked = page.locator("[data-testid=tape-row][data-e2e-seen]");
  await expect(marked).toHaveCount(1);
  await expect(marked).toHaveAttribute("data-t", String(top));
  expect(await rows.first().getAttribute("data-e2e-seen")).toBeNull();
  const later = await tapeTimes(page);
  expect(nonIncreasing(later), `newest first: ${later.join(", ")}`).toBe(true);
  expect(later.length).toBeLessThanOrEqual(60);
});

test("the ladder has asks above bids with the best bid under the best ask, at most ten a side, and a depth chart", async ({ page }) => {
  await visit(page, "MSFT");
  await openPanel(page);

  const ladder = page.getByTestId("book-ladder");
  await expect(ladder.getByTestId("book-bid").first()).toBeVisible({ timeout: 15_000 });
  await expect(ladder.getByTestId("book-ask").first()).toBeVisible();
  await expect(page.getByTestId("book-state")).toHaveCount(0);

  // One read of the whole ladder, so bids and asks are of the same moment.
  const read = () =>
    ladder.evaluate((table) => {
      const prices = (id: string) => [...table.querySelectorAll(`[data-testid=${id}]`)].map((r) => Number(r.getAttribute("data-price")));
      return { bids: prices("book-bid"), asks: prices("book-ask") };
    });
  const { bids, asks } = await read();
  expect(bids.length).toBeGreaterThan(0);
  expect(asks.length).toBeGreaterThan(0);
  expect(bids.length).toBeLessThanOrEqual(10);
  expect(asks.length).toBeLessThanOrEqual(10);
  // Top to bottom both sides run high to low: the best ask (lowest) sits
  // just above the spread, the best bid (highest) just below it.
  expect(nonIncreasing(asks) && new Set(asks).size === asks.length, `asks: ${asks.join(", ")}`).toBe(true);
  expect(nonIncreasing(bids) && new Set(bids).size === bids.length, `bids: ${bids.join(", ")}`).toBe(true);
  expect(bids[0]).toBeLessThan(asks[asks.length - 1]);
  await expect(page.getByTestId("book-spread")).toHaveText(/Spread\s*\d+\.\d+/);

  // The bars grow away from the best level (read in one task, as above).
  const bars = await ladder.evaluate((table) =>
    [...table.querySelectorAll<HTMLElement>("[data-testid=book-bid]")].map((r) => parseFloat(r.style.getPropertyValue("--depth"))),
  );
  expect(nonIncreasing([...bars].reverse()), `bid bars: ${bars.join(", ")}`).toBe(true);
  expect(Math.max(...bars)).toBeGreaterThan(0);

  const chart = page.getByTestId("depth-chart");
  await expect(chart.locator("svg")).toBeVisible();
  await expect(chart.locator("path.depth-line.bid")).toHaveAttribute("d", /^M[\d.]+,[\d.]+ L/);
  await expect(chart.locator("path.depth-line.ask")).toHaveAttribute("d", /^M[\d.]+,[\d.]+ L/);

  // The book keeps moving, and stays uncrossed and live.
  await expect.poll(async () => JSON.stringify(await read()), { timeout: 15_000, message: "the book changes" }).not.toBe(JSON.stringify({ bids, asks }));
  const now = await read();
  expect(now.bids[0]).toBeLessThan(now.asks[now.asks.length - 1]);
  await expect(page.getByTestId("book-state")).toHaveCount(0);
});

test("the open panel survives a reload, and so does closing it", async ({ page }) => {
  await visit(page);
  await openPanel(page);
  expect(await page.evaluate(() => localStorage.getItem("tickertape.depth"))).toBe("open");

  await page.reload();
  await expect(page.getByTestId("connection")).toHaveText("Live");
  await expect(page.getByTestId("depth-toggle")).toHaveAttribute("aria-pressed", "true");
  await expect(page.getByTestId("book-ladder").getByTestId("book-bid").first()).toBeVisible({ timeout: 15_000 });
  await expect(page.getByTestId("tape-row").first()).toBeVisible({ timeout: 15_000 });

  await page.getByTestId("depth-toggle").click();
  await expect(page.getByTestId("book-ladder")).toHaveCount(0);
  await page.reload();
  await expect(page.getByTestId("connection")).toHaveText("Live");
  await expect(page.getByTestId("depth-toggle")).toHaveAttribute("aria-pressed", "false");
  await expect(page.getByTestId("book-ladder")).toHaveCount(0);
});

test("charting another symbol shows its tape and book, never the last one's", async ({ page }) => {
  await visit(page, "AAPL");
  await openPanel(page);
  await expect(page.getByTestId("book-bid").first()).toBeVisible({ timeout: 15_000 });
  await expect(page.getByTestId("tape-row").first()).toBeVisible({ timeout: 15_000 });

  await page.locator("tr[data-symbol=MSFT]").click();
  await expect(page.getByTestId("detail").locator(".detail-symbol")).toHaveText("MSFT");
  await expect(page.getByTestId("depth").locator(".depth-symbol")).toHaveText("MSFT");
  // Every price the panel shows, and MSFT's, read in one task of the page.
  const shown = () =>
    page.evaluate(() => {
      const prices = (selector: string) => [...document.querySelectorAll(selector)].map((r) => Number(r.getAttribute("data-price")));
      const last = Number(document.querySelector("[data-testid=detail-price]")?.textContent?.replace(/,/g, ""));
      return { last, tape: prices("[data-testid=tape-row]"), book: prices("[data-testid=book-bid], [data-testid=book-ask]") };
    });
  const far = ({ last, tape, book }: { last: number; tape: number[]; book: number[] }) => [...tape, ...book].filter((p) => Math.abs(p / last - 1) > 0.05);
  // Straight after the click: nothing of AAPL's is left (AAPL trades far from MSFT).
  expect(far(await shown())).toEqual([]);
  await expect
    .poll(async () => {
      const now = await shown();
      return now.tape.length > 0 && now.book.length > 0 && far(now).length === 0;
    }, { timeout: 15_000, message: "MSFT's trades and book arrive" })
    .toBe(true);
  await expect(page.getByTestId("book-state")).toHaveCount(0);
});

test("the viewer's large-trade size marks the trades that arrive after it", async ({ page }) => {
  await visit(page);
  await openPanel(page);
  const rows = page.getByTestId("tape-row");
  await expect(rows.first()).toBeVisible({ timeout: 15_000 });

  // Every trade is at least one share: from now on, each one is large.
  await page.getByTestId("tape-large").fill("1");
  const top = (await tapeTimes(page))[0];
  await expect.poll(async () => (await tapeTimes(page))[0], { timeout: 15_000 }).toBeGreaterThan(top);
  await expect(rows.first()).toHaveClass(/\blarge\b/);

  // No trade is this big.
  await page.getByTestId("tape-large").fill("1000000000");
  const next = (await tapeTimes(page))[0];
  await expect.poll(async () => (await tapeTimes(page))[0], { timeout: 15_000 }).toBeGreaterThan(next);
  await expect(rows.first()).not.toHaveClass(/\blarge\b/);
});

test("the open panel has no serious or critical axe-core violations", async ({ page }) => {
  await page.emulateMedia({ reducedMotion: "reduce" });
  await visit(page);
  await openPanel(page);
  await expect(page.getByTestId("tape-row").first()).toBeVisible({ timeout: 15_000 });
  await expect(page.getByTestId("book-bid").first()).toBeVisible({ timeout: 15_000 });
  await expect(page.getByTestId("book-state")).toHaveCount(0);
  const results = await new AxeBuilder({ page }).include("[data-testid=depth]").withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]).analyze();
  const serious = results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`);
  expect(serious).toEqual([]);
});

// A feed without depth (the replay has trades only): the panel says there is
// no book rather than waiting for one forever.
test.describe("a feed without an order book", () => {
  let replay: Server;

  test.beforeAll(async () => {
    replay = await startServer(["--feed", "replay:server/samples/us-open.csv", "--replay-speed", "max"]);
  });

  test.afterAll(async () => {
    await replay.stop();
  });

  test("the panel says the symbol has no order book", async ({ page }) => {
    await page.goto(`${replay.url}/?symbol=AAPL`);
    await expect(page.getByTestId("connection")).toHaveText("Live");
    await openPanel(page);
    await expect(page.getByTestId("book-state")).toHaveText("No order book for this symbol", { timeout: 15_000 });
    await expect(page.getByTestId("book-state")).toHaveAttribute("role", "status");
    await expect(page.getByTestId("book-bid")).toHaveCount(0);
  });
});
