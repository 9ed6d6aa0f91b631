import AxeBuilder from "@axe-core/playwright";
import { expect, test, type Page } from "@playwright/test";
import { startServer, type Server } from "./server";

let server: Server;

test.beforeAll(async () => {
  server = await startServer(["--seed", "30"]);
});

test.afterAll(async () => {
  await server.stop();
});

/** Serious and critical axe-core violations, described for a failure message. */
async function violations(page: Page): Promise<string[]> {
  const results = await new AxeBuilder({ page })
    .withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"])
    .analyze();
  return results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`);
}

for (const colorScheme of ["dark", "light"] as const) {
  test(`no serious or critical axe-core violations, ${colorScheme} theme`, async ({ page }) => {
    await page.emulateMedia({ colorScheme, reducedMotion: "reduce" }); // no mid-flash colours
    await page.goto(server.url);
    await expect(page.getByTestId("connection")).toHaveText("Live");
    await expect.poll(() => page.locator("html").getAttribute("data-theme")).toBe(colorScheme);
    expect(await violations(page)).toEqual([]);
  });
}

test("the keyboard overlay and a search with no result are accessible too", async ({ page }) => {
  await page.emulateMedia({ reducedMotion: "reduce" });
  await page.goto(server.url);
  await expect(page.getByTestId("connection")).toHaveText("Live");
  await page.getByRole("searchbox", { name: /Search symbols/ }).fill("qqqqq");
  await page.getByRole("button", { name: "Keyboard shortcuts" }).click();
  await expect(page.getByRole("dialog", { name: "Keyboard shortcuts" })).toBeVisible();
  expect(await violations(page)).toEqual([]);
});

test("the table has real header semantics", async ({ page }) => {
  await page.goto(server.url);
  const table = page.locator("table.quotes");
  await expect(table.locator("thead th[scope=col]")).toHaveCount(12);
  await expect(table.locator("tbody tr[data-symbol] th[scope=row]").first()).toHaveText(/^[A-Z.]+$/);
  for (const name of ["Symbol", "Last", "Chg %", "Volume"]) {
    await expect(page.getByRole("columnheader", { name: new RegExp(`^${name.replace("%", "\\%")}`) })).toBeVisible();
  }
});
