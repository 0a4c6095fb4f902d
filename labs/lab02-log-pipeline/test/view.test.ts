// The live views as pure functions, the writer's retention of batches, and the views as the roles publish them.
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { View, ViewCell } from "@zlabs/kit";
import { afterAll, describe, expect, it } from "vitest";
import { pruneBatches } from "../internal/retention.ts";
import { type CollectorViewState, collectorView, QUIET_AFTER_MS, writerView } from "../internal/view.ts";
import { scratch } from "./fixtures.ts";

const tmp = scratch();
afterAll(tmp.remove);
const text = (c: ViewCell | undefined) => String(typeof c === "object" ? c.text : c);
const tone = (c: ViewCell | undefined) => (typeof c === "object" ? c.tone : undefined);
const rowsText = (v: View) => (v.rows ?? []).map((r) => r.map(text).join(" | "));

describe("the collector's view", () => {
  const base: CollectorViewState = {
    batch: "20261201101500-abc123",
    number: 2,
    repeat: 0,
    phase: "sending",
    expected: 60_000,
    sent: 30_000,
    acked: 24_000,
    unacked: 6000,
    chunksResent: 2,
    parsers: 3,
    minParsers: 3,
    rate: 0,
    windowFull: false,
    elapsedMs: 12_345,
    nextInMs: 0,
  };

  it("shows the batch, what is sent, acknowledged, held and sent again", () => {
    const v = collectorView(base);
    expect(v.title).toBe("batch 2 (20261201101500-abc123): 60,000 lines, repeated until stopped");
    expect(rowsText(v)).toEqual(["#2 | sending | 30,000 (50 %) | 24,000 (40 %) | 6,000 | 2 | 12.3 s"]);
    expect(tone(v.rows?.[0]?.[5])).toBe("warn");
    expect(v.summary).toBeUndefined();
  });

  it("says what it waits for, and what the last batch did", () => {
    const last = { batch: "b1", lines: 60_000, seconds: 24.31, chunksResent: 2, done: { duplicates: 0, resends: 1 } };
    const phases: [Partial<CollectorViewState>, string][] = [
      [{ phase: "waiting", parsers: 1 }, "waiting for the writer and 3 parsers (1 so far)"],
      [{ windowFull: true }, "window full, waiting for ACK"],
      [{ rate: 2500 }, "sending at 2,500 lines/s"],
      [{ phase: "finishing" }, "all sent; waiting for DONE"],
      [{ phase: "pause", nextInMs: 4200 }, "done; next batch in 4.2 s"],
    ];
    for (const [over, state] of phases) expect(text(collectorView({ ...base, ...over }).rows?.[0]?.[1])).toBe(state);
    const v = collectorView({ ...base, repeat: 5, last });
    expect(v.title).toBe("batch 2 of 5 (20261201101500-abc123): 60,000 lines");
    expect(v.summary).toBe("last batch done: 60,000 lines in 24.3 s, 2 chunks sent again after 1 MISSING, 0 duplicates dropped");
  });
});

describe("the writer's view", () => {
  const now = 1_000_000;
  const batch = {
    name: "b2",
    expected: 60_000,
    stored: 30_000,
    watermark: 28_000,
    duplicates: 0,
    resends: 1,
    linesPerSec: 2000,
    flowing: true,
  };
  const parsers = new Map([
    ["log-parser-1", { lines: 6000, chunks: 6, lastAt: now - QUIET_AFTER_MS - 1 }],
    ["log-parser-2", { lines: 12_000, chunks: 12, lastAt: now - 400 }],
    ["log-parser-3", { lines: 12_000, chunks: 12, lastAt: now - 100 }],
  ]);

  it("shows the batch's progress and each parser's share; a parser silent while work flows is marked", () => {
    const v = writerView({ batch, parsers, outDir: ".store/events", keepBatches: 3 }, now);
    expect(v.title).toBe("batch b2: 30,000 of 60,000 stored (50 %) · 2,000 lines/s · watermark 28,000");
    expect(rowsText(v)).toEqual([
      "log-parser-1 | 6,000 | 6 | 20 % | 3.0 s ago",
      "log-parser-2 | 12,000 | 12 | 40 % | 0.4 s ago",
      "log-parser-3 | 12,000 | 12 | 40 % | 0.1 s ago",
    ]);
    expect((v.rows ?? []).map((r) => tone(r[4]))).toEqual(["warn", "dim", "dim"]);
    expect(v.summary).toEqual(["MISSING asked 1 time · duplicates dropped 0 · .store/events keeps the last 3 batches"]);
  });

  it("between batches: the parsers known, where the files are, and the last batch", () => {
    const last = { batch: "b1", stored: 60_000, seconds: 24.33, resends: 0, duplicates: 0 };
    const v = writerView({ parsers, outDir: "/tmp/events", keepBatches: 0, last }, now);
    expect(v.title).toBe("no batch running · 3 parsers known");
    expect((v.rows ?? []).map((r) => tone(r[4]))).toEqual(["dim", "dim", "dim"]);
    expect(v.summary).toEqual([
      "/tmp/events keeps every batch",
      "last batch b1: 60,000 stored exactly once in 24.3 s, 0 MISSING, 0 duplicates dropped",
    ]);
  });
});

describe("the writer's retention", () => {
  it("keeps the files of the last N batches, the current one counted, and touches nothing else", () => {
    const dir = join(tmp.dir, "prune");
    mkdirSync(dir);
    const batches = ["20261201100000-aaaaaa", "20261201100100-bbbbbb", "20261201100200-cccccc", "20261201100300-dddddd"];
    for (const b of batches) for (const i of ["0001", "0002"]) writeFileSync(join(dir, `events-${b}-${i}.ndjson`), "{}\n");
    writeFileSync(join(dir, "notes.txt"), "mine");
    expect(pruneBatches(dir, 0, "20261201100400-eeeeee")).toEqual([]);
    expect(pruneBatches(dir, 3, "20261201100400-eeeeee")).toEqual(batches.slice(0, 2));
    expect(readdirSync(dir).sort()).toEqual([
      "events-20261201100200-cccccc-0001.ndjson",
      "events-20261201100200-cccccc-0002.ndjson",
      "events-20261201100300-dddddd-0001.ndjson",
      "events-20261201100300-dddddd-0002.ndjson",
      "notes.txt",
    ]);
    expect(pruneBatches(dir, 1)).toEqual(["20261201100200-cccccc"]);
    expect(pruneBatches(join(tmp.dir, "nowhere"), 3)).toEqual([]);
  });
});
