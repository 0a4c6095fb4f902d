import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { findRepoRoot, type LabManifest, listLabs, readManifest } from "../src/manifest.ts";
import { expandArgs } from "../src/orchestrator.ts";
import { generateLaunchJson, launchJsonIsCurrent } from "../src/vscode.ts";

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

  it("has one configuration per role: plain node with tsx, in the lab folder, in the integrated terminal", () => {
    const worker = doc.configurations.find((c) => c.name === "demo worker");
    expect(worker).toMatchObject({
      type: "node",
      request: "launch",
      runtimeExecutable: "node",
      runtimeArgs: ["--import", "tsx"],
      program: "${workspaceFolder}/packages/kit/test/fixtures/demo/cmd/role.ts",
      cwd: "${workspaceFolder}/packages/kit/test/fixtures/demo",
      console: "integratedTerminal",
      presentation: { group: "demo" },
    });
    const client = doc.configurations.find((c) => c.name === "demo client");
    expect(client?.args).toEqual(["--exit-after", "60000", "--code", "3"]);
  });

  it("has one compound per lab that starts every role and stops them all together", () => {
    expect(doc.compounds).toEqual([
      {
        name: "demo: Orchestrator test fixture (all roles)",
        configurations: ["demo server", "demo worker", "demo client"],
        stopAll: true,
        presentation: { group: "demo", order: 0 },
      },
    ]);
  });

  it("has a configuration to debug the test file open in the editor", () => {
    expect(doc.configurations.map((c) => c.name)).toContain("Debug current test file");
  });

  it("leaves out a lab that has no roles yet", () => {
    const empty: LabManifest = { ...readManifest(fixtureDir), roles: {} };
    const json = JSON.parse(generateLaunchJson(root, [empty])) as { compounds: unknown[] };
    expect(json.compounds).toEqual([]);
  });

  it("is checked in exactly as the generator writes it from the labs' manifests (run `pnpm vscode`)", () => {
    expect(launchJsonIsCurrent(root, listLabs(root))).toBe(true);
  });
});
