import { expect, test, type Page } from "@playwright/test";
import { startServer, type Server } from "./server";

let server: Server;

test.beforeAll(async () => {
  server = await startServer(["--seed", "12"]);
});

test.afterAll(async () => {
  await server.stop();
});

const theme = (page: Page) => page.locator("html").getAttribute("data-theme");
const background = (page: Page) => page.evaluate(() => getComputedStyle(document.body).backgroundColor);

for (const system of ["light", "dark"] as const) {
  test.describe(`with a ${system} system theme`, () => {
    test.use({ colorScheme: system });

    test("a first visit follows the system", async ({ page }) => {
      const response = await page.goto(server.url);
      // No choice yet: the server sets no theme and CSS follows the system.
      expect(await response!.text()).not.toContain("data-theme=");
      await expect(page.getByTestId("connection")).toHaveText("Live");
      await expect.poll(() => theme(page)).toBe(system);
      const bg = await background(page);
      expect(system === "light" ? bg === "rgb(244, 246, 249)" : bg === "rgb(10, 13, 18)").toBe(true);
    });
  });
}

test("the theme switch flips the page, is remembered, and a reload renders it at once", async ({ page }) => {
  await page.emulateMedia({ colorScheme: "dark" });
  await page.goto(server.url);
  await expect(page.getByTestId("connection")).toHaveText("Live");
  const toggle = page.getByRole("button", { name: /theme/ });
  await expect(toggle).toHaveAccessibleName("Switch to light theme");
  const dark = await background(page);
  await toggle.click();
  await expect.poll(() => theme(page)).toBe("light");
  await expect(toggle).toHaveAccessibleName("Switch to dark theme");
  expect(await background(page)).not.toBe(dark);
  const response = await page.reload();
  const html = await response!.text();
  expect(html).toMatch(/<html[^>]*data-theme="light"/); // server-rendered: no flash of dark
  await expect(page.getByTestId("connection")).toHaveText("Live");
  expect(await theme(page)).toBe("light");
  await page.getByRole("button", { name: /theme/ }).click();
  await expect.poll(() => theme(page)).toBe("dark");
  expect(await (await page.reload())!.text()).toMatch(/<html[^>]*data-theme="dark"/);
});

test("a moving price is tinted for a moment; reduced motion turns the tint off", async ({ page }) => {
  const tint = () =>
    page.locator("td.last.flash-up, td.last.flash-down").first().evaluate((td) => getComputedStyle(td).backgroundColor);
  await page.goto(server.url);
  await expect(page.getByTestId("connection")).toHaveText("Live");
  await expect.poll(tint).toMatch(/^rgba\(\d+, \d+, \d+, 0\.\d+\)$/);
  await page.emulateMedia({ reducedMotion: "reduce" });
  await expect.poll(tint).toBe("rgba(0, 0, 0, 0)");
  // The tint goes by itself: with no more prices coming (the browser goes
  // offline), every price is plain again within a second or two.
  await page.emulateMedia({ reducedMotion: "no-preference" });
  const tinted = page.locator("td.last.flash-up, td.last.flash-down");
  await expect(tinted.first()).toBeAttached();
  await page.context().setOffline(true);
  await expect(page.getByTestId("connection")).toHaveText("Offline");
  await expect(tinted).toHaveCount(0, { timeout: 5_000 });
  await page.context().setOffline(false);
  await expect(page.getByTestId("connection")).toHaveText("Live", { timeout: 15_000 });
});
