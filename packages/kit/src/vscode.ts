import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { type LabManifest, type PlannedInstance, planInstances } from "./manifest.ts";
import { expandArgs } from "./orchestrator.ts";
import { TSX_NODE_ARGS } from "./spawn-role.ts";

export const LAUNCH_JSON = ".vscode/launch.json";
/** The launcher "Debug current test file" runs: vitest in the package of the file, as `pnpm test` would. */
export const TEST_FILE_RUNNER = "packages/kit/bin/test-file.mjs";

interface LaunchConfig {
  name: string;
  [key: string]: unknown;
}

/** The launch configuration's name of one instance: "lab01 rack1-agent-2". */
export function configName(lab: LabManifest, instance: string): string {
  return `${lab.name} ${instance}`;
}

/** One process as the demo starts it: same file, flags (with {n} and {name} expanded), env and folder. */
function instanceConfig(root: string, lab: LabManifest, inst: PlannedInstance, order: number): LaunchConfig {
  const folder = `\${workspaceFolder}/${relative(root, lab.dir).split("\\").join("/")}`;
  return {
    name: configName(lab, inst.name),
    type: "node",
    request: "launch",
    runtimeExecutable: "node",
    runtimeArgs: [...TSX_NODE_ARGS],
    program: `${folder}/${inst.spec.cmd}`,
    args: expandArgs(inst.spec.args ?? [], inst.n, inst.name),
    cwd: folder,
    env: { ...inst.spec.env, ZLABS_INSTANCE: inst.name },
    console: "integratedTerminal",
    skipFiles: ["<node_internals>/**"],
    presentation: { group: lab.name, order },
  };
}

/**
 * Every lab's demo as launch configurations: one per process the demo starts (a role with
 * "count": 3 gets three, with their own {n} and {name}), and a compound that starts them all,
 * as `./run.sh labNN` does. A role the demo starts no instance of ("count": 0) still gets one
 * configuration, to run it alone.
 */
export function generateLaunchJson(root: string, labs: LabManifest[]): string {
  const configurations: LaunchConfig[] = [];
  const compounds: LaunchConfig[] = [];
  // A lab still being written (no roles yet) gets no compound: VS Code rejects an empty one.
  for (const lab of labs.filter((l) => Object.keys(l.roles).length > 0)) {
    const planned = planInstances(lab);
    const unplanned = Object.entries(lab.roles)
      .filter(([role]) => !planned.some((p) => p.role === role))
      .map(([role, spec]) => ({ name: role, role, n: 1, spec }));
    [...planned, ...unplanned].forEach((inst, i) => {
      configurations.push(instanceConfig(root, lab, inst, i + 1));
    });
    compounds.push({
      name: `${lab.name}: ${lab.title} (all roles)`,
      configurations: planned.map((p) => configName(lab, p.name)),
      stopAll: true,
      presentation: { group: lab.name, order: 0 },
    });
  }
  configurations.push({
    name: "Debug current test file",
    type: "node",
    request: "launch",
    runtimeExecutable: "node",
    program: `\${workspaceFolder}/${TEST_FILE_RUNNER}`,
    args: ["${file}"],
    cwd: "${workspaceFolder}",
    autoAttachChildProcesses: true,
    smartStep: true,
    console: "integratedTerminal",
    skipFiles: ["<node_internals>/**", "**/node_modules/**"],
    presentation: { group: "tests" },
  });
  const doc = {
    "//": "Generated from the labs' manifests by `./run.sh vscode`; edit the manifests, not this file.",
    version: "0.2.0",
    configurations,
    compounds,
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

export function launchJsonIsCurrent(root: string, labs: LabManifest[]): boolean {
  const file = join(root, LAUNCH_JSON);
  return existsSync(file) && readFileSync(file, "utf8") === generateLaunchJson(root, labs);
}

export function writeLaunchJson(root: string, labs: LabManifest[]): void {
  writeFileSync(join(root, LAUNCH_JSON), generateLaunchJson(root, labs));
}
