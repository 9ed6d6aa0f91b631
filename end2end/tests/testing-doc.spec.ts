import { expect, test } from "@playwright/test";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";

// docs/testing.md shows example.spec.ts in full; the copy must not drift
// from the file this suite runs.
test("docs/testing.md holds example.spec.ts exactly", () => {
  const doc = readFileSync(resolve(__dirname, "../../docs/testing.md"), "utf8");
  const example = readFileSync(resolve(__dirname, "example.spec.ts"), "utf8");
  const blocks = [...doc.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
  expect(blocks.some((block) => block.includes("test.beforeAll")), "the doc shows the example").toBe(true);
  expect(blocks).toContain(example);
});
