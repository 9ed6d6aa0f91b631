// The access token and TLS, in a real browser.

import { expect, test } from "@playwright/test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import selfsigned from "selfsigned";
import { startServer } from "./server";

test("the page needs the token once, then remembers it", async ({ page }) => {
  const server = await startServer(["--auth-token", "s3cr3t-t0ken"]);
  try {
    const refused = await page.goto(server.url);
    expect(refused?.status()).toBe(401);
    await expect(page.locator("h1")).toHaveText("Access token required");

    await page.goto(`${server.url}/?symbol=MSFT&token=s3cr3t-t0ken`);
    await expect(page).toHaveURL(`${server.url}/?symbol=MSFT`); // the token left the address bar
    await expect(page.getByTestId("connection")).toHaveText("Live");
    await expect(page.getByTestId("chart-symbol")).toHaveText("MSFT");
    const cookies = await page.context().cookies();
    const cookie = cookies.find((c) => c.name === "tickertape_token");
    expect(cookie?.httpOnly).toBe(true);
    expect(cookie?.sameSite).toBe("Strict");

    await page.reload();
    await expect(page.getByTestId("connection")).toHaveText("Live");
  } finally {
    await server.stop();
  }
});

test.describe("over TLS", () => {
  test.use({ ignoreHTTPSErrors: true });

  test("the page is served over https and goes live over wss", async ({ page }) => {
    const dir = mkdtempSync(join(tmpdir(), "tickertape-tls-"));
    const pems = await selfsigned.generate([{ name: "commonName", value: "127.0.0.1" }], {
      days: 2,
      keySize: 2048,
      extensions: [{ name: "subjectAltName", altNames: [{ type: 7, ip: "127.0.0.1" }] }],
    });
    writeFileSync(join(dir, "cert.pem"), pems.cert);
    writeFileSync(join(dir, "key.pem"), pems.private);
    const server = await startServer(["--tls-cert", join(dir, "cert.pem"), "--tls-key", join(dir, "key.pem")], { tls: true });
    try {
      const sockets: string[] = [];
      page.on("websocket", (ws) => sockets.push(ws.url()));
      await page.goto(server.url);
      expect(page.url()).toMatch(/^https:/);
      await expect(page.getByTestId("connection")).toHaveText("Live");
      expect(sockets[0]).toMatch(/^wss:\/\/127\.0\.0\.1:\d+\/ws$/);
    } finally {
      await server.stop();
    }
  });
});
