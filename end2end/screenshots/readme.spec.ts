// Generates the README's screenshots from the real server in Chromium.
// Run with `make screenshots`; not part of `make test`.

import { expect, test } from "@playwright/test";
import { resolve } from "node:path";
import { repoRoot, startServer, type Server } from "../tests/server";

let server: Server;

test.beforeAll(async () => {
  server = await startServer(["--seed", "2026"]);
});

test.afterAll(async () => {
  await server?.stop();
});

const shots = [
  { name: "dashboard-desktop.png", width: 1440, height: 900, colorScheme: "dark" },
  { name: "dashboard-desktop-light.png", width: 1440, height: 900, colorScheme: "light" },
  { name: "dashboard-mobile.png", width: 390, height: 844, colorScheme: "dark" },
] as const;

for (const shot of shots) {
  test(shot.name, async ({ page }) => {
    await page.emulateMedia({ colorScheme: shot.colorScheme });
    await page.setViewportSize({ width: shot.width, height: shot.height });
    await page.goto(`${server.url}/?symbol=NVDA&interval=1m`);
    await expect(page.getByTestId("connection")).toHaveText("Live");
    await expect(page.getByTestId("latency")).toHaveText(/RTT \d+ ms/, { timeout: 8_000 });
    await expect(page.getByTestId("chart")).toHaveAttribute("data-bars", /^[1-9]/);
    // Let a few batches arrive so some rows are caught mid-flash.
    await page.waitForTimeout(1_500);
    await page.screenshot({ path: resolve(repoRoot, "docs", "screenshots", shot.name) });
  });
}
