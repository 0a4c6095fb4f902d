#!/usr/bin/env node
// The bootstrap run.sh and run.ps1 share: make sure the dependencies are installed, finding or
// installing pnpm when (and only when) an install is needed. Plain JavaScript with no dependency,
// so it runs before anything is installed. It says one line per step on stderr (stdout stays the
// command's own), and never waits on a prompt: every child gets no stdin, corepack is told not to
// ask, and a pnpm that does not answer within PROBE_TIMEOUT_MS is passed over.
//
//   node packages/kit/bin/bootstrap.mjs run.sh            install if something changed
//   node packages/kit/bin/bootstrap.mjs run.sh --force    install anyway (`./run.sh install`)
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const PROBE_TIMEOUT_MS = Number(process.env.ZLABS_PNPM_PROBE_MS) || 20_000;
const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const [who = "bootstrap", ...flags] = process.argv.slice(2);
const force = flags.includes("--force");
const ci = process.env.CI === "true";
const win = process.platform === "win32";
const say = (message) => process.stderr.write(`${who}: ${message}\n`);
const die = (message) => {
  say(message);
  process.exit(1);
};

const stamp = join(root, "node_modules", ".zlabs-installed");
const pnpmVersion = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).packageManager.split("@")[1];
const privatePnpm = join(root, ".tools", "pnpm", "node_modules", "pnpm", "bin", "pnpm.cjs");
// No corepack download prompt anywhere below: corepack downloads or fails, it never asks.
const env = { ...process.env, COREPACK_ENABLE_DOWNLOAD_PROMPT: "0" };

/** The package.json files and the lockfile: an install is due when one is newer than the stamp. */
function installInputs() {
  const files = [join(root, "pnpm-lock.yaml"), join(root, "package.json")];
  for (const group of ["labs", "packages"]) {
    const dir = join(root, group);
    if (!existsSync(dir)) continue;
    for (const d of readdirSync(dir)) files.push(join(dir, d, "package.json"));
  }
  return files.filter((f) => existsSync(f));
}

function installReason() {
  if (force) return "asked to";
  if (ci) return "CI";
  if (!existsSync(stamp)) return "first run";
  const since = statSync(stamp).mtimeMs;
  const changed = installInputs().find((f) => statSync(f).mtimeMs > since);
  return changed ? `${changed.slice(root.length + 1)} changed` : undefined;
}

/** Runs a command with no stdin (nothing can prompt), its output on our stderr. */
function run(command, args, options = {}) {
  return spawnSync(command, args, { cwd: root, env, stdio: ["ignore", 2, 2], shell: win, ...options });
}

/** "10.34.8" when `command --version` answers in time with pnpm 10 or newer, else undefined. */
function probe(command, args) {
  const r = spawnSync(command, [...args, "--version"], {
    cwd: root,
    env,
    stdio: ["ignore", "pipe", "pipe"],
    timeout: PROBE_TIMEOUT_MS,
    shell: win,
    encoding: "utf8",
  });
  const version = r.status === 0 ? r.stdout.trim().split("\n").pop() : "";
  return Number(version?.split(".")[0]) >= 10 ? version : undefined;
}

/** The pnpm to install with: the private copy, else one on PATH that answers, else a new private copy. */
function findPnpm() {
  if (existsSync(privatePnpm)) {
    say(`pnpm: the private copy in .tools/pnpm`);
    return [process.execPath, [privatePnpm]];
  }
  say(`pnpm: asking the pnpm on PATH for its version (no prompt, at most ${PROBE_TIMEOUT_MS / 1000} s)`);
  const onPath = probe("pnpm", []);
  if (onPath) {
    say(`pnpm: ${onPath} on PATH`);
    return ["pnpm", []];
  }
  say(`pnpm: none usable on PATH; installing pnpm ${pnpmVersion} into .tools/pnpm with npm (once)`);
  mkdirSync(join(root, ".tools", "pnpm"), { recursive: true });
  const r = run("npm", ["install", "--prefix", ".tools/pnpm", "--no-audit", "--no-fund", "--loglevel=error", `pnpm@${pnpmVersion}`]);
  if (r.status !== 0 || !existsSync(privatePnpm)) die(`could not install pnpm with npm (${r.error?.message ?? `exit ${r.status}`})`);
  return [process.execPath, [privatePnpm]];
}

const reason = installReason();
if (!reason) {
  say("dependencies: up to date");
  process.exit(0);
}
const [pnpm, pre] = findPnpm();
say(`dependencies: installing (${reason})${ci ? " from the frozen lockfile" : ""}`);
const r = run(pnpm, [...pre, "install", ...(ci ? ["--frozen-lockfile"] : [])], { shell: win && pnpm === "pnpm" });
if (r.status !== 0) die(`pnpm install failed (${r.error?.message ?? `exit ${r.status}`})`);
mkdirSync(dirname(stamp), { recursive: true });
writeFileSync(stamp, "");
say("dependencies: installed");
