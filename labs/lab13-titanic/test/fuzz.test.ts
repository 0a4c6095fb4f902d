// Fuzz. The one bound socket of this lab is the Majordomo broker's ROUTER (lab12's broker, run as our
// role): fuzzed with the kit's helper. Titanic and the archive bind nothing (they connect to the
// broker), so what a peer can send them is MDP request bodies: 1,000+ hostile bodies go to each of
// their services through the broker, after which each process must be alive, within its memory
// bound, still serve a valid request, and have made no file from anything a peer chose.
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { MAX_MESSAGE_BYTES, seededRandom } from "@zlabs/kit";
import { freeTcpEndpoint, fuzzRole, ProcessPool, type RoleProcess, rssMiB, waitUntil } from "@zlabs/kit/testing";
import { MDPC01, MDPW01 } from "lab12/mdp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Dealer } from "zeromq";
import { TITANIC_CLOSE, TITANIC_REPLY, TITANIC_REQUEST } from "../internal/protocol.ts";
import { digestOf, STORAGE_SERVICE } from "../internal/storage-service.ts";
import { JOURNAL_FILE } from "../internal/store.ts";
import { MDP_FLAGS, Tsp } from "./helpers.ts";

const labDir = fileURLToPath(new URL("..", import.meta.url));
const WAIT_MS = 20_000;
const MAX_RSS_MIB = 300;
const HOSTILE = 1000;
const procs = new ProcessPool();
const clients: Tsp[] = [];
const tmp = mkdtempSync(join(tmpdir(), "lab13-fuzz-"));
// One set of processes for the whole file (each fuzz leaves them serving, or its test fails).
afterAll(async () => {
  for (const c of clients.splice(0)) c.close();
  await procs.stopAll();
  rmSync(tmp, { recursive: true, force: true });
});

async function start(name: string) {
  const endpoint = await freeTcpEndpoint();
  const dir = join(tmp, name);
  const broker = procs.start({
    labDir,
    cmd: "cmd/majordomo-broker.ts",
    name: "broker",
    args: ["--endpoint", endpoint, ...MDP_FLAGS.slice(0, 4)],
  });
  await broker.waitForLog(/majordomo broker ready/, WAIT_MS);
  const titanic = procs.start({
    labDir,
    cmd: "cmd/titanic-broker.ts",
    name: "titanic",
    args: ["--broker", endpoint, "--dir", join(dir, "titanic"), "--scan", "100", ...MDP_FLAGS],
  });
  const storage = procs.start({
    labDir,
    cmd: "cmd/storage-service.ts",
    name: "storage",
    args: ["--broker", endpoint, "--dir", join(dir, "archive"), ...MDP_FLAGS],
  });
  await titanic.waitForLog(/titanic up/, WAIT_MS);
  await storage.waitForLog(/evidence archive up/, WAIT_MS);
  const tsp = new Tsp(endpoint, 3000, 3);
  clients.push(tsp);
  await probe(tsp);
  return { endpoint, dir, broker, titanic, storage, tsp };
}

/** A whole TSP round trip: request, reply with the archive's digest, close. */
async function probe(tsp: Tsp): Promise<void> {
  const content = Buffer.from(`probe ${Date.now()}`);
  const uuid = await tsp.submit(STORAGE_SERVICE, ["probe.bin", content]);
  const body = await tsp.awaitReply(uuid, WAIT_MS);
  if (body[1] !== digestOf(content)) throw new Error(`probe answered ${body.join(" ")}`);
  const closed = await tsp.call(TITANIC_CLOSE, [uuid]);
  if (closed.kind !== "ok") throw new Error(`close answered ${closed.kind}`);
}

/** Hostile bodies: wrong frame counts, uuids that are paths or not hex, huge or empty frames, names that escape. */
function hostileBodies(seed: number, count: number): Buffer[][] {
  const random = seededRandom(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)] as T;
  const uuidish = [
    "../../../../../../etc/passwd",
    `../${"A".repeat(29)}`,
    `${"A".repeat(31)}/`,
    "A".repeat(31),
    "A".repeat(33),
    `${"A".repeat(31)}\u0000`,
    `${"Z".repeat(32)}`,
    "é".repeat(16),
    "",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd%2e%2e%2e%2e%2e%2e%2e",
    "titanic.journal",
    "0".repeat(32),
  ];
  const names = ["../escape", "..", ".", ".hidden", "a/b", "/abs", "x".repeat(200), "ok.bin", "nul\u0000name", "CON", ""];
  const frame = (): Buffer => {
    switch (Math.floor(random() * 6)) {
      case 0:
        return Buffer.from(pick(uuidish));
      case 1:
        return Buffer.from(pick(names));
      case 2:
        return Buffer.alloc(Math.floor(random() * 64 * 1024), Math.floor(random() * 256));
      case 3:
        return Buffer.alloc(0);
      case 4:
        return Buffer.from(pick([TITANIC_REQUEST, TITANIC_REPLY, "mmi.service", "evidence.store", "titanic.close", MDPC01, MDPW01]));
      default:
        return Buffer.from(Array.from({ length: Math.floor(random() * 64) }, () => Math.floor(random() * 256)));
    }
  };
  return Array.from({ length: count }, () => {
    const frames = random() < 0.1 ? 60 + Math.floor(random() * 10) : 1 + Math.floor(random() * 4);
    return Array.from({ length: frames }, frame);
  });
}

/** Sends each body to its service through the broker from one DEALER, many in flight, and counts the replies. */
async function sendHostile(endpoint: string, requests: [string, Buffer[]][]): Promise<number> {
  const dealer = new Dealer({ linger: 0, receiveTimeout: 2000, maxMessageSize: 4 * MAX_MESSAGE_BYTES });
  dealer.connect(endpoint);
  let replies = 0;
  const reading = (async () => {
    try {
      for (;;) {
        await dealer.receive();
        replies += 1;
      }
    } catch {
      // receiveTimeout: nothing more comes.
    }
  })();
  for (const [service, body] of requests) await dealer.send([Buffer.alloc(0), Buffer.from(MDPC01), Buffer.from(service), ...body]);
  await reading;
  dealer.close();
  return replies;
}

/**
 * Until the process has logged nothing new for a second: it has worked through the backlog. (The
 * kit's quiescent() asks for no CPU at all, which a Titanic heartbeating on 14 MDP workers every
 * 200 ms never is.)
 */
async function logQuiet(proc: RoleProcess): Promise<void> {
  let count = -1;
  let since = performance.now();
  await waitUntil(
    () => {
      if (proc.lines.length !== count) {
        count = proc.lines.length;
        since = performance.now();
      }
      return performance.now() - since > 1000;
    },
    { timeoutMs: WAIT_MS, what: `${proc.name} to work through the fuzz`, everyMs: 50 },
  );
}

function checkAfter(proc: RoleProcess, before: number): void {
  expect(proc.running).toBe(true);
  const rss = rssMiB(proc.pid as number);
  expect(rss, `${proc.name} RSS before ${before} MiB`).toBeLessThan(MAX_RSS_MIB);
  expect(proc.find("request failed: answered 500")).toEqual([]);
}

describe("fuzz", () => {
  let roles: Awaited<ReturnType<typeof start>>;
  beforeAll(async () => {
    roles = await start("all");
  });

  it("the Majordomo broker's ROUTER (lab12's broker as our role): 1,000 malformed messages, then a whole TSP round trip", async () => {
    const { endpoint, broker, tsp } = roles;
    const report = await fuzzRole(broker, {
      endpoint,
      peer: "dealer",
      envelope: true,
      words: [
        MDPC01,
        MDPW01,
        TITANIC_REQUEST,
        TITANIC_REPLY,
        TITANIC_CLOSE,
        STORAGE_SERVICE,
        Buffer.from([1]),
        Buffer.from([2]),
        Buffer.from([3]),
        Buffer.from([4]),
      ],
      maxMessageBytes: MAX_MESSAGE_BYTES,
      maxRssMiB: MAX_RSS_MIB,
      probe: () => probe(tsp),
    });
    expect(report.sent).toBeGreaterThanOrEqual(1000);
  });

  it(`Titanic's three services: ${HOSTILE} hostile bodies in all; 400s, no file from a uuid, and a TSP round trip after`, async () => {
    const { endpoint, dir, titanic, tsp } = roles;
    const before = rssMiB(titanic.pid as number);
    const services = [TITANIC_REQUEST, TITANIC_REPLY, TITANIC_CLOSE];
    const replies = await sendHostile(
      endpoint,
      hostileBodies(100, HOSTILE).map((body, i): [string, Buffer[]] => [services[i % 3] as string, body]),
    );
    await logQuiet(titanic);
    expect(replies).toBeGreaterThan(HOSTILE * 0.8);
    expect(titanic.find(/malformed TSP request: answered 400/).length).toBeGreaterThan(HOSTILE / 2);
    checkAfter(titanic, before);
    // Only the journal is in Titanic's folder: no uuid or name from a peer became a file.
    expect(readdirSync(join(dir, "titanic"))).toEqual([JOURNAL_FILE]);
    await probe(tsp);
  });

  it(`the archive: ${HOSTILE} hostile bodies; refused with a reply, no file outside its folders, then a TSP round trip`, async () => {
    const { endpoint, dir, storage, tsp } = roles;
    const before = rssMiB(storage.pid as number);
    const replies = await sendHostile(
      endpoint,
      hostileBodies(200, HOSTILE).map((body): [string, Buffer[]] => [STORAGE_SERVICE, body]),
    );
    await logQuiet(storage);
    expect(replies).toBeGreaterThan(HOSTILE / 2);
    expect(storage.find("artefact refused").length).toBeGreaterThan(HOSTILE / 2);
    checkAfter(storage, before);
    expect(readdirSync(join(dir, "archive")).sort()).toEqual(["blobs", "names"]);
    // Only safe names became receipts (probes and fuzz bodies that happened to be valid: "ok.bin", "CON", ...).
    for (const name of readdirSync(join(dir, "archive", "names"))) expect(name).toMatch(/^[A-Za-z0-9_-][A-Za-z0-9._-]*$/);
    await probe(tsp);
  });
});
