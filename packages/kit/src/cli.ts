import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { delimiter, join, relative } from "node:path";
import { CATALOG } from "./catalog.ts";
import { cleanLabData, humanBytes } from "./clean.ts";
import { KEY_HELP, KeyController } from "./keys.ts";
import { findLab, findRepoRoot, type LabManifest, listLabs, readManifest } from "./manifest.ts";
import { Orchestrator } from "./orchestrator.ts";
import { USER_CWD_ENV, userCwd } from "./paths.ts";
import { DemoScreen } from "./screen.ts";
import { roleNodeArgs, spawnRole } from "./spawn-role.ts";
import { launchJsonIsCurrent, writeLaunchJson } from "./vscode.ts";

const USAGE = `zmq-labs — run and test the labs

  run.sh list                  the lab index (ready and planned labs)
  run.sh labNN                 the lab's whole demo: live views above the roles' events, keys to break it
  run.sh labNN --json          the demo as JSON lines, each prefixed with its role (what a pipe gets anyway)
  run.sh labNN --snapshot S    run the demo S seconds, print its screen as text, stop (for READMEs)
  run.sh labNN ROLE [flags]    one role alone, in the foreground (ROLE --help for its flags)
  run.sh clean [labNN]         delete the demos' data (each lab's "data" folders, like .store)
  run.sh test                  typecheck, lint and every test (what CI runs)
  run.sh vscode [--check]      regenerate .vscode/launch.json from the manifests (or check it)
  run.sh install               install pnpm (if needed) and the dependencies, nothing else
  run.sh help                  this text

Inside a lab folder, \`pnpm start\` runs its demo; from anywhere, \`pnpm --filter labNN start\`.
On a terminal the demo takes keys: ${KEY_HELP}.
Relative paths in a role's flags are relative to the folder you run run.sh in.`;

/** The folder the user ran the command in (run.sh and run.ps1 set it before changing folder). */
const USER_CWD = userCwd();
// Only the role the user starts by hand gets it; tests and demos resolve against the lab folder.
delete process.env[USER_CWD_ENV];

function fail(message: string, code = 2): never {
  process.stderr.write(`zlabs: ${message}\n`);
  process.exit(code);
}

function printIndex(root: string): void {
  const ready = new Map(listLabs(root).map((l) => [l.folder, l]));
  const rows = CATALOG.map((entry) => {
    const found = ready.get(entry.folder);
    const lab = found && Object.keys(found.roles).length > 0 ? found : undefined;
    const roles = lab ? Object.keys(lab.roles) : entry.roles;
    return [entry.folder.slice(0, 5), entry.folder.slice(6), lab ? "ready" : "planned", lab?.pattern ?? entry.pattern, roles.join(", ")];
  });
  const widths = [0, 1, 2, 3].map((c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  for (const row of rows) process.stdout.write(`${row.map((cell, c) => (c < 4 ? cell.padEnd(widths[c] ?? 0) : cell)).join("  ")}\n`);
  process.stdout.write(`\nRun one: ./run.sh lab01   (or: pnpm --filter lab01 start)\n`);
}

interface DemoFlags {
  json: boolean;
  snapshotS: number | undefined;
}

function demoFlags(args: string[]): DemoFlags {
  const flags: DemoFlags = { json: false, snapshotS: undefined };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--json") flags.json = true;
    else if (a === "--snapshot") {
      const s = Number(args[++i]);
      if (!(s > 0)) fail("--snapshot needs a number of seconds, like --snapshot 8");
      flags.snapshotS = s;
    } else fail(`unknown demo flag "${a}"; the demo takes --json or --snapshot SECONDS (\`./run.sh help\`)`);
  }
  return flags;
}

/** Runs the demo for a while off screen, then prints the screen a person would have seen, as text. */
async function snapshotDemo(lab: LabManifest, seconds: number): Promise<never> {
  const size = { columns: Number(process.env.COLUMNS) || 110, rows: Number(process.env.LINES) || 34 };
  const screen = new DemoScreen({ write: () => true, isTTY: true, ...size });
  screen.setHelp(`keys: ${KEY_HELP}`);
  const orchestrator = new Orchestrator(lab, { screen });
  process.on("exit", () => orchestrator.killAll());
  const done = orchestrator.start();
  const timer = setTimeout(() => {
    process.stdout.write(`${screen.snapshot()}\n`);
    void orchestrator.stop("snapshot taken");
  }, seconds * 1000);
  const code = await done;
  clearTimeout(timer);
  process.exit(code);
}

async function runDemo(lab: LabManifest, flags: DemoFlags = { json: false, snapshotS: undefined }): Promise<never> {
  if (flags.snapshotS !== undefined) return snapshotDemo(lab, flags.snapshotS);
  const onTerminal = Boolean(process.stdout.isTTY);
  const interactive = Boolean(process.stdin.isTTY && onTerminal);
  const color = onTerminal && !process.env.NO_COLOR;
  const screen = onTerminal && !flags.json ? new DemoScreen(process.stdout, { color }) : undefined;
  const orchestrator = new Orchestrator(lab, { color, childLogFormat: "json", screen });
  if (screen) {
    screen.setHelp(interactive ? `keys: ${KEY_HELP}` : "Ctrl-C stops the demo");
    screen.start();
    process.on("exit", () => screen.close());
  }
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      orchestrator.killAll();
      process.exit(130);
    }
    void orchestrator.stop(signal);
  };
  for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(s, onSignal);
  process.on("exit", () => orchestrator.killAll());
  if (interactive) {
    const keys = new KeyController(orchestrator);
    process.stdin.setRawMode(true);
    process.stdin.setEncoding("utf8");
    process.stdin.on("data", (data: string) => {
      for (const key of data) keys.press(key);
    });
    if (!screen) orchestrator.say(`keys: ${KEY_HELP}`);
  }
  const code = await orchestrator.start();
  if (interactive) process.stdin.setRawMode(false);
  screen?.close();
  process.exit(code);
}

/** A role of the manifest ("rack1-agent": its cmd, not its demo flags) or a cmd/ file by name ("monitor-agent"). */
function cmdFor(lab: LabManifest, role: string): string | undefined {
  const file = lab.roles[role]?.cmd ?? `cmd/${role}.ts`;
  return existsSync(join(lab.dir, file)) ? file : undefined;
}

function runRole(lab: LabManifest, role: string, args: string[]): void {
  const cmd = cmdFor(lab, role);
  if (!cmd) {
    const cmds = readdirSync(join(lab.dir, "cmd")).map((f) => f.replace(/\.ts$/, ""));
    fail(`${lab.name} has no role "${role}"; try one of: ${[...new Set([...cmds, ...Object.keys(lab.roles)])].join(", ")}`);
  }
  const env = { ...process.env, [USER_CWD_ENV]: USER_CWD };
  const child = spawnRole(join(lab.dir, cmd), args, { cwd: lab.dir, stdio: "inherit", env });
  // The terminal's Ctrl-C reaches the role directly (same process group); we only wait for it.
  for (const s of ["SIGINT", "SIGHUP"] as const) process.on(s, () => {});
  process.on("SIGTERM", () => child.kill("SIGTERM"));
  child.on("exit", (code, signal) => process.exit(code ?? (signal ? 128 + 9 : 1)));
}

function run(command: string, args: string[], root: string): Promise<number> {
  const env = { ...process.env, PATH: `${join(root, "node_modules", ".bin")}${delimiter}${process.env.PATH ?? ""}` };
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, stdio: "inherit", env, shell: process.platform === "win32" });
    child.on("error", (err) => {
      process.stderr.write(`zlabs: cannot run ${command}: ${err.message}\n`);
      resolve(127);
    });
    child.on("exit", (code) => resolve(code ?? 1));
  });
}

interface VitestReport {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  testResults: { status: string; assertionResults: unknown[] }[];
}

/** typecheck, lint, every test; ends with "N passed, N failed" (a failed step counts as one failure). */
async function runChecks(root: string): Promise<number> {
  const outDir = join(root, ".ci", "out");
  mkdirSync(outDir, { recursive: true });
  const report = join(outDir, "vitest.json");
  const steps: [string, string, string[]][] = [
    ["typecheck", "tsc", ["-p", "tsconfig.json"]],
    ["lint", "biome", ["check", "--error-on-warnings", "."]],
    ["launch.json", process.execPath, roleNodeArgs(join(root, "packages/kit/src/cli.ts"), ["vscode", "--check"])],
  ];
  let failedSteps = 0;
  for (const [name, command, args] of steps) {
    process.stdout.write(`\n== ${name}\n`);
    const code = await run(command, args, root);
    process.stdout.write(`== ${name}: ${code === 0 ? "ok" : `FAILED (exit ${code})`}\n`);
    if (code !== 0) failedSteps += 1;
  }
  process.stdout.write("\n== tests\n");
  const testCode = await run("vitest", ["run", "--reporter=default", "--reporter=json", `--outputFile.json=${report}`], root);
  let passed = 0;
  let failed = failedSteps;
  let skipped = 0;
  if (existsSync(report)) {
    const r = JSON.parse(readFileSync(report, "utf8")) as VitestReport;
    passed = r.numPassedTests;
    skipped = r.numPendingTests + r.numTodoTests;
    const brokenFiles = r.testResults.filter((f) => f.status === "failed" && f.assertionResults.length === 0).length;
    failed += r.numFailedTests + brokenFiles;
  }
  if (testCode !== 0 && failed === 0) failed = 1;
  if (skipped) process.stdout.write(`\n${skipped} skipped (see the test output for why)\n`);
  process.stdout.write(`\n${passed} passed, ${failed} failed\n`);
  return failed === 0 ? 0 : 1;
}

/** Deletes the demo data every lab's manifest lists under "data". */
function clean(root: string, only: string | undefined): void {
  const labs = only ? [findLab(only, root) ?? fail(`no lab "${only}" to clean`)] : listLabs(root);
  const removed = cleanLabData(labs);
  for (const r of removed) process.stdout.write(`removed ${relative(root, r.path)} (${humanBytes(r.bytes)})\n`);
  if (removed.length === 0) process.stdout.write(`nothing to clean: no demo data on disk (${labs.map((l) => l.name).join(", ")})\n`);
}

/** "lab07" when it names a lab of the catalog that has no folder yet. */
function plannedLab(query: string): string | undefined {
  const m = /^(?:lab)?0*(\d{1,2})(?:-.*)?$/.exec(query);
  const entry = m ? CATALOG.find((e) => e.folder.startsWith(`lab${m[1]?.padStart(2, "0")}-`)) : undefined;
  return (
    entry &&
    `${entry.folder.slice(0, 5)} (${entry.title}: ${entry.pattern}) is planned, not in the repository yet; \`./run.sh list\` shows the ready labs`
  );
}

async function main(argv: string[]): Promise<void> {
  const [command = "help", ...rest] = argv;
  const root = findRepoRoot();
  switch (command) {
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(`${USAGE}\n`);
      return;
    case "list":
      printIndex(root);
      return;
    case "test":
      process.exit(await runChecks(root));
      break;
    case "vscode": {
      const labs = listLabs(root);
      if (rest.includes("--check")) {
        if (launchJsonIsCurrent(root, labs)) return;
        fail(".vscode/launch.json differs from the manifests; run `pnpm vscode` and commit it", 1);
      }
      writeLaunchJson(root, labs);
      process.stdout.write(".vscode/launch.json written\n");
      return;
    }
    case "clean":
      clean(root, rest[0]);
      return;
    case "install":
      // run.sh and run.ps1 did the installing before handing over.
      process.stdout.write("dependencies installed\n");
      return;
    case "start": {
      await runDemo(readManifest(process.cwd()), demoFlags(rest));
      break;
    }
    default: {
      const lab = findLab(command, root);
      if (!lab) {
        const planned = plannedLab(command);
        fail(planned ?? `unknown command or lab "${command}"; try \`./run.sh list\` or \`./run.sh help\``);
      }
      const [role, ...flags] = rest;
      if (role && !role.startsWith("--")) runRole(lab, role, flags);
      else await runDemo(lab, demoFlags(rest));
    }
  }
}

// `./run.sh list | head` closes the pipe early: that is not an error.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(0);
  throw err;
});

main(process.argv.slice(2)).catch((err: Error) => fail(err.message, 1));
