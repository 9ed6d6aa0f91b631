// A Playwright test of a page fed by tickertape (docs/testing.md).
// The simulator starts paused on a fixed seed with the control API on:
// nothing moves unless the test moves it.

import { expect, test } from "@playwright/test";
import { spawn, type ChildProcess } from "node:child_process";
import { resolve } from "node:path";

const binary = process.env.TICKERTAPE_BIN ?? resolve(__dirname, "../../target/release/tickertape");
const token = "test-only-secret";
let server: ChildProcess;
let url: string;

test.beforeAll(async () => {
  // Port 0: the system picks a free port, and the log says which.
  server = spawn(binary, ["--addr", "127.0.0.1:0", "--ephemeral", "--control-token", token,
    "--sim-paused", "--seed", "42", "--symbols", "AAPL,MSFT"], { env: { ...process.env, NO_COLOR: "1" } });
  url = await new Promise((ok, fail) => {
    let log = "";
    const read = (chunk: Buffer) => {
      log += chunk;
      const serving = log.match(/serving (http:\/\/[\d.:]+)/);
      if (serving) ok(serving[1]);
    };
    server.stdout!.on("data", read);
    server.stderr!.on("data", read);
    server.once("exit", (code) => fail(new Error(`tickertape exited (${code}):\n${log}`)));
  });
});

test.afterAll(() => {
  server.kill();
});

/** POST /api/control/…: answered once the change is published. */
async function control(path: string, body: object = {}) {
  const answer = await fetch(`${url}/api/control${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  expect(answer.status).toBe(200);
  return answer.json();
}

test("the page shows the prices the test sets, and a halt", async ({ page }) => {
  await page.goto(url);
  await expect(page.getByTestId("connection")).toHaveText("Live");
  const aapl = page.locator('tr[data-symbol="AAPL"]');

  for (const price of [231.5, 232.25, 230.75]) {
    await control("/symbols/AAPL/price", { price });
    await expect(aapl.locator("td.last")).toHaveText(price.toFixed(2));
  }

  await control("/symbols/AAPL/halt");
  await expect(aapl.getByTestId("session-badge")).toHaveText("Halted");
  await control("/symbols/AAPL/resume");
  await expect(aapl.getByTestId("session-badge")).toHaveCount(0);
});
