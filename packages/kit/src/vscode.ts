import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import type { LabManifest } from "./manifest.ts";
import { expandArgs } from "./orchestrator.ts";

export const LAUNCH_JSON = ".vscode/launch.json";

interface LaunchConfig {
  name: string;
  [key: string]: unknown;
}

/** Role configurations run one instance each; "{n}" in args becomes 1. */
function roleConfig(root: string, lab: LabManifest, role: string, order: number): LaunchConfig {
  const spec = lab.roles[role];
  const folder = `\${workspaceFolder}/${relative(root, lab.dir).split("\\").join("/")}`;
  const config: LaunchConfig = {
    name: `${lab.name} ${role}`,
    type: "node",
    request: "launch",
    runtimeExecutable: "node",
    runtimeArgs: ["--import", "tsx"],
    program: `${folder}/${spec?.cmd}`,
    args: expandArgs(spec?.args ?? [], 1, role),
    cwd: folder,
    console: "integratedTerminal",
    skipFiles: ["<node_internals>/**"],
    presentation: { group: lab.name, order },
  };
  if (spec?.env && Object.keys(spec.env).length > 0) config.env = spec.env;
  return config;
}

export function generateLaunchJson(root: string, labs: LabManifest[]): string {
  const configurations: LaunchConfig[] = [];
  const compounds: LaunchConfig[] = [];
  // A lab still being written (no roles yet) gets no compound: VS Code rejects an empty one.
  for (const lab of labs.filter((l) => Object.keys(l.roles).length > 0)) {
    const roles = Object.keys(lab.roles);
    roles.forEach((role, i) => {
      configurations.push(roleConfig(root, lab, role, i + 1));
    });
    compounds.push({
      name: `${lab.name}: ${lab.title} (all roles)`,
      configurations: roles.map((role) => `${lab.name} ${role}`),
      stopAll: true,
      presentation: { group: lab.name, order: 0 },
    });
  }
  configurations.push({
    name: "Debug current test file",
    type: "node",
    request: "launch",
    program: "${workspaceFolder}/node_modules/vitest/vitest.mjs",
    args: ["run", "${relativeFile}"],
    cwd: "${fileDirname}",
    autoAttachChildProcesses: true,
    smartStep: true,
    console: "integratedTerminal",
    skipFiles: ["<node_internals>/**", "**/node_modules/**"],
    presentation: { group: "tests" },
  });
  const doc = {
    "//": "Generated from the labs' manifests by `pnpm vscode`; edit the manifests, not this file.",
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
