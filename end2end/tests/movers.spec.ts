import { expect, test, type Page } from "@playwright/test";
import { startServer, type Server } from "./server";

let server: Server;

test.beforeAll(async () => {
  server = await startServer(["--seed", "21"]);
});

test.afterAll(async () => {
  await server.stop();
});

const percent = (text: string) => Number(text.replace("−", "-").replace(/[^0-9.\-]/g, ""));

async function chips(page: Page, list: string) {
  const group = page.getByRole("group", { name: list });
  return group.locator("button.mover").evaluateAll((buttons) =>
    buttons.map((b) => ({ symbol: b.getAttribute("data-symbol") ?? "", pct: b.querySelector(".mover-pct")!.textContent ?? "" })),
  );
}

test("movers show the biggest gainers and losers, live, and a click charts one", async ({ page }) => {
  await page.goto(server.url);
  await expect(page.getByTestId("connection")).toHaveText("Live");
  const gainers = await chips(page, "Top gainers");
  const losers = await chips(page, "Top losers");
  expect(gainers.length).toBe(5);
  expect(losers.length).toBe(5);
  const up = gainers.map((g) => percent(g.pct));
  const down = losers.map((l) => percent(l.pct));
  expect(up.every((p) => p > 0)).toBe(true);
  expect(down.every((p) => p < 0)).toBe(true);
  expect(up).toEqual([...up].sort((a, b) => b - a));
  expect(down).toEqual([...down].sort((a, b) => a - b));
  // The top gainer really is the table's best change % (sorted by the table itself).
  const pct = page.locator("table.quotes thead th", { has: page.getByRole("button", { name: "Chg %", exact: true }) });
  await pct.getByRole("button").click();
  await pct.getByRole("button").click();
  await expect(pct).toHaveAttribute("aria-sort", "descending");
  // The table re-sorts only while the pointer is away from it; the movers
  // refresh each second. Both are read in one task of the page.
  await page.mouse.move(5, 5);
  await expect
    .poll(
      () =>
        page.evaluate(
          () =>
            document.querySelector("table.quotes tbody tr[data-symbol]")?.getAttribute("data-symbol") ===
            document.querySelector('[aria-label="Top gainers"] button.mover')?.getAttribute("data-symbol"),
        ),
      { timeout: 15_000 },
    )
    .toBe(true);

  const pick = losers[2].symbol;
  await page.getByRole("group", { name: "Top losers" }).locator(`button[data-symbol="${pick}"]`).click();
  await expect(page).toHaveURL(new RegExp(`symbol=${pick}`));
});

test("the page title shows the selected symbol's live price", async ({ page }) => {
  await page.goto(`${server.url}/?symbol=MSFT`);
  await expect(page.getByTestId("connection")).toHaveText("Live");
  await expect(page).toHaveTitle(/^MSFT [\d,]+\.\d{2} [+−]?\d+\.\d{2}% · tickertape$/);
  await expect
    .poll(() => page.evaluate(() => document.title.split(" ")[1] === document.querySelector('tr[data-symbol="MSFT"] td.last')?.textContent))
    .toBe(true);
  await page.locator('tr[data-symbol="AAPL"]').click();
  await expect(page).toHaveTitle(/^AAPL /);
});
