// The live views as data: the server's agents and counts, an agent's recent commands.
import { describe, expect, it } from "vitest";
import { type AgentSnapshot, agentView, serverView } from "../internal/view.ts";

const counts = {
  sent: 9,
  answered: 7,
  refused: 1,
  failed: 0,
  unanswered: 1,
  dropped: 2,
  handshakes: 3,
  handshakesRefused: 2,
  sessionsClosed: 1,
};

describe("views", () => {
  it("the server: a row per agent with its key's label, session, counts and last reply; refusals by reason", () => {
    const view = serverView({
      endpoint: "tcp://127.0.0.1:5090",
      agents: [
        { name: "agent-1", key: "r@SBDx!d…", forMs: 12_000, silentMs: 100, sent: 5, answered: 5, refused: 0, last: "status: run=4" },
        { name: "agent-2", key: "pgirHbV>…", forMs: 9_000, silentMs: 5_000, sent: 4, answered: 2, refused: 1, last: "" },
      ],
      helloMs: 1000,
      storeKeys: 2,
      zap: { requests: 5, allowed: 3, denied: 2, malformed: 0, dropped: 0 },
      counts,
      refusals: [
        ["ZAP 400", 1],
        ["ERR_ZMTP_MECHANISM_MISMATCH", 1],
      ],
      pending: 1,
    });
    expect(view.title).toBe("2 agents connected · 2 keys in the store · tcp://127.0.0.1:5090");
    expect(view.rows?.[0]).toEqual([
      "agent-1",
      { text: "r@SBDx!d…", tone: "dim" },
      { text: "connected 12.0 s", tone: "good" },
      "5",
      "5",
      "0",
      "status: run=4",
    ]);
    expect(view.rows?.[1]?.[2]).toEqual({ text: "silent 5.0 s", tone: "warn" });
    expect(view.rows?.[1]?.[5]).toEqual({ text: "1", tone: "bad" });
    expect(view.summary).toEqual([
      "commands: sent 9 · answered 7 · refused 1 · failed 0 · unanswered 1 · waiting 1",
      "handshakes: ok 3 · refused 2 (ZAP 400 ×1, ERR_ZMTP_MECHANISM_MISMATCH ×1) · ZAP allowed 3 denied 2 · sessions closed on revocation 1 · dropped 2",
    ]);
  });

  it("an agent: its state, its last commands (refusals in red), counts and reasons", () => {
    const snapshot = (): AgentSnapshot => ({
      name: "agent-1",
      server: "tcp://127.0.0.1:5090",
      state: "connected",
      forMs: 3000,
      run: 4,
      refused: 2,
      reasons: [
        ["replayed nonce", 1],
        ["expired", 1],
      ],
      recent: [
        { at: "12:00:02", operator: "?", command: "?", result: "refused: replayed nonce", ok: false },
        { at: "12:00:01", operator: "ops", command: "list reports", result: "done", ok: true },
      ],
    });
    const view = agentView(snapshot());
    expect(view.title).toBe("connected 3.0 s · tcp://127.0.0.1:5090");
    expect(agentView({ ...snapshot(), state: "gave up", gaveUp: "the server refused this agent's key (ZAP 400)" }).title).toMatch(
      /gave up .* · the server refused/,
    );
    expect(view.rows).toEqual([
      [{ text: "12:00:02", tone: "dim" }, "?", "?", { text: "refused: replayed nonce", tone: "bad" }],
      [{ text: "12:00:01", tone: "dim" }, "ops", "list reports", "done"],
    ]);
    expect(view.summary).toBe("commands run 4 · refused 2 (replayed nonce ×1, expired ×1)");
  });
});
