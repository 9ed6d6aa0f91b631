import AxeBuilder from "@axe-core/playwright";
import { expect, test, type BrowserContext, type Page } from "@playwright/test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServer, type Server } from "./server";

// Price alerts in the page, against the real server fed by a replay whose
// prices are known: AAPL trades at 100.00 every second, crosses to 101.50
// after `crossAfterMs` and is back at 100.20 a tenth of a second later.

/** A replay file (timestamps from now) and the directory holding it. */
function replayFile(crossAfterMs: number): { dir: string; file: string } {
  const t0 = Date.now();
  const rows = ["ts,symbol,price,size"];
  for (let at = 0; at < crossAfterMs; at += 1_000) {
    rows.push(`${t0 + at},AAPL,100.00,10`, `${t0 + at},MSFT,50.00,10`);
  }
  rows.push(`${t0 + crossAfterMs},AAPL,101.50,10`, `${t0 + crossAfterMs + 100},AAPL,100.20,10`);
  for (let at = crossAfterMs + 1_000; at < crossAfterMs + 30_000; at += 1_000) {
    rows.push(`${t0 + at},AAPL,100.20,10`, `${t0 + at},MSFT,50.00,10`);
  }
  const dir = mkdtempSync(join(tmpdir(), "tickertape-alerts-"));
  const file = join(dir, "alerts.csv");
  writeFileSync(file, rows.join("\n") + "\n");
  return { dir, file };
}

/** Records every notification the page shows (the browser's own, wrapped). */
async function recordNotifications(context: BrowserContext): Promise<void> {
  await context.addInitScript(() => {
    const Real = window.Notification;
    const shown: { title: string; body?: string }[] = [];
    (window as unknown as { __notifications: typeof shown }).__notifications = shown;
    window.Notification = class extends Real {
      constructor(title: string, options?: NotificationOptions) {
        super(title, options);
        shown.push({ title, body: options?.body });
      }
    } as typeof Notification;
  });
}

async function notifications(page: Page): Promise<{ title: string; body?: string }[]> {
  return page.evaluate(() => (window as unknown as { __notifications: { title: string; body?: string }[] }).__notifications);
}

async function live(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await expect(page.getByTestId("connection")).toHaveText("Live");
}

test("a rule made in one page fires a toast in every open page, and a notification where permission was granted", async ({ browser }) => {
  // Room for two pages to load and a rule to be made before the cross, on a busy machine.
  const { dir, file } = replayFile(25_000);
  const server: Server = await startServer(["--feed", `replay:${file}`, "--flush-ms", "500"]);
  const context = await browser.newContext();
  try {
    await context.grantPermissions(["notifications"], { origin: server.url });
    await recordNotifications(context);
    const [maker, watcher] = [await context.newPage(), await context.newPage()];
    await live(maker, `${server.url}/?symbol=MSFT`);
    await live(watcher, `${server.url}/?symbol=MSFT`);
    await expect(watcher.getByTestId("alerts")).toBeHidden();
    await watcher.getByRole("button", { name: "Alerts, 0 armed" }).click();
    await expect(watcher.getByTestId("alerts")).toBeFocused();
    await expect(watcher.getByTestId("alerts")).toContainText("No alerts yet");

    // The row's bell charts AAPL and opens the form, the last price filled in.
    await maker.locator("tr[data-symbol=AAPL]").hover();
    await maker.getByRole("button", { name: "Set an alert for AAPL" }).first().click();
    const form = maker.getByTestId("alert-form");
    await expect(form).toBeVisible();
    await expect(maker.getByTestId("detail")).toContainText("AAPL");
    const value = form.getByRole("textbox", { name: "Price" });
    await expect(value).toBeFocused();
    await expect(value).toHaveValue("100.00");
    await value.fill("101");
    await form.getByRole("button", { name: "Create alert" }).click();
    await expect(form).toBeHidden();
    await maker.getByTestId("alerts-button").click();

    // Both pages list it, armed; both bells for AAPL say it has alerts.
    for (const page of [maker, watcher]) {
      await expect(page.getByRole("button", { name: "Alerts, 1 armed" })).toHaveAttribute("aria-expanded", "true");
      const rule = page.getByTestId("alerts").locator(".alert-item");
      await expect(rule).toHaveCount(1);
      await expect(rule).toContainText("AAPL");
      await expect(rule).toContainText("above 101.00");
      await expect(rule.getByTestId("alert-state")).toHaveText("Armed");
      await expect(page.getByTestId("alerts-armed")).toHaveText("1 armed");
    }
    await expect(watcher.locator("tr[data-symbol=AAPL] .bell.on")).toHaveCount(1);
    // The chart of AAPL draws the armed level; the watcher charts another symbol.
    await expect(maker.getByTestId("chart")).toHaveAttribute("data-levels", "1");
    await expect(watcher.getByTestId("chart")).toHaveAttribute("data-levels", "0");

    // The cross (and its reversal a tenth of a second later) fires once, on both pages.
    for (const page of [watcher, maker]) {
      const toast = page.getByTestId("toast");
      await expect(toast).toHaveCount(1, { timeout: 45_000 });
      await expect(toast).toContainText("AAPL above 101.00");
      await expect(toast).toContainText(/Traded at 101\.50 · \d\d:\d\d:\d\d/);
      await expect(page.getByTestId("toasts")).toHaveAttribute("aria-live", "assertive");
      await expect(page.getByTestId("alert-log").locator("li")).toHaveCount(1);
      await expect(page.getByTestId("alert-log")).toContainText("AAPL above 101.00 at 101.50");
      await expect(page.getByTestId("alerts").getByTestId("alert-state")).toHaveText(/^Fired \d\d:\d\d:\d\d$/);
    }
    await expect(maker.getByTestId("chart"), "a spent rule's line goes").toHaveAttribute("data-levels", "0");
    for (const page of [watcher, maker]) {
      await expect.poll(() => notifications(page)).toEqual([
        { title: "AAPL above 101.00", body: expect.stringMatching(/^Traded at 101\.50 · \d\d:\d\d:\d\d$/) },
      ]);
    }

    // Escape closes the panel and gives focus back to its button; a bell
    // opens the form. Accessible with the list, the log, the toast and an
    // open form on screen.
    await watcher.emulateMedia({ reducedMotion: "reduce" });
    await watcher.getByTestId("alerts").press("Escape");
    await expect(watcher.getByTestId("alerts")).toBeHidden();
    await expect(watcher.getByTestId("alerts-button")).toBeFocused();
    await watcher.getByTestId("detail").getByRole("button", { name: /alert for/ }).click();
    await expect(watcher.getByTestId("alert-form")).toBeVisible();
    await watcher.getByTestId("alerts-button").click();
    const results = await new AxeBuilder({ page: watcher }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]).analyze();
    const serious = results.violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
    expect(serious).toEqual([]);

    // Dismissed by its button; deleted in one page, gone from the other.
    await watcher.getByTestId("toast").getByRole("button", { name: "Dismiss" }).click();
    await expect(watcher.getByTestId("toast")).toHaveCount(0);
    await maker.getByRole("button", { name: "Delete alert AAPL above 101.00" }).click();
    await expect(watcher.getByTestId("alerts")).toContainText("No alerts yet");
    await expect(watcher.getByTestId("alerts-armed")).toHaveText("0 armed");
  } finally {
    await context.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the page asks for notifications only when the viewer makes their first alert; a refused value is explained", async ({ page }) => {
  const server = await startServer(["--seed", "8"]);
  try {
    await page.addInitScript(() => {
      const asked = { count: 0 };
      (window as unknown as { __asked: typeof asked }).__asked = asked;
      Object.defineProperty(Notification, "permission", { get: () => "default" });
      Notification.requestPermission = async () => {
        asked.count += 1;
        return "default";
      };
    });
    const asked = () => page.evaluate(() => (window as unknown as { __asked: { count: number } }).__asked.count);
    await live(page, `${server.url}/?symbol=NVDA`);
    expect(await asked()).toBe(0);

    const bell = page.getByTestId("detail").getByRole("button", { name: /alert for NVDA/ });
    await bell.click();
    const form = page.getByTestId("alert-form");
    await form.getByRole("textbox", { name: "Price" }).fill("-5");
    await form.getByRole("button", { name: "Create alert" }).click();
    await expect(form.getByRole("alert")).toHaveText("value: a price level must be above 0");
    expect(await asked(), "a refused rule is not a first alert").toBe(0);

    // Change % prefills the day's change; Every time; a note.
    await form.getByRole("combobox", { name: "When" }).selectOption("change_pct_below");
    const pct = form.getByRole("textbox", { name: "Change %" });
    await expect(pct).toHaveValue(/^-?\d+\.\d\d$/);
    await pct.fill("-30");
    await form.getByRole("combobox", { name: "Repeat" }).selectOption("every");
    await form.getByRole("textbox", { name: "Note" }).fill("crash watch");
    await form.getByRole("button", { name: "Create alert" }).click();
    await expect(form).toBeHidden();
    await page.getByTestId("alerts-button").click();
    const rule = page.getByTestId("alerts").locator(".alert-item");
    await expect(rule).toContainText("change below −30.00% · every time");
    await expect(rule).toContainText("crash watch");
    await expect.poll(asked).toBe(1);

    await page.getByRole("button", { name: "Close alerts" }).click();
    await bell.click();
    // A level the random walk never reaches: the rule stays armed however long the test takes.
    const second = page.getByTestId("alert-form");
    await second.getByRole("combobox", { name: "When" }).selectOption("below");
    await second.getByRole("textbox", { name: "Price" }).fill("1");
    await second.getByRole("button", { name: "Create alert" }).click();
    await expect(page.getByTestId("alert-form")).toBeHidden();
    await expect(page.getByRole("button", { name: "Alerts, 2 armed" })).toBeVisible();
    expect(await asked(), "asked once").toBe(1);

    // The rules are the server's: a reload shows them.
    await page.reload();
    await page.getByRole("button", { name: "Alerts, 2 armed" }).click();
    await expect(page.getByTestId("alerts").locator(".alert-item")).toHaveCount(2);
  } finally {
    await server.stop();
  }
});
