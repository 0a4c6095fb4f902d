// run.sh and run.ps1's bootstrap, run as a real process in a copy of the repository's skeleton,
// with stand-ins for pnpm and npm: it says each step, and never waits on a prompt.
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { ProcessPool } from "../src/testing/index.ts";

const bootstrap = fileURLToPath(new URL("../bin/bootstrap.mjs", import.meta.url));
const procs = new ProcessPool();
const dirs: string[] = [];
afterEach(async () => {
  await procs.stopAll();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A repository skeleton: package.json, lockfile, the bootstrap; a bin folder for fake tools. */
function skeleton() {
  const root = mkdtempSync(join(tmpdir(), "zlabs-bootstrap-"));
  dirs.push(root);
  mkdirSync(join(root, "packages", "kit", "bin"), { recursive: true });
  copyFileSync(bootstrap, join(root, "packages", "kit", "bin", "bootstrap.mjs"));
  writeFileSync(join(root, "package.json"), JSON.stringify({ name: "x", packageManager: "pnpm@10.34.8" }));
  writeFileSync(join(root, "pnpm-lock.yaml"), "lockfileVersion: '9.0'\n");
  const bin = join(root, "fakebin");
  mkdirSync(bin);
  const log = join(root, "calls.log");
  /** A fake command on PATH: a shell script. */
  const tool = (name: string, body: string) => {
    writeFileSync(join(bin, name), `#!/bin/sh\necho "${name} $*" >> "${log}"\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  };
  /** The private pnpm under .tools: records its arguments and whether it had a stdin to read. */
  const privatePnpm = `const fs = require("node:fs"); let stdin = "none"; try { stdin = String(fs.readFileSync(0)).length === 0 ? "empty" : "data"; } catch {} fs.appendFileSync(${JSON.stringify(log)}, "private-pnpm " + process.argv.slice(2).join(" ") + " stdin=" + stdin + "\\n");`;
  const installPrivate = () => {
    mkdirSync(join(root, ".tools", "pnpm", "node_modules", "pnpm", "bin"), { recursive: true });
    writeFileSync(join(root, ".tools", "pnpm", "node_modules", "pnpm", "bin", "pnpm.cjs"), privatePnpm);
  };
  const run = (args: string[] = []) =>
    procs.start({
      labDir: root,
      cmd: join(root, "packages", "kit", "bin", "bootstrap.mjs"),
      nodeArgs: [],
      args: ["run.sh", ...args],
      env: { PATH: `${bin}${delimiter}${process.env.PATH}`, ZLABS_PNPM_PROBE_MS: "1500", CI: "" },
    });
  const calls = () => (existsSync(log) ? readFileSync(log, "utf8").trim().split("\n") : []);
  return { root, tool, installPrivate, privatePnpm, run, calls };
}

describe.skipIf(process.platform === "win32")("the run.sh / run.ps1 bootstrap", () => {
  it("does nothing but say so when the dependencies are up to date", async () => {
    const s = skeleton();
    s.tool("pnpm", "exit 1");
    mkdirSync(join(s.root, "node_modules"));
    writeFileSync(join(s.root, "node_modules", ".zlabs-installed"), "");
    const past = new Date(Date.now() - 60_000);
    for (const f of ["package.json", "pnpm-lock.yaml"]) utimesSync(join(s.root, f), past, past);
    const p = s.run();
    expect(await p.exited).toEqual({ code: 0, signal: null });
    expect(p.lines).toEqual(["run.sh: dependencies: up to date"]);
    expect(s.calls()).toEqual([]);
  });

  it("installs with the private copy in .tools first, with no stdin, and says each step", async () => {
    const s = skeleton();
    s.installPrivate();
    const p = s.run();
    expect(await p.exited).toEqual({ code: 0, signal: null });
    expect(p.lines).toEqual([
      "run.sh: pnpm: the private copy in .tools/pnpm",
      "run.sh: dependencies: installing (first run)",
      "run.sh: dependencies: installed",
    ]);
    expect(s.calls()).toEqual(["private-pnpm install stdin=empty"]);
    expect(existsSync(join(s.root, "node_modules", ".zlabs-installed"))).toBe(true);
  });

  it("passes over a pnpm on PATH that waits on a prompt, and installs a private copy with npm", async () => {
    const s = skeleton();
    // corepack's shim asking "Do you want to continue? [Y/n]" and then hanging
    s.tool("pnpm", 'echo "Corepack is about to download pnpm. Continue? [Y/n]" >&2\nread answer\nexec sleep 60');
    s.tool(
      "npm",
      `mkdir -p .tools/pnpm/node_modules/pnpm/bin && printf '%s' '${s.privatePnpm.replaceAll("'", "'\\''")}' > .tools/pnpm/node_modules/pnpm/bin/pnpm.cjs`,
    );
    mkdirSync(join(s.root, "node_modules"));
    const p = s.run(["--force"]);
    expect(await p.exited).toEqual({ code: 0, signal: null });
    expect(p.lines).toEqual([
      "run.sh: pnpm: asking the pnpm on PATH for its version (no prompt, at most 1.5 s)",
      "run.sh: pnpm: none usable on PATH; installing pnpm 10.34.8 into .tools/pnpm with npm (once)",
      "run.sh: dependencies: installing (asked to)",
      "run.sh: dependencies: installed",
    ]);
    expect(s.calls()).toEqual([
      "pnpm --version",
      "npm install --prefix .tools/pnpm --no-audit --no-fund --loglevel=error pnpm@10.34.8",
      "private-pnpm install stdin=empty",
    ]);
  });

  it("uses a pnpm 10 on PATH that answers", async () => {
    const s = skeleton();
    s.tool("pnpm", 'if [ "$1" = "--version" ]; then echo 10.34.8; fi');
    const p = s.run();
    expect(await p.exited).toEqual({ code: 0, signal: null });
    expect(p.lines).toContain("run.sh: pnpm: 10.34.8 on PATH");
    expect(s.calls()).toEqual(["pnpm --version", "pnpm install"]);
  });
});
