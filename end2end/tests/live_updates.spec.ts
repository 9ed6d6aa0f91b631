import { expect, test } from "@playwright/test";
import { startServer, type Server } from "./server";
import { expectPricesToMove } from "./page";
import { frameReader } from "./wire";

let server: Server;

test.beforeAll(async () => {
  server = await startServer(["--seed", "5"]);
});

test.afterAll(async () => {
  await server?.stop();
});

test("a seq gap makes the page resync and stay live", async ({ page }) => {
  const sent: string[] = [];
  let dropped: number | undefined;
  let snapshotsAfterDrop = 0;
  await page.routeWebSocket(/\/ws$/, (ws) => {
    const upstream = ws.connectToServer();
    const read = frameReader();
    upstream.onMessage((message) => {
      const msg = read(message);
      if (dropped === undefined && msg.type === "diff" && msg.seq >= 4) {
        dropped = msg.seq; // lose one diff on the way: a gap
        return;
      }
      if (dropped !== undefined && msg.type === "snapshot") snapshotsAfterDrop++;
      ws.send(message);
    });
    ws.onMessage((message) => {
      sent.push(JSON.parse(String(message)).op);
      upstream.send(message);
    });
  });
  await page.goto(server.url);
  await expect(page.getByTestId("connection")).toHaveText("Live");
  await expect.poll(() => sent.filter((op) => op === "resync").length).toBe(1);
  await expect.poll(() => snapshotsAfterDrop).toBe(1);
  expect(sent[0]).toBe("subscribe");
  // Still live and updating after the resync.
  await expect(page.getByTestId("connection")).toHaveText("Live");
  await expectPricesToMove(page);
});

test("updates rewrite only changed text: no row or cell is ever re-created", async ({ page }) => {
  await page.goto(server.url);
  await expect(page.getByTestId("connection")).toHaveText("Live");
  const report = await page.evaluate(async () => {
    const tbody = document.querySelector("table.quotes tbody")!;
    const records: MutationRecord[] = [];
    const observer = new MutationObserver((batch) => records.push(...batch));
    observer.observe(tbody, { subtree: true, childList: true, characterData: true, characterDataOldValue: true });
    await new Promise((r) => setTimeout(r, 3000));
    observer.disconnect();
    const cellOf = (node: Node) => (node.parentElement?.closest("td,th") as HTMLElement | null)?.className ?? "?";
    const text = records.filter((r) => r.type === "characterData");
    // A write's new value is the next write's old value, or the final text.
    const newValue = (i: number) => {
      const later = text.slice(i + 1).find((r) => r.target === text[i].target);
      return later ? later.oldValue : text[i].target.textContent;
    };
    return {
      structural: records.filter((r) => r.type === "childList").length,
      textWrites: text.length,
      unchangedWrites: text.filter((r, i) => r.oldValue === newValue(i)).map((r) => cellOf(r.target)),
      touchedColumns: [...new Set(text.map((r) => cellOf(r.target).split(" ")[1] ?? cellOf(r.target)))].sort(),
    };
  });
  expect(report.structural).toBe(0);
  expect(report.textWrites).toBeGreaterThan(20);
  expect(report.unchangedWrites).toEqual([]);
  expect(report.touchedColumns).not.toContain("name");
  expect(report.touchedColumns).not.toContain("sym");
});
