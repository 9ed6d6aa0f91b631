import { expect, test, type Page } from "@playwright/test";
import { expectPricesToMove } from "./page";
import { startServer, type Server } from "./server";

let server: Server;

test.beforeAll(async () => {
  server = await startServer(["--seed", "42"]);
});

test.afterAll(async () => {
  await server?.stop();
});

/** Fails the test on any console error or hydration complaint. */
function watchConsole(page: Page): string[] {
  const problems: string[] = [];
  page.on("console", (msg) => {
    const text = msg.text();
    if (msg.type() === "error" || /hydrat/i.test(text)) problems.push(`${msg.type()}: ${text}`);
  });
  page.on("pageerror", (err) => problems.push(`pageerror: ${err.message}`));
  return problems;
}

const price = /^\d{1,3}(,\d{3})*\.\d{2,4}$/;

test.describe("without JavaScript", () => {
  test.use({ javaScriptEnabled: false });

  test("the first paint already shows real prices", async ({ page }) => {
    // Once the server has prices (a just-started simulator needs a moment)…
    await expect
      .poll(async () => ((await (await fetch(`${server.url}/api/quotes`)).json()) as { quotes: unknown[] }).quotes.length)
      .toBeGreaterThanOrEqual(30);
    // …the page shows them with no JavaScript at all.
    await page.goto(server.url);
    const rows = page.locator("table.quotes tbody tr[data-symbol]");
    expect(await rows.count()).toBeGreaterThanOrEqual(30);
    const lasts = await page.locator("table.quotes td.last").allInnerTexts();
    expect(lasts.length).toBeGreaterThanOrEqual(30);
    for (const text of lasts) expect(text).toMatch(price);
    await expect(page.locator("tr[data-symbol=AAPL] td.name")).toHaveText("Apple Inc.");
  });
});

test("the table goes live: ≥ 30 rows, badge Live, prices change", async ({ page }) => {
  const problems = watchConsole(page);
  await page.goto(server.url);
  await expect(page.getByTestId("connection")).toHaveText("Live");
  expect(await page.locator("table.quotes td.last").count()).toBeGreaterThanOrEqual(30);
  await expectPricesToMove(page);
  await expect(page.getByTestId("latency")).toHaveText(/RTT \d+ ms/, { timeout: 8_000 });
  await expect(page.locator("[data-feed=sim]")).toHaveText("sim: live");
  expect(problems).toEqual([]);
});

test("a click selects a row and the detail panel follows it (hydrated)", async ({ page }) => {
  const problems = watchConsole(page);
  await page.goto(server.url);
  await expect(page.getByTestId("connection")).toHaveText("Live");
  const msft = page.locator("tr[data-symbol=MSFT]");
  await msft.click();
  await expect(msft).toHaveAttribute("aria-selected", "true");
  await expect(page.locator("tr[data-symbol=AAPL]")).toHaveAttribute("aria-selected", "false");
  const detail = page.getByTestId("detail");
  await expect(detail.locator(".detail-symbol")).toHaveText("MSFT");
  await expect(detail.locator(".detail-name")).toHaveText("Microsoft Corporation");
  // The panel shows the same live price as the row.
  await expect
    .poll(() =>
      page.evaluate(() => {
        // Both read in one task of the page, so no update can come between them.
        const text = (selector: string) => document.querySelector(selector)?.textContent?.trim();
        return text("[data-testid=detail-price]") === text("tr[data-symbol=MSFT] td.last");
      }),
    )
    .toBe(true);
  expect(problems).toEqual([]);
});

test("changes are coloured and signed consistently with the price", async ({ page }) => {
  await page.goto(server.url);
  await expect(page.getByTestId("connection")).toHaveText("Live");
  const rows = await page.locator("table.quotes tbody tr[data-symbol]").all();
  for (const row of rows.slice(0, 10)) {
    const [chg, pct] = [row.locator("td.chg"), row.locator("td.pct")];
    // Text and class read together: a diff between two reads could change the sign.
    const { text, cls } = await chg.evaluate((el: HTMLElement) => ({ text: el.innerText, cls: el.className }));
    if (text.startsWith("+")) expect(cls).toContain("up");
    else if (text.startsWith("−")) expect(cls).toContain("down");
    else expect(cls).toContain("flat");
    expect(await pct.innerText()).toMatch(/^[+−]?\d+\.\d{2}%$/);
  }
});
