import { existsSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { findRepoRoot, type LabManifest, listLabs, planInstances, readManifest } from "../src/manifest.ts";
import { expandArgs } from "../src/orchestrator.ts";
import { TSX_NODE_ARGS } from "../src/spawn-role.ts";
import { generateLaunchJson, launchJsonIsCurrent, TEST_FILE_RUNNER } from "../src/vscode.ts";

const fixtureDir = fileURLToPath(new URL("./fixtures/demo", import.meta.url));
const root = findRepoRoot(fixtureDir);

describe("role arguments", () => {
  it("expands the instance number, an offset from it, and the instance name", () => {
    expect(expandArgs(["--id", "{name}", "--bind", "tcp://127.0.0.1:501{n}", "--port", "{n+4}"], 2, "agent-2")).toEqual([
      "--id",
      "agent-2",
      "--bind",
      "tcp://127.0.0.1:5012",
      "--port",
      "6",
    ]);
  });
});

describe("the VS Code launch.json", () => {
  const doc = JSON.parse(generateLaunchJson(root, [readManifest(fixtureDir)])) as {
    configurations: Record<string, unknown>[];
    compounds: Record<string, unknown>[];
  };

  it("has one configuration per instance the demo starts: plain node with tsx, in the lab folder, in the integrated terminal", () => {
    expect(doc.configurations.map((c) => c.name)).toEqual([
      "demo server",
      "demo worker-1",
      "demo worker-2",
      "demo client",
      "Debug current test file",
    ]);
    const worker = doc.configurations.find((c) => c.name === "demo worker-2");
    expect(worker).toMatchObject({
      type: "node",
      request: "launch",
      runtimeExecutable: "node",
      runtimeArgs: ["--import", "tsx"],
      program: "${workspaceFolder}/packages/kit/test/fixtures/demo/cmd/role.ts",
      cwd: "${workspaceFolder}/packages/kit/test/fixtures/demo",
      console: "integratedTerminal",
      env: { ZLABS_INSTANCE: "worker-2" },
      presentation: { group: "demo" },
    });
    const client = doc.configurations.find((c) => c.name === "demo client");
    expect(client?.args).toEqual(["--exit-after", "60000", "--code", "3"]);
  });

  it("has one compound per lab that starts every instance of the demo and stops them all together", () => {
    expect(doc.compounds).toEqual([
      {
        name: "demo: Orchestrator test fixture (all roles)",
        configurations: ["demo server", "demo worker-1", "demo worker-2", "demo client"],
        stopAll: true,
        presentation: { group: "demo", order: 0 },
      },
    ]);
  });

  it("has a configuration to debug the test file open in the editor, through vitest in the file's own package", () => {
    const debug = doc.configurations.find((c) => c.name === "Debug current test file");
    expect(debug).toMatchObject({ program: `\${workspaceFolder}/${TEST_FILE_RUNNER}`, args: ["${file}"], autoAttachChildProcesses: true });
    expect(existsSync(join(root, TEST_FILE_RUNNER))).toBe(true);
  });

  it("leaves out a lab that has no roles yet", () => {
    const empty: LabManifest = { ...readManifest(fixtureDir), roles: {} };
    const json = JSON.parse(generateLaunchJson(root, [empty])) as { compounds: unknown[] };
    expect(json.compounds).toEqual([]);
  });

  it("starts, for every lab, the same processes as the demo: each instance with its own {n} and {name}", () => {
    const checkedIn = JSON.parse(readFileSync(join(root, ".vscode/launch.json"), "utf8")) as typeof doc;
    const labs = listLabs(root).filter((l) => Object.keys(l.roles).length > 0);
    expect(checkedIn.compounds).toHaveLength(labs.length);
    for (const lab of labs) {
      const compound = checkedIn.compounds.find((c) => String(c.name).startsWith(`${lab.name}: `));
      const planned = planInstances(lab);
      expect(compound?.configurations, lab.name).toEqual(planned.map((p) => `${lab.name} ${p.name}`));
      for (const role of Object.keys(lab.roles)) {
        expect(
          planned.filter((p) => p.role === role),
          `${lab.name} ${role}`,
        ).toHaveLength(lab.roles[role]?.count ?? 1);
      }
      for (const p of planned) {
        const config = checkedIn.configurations.find((c) => c.name === `${lab.name} ${p.name}`);
        const folder = `\${workspaceFolder}/${relative(root, lab.dir)}`;
        expect(config, `${lab.name} ${p.name}`).toMatchObject({
          runtimeArgs: [...TSX_NODE_ARGS],
          program: `${folder}/${p.spec.cmd}`,
          cwd: folder,
          args: expandArgs(p.spec.args ?? [], p.n, p.name),
          env: { ...p.spec.env, ZLABS_INSTANCE: p.name },
        });
      }
    }
  });

  it("is checked in exactly as the generator writes it from the labs' manifests (run `./run.sh vscode`)", () => {
    expect(launchJsonIsCurrent(root, listLabs(root))).toBe(true);
  });
});
