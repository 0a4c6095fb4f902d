import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { OnceStore } from "../src/once-store.ts";

const dir = mkdtempSync(join(tmpdir(), "kit-once-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the once store", () => {
  it("stores an item the first time and reports a duplicate ever after, keeping the first", () => {
    const a = new OnceStore(dir);
    const b = new OnceStore(dir); // another process would see the same
    expect(a.put("dev-1", "7", '{"n":1}')).toBe("stored");
    expect(b.put("dev-1", "7", '{"n":2}')).toBe("duplicate");
    expect(readFileSync(join(dir, "dev-1", "7.json"), "utf8")).toBe('{"n":1}');
    expect(a.put("dev-1", "8", "{}")).toBe("stored");
    expect(a.keys("dev-1").sort()).toEqual(["7", "8"]);
    expect(a.keys("nobody")).toEqual([]);
    expect(readdirSync(join(dir, "dev-1")).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  it("refuses names that are not plain file names", () => {
    const s = new OnceStore(dir);
    for (const [group, key] of [
      ["..", "x"],
      ["g", "../x"],
      ["g", ".hidden"],
      ["g/h", "x"],
    ])
      expect(() => s.put(group as string, key as string, "")).toThrow(/bad store name/);
  });
});
