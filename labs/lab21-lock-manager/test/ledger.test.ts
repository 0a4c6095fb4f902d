// The ledger in-process, over real sockets, with a lock server: it takes a write only under the live
// lease's token, keeps the highest token per lock across a restart, and bounds its files.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { peerLimits } from "@zlabs/kit";
import { Tasks, withDeadline } from "@zlabs/kit/testing";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { Dealer } from "zeromq";
import { LEDGER_FILE, Ledger, OLD_LEDGER_FILE } from "../internal/ledger.ts";
import { decodeWriteReply, encodeWrite, type WriteReply } from "../internal/protocol.ts";
import { boundServer, log, RawClient, removeTmpDirs, tmpDir } from "./helpers.ts";

const tasks = new Tasks();
const sockets: { close(): void }[] = [];
afterAll(removeTmpDirs);
afterEach(async () => {
  for (const s of sockets.splice(0)) s.close();
  await tasks.stopAll();
});

/** Leases the raw clients never renew: long enough for every fsync'd write of a test on a loaded disk. */
const LEASE_MS = 30_000;

async function setup(dataDir = tmpDir("ledger"), maxEntries = 100) {
  const server = await boundServer({ maxTtlMs: LEASE_MS });
  void tasks.run((signal) => server.run(signal));
  const start = async () => {
    const ledger = new Ledger(
      { endpoint: "tcp://127.0.0.1:*", server: server.endpoints.endpoint, id: "ledger", dataDir, maxEntries, checkTimeoutMs: 1000 },
      log,
    );
    await ledger.bind();
    const controller = new AbortController();
    const done = tasks.run((signal) => {
      signal.addEventListener("abort", () => controller.abort(), { once: true });
      return ledger.run(controller.signal);
    });
    const writer = new Dealer({ linger: 0, ...peerLimits() });
    writer.connect(ledger.endpoints.endpoint);
    sockets.push(writer);
    let req = 0;
    const write = async (client: string, lock: string, token: number): Promise<WriteReply> => {
      await writer.send(encodeWrite({ req: ++req, client, lock, token, text: `${client} ${token}` }));
      const r = decodeWriteReply((await withDeadline(writer.receive(), 5000, "the ledger's answer"))[0]);
      if (!r.ok) throw new Error(r.reason);
      return r.value;
    };
    const stop = async () => {
      controller.abort();
      await done;
    };
    return { ledger, write, stop };
  };
  const client = (id: string) => {
    const c = new RawClient(server.endpoints.endpoint, id);
    sockets.push(c);
    return c;
  };
  return { server, start, client, dataDir };
}

describe("the ledger", () => {
  it("takes writes under the live token only: not a released one, not a made-up one", async () => {
    const { start, client } = await setup();
    const { ledger, write } = await start();
    const a = client("a");
    const b = client("b");
    const { token: ta } = await a.ask("ACQUIRE", { lock: "L", ttl: LEASE_MS });
    expect(await write("a", "L", ta as number)).toMatchObject({ status: "ACCEPTED", seq: 1 });
    expect(await write("x", "L", (ta as number) + 5)).toMatchObject({
      status: "REFUSED",
      reason: expect.stringContaining("not the current lease"),
    });
    await a.ask("RELEASE", { lock: "L" });
    // a's lease is over and nobody else wrote yet: the lock server says so.
    expect(await write("a", "L", ta as number)).toMatchObject({ status: "REFUSED" });
    const { token: tb } = await b.ask("ACQUIRE", { lock: "L", ttl: LEASE_MS });
    expect(await write("b", "L", tb as number)).toMatchObject({ status: "ACCEPTED", seq: 2 });
    // Once b has written, a's token is below the highest accepted: refused without asking.
    expect(await write("a", "L", ta as number)).toMatchObject({ status: "REFUSED", reason: expect.stringContaining("below") });
    expect(ledger.staleRefused).toBe(3);
    expect(ledger.snapshot().locks).toEqual([{ name: "L", entries: 2, lastToken: tb, lastClient: "b" }]);
  });

  it("a restarted ledger reads its file back and still refuses a token below the highest written", async () => {
    const { start, client, dataDir } = await setup();
    const first = await start();
    const a = client("a");
    const { token: old } = await a.ask("ACQUIRE", { lock: "L", ttl: LEASE_MS });
    await a.ask("RELEASE", { lock: "L" });
    const { token } = await a.ask("ACQUIRE", { lock: "L", ttl: LEASE_MS });
    await first.write("a", "L", token as number);
    await first.stop();
    const second = await start();
    expect(second.ledger.snapshot()).toMatchObject({ seq: 1, locks: [{ name: "L", lastToken: token }] });
    expect(await second.write("a", "L", old as number)).toMatchObject({ status: "REFUSED", reason: expect.stringContaining("below") });
    expect(await second.write("a", "L", token as number)).toMatchObject({ status: "ACCEPTED", seq: 2 });
    const lines = readFileSync(join(dataDir, LEDGER_FILE), "utf8").trim().split("\n");
    expect(lines.map((l) => JSON.parse(l).seq)).toEqual([1, 2]);
  });

  it("keeps at most two files of maxEntries entries", async () => {
    const { start, client, dataDir } = await setup(tmpDir("ledger-small"), 3);
    const { write } = await start();
    const { token } = await client("a").ask("ACQUIRE", { lock: "L", ttl: LEASE_MS });
    for (let i = 0; i < 8; i++) expect(await write("a", "L", token as number)).toMatchObject({ status: "ACCEPTED" });
    const seqs = (f: string) =>
      readFileSync(join(dataDir, f), "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l).seq);
    expect(seqs(OLD_LEDGER_FILE)).toEqual([4, 5, 6]);
    expect(seqs(LEDGER_FILE)).toEqual([7, 8]);
  });
});
