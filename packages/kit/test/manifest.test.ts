import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cleanLabData } from "../src/clean.ts";
import { instanceName, ManifestError, planInstances, readManifest } from "../src/manifest.ts";
import { userPath } from "../src/paths.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A lab folder in a temp dir with this "lab" manifest and a cmd file. */
function labDir(lab: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), "zlabs-manifest-"));
  dirs.push(dir);
  mkdirSync(join(dir, "cmd"));
  writeFileSync(join(dir, "cmd", "r.ts"), "");
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "lab99", lab }));
  return dir;
}

const role = (extra: Record<string, unknown> = {}) => ({ cmd: "cmd/r.ts", ...extra });

describe("the lab manifest", () => {
  it("plans the demo's instances: count of each role, numbered when more than one, main roles last", () => {
    const lab = readManifest(
      labDir({ roles: { client: role({ main: true }), worker: role({ count: 2, scalable: true, max: 4 }), broker: role() } }),
    );
    expect(planInstances(lab).map((p) => `${p.name}#${p.n}`)).toEqual(["worker-1#1", "worker-2#2", "broker#1", "client#1"]);
    expect(instanceName("broker", 2, 1)).toBe("broker-2");
  });

  it("refuses a bad scalable, a max below the count, and data outside the lab folder", () => {
    expect(() => readManifest(labDir({ roles: { w: role({ scalable: "yes" }) } }))).toThrow(ManifestError);
    expect(() => readManifest(labDir({ roles: { w: role({ count: 3, max: 2 }) } }))).toThrow(/"max"/);
    for (const bad of ["../x", "/tmp", ".", "", "a/../../b", 5]) {
      expect(() => readManifest(labDir({ data: [bad], roles: {} })), String(bad)).toThrow(/"data"/);
    }
    expect(readManifest(labDir({ roles: {} })).data).toEqual([]);
  });
});

describe("./run.sh clean", () => {
  it("removes each lab's data folders and nothing else", () => {
    const dir = labDir({ data: [".store", "out/tmp"], roles: {} });
    mkdirSync(join(dir, ".store", "events"), { recursive: true });
    writeFileSync(join(dir, ".store", "events", "a.ndjson"), "x".repeat(1000));
    const removed = cleanLabData([readManifest(dir)]);
    expect(removed).toEqual([{ path: join(dir, ".store"), bytes: 1000 }]);
    expect(cleanLabData([readManifest(dir)])).toEqual([]);
    expect(readManifest(dir).name).toBe("lab99");
  });
});

describe("userPath", () => {
  it("resolves a relative path against where the user ran the command, and leaves an absolute one", () => {
    expect(userPath("x/y.bin", { ZLABS_USER_CWD: "/home/me" })).toBe("/home/me/x/y.bin");
    expect(userPath("/abs", { ZLABS_USER_CWD: "/home/me" })).toBe("/abs");
    expect(userPath("y", {})).toBe(join(process.cwd(), "y"));
    // A role run by its pnpm script: pnpm says where the user was; a test run by pnpm keeps its folder.
    expect(userPath("y", { INIT_CWD: "/home/me", npm_lifecycle_event: "upload-service" })).toBe("/home/me/y");
    expect(userPath("y", { INIT_CWD: "/home/me", npm_lifecycle_event: "test" })).toBe(join(process.cwd(), "y"));
    expect(userPath("y", { INIT_CWD: "/home/me", npm_lifecycle_event: "x", ZLABS_USER_CWD: "/there" })).toBe("/there/y");
  });
});
