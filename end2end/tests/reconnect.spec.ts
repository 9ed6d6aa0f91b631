import { expect, test } from "@playwright/test";
import { Server, freePort } from "./server";
import { expectPricesToMove } from "./page";

test("a server restart under an open page: reconnecting, then live again without a reload", async ({ page }) => {
  const port = await freePort();
  const first = await new Server(port, ["--seed", "1"]).start();
  let second: Server | undefined;
  try {
    await page.goto(first.url);
    const badge = page.getByTestId("connection");
    await expect(badge).toHaveText("Live");
    // A marker that a reload would wipe.
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));

    expect(await first.stop()).toBe(0);
    await expect(badge).toHaveText(/^Reconnecting/);
    await expect(badge).toHaveClass(/reconnecting/);

    second = await new Server(port, ["--seed", "2"]).start();
    await expect(badge).toHaveText("Live", { timeout: 20_000 });
    await expectPricesToMove(page);
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(42);
  } finally {
    await first.stop();
    await second?.stop();
  }
});

test("a server killed outright (no close frames) under an open page: live again after a restart", async ({ page }) => {
  const port = await freePort();
  const first = await new Server(port, ["--seed", "4"]).start();
  let second: Server | undefined;
  try {
    await page.goto(first.url);
    const badge = page.getByTestId("connection");
    await expect(badge).toHaveText("Live");
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 9));
    await first.stop("SIGKILL");
    await expect(badge).toHaveText(/^Reconnecting/);
    second = await new Server(port, ["--seed", "5"]).start();
    await expect(badge).toHaveText("Live", { timeout: 20_000 });
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(9);
  } finally {
    await first.stop();
    await second?.stop();
  }
});
