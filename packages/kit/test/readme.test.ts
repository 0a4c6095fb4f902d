// The root README's lab index must say what the repository holds today.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { CATALOG } from "../src/catalog.ts";
import { findRepoRoot, listLabs } from "../src/manifest.ts";

const root = findRepoRoot(fileURLToPath(import.meta.url));

/** The index's cells for each lab: lab01 -> [..., roles, status]. */
function indexCells(): Map<string, string[]> {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const rows = new Map<string, string[]>();
  for (const line of readme.split("\n")) {
    const cells = line.split("|").map((c) => c.trim());
    if (/^\d\d$/.test(cells[1] ?? "")) rows.set(`lab${cells[1]}`, cells);
  }
  return rows;
}

function indexRows(): Map<string, string> {
  return new Map([...indexCells()].map(([lab, cells]) => [lab, cells[6] ?? ""]));
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

  it("names a ready lab's roles as its manifest does, the names ./run.sh list prints and ./run.sh labNN ROLE takes", () => {
    const cells = indexCells();
    for (const lab of listLabs(root).filter((l) => Object.keys(l.roles).length > 0)) {
      const listed = (cells.get(lab.name)?.[5] ?? "").split(",").map((r) => r.trim().replace(/`/g, ""));
      expect(listed, lab.name).toEqual(Object.keys(lab.roles));
    }
  });
});
