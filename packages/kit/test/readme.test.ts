// The root README's lab index must say what the repository holds today.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { CATALOG } from "../src/catalog.ts";
import { findRepoRoot, listLabs } from "../src/manifest.ts";

const root = findRepoRoot(fileURLToPath(import.meta.url));

function indexRows(): Map<string, string> {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const rows = new Map<string, string>();
  for (const line of readme.split("\n")) {
    const cells = line.split("|").map((c) => c.trim());
    if (/^\d\d$/.test(cells[1] ?? "")) rows.set(`lab${cells[1]}`, cells[6] ?? "");
  }
  return rows;
}

describe("the root README's lab index", () => {
  it("lists every lab of the catalog once", () => {
    expect([...indexRows().keys()]).toEqual(CATALOG.map((e) => e.folder.slice(0, 5)));
  });

  it("marks ready exactly the labs whose manifest has roles", () => {
    const ready = listLabs(root)
      .filter((l) => Object.keys(l.roles).length > 0)
      .map((l) => l.name);
    const marked = [...indexRows()].filter(([, status]) => status === "ready").map(([lab]) => lab);
    expect(marked).toEqual(ready);
  });
});
