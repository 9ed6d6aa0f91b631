import { expect, test, type Page } from "@playwright/test";
import { startServer, type Server } from "./server";

let live: Server;
let still: Server;

test.beforeAll(async () => {
  live = await startServer(["--seed", "8"]);
  // A replay played at full speed: prices stop moving, so an order can be checked exactly.
  still = await startServer(["--feed", "replay:server/samples/us-open.csv", "--replay-speed", "max"]);
});

test.afterAll(async () => {
  await live.stop();
  await still.stop();
});

const rows = (page: Page) => page.locator("table.quotes tbody tr[data-symbol]");
const symbols = (page: Page) => rows(page).evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-symbol") ?? ""));
const numbers = (page: Page, cell: string) =>
  page.locator(`table.quotes tbody tr[data-symbol] td.${cell}`).evaluateAll((tds) => tds.map((td) => Number(td.textContent!.replace(/[^0-9.\-]/g, ""))));
const header = (page: Page, name: string) => page.locator("table.quotes thead th", { has: page.getByRole("button", { name, exact: true }) });

async function open(page: Page, server: Server) {
  await page.goto(server.url);
  await expect(page.getByTestId("connection")).toHaveText("Live");
}

test("clicking a header sorts ascending, then descending, and says so in aria-sort", async ({ page }) => {
  await open(page, still);
  // Let the replay finish: the table stops changing.
  for (let before = ""; ; ) {
    const now = JSON.stringify(await numbers(page, "last"));
    if (now === before) break;
    before = now;
    await page.waitForTimeout(1_000);
  }
  const last = header(page, "Last");
  await expect(last).toHaveAttribute("aria-sort", "none");
  await last.getByRole("button").click();
  await expect(last).toHaveAttribute("aria-sort", "ascending");
  const up = await numbers(page, "last");
  expect(up).toEqual([...up].sort((a, b) => a - b));
  await last.getByRole("button").click();
  await expect(last).toHaveAttribute("aria-sort", "descending");
  const down = await numbers(page, "last");
  expect(down).toEqual([...up].reverse());
  await header(page, "Symbol").getByRole("button").click();
  await expect(last).toHaveAttribute("aria-sort", "none");
  await expect(header(page, "Symbol")).toHaveAttribute("aria-sort", "ascending");
  const names = await symbols(page);
  expect(names).toEqual([...names].sort());
});

test("a live sort holds still under the pointer and catches up when it leaves", async ({ page }) => {
  await open(page, live);
  const time = header(page, "Time");
  await time.getByRole("button").click();
  await time.getByRole("button").click(); // newest trade first: the order changes all the time
  await expect(time).toHaveAttribute("aria-sort", "descending");
  await page.locator("table.quotes tbody").hover();
  const held = await symbols(page);
  const prices = await numbers(page, "last");
  await page.waitForTimeout(4_500); // two re-sort periods
  expect(await numbers(page, "last")).not.toEqual(prices); // prices moved…
  expect(await symbols(page)).toEqual(held); // …rows did not
  await page.mouse.move(5, 5);
  await expect.poll(() => symbols(page), { timeout: 8_000 }).not.toEqual(held);
});

test("/ focuses a fuzzy search over symbols and names; Esc clears it", async ({ page }) => {
  await open(page, live);
  const search = page.getByRole("searchbox", { name: /Search symbols/ });
  await page.locator("body").press("/");
  await expect(search).toBeFocused();
  await page.keyboard.type("nvdia");
  await expect.poll(() => symbols(page)).toEqual(["NVDA"]);
  await expect(page.locator(".watchlist .panel-head")).toContainText("1 of 40 symbols");
  await search.fill("corp");
  const corp = await symbols(page);
  expect(corp.length).toBeGreaterThan(1);
  for (const s of corp) await expect(page.locator(`tr[data-symbol="${s}"] td.name`)).toContainText(/corp/i);
  await search.fill("zzzz");
  await expect(page.getByText("No symbol matches “zzzz”.")).toBeVisible();
  await page.keyboard.press("Escape");
  await expect(search).toHaveValue("");
  await expect(search).not.toBeFocused();
  await expect(page.locator(".watchlist .panel-head")).toContainText(/^Quotes\s*40 symbols/);
});

test("j/k and the arrows move the selected row, Enter charts it, ? lists the keys", async ({ page }) => {
  await page.goto(`${live.url}/?symbol=AAPL`);
  await expect(page.getByTestId("connection")).toHaveText("Live");
  const selected = page.locator('table.quotes tbody tr[aria-selected="true"]');
  await expect(selected).toHaveAttribute("data-symbol", "AAPL");
  const order = await symbols(page);
  const at = order.indexOf("AAPL");
  await page.locator("body").press("j");
  await page.keyboard.press("j");
  await expect(selected).toHaveAttribute("data-symbol", order[at + 2]);
  await page.keyboard.press("ArrowUp");
  await expect(selected).toHaveAttribute("data-symbol", order[at + 1]);
  await expect(selected).toHaveCount(1);
  await expect(page).toHaveURL(/symbol=AAPL/); // moving does not chart…
  await page.keyboard.press("Enter"); // …Enter does
  await expect(page).toHaveURL(new RegExp(`symbol=${order[at + 1]}`));
  await expect(page.locator(".chart-title")).toContainText(order[at + 1]);
  // Far down the table: the row scrolls into view.
  for (let i = 0; i < 30; i++) await page.keyboard.press("j");
  await expect(selected).toBeInViewport();

  await page.keyboard.press("?");
  const dialog = page.getByRole("dialog", { name: "Keyboard shortcuts" });
  await expect(dialog).toBeVisible();
  await expect(dialog).toContainText("Chart the row");
  await page.keyboard.press("Escape");
  await expect(dialog).toBeHidden();
});
