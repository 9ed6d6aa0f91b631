import { expect, test, type Page } from "@playwright/test";
import { startServer, type Server } from "./server";

// Linked charts: a layout of 1, 2 or 4 charts, each its own symbol and
// interval, kept in the URL, with the crosshair and the visible time range
// moving together.

let server: Server;

test.beforeAll(async () => {
  server = await startServer(["--seed", "7"]);
});

test.afterAll(async () => {
  await server.stop();
});

const MINUTE = 60_000;

/** The linked charts' drawings, in order (charts 1 to 3). */
const linked = (page: Page) => page.getByTestId("linked-chart");

async function expectDrawn(page: Page, count: number) {
  await expect(page.getByTestId("chart")).toHaveAttribute("data-bars", /^[1-9]/);
  await expect(linked(page)).toHaveCount(count);
  for (let i = 0; i < count; i++) {
    await expect(linked(page).nth(i)).toHaveAttribute("data-bars", /^[1-9]/);
  }
}

test("a four-chart view in the URL is drawn, its crosshair linked across intervals, and a link restores it", async ({ page }) => {
  const view = "/?symbol=NVDA&interval=1m&ind=sma20&cmp=AMD&layout=4&charts=AAPL:5m,MSFT:1m,TSLA:15m";
  await page.goto(`${server.url}${view}`);
  await expect(page.getByTestId("connection")).toHaveText("Live");
  await expectDrawn(page, 3);
  const symbols = await page.getByTestId("linked-symbol").evaluateAll((els) => els.map((e) => (e as HTMLSelectElement).value));
  const intervals = await page.getByTestId("linked-interval").evaluateAll((els) => els.map((e) => (e as HTMLSelectElement).value));
  expect(symbols).toEqual(["AAPL", "MSFT", "TSLA"]);
  expect(intervals).toEqual(["5m", "1m", "15m"]);

  // Hovering the main (1m) chart puts every other chart's crosshair on the
  // bar that holds the same minute: the same bar at 1m, its 5- and 15-minute bucket.
  const main = page.getByTestId("chart");
  const box = (await main.boundingBox())!;
  await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.4);
  const at = (i: number) => linked(page).nth(i).getAttribute("data-crosshair");
  await expect.poll(() => at(1)).toMatch(/^\d+$/);
  const minute = Number(await at(1));
  expect(minute % MINUTE).toBe(0);
  expect(Number(await at(0))).toBe(minute - (minute % (5 * MINUTE)));
  expect(Number(await at(2))).toBe(minute - (minute % (15 * MINUTE)));
  // The readout of a linked chart shows the bar its crosshair is on.
  await expect(page.getByTestId("linked-readout").nth(1)).toHaveText(/^O [\d.,]+ +H /);
  // Moving elsewhere moves them all.
  await page.mouse.move(box.x + box.width * 0.2, box.y + box.height * 0.4);
  await expect.poll(async () => Number(await at(1))).toBeLessThan(minute);

  // Dragging the main chart back in time shows the 1m chart beside it the
  // same span, and leaves the newest bars of both out of view.
  const span = async (el: ReturnType<typeof linked>) => [Number(await el.getAttribute("data-visible-from")), Number(await el.getAttribute("data-visible-to"))];
  const before = await span(main);
  for (let i = 0; i < 3; i++) {
    await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.3);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.7, box.y + box.height * 0.3, { steps: 5 });
    await page.mouse.up();
  }
  await expect.poll(async () => (await span(main))[1]).toBeLessThan(before[1] - 600);
  await expect.poll(async () => JSON.stringify(await span(linked(page).nth(1)))).toBe(JSON.stringify(await span(main)));

  // Unlinked, the crosshair stays in its chart.
  await page.mouse.move(0, 0);
  await expect.poll(() => at(1)).toBeNull();
  await page.getByTestId("link-crosshair").click();
  await expect(page.getByTestId("link-crosshair")).toHaveAttribute("aria-pressed", "false");
  await page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.4);
  await page.waitForTimeout(300);
  expect(await at(1)).toBeNull();

  // A reload (the link) restores the whole view, the unlinking included.
  await page.reload();
  await expectDrawn(page, 3);
  expect(await page.getByTestId("linked-symbol").evaluateAll((els) => els.map((e) => (e as HTMLSelectElement).value))).toEqual(symbols);
  await expect(page.getByTestId("link-crosshair")).toHaveAttribute("aria-pressed", "false");
  await expect(page.getByTestId("readout").locator('[data-study="sma20"]')).toBeVisible();
  await expect(page.getByTestId("compare")).toContainText("AMD");
  await expect(page).toHaveURL(new RegExp(view.replace(/[?]/g, "\\?")));
  await page.getByTestId("link-crosshair").click();
});

test("the layout and each chart's symbol and interval are chosen on the page and kept in the URL", async ({ page }) => {
  await page.goto(`${server.url}/?symbol=AAPL&interval=1m`);
  await expect(page.getByTestId("chart")).toHaveAttribute("data-bars", /^[1-9]/);
  await expect(linked(page)).toHaveCount(0);
  const layout = page.getByRole("group", { name: "Charts" });
  await layout.getByRole("button", { name: "2", exact: true }).click();
  await expectDrawn(page, 1);
  // A chart the URL does not name shows another symbol at the main interval.
  await expect(page.getByTestId("linked-interval")).toHaveValue("1m");
  expect(await page.getByTestId("linked-symbol").inputValue()).not.toBe("AAPL");
  await page.getByTestId("linked-symbol").selectOption("MSFT");
  await page.getByTestId("linked-interval").selectOption("5s");
  await expect(page).toHaveURL(/layout=2&charts=MSFT:5s/);
  await expect(linked(page)).toHaveAttribute("data-bars", /^[1-9]/);
  // Its bars are MSFT's at 5 s: five seconds apart, the newest near now.
  const first = Number(await linked(page).getAttribute("data-first-time"));
  const last = Number(await linked(page).getAttribute("data-last-time"));
  expect((last - first) % 5_000).toBe(0);
  expect(Date.now() - last).toBeLessThan(60_000);
  // The main chart's choices keep the layout, and the other way round.
  await page.getByRole("group", { name: "Interval" }).getByRole("button", { name: "5m", exact: true }).click();
  await expect(page).toHaveURL(/interval=5m.*layout=2&charts=MSFT:5s/);
  await layout.getByRole("button", { name: "4", exact: true }).click();
  await expectDrawn(page, 3);
  await expect(page).toHaveURL(/interval=5m.*layout=4&charts=MSFT:5s,[^,]+:5m,[^,]+:5m/);
  await page.reload();
  await expectDrawn(page, 3);
  await expect(page.getByTestId("linked-symbol").first()).toHaveValue("MSFT");
  await layout.getByRole("button", { name: "1", exact: true }).click();
  await expect(linked(page)).toHaveCount(0);
  await expect(page).not.toHaveURL(/layout=/);
});
