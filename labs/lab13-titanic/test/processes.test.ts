// End to end: the real processes (lab12's broker as this lab's role, Titanic, the archive, the patient client).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freeTcpEndpoint, ProcessPool, type RoleProcess } from "@zlabs/kit/testing";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { readLedger } from "../internal/patient-client.ts";
import { TITANIC_REPLY } from "../internal/protocol.ts";
import { digestOf, STORAGE_SERVICE } from "../internal/storage-service.ts";
import { log, MDP_FLAGS, Tsp } from "./helpers.ts";

const labDir = fileURLToPath(new URL("..", import.meta.url));
const WAIT_MS = 20_000;
const procs = new ProcessPool();
const clients: Tsp[] = [];
const tmp = mkdtempSync(join(tmpdir(), "lab13-e2e-"));
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await procs.stopAll();
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function broker(endpoint: string): RoleProcess {
  return procs.start({ labDir, cmd: "cmd/majordomo-broker.ts", name: "broker", args: ["--endpoint", endpoint, ...MDP_FLAGS.slice(0, 4)] });
}
function titanic(endpoint: string, dir: string): RoleProcess {
  return procs.start({
    labDir,
    cmd: "cmd/titanic-broker.ts",
    name: "titanic",
    args: ["--broker", endpoint, "--dir", dir, "--scan", "100", ...MDP_FLAGS],
  });
}
function storage(endpoint: string, dir: string): RoleProcess {
  return procs.start({ labDir, cmd: "cmd/storage-service.ts", name: "storage", args: ["--broker", endpoint, "--dir", dir, ...MDP_FLAGS] });
}

describe("the real processes", () => {
  it("Titanic SIGKILLed right after its 200: restarted, it still runs the request", async () => {
    const endpoint = await freeTcpEndpoint();
    const dir = join(tmp, "kill-after-200");
    await broker(endpoint).waitForLog(/majordomo broker ready/, WAIT_MS);
    const first = titanic(endpoint, join(dir, "titanic"));
    await first.waitForLog(/titanic up/, WAIT_MS);
    const tsp = new Tsp(endpoint, 1000, 5);
    clients.push(tsp);
    const content = Buffer.from("memory dump of host 7");
    const uuid = await tsp.submit(STORAGE_SERVICE, ["host7.mem", content]);
    await first.kill("SIGKILL");
    // Nothing serves the archive yet: the request can only run after Titanic's restart.
    storage(endpoint, join(dir, "archive"));
    const second = titanic(endpoint, join(dir, "titanic"));
    const opened = await second.waitForLog(/journal opened/, WAIT_MS);
    // At least this one: a submit whose 200 came after the client's 1 s timeout was sent again and
    // stored twice (the server picks the uuid), which a loaded machine can make happen.
    expect(opened.pending).toBeGreaterThanOrEqual(1);
    expect(await tsp.awaitReply(uuid, WAIT_MS)).toEqual(["stored", digestOf(content), String(content.length)]);
    await second.waitForLog({ msg: "reply stored", uuid }, WAIT_MS);
  });

  it("a patient client started before any worker: 300 while there is none, its replies once the archive starts", async () => {
    const endpoint = await freeTcpEndpoint();
    const dir = join(tmp, "client-first");
    const client = procs.start({
      labDir,
      cmd: "cmd/patient-client.ts",
      name: "client",
      args: ["--broker", endpoint, "--dir", join(dir, "client"), "--requests", "5", "--poll", "100", "--retry", "200", "--timeout", "500"],
    });
    await broker(endpoint).waitForLog(/majordomo broker ready/, WAIT_MS);
    titanic(endpoint, join(dir, "titanic"));
    await client.waitForLog(/request acknowledged/, WAIT_MS);
    const tsp = new Tsp(endpoint);
    clients.push(tsp);
    const ack = client.find(/request acknowledged/)[0] as { uuid: string };
    expect(await tsp.call(TITANIC_REPLY, [ack.uuid])).toEqual({ kind: "pending" });
    storage(endpoint, join(dir, "archive"));
    await client.waitForLog(/all requests answered and closed/, WAIT_MS);
    expect(await client.exited).toEqual({ code: 0, signal: null });
    const ledger = await readLedger(join(dir, "client"), log);
    expect(ledger.submitted.size).toBe(5);
    expect(ledger.closed.size).toBe(5);
    for (const [uuid, { digest }] of ledger.submitted) expect(ledger.answers.get(uuid)?.map((f) => String(f[1]))).toEqual([digest]);
  });

  it("bad flags: one line, exit 2", async () => {
    const bad = procs.start({ labDir, cmd: "cmd/patient-client.ts", name: "bad", args: ["--service", "titanic.request"] });
    expect((await bad.exited).code).toBe(2);
    expect(bad.lines.join("\n")).toMatch(/patient-client: --service "titanic.request"/);
  });
});
