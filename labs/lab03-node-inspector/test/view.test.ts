// The live views as pure functions, and the admin CLI's watch publishing its attempts.
import type { View, ViewCell } from "@zlabs/kit";
import { ANY_LOOPBACK_TCP, freeTcpEndpoint, Tasks, testLogger } from "@zlabs/kit/testing";
import { afterEach, describe, expect, it } from "vitest";
import { RequestHistory, runAdmin } from "../internal/admin-cli.ts";
import { LazyPirateClient } from "../internal/client.ts";
import { NodeAgent } from "../internal/node-agent.ts";
import { agentView, answeredBy, answerInWords, cliView, emptyTotals, type RequestRecord, VIEW_REQUESTS } from "../internal/view.ts";

const log = testLogger("lab03");
const tasks = new Tasks();
afterEach(() => tasks.stopAll());

const text = (c: ViewCell | undefined) => String(typeof c === "object" ? c.text : c);
const tone = (c: ViewCell | undefined) => (typeof c === "object" ? c.tone : undefined);
const rowsText = (v: View) => (v.rows ?? []).map((r) => r.map(text).join(" | "));
const T0 = Date.parse("2026-12-01T10:00:00Z");

describe("the agent's view", () => {
  it("shows where it listens, its chaos in words, and its counts with the last request's age", () => {
    const chaos = { afterCycles: 3, crashChance: 0.1, slowChance: 0.25, slowMs: 3000 };
    const v = agentView(
      {
        endpoint: "tcp://127.0.0.1:5031",
        chaos,
        served: 12,
        late: 2,
        malformed: 0,
        last: { cmd: "info", ms: 1, at: T0 },
        pid: 42,
        startedAt: T0 - 60_000,
      },
      T0 + 1500,
    );
    expect(v.title).toBe("REP on tcp://127.0.0.1:5031 · chaos after 3 requests: 25 % late by 3.0 s, 10 % crash");
    expect(rowsText(v)).toEqual(["42 | 61.5 s | 12 | 2 | 0 | info in 1 ms, 1.5 s ago"]);
    expect(tone(v.rows?.[0]?.[3])).toBe("warn");
    const quiet = agentView({ endpoint: "tcp://127.0.0.1:5030", served: 0, late: 0, malformed: 0, pid: 7, startedAt: T0 }, T0);
    expect(quiet.title).toBe("REP on tcp://127.0.0.1:5030");
    expect(rowsText(quiet)).toEqual(["7 | 0.0 s | 0 | 0 | 0 | none yet"]);
  });
});

describe("the admin CLI's view", () => {
  const options = { endpoint: "tcp://127.0.0.1:5031", timeoutMs: 2500, retries: 3, everySec: 2 };
  it("lists the latest requests, each with its attempt, outcome, who answered and the latency, and counts them all", () => {
    const history = new RequestHistory();
    const states: Partial<RequestRecord>[] = [
      { state: "answered", answeredBy: "flaky-agent pid 42", latencyMs: 3, answer: "host linux" },
      { state: "answered", attempt: 2, timeouts: 1, answeredBy: "flaky-agent pid 42", latencyMs: 4, answer: "agent up 3 s" },
      { state: "no reply", attempt: 3, timeouts: 3 },
      { state: "refused", answeredBy: "unknown-command", latencyMs: 2 },
      { state: "waiting", attempt: 2, timeouts: 1, attemptAt: T0 + 1000 },
    ];
    for (const [i, s] of states.entries()) Object.assign(history.begin("info", T0 + i), s);
    const v = cliView(history.records, history.totals(), options, T0 + 2200);
    expect(v.title).toBe("REQ → tcp://127.0.0.1:5031 every 2 s · Lazy Pirate: 3 attempts of 2500 ms, a new socket each");
    expect(rowsText(v).map((r) => r.replace(/^(\d+) \| [\d:]+ \| /, "$1 | "))).toEqual([
      "2 | info | 2 of 3 | answered after 1 timeout | flaky-agent pid 42 | 4 ms | agent up 3 s",
      "3 | info | 3 of 3 | no reply: 3 timeouts, gave up |  |  | ",
      "4 | info | 1 of 3 | refused | unknown-command | 2 ms | ",
      "5 | info | 2 of 3 | waiting 1.2 s (1 timed out) |  |  | ",
    ]);
    expect((v.rows ?? []).map((r) => tone(r[4]))).toEqual(["warn", "bad", "bad", "info"]);
    expect(v.summary).toBe("5 requests: 2 answered (1 at the first attempt), 1 no reply, 1 refused · 5 timeouts");
  });

  it("keeps the last few requests and still counts the older ones; says when the next one goes", () => {
    const history = new RequestHistory();
    for (let i = 0; i < VIEW_REQUESTS + 3; i++) Object.assign(history.begin("uptime", T0), { state: "answered" });
    const v = cliView(history.records, history.totals(), { ...options, nextAt: T0 + 1500 }, T0);
    expect(v.rows).toHaveLength(VIEW_REQUESTS);
    expect(text(v.rows?.[0]?.[0])).toBe("4");
    expect(v.summary).toBe(
      `${VIEW_REQUESTS + 3} requests: ${VIEW_REQUESTS + 3} answered (${VIEW_REQUESTS + 3} at the first attempt), 0 no reply, 0 refused · 0 timeouts · next request in 1.5 s`,
    );
    expect(cliView([], emptyTotals(), options, T0).rows).toEqual([]);
  });

  it("names who answered from info, and puts each answer in a few words", () => {
    expect(answeredBy({ agent: "flaky-agent", pid: 42 })).toBe("flaky-agent pid 42");
    expect(answeredBy({ agentSec: 3 })).toBeUndefined();
    expect(answerInWords("uptime", { agentSec: 12.4, hostSec: 99 })).toBe("agent up 12 s");
    expect(answerInWords("mem", { usedShare: 0.5 })).toBe("50 % used");
    expect(answerInWords("info", { agent: "a", hostname: "h" })).toBe("");
    expect(answerInWords("nope", {})).toBe("");
  });
});

describe("views over real sockets", () => {
  it("the agent publishes its counts as it serves, and a watching CLI publishes each request's outcome", async () => {
    const agentViews: View[] = [];
    const agent = new NodeAgent({ id: "view-agent", bind: ANY_LOOPBACK_TCP }, log, { publish: (v) => agentViews.push(v) });
    await agent.bind();
    void tasks.run((s) => agent.run(s));
    const cliViews: View[] = [];
    const answered = new Promise<void>((resolve) => {
      void tasks.run((s) =>
        runAdmin(
          new LazyPirateClient({ endpoint: agent.endpoint, timeoutMs: 2000, retries: 2 }, log),
          { cmd: "info", args: {}, json: false, watchSec: 60 },
          () => {},
          log,
          s,
          {
            publish: (v) => {
              cliViews.push(v);
              if (v.rows?.some((r) => text(r[4]) === "answered")) resolve();
            },
            printAnswers: false,
          },
        ),
      );
    });
    await answered;
    const row = cliViews.at(-1)?.rows?.[0] ?? [];
    expect(text(row[3])).toBe("1 of 2");
    expect(text(row[5])).toBe(`view-agent pid ${process.pid}`);
    expect(text(row[6])).toMatch(/^\d+ ms$/);
    expect(agentViews.at(-1)?.rows?.[0]?.[2]).toEqual({ text: 1, tone: "good" });
  });

  it("a watching CLI with nobody to answer shows its attempts timing out, then no reply", async () => {
    const endpoint = await freeTcpEndpoint();
    const views: View[] = [];
    const gaveUp = new Promise<void>((resolve) => {
      void tasks.run((s) =>
        runAdmin(
          new LazyPirateClient({ endpoint, timeoutMs: 100, retries: 2 }, log),
          { cmd: "uptime", args: {}, json: false, watchSec: 60 },
          () => {},
          log,
          s,
          {
            publish: (v) => {
              views.push(v);
              if (v.rows?.some((r) => text(r[4]).startsWith("no reply"))) resolve();
            },
          },
        ),
      );
    });
    await gaveUp;
    const outcomes = views.map((v) => text(v.rows?.[0]?.[4]).replace(/waiting [\d.]+ s/, "waiting"));
    expect(outcomes).toContain("waiting");
    expect(outcomes).toContain("waiting (1 timed out)");
    expect(views.at(-1)?.summary).toMatch(/^1 requests: 0 answered .* 1 no reply, 0 refused · 2 timeouts · next request in/);
  });
});
