#!/usr/bin/env node
// Runs vitest on one test file in the package (lab or kit) that holds it, from that package's
// folder, exactly as `pnpm test` there would: VS Code's "Debug current test file" runs this.
//   node packages/kit/bin/test-file.mjs labs/lab01-heartbeat/test/liveness.test.ts
// Given a folder, or a file that is not a test, it runs the whole package's tests.
import { existsSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const given = process.argv[2];
if (!given) {
  console.error("usage: test-file.mjs <file in a lab or the kit>");
  process.exit(2);
}
const file = resolve(given);
let dir = existsSync(file) && statSync(file).isDirectory() ? file : dirname(file);
while (!existsSync(join(dir, "vitest.config.ts"))) {
  const parent = dirname(dir);
  if (parent === dir) {
    console.error(`test-file: ${given} is not inside a lab or the kit (no vitest.config.ts above it)`);
    process.exit(2);
  }
  dir = parent;
}
const isTest = /\.test\.[cm]?[jt]s$/.test(file);
process.chdir(dir);
const vitestPkg = createRequire(join(dir, "package.json")).resolve("vitest/package.json");
process.argv = [process.argv[0], "vitest", "run", ...(isTest ? [relative(dir, file).split("\\").join("/")] : [])];
console.error(`test-file: vitest run ${process.argv.slice(3).join(" ") || "(every test)"} in ${relative(process.cwd(), dir) || "."}`);
await import(pathToFileURL(join(dirname(vitestPkg), "vitest.mjs")).href);
