// The property test: random clients take random locks, write to the ledger, crash (no release), pause
// past their lease, and the lock server itself crashes and restarts, all with seeded randomness. The
// server's history never shows two holders of one lock at once, and the ledger never takes a write
// under a token that was not the live lease while it checked. LAB21_SEED=N repeats a run.
import { peerLimits, seededRandom } from "@zlabs/kit";
import { freeTcpEndpoint, Tasks, withDeadline } from "@zlabs/kit/testing";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { Dealer } from "zeromq";
import { LockClient } from "../internal/lease-client.ts";
import { Ledger, type LedgerEntry } from "../internal/ledger.ts";
import { LockServer } from "../internal/lock-server.ts";
import { checkHistory, type HistoryEvent } from "../internal/lock-table.ts";
import { decodeWriteReply, encodeWrite } from "../internal/protocol.ts";
import { log, removeTmpDirs, serverConfig, tmpDir } from "./helpers.ts";

const SEED = Number(process.env.LAB21_SEED ?? Math.floor(Math.random() * 2 ** 31));
const RUN_MS = 8000;
const CLIENTS = 6;
const LOCKS = ["alpha", "beta"];
const MAX_TTL_MS = 400;
const tasks = new Tasks();
afterAll(removeTmpDirs);
afterEach(() => tasks.stopAll());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe(`the property test (seed ${SEED})`, () => {
  it("never two holders of one lock at once, and the ledger never accepts a stale token", { timeout: 60_000 }, async () => {
    const rnd = seededRandom(SEED);
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)] as T;
    const history: HistoryEvent[] = [];
    const crashes: number[] = [];
    const accepted: { entry: LedgerEntry; checkSentAt: number; at: number }[] = [];
    const endpoint = await freeTcpEndpoint();
    const config = serverConfig({ endpoint, maxTtlMs: MAX_TTL_MS, graceMs: MAX_TTL_MS, sweepMs: 10, heartbeatMs: 40, liveness: 3 });

    // The server, and its crash: the socket goes, the table with it; a new server on the same folder.
    let server: LockServer | undefined;
    let stopServer = () => {};
    const startServer = async () => {
      server = new LockServer(config, log, { history });
      await server.bind();
      const controller = new AbortController();
      void tasks.run((signal) => {
        signal.addEventListener("abort", () => controller.abort(), { once: true });
        return (server as LockServer).run(controller.signal);
      });
      stopServer = () => controller.abort();
    };
    await startServer();

    let checkSentAt = 0;
    const ledger = new Ledger(
      { endpoint: "tcp://127.0.0.1:*", server: endpoint, id: "ledger", dataDir: tmpDir("ledger"), maxEntries: 50, checkTimeoutMs: 300 },
      log,
      { onAccept: (entry) => accepted.push({ entry, checkSentAt, at: performance.now() }) },
    );
    // The time the ledger sent its CHECK, for the property: the token must have been live between then and the append.
    const check = (ledger as unknown as { check: (lock: string, token: number) => Promise<unknown> }).check.bind(ledger);
    (ledger as unknown as { check: typeof check }).check = (lock, token) => {
      checkSentAt = performance.now();
      return check(lock, token);
    };
    await ledger.bind();
    void tasks.run((signal) => ledger.run(signal));

    let refused = 0;
    let crashed = 0;
    let paused = 0;
    const end = performance.now() + RUN_MS;

    /** One client's life: take a lock, write a few entries (sometimes after a pause past the lease), release or crash. */
    const life = async (n: number) => {
      for (let incarnation = 0; performance.now() < end; incarnation++) {
        const client = new LockClient({ id: `c${n}-${incarnation % 2}`, server: endpoint, heartbeatMs: 40, timeoutMs: 150 }, log);
        const controller = new AbortController();
        const running = client.start(controller.signal).catch(() => {});
        const writer = new Dealer({ linger: 0, ...peerLimits() });
        writer.connect(ledger.endpoints.endpoint);
        let req = 0;
        try {
          while (performance.now() < end) {
            const lock = pick(LOCKS);
            const lease = await withDeadline(
              client.acquire(
                lock,
                100 + Math.floor(rnd() * (MAX_TTL_MS - 100)),
                AbortSignal.timeout(Math.ceil(Math.max(0, end - performance.now()) + 10)),
              ),
              RUN_MS + 5000,
              "an acquire",
            );
            if (!lease) continue;
            for (let w = 0; w < 1 + Math.floor(rnd() * 3); w++) {
              if (!client.holds(lock)) break;
              const pause = rnd() < 0.15 ? lease.ttlMs + 100 + rnd() * 200 : rnd() * 40;
              if (pause > lease.ttlMs) paused += 1;
              await sleep(pause);
              await writer.send(encodeWrite({ req: ++req, client: client.id, lock, token: lease.token, text: `w${w}` }));
              const [frame] = await withDeadline(writer.receive(), 5000, "the ledger's answer");
              const reply = decodeWriteReply(frame);
              if (reply.ok && reply.value.status === "REFUSED") refused += 1;
            }
            if (rnd() < 0.2) {
              crashed += 1;
              break; // a crash: no release, the lease runs out on the server
            }
            await client.release(lock);
            await sleep(rnd() * 30);
          }
        } finally {
          client.close();
          controller.abort();
          writer.close();
          await running;
        }
      }
    };

    const serverCrashes = (async () => {
      for (let i = 0; i < 2; i++) {
        await sleep(RUN_MS / 3);
        crashes.push(performance.now());
        stopServer();
        await sleep(20 + rnd() * 50);
        await startServer();
      }
    })();

    await Promise.all([...Array.from({ length: CLIENTS }, (_, n) => life(n)), serverCrashes]);

    const problems = checkHistory(history, crashes);
    expect(problems, `seed ${SEED}: ${problems.slice(0, 5).join("; ")}`).toEqual([]);
    // Every accepted entry: its token was granted to its writer, for its lock, and was live at some
    // moment between the ledger's CHECK and the append.
    const stale = accepted.filter(({ entry, checkSentAt: sent, at }) => {
      const i = history.findIndex(
        (e) => e.kind === "grant" && e.lock === entry.lock && e.token === entry.token && e.client === entry.client,
      );
      if (i < 0) return true;
      const grant = history[i] as HistoryEvent;
      const same = history.slice(i).filter((e) => e.lock === entry.lock && e.token === entry.token);
      const ended = same.find((e) => e.kind === "end");
      // A lease of a server that crashed ends at its deadline as last renewed.
      const crash = crashes.find((c) => c > grant.at);
      const renewed = same.filter((e) => e.kind !== "end" && (crash === undefined || e.at < crash)).at(-1) as { deadline: number };
      const until = ended?.at ?? (crash !== undefined ? renewed.deadline : Number.POSITIVE_INFINITY);
      return !(grant.at <= at && sent <= until);
    });
    expect(stale, `seed ${SEED}: entries accepted under a stale token`).toEqual([]);
    // Per lock, the ledger's tokens never go down.
    for (const lock of LOCKS) {
      const tokens = accepted.filter((a) => a.entry.lock === lock).map((a) => a.entry.token);
      expect(tokens, `seed ${SEED}: ${lock}`).toEqual([...tokens].sort((x, y) => x - y));
    }
    // Not vacuous: grants, writes, refusals, client crashes, pauses and server restarts all happened.
    const grants = history.filter((e) => e.kind === "grant").length;
    expect(
      { grants: grants > 20, accepted: accepted.length > 20, refused: refused > 0, crashed: crashed > 0, paused: paused > 0 },
      `seed ${SEED}`,
    ).toEqual({
      grants: true,
      accepted: true,
      refused: true,
      crashed: true,
      paused: true,
    });
    expect(crashes).toHaveLength(2);
  });
});
