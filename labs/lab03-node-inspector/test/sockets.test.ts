// In-process over real sockets: the agent, the Lazy Pirate client, and servers that misbehave.
import { ANY_LOOPBACK_TCP, freeTcpEndpoint, SocketJar, Tasks, testLogger, withDeadline } from "@zlabs/kit/testing";
import { pack } from "msgpackr";
import { afterEach, describe, expect, it } from "vitest";
import { Request, Router } from "zeromq";
import { EXIT_AGENT_ERROR, EXIT_NO_REPLY, EXIT_OK, runAdmin } from "../internal/admin-cli.ts";
import { type AttemptFailure, LazyPirateClient, NoReplyError } from "../internal/client.ts";
import { NodeAgent } from "../internal/node-agent.ts";
import { decodeReply, decodeRequest, encodeReply, okReply, type Reply } from "../internal/protocol.ts";

const log = testLogger("lab03");
const WAIT_MS = 10_000;
const jar = new SocketJar();
const tasks = new Tasks();
afterEach(async () => {
  await tasks.stopAll();
  jar.closeAll();
});

async function startAgent(bind = ANY_LOOPBACK_TCP, chaos?: ConstructorParameters<typeof NodeAgent>[0]["chaos"], crash?: () => void) {
  const agent = new NodeAgent({ id: "test-agent", bind, ...(chaos ? { chaos } : {}) }, log, crash ? { crash } : {});
  await agent.bind();
  void tasks.run((s) => agent.run(s));
  return agent;
}

function client(endpoint: string, timeoutMs = 300, retries = 3) {
  const failures: AttemptFailure[] = [];
  const c = new LazyPirateClient({ endpoint, timeoutMs, retries }, log, (f) => failures.push(f));
  return { client: c, failures };
}

/** A raw REQ peer, to send what the real client never would. */
async function rawRequest(endpoint: string, frames: (Buffer | string)[]): Promise<Reply> {
  const req = jar.add(new Request({ receiveTimeout: WAIT_MS }));
  req.connect(endpoint);
  await req.send(frames);
  const decoded = decodeReply(await req.receive());
  if (decoded.kind !== "reply") throw new Error(decoded.reason);
  return decoded.reply;
}

/** A server on a ROUTER socket, so a test decides exactly which request gets which reply, and when. */
async function scriptedServer() {
  const router = jar.add(new Router());
  await router.bind(ANY_LOOPBACK_TCP);
  const next = async () => {
    const [identity, empty, body] = await withDeadline(router.receive(), WAIT_MS, "a request at the scripted server");
    const decoded = decodeRequest([body as Buffer]);
    if (decoded.kind !== "query") throw new Error(decoded.reason);
    return { identity: identity as Buffer, empty: empty as Buffer, request: decoded.request };
  };
  const reply = (to: { identity: Buffer; empty: Buffer }, r: Reply) => router.send([to.identity, to.empty, encodeReply(r)]);
  return { endpoint: router.lastEndpoint as string, next, reply };
}

describe("the node agent", () => {
  it("answers every command with real figures and echoes the request id", async () => {
    const agent = await startAgent();
    const { client: c } = client(agent.endpoint, 5000);
    const results: Record<string, Record<string, unknown>> = {};
    for (const cmd of ["ps", "mem", "cpu", "load", "uptime", "disk", "info"]) {
      const reply = await c.request(cmd, cmd === "ps" ? { limit: 3, sort: "mem" } : undefined);
      if (!reply.ok) throw new Error(`${cmd}: ${reply.error.message}`);
      results[cmd] = reply.result as Record<string, unknown>;
    }
    expect((results.ps?.processes as unknown[] | undefined)?.length).toBe(3);
    expect(results.ps?.total as number).toBeGreaterThan(3);
    expect(results.mem?.totalBytes as number).toBeGreaterThan(0);
    expect(results.cpu?.cores as number).toBeGreaterThan(0);
    expect(results.uptime?.hostSec as number).toBeGreaterThan(0);
    expect(results.disk?.totalBytes as number).toBeGreaterThan(0);
    expect(results.info).toMatchObject({ agent: "test-agent", pid: process.pid });
  });

  it("gives a malformed request exactly one error reply, then serves the next request", async () => {
    const agent = await startAgent();
    const garbage = await rawRequest(agent.endpoint, [Buffer.from([0xc1, 0x00])]);
    expect(garbage).toMatchObject({
      v: 1,
      id: null,
      ok: false,
      error: { code: "bad-request", message: expect.stringMatching(/^request: not MessagePack/) },
    });
    const twoFrames = await rawRequest(agent.endpoint, [pack({ v: 1, id: "t-1", cmd: "mem" }), "extra"]);
    expect(twoFrames).toMatchObject({ ok: false, error: { code: "bad-request", message: "expected 1 frame, got 2" } });
    const unknown = await rawRequest(agent.endpoint, [pack({ v: 1, id: "t-2", cmd: "reboot" })]);
    expect(unknown).toMatchObject({ id: "t-2", ok: false, error: { code: "unknown-command" } });
    const badArgs = await rawRequest(agent.endpoint, [pack({ v: 1, id: "t-3", cmd: "ps", args: { limit: -1 } })]);
    expect(badArgs).toMatchObject({
      id: "t-3",
      ok: false,
      error: { code: "bad-args", message: "limit must be a whole number from 1 to 1000" },
    });
    const good = await rawRequest(agent.endpoint, [pack({ v: 1, id: "t-4", cmd: "load" })]);
    expect(good).toMatchObject({ id: "t-4", ok: true });
  });

  it("in chaos mode answers late after its good cycles, and crashes when told to", async () => {
    let crashes = 0;
    const agent = await startAgent(ANY_LOOPBACK_TCP, { afterCycles: 1, crashChance: 0, slowChance: 1, slowMs: 600 }, () => crashes++);
    const { client: c, failures } = client(agent.endpoint, 300, 3);
    expect((await c.request("load")).ok).toBe(true);
    // From now on every answer comes after 600 ms, later than the client waits.
    await expect(c.request("load")).rejects.toThrow(NoReplyError);
    expect(failures.map((f) => f.reason)).toEqual(["timeout", "timeout", "timeout"]);
    expect(crashes).toBe(0);
  });
});

describe("the Lazy Pirate client", () => {
  it("against a server that is down: exactly 3 attempts, each with a new id, then NoReplyError", async () => {
    const endpoint = await freeTcpEndpoint();
    const { client: c, failures } = client(endpoint, 200, 3);
    const error = await c.request("uptime").catch((e: Error) => e);
    expect(error).toBeInstanceOf(NoReplyError);
    expect((error as Error).message).toBe(`no reply from ${endpoint} to "uptime" after 3 attempts of 200 ms`);
    expect(failures.map((f) => [f.attempt, f.reason])).toEqual([
      [1, "timeout"],
      [2, "timeout"],
      [3, "timeout"],
    ]);
    expect(new Set(failures.map((f) => f.id)).size).toBe(3);
  });

  it("uses a fresh socket for every attempt", async () => {
    const server = await scriptedServer();
    const { client: c } = client(server.endpoint, 300, 3);
    const asking = c.request("uptime").catch((e: Error) => e);
    const seen = [await server.next(), await server.next(), await server.next()];
    expect(await asking).toBeInstanceOf(NoReplyError);
    // Three connections: a ROUTER sees each new REQ socket under a new routing id.
    expect(new Set(seen.map((s) => s.identity.toString("hex"))).size).toBe(3);
  });

  it("never takes a late reply to an abandoned attempt as the answer to a later one", async () => {
    const server = await scriptedServer();
    const { client: c, failures } = client(server.endpoint, 300, 3);
    const asking = c.request("uptime");
    const first = await server.next(); // left unanswered: the client times out and retries
    const second = await server.next();
    // The late answer to attempt 1 goes to its socket, which the client has closed: dropped.
    await server.reply(first, okReply(first.request.id, { from: "attempt 1" }));
    // A confused server answers attempt 2 with attempt 1's id: rejected, and the client retries.
    await server.reply(second, okReply(first.request.id, { from: "attempt 1, wrong socket" }));
    const third = await server.next();
    await server.reply(third, okReply(third.request.id, { from: "attempt 3" }));
    const reply = await withDeadline(asking, WAIT_MS, "the reply");
    expect(reply).toMatchObject({ id: third.request.id, ok: true, result: { from: "attempt 3" } });
    expect(failures.map((f) => f.reason)).toEqual(["timeout", "reply to another request"]);
    expect(new Set([first, second, third].map((r) => r.request.id)).size).toBe(3);
  });

  it("succeeds without a restart of its own when the server comes back between attempts", async () => {
    const endpoint = await freeTcpEndpoint();
    let restarted: Promise<unknown> | undefined;
    const c = new LazyPirateClient({ endpoint, timeoutMs: 500, retries: 3 }, log, (f) => {
      if (f.attempt === 1) restarted = startAgent(endpoint);
    });
    const reply = await c.request("uptime");
    await restarted;
    expect(reply.ok).toBe(true);
  });

  it("stops waiting at once when its signal aborts", async () => {
    const endpoint = await freeTcpEndpoint();
    const { client: c } = client(endpoint, 60_000, 3);
    const controller = new AbortController();
    const asking = c.request("uptime", undefined, controller.signal);
    setTimeout(() => controller.abort(), 50);
    await expect(withDeadline(asking, WAIT_MS, "the abort")).rejects.toThrow(/abort/i);
  });
});

describe("the admin CLI's loop", () => {
  const ask = async (endpoint: string, cmd: string, json = true, timeoutMs = 2000) => {
    const printed: string[] = [];
    const code = await runAdmin(
      new LazyPirateClient({ endpoint, timeoutMs, retries: 2 }, log),
      { cmd, args: {}, json, watchSec: 0 },
      (text) => printed.push(text),
      log,
      new AbortController().signal,
    );
    return { code, printed };
  };

  it("exits 0 with the answer, 1 when the agent refuses, 3 when nobody answers", async () => {
    const agent = await startAgent();
    const answered = await ask(agent.endpoint, "uptime");
    expect(answered.code).toBe(EXIT_OK);
    expect(JSON.parse(answered.printed[0] as string)).toMatchObject({ agentSec: expect.any(Number) });
    const table = await ask(agent.endpoint, "load", false);
    expect(table.printed[0]).toMatch(/^load 1\/5\/15 min/);
    const refused = await ask(agent.endpoint, "reboot");
    expect(refused).toEqual({ code: EXIT_AGENT_ERROR, printed: [expect.stringContaining("unknown-command")] });
    const nobody = await ask(await freeTcpEndpoint(), "uptime", true, 100);
    expect(nobody).toEqual({ code: EXIT_NO_REPLY, printed: [] });
  });
});
