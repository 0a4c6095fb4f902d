// The jobs as pure code: splits read every line once, the partition hash is deterministic, and the
// distributed computation (splits -> map + combine -> partition -> reduce) equals the single-process one.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { accessLogLines, writeInputs } from "../internal/inputs.ts";
import {
  formatResult,
  JOB_KINDS,
  type JobKind,
  jobOf,
  logAggregation,
  mapSplit,
  partitionOf,
  partitionTable,
  runSingle,
  splitFiles,
  splitLines,
  topKeys,
  wordCount,
} from "../internal/jobs.ts";

const dir = mkdtempSync(join(tmpdir(), "lab15-jobs-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function collect(kind: JobKind): Record<string, number> {
  const out: Record<string, number> = {};
  jobOf(kind).map(kind === "logs" ? (accessLogLines(1, 1)[0] as string) : "The cat, the CAT and don't stop.", (k, v) => {
    out[k] = (out[k] ?? 0) + v;
  });
  return out;
}

/** The distributed computation in one process: what the cluster does, without the sockets. */
function distributed(kind: JobKind, files: string[], splitBytes: number, reducers: number): string {
  const job = jobOf(kind);
  const partitions = Array.from({ length: reducers }, () => new Map<string, number>());
  for (const split of splitFiles(files, splitBytes)) {
    const table = new Map<string, number>();
    mapSplit(job, split, table);
    partitionTable(table, reducers).forEach((records, p) => {
      const part = partitions[p] as Map<string, number>;
      for (const [k, v] of records) {
        expect(partitionOf(k, reducers)).toBe(p);
        const had = part.get(k);
        part.set(k, had === undefined ? v : job.reduce(had, v));
      }
    });
  }
  return formatResult(partitions.flatMap((p) => [...p]));
}

describe("the jobs", () => {
  it("word count maps words, lower case, apostrophes kept", () => {
    expect(collect("wordcount")).toEqual({ the: 2, cat: 2, and: 1, "don't": 1, stop: 1 });
    expect(wordCount.reduce(2, 3)).toBe(5);
  });

  it("the log job reads Common Log Format: requests and bytes per IP, requests per status; other lines are invalid", () => {
    const out: Record<string, number> = {};
    const emit = (k: string, v: number) => {
      out[k] = (out[k] ?? 0) + v;
    };
    logAggregation.map('127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326', emit);
    logAggregation.map('10.0.0.9 - - [10/Oct/2000:13:55:37 -0700] "GET / HTTP/1.0" 304 -', emit);
    logAggregation.map("not a log line", emit);
    expect(out).toEqual({ "ip:127.0.0.1": 1, "status:200": 1, "bytes:127.0.0.1": 2326, "ip:10.0.0.9": 1, "status:304": 1, invalid: 1 });
  });

  it("the partition hash is deterministic and spreads keys over every reducer", () => {
    const table: [string, number][] = [
      ["the", 0],
      ["", 0],
      ["ip:10.0.0.1", 1],
      ["zeromq", 2],
    ];
    for (const [key] of table) expect(partitionOf(key, 4)).toBe(partitionOf(key, 4));
    expect(partitionOf("the", 1)).toBe(0);
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) seen.add(partitionOf(`word${i}`, 4));
    expect([...seen].sort()).toEqual([0, 1, 2, 3]);
    // Fixed values: the hash must not change between releases (reducers of two versions would disagree).
    expect([partitionOf("the", 7), partitionOf("ip:10.0.0.1", 7), partitionOf("status:404", 3)]).toMatchSnapshot();
  });

  it("splits read every line exactly once, whatever the split size (lines longer than a split too)", () => {
    const file = join(dir, "lines.txt");
    const lines = ["a", "", "bb", "x".repeat(50), "ccc", "dddd", "", "e"];
    writeFileSync(file, `${lines.join("\n")}\nlast-without-newline`);
    for (const size of [1, 2, 3, 5, 7, 13, 64, 1000]) {
      const got = splitFiles([file], size).flatMap((s) => [...splitLines(s)]);
      expect(got, `split size ${size}`).toEqual([...lines, "last-without-newline"]);
    }
  });

  for (const kind of JOB_KINDS) {
    it(`${kind}: distributed == single-process, byte for byte after sorting, for several split sizes and reducer counts`, () => {
      const files = writeInputs(join(dir, kind), kind, 3, 400, 42);
      const single = runSingle(kind, files);
      expect(single.lines).toBe(1200);
      const expected = formatResult(single.table);
      expect(expected.length).toBeGreaterThan(100);
      for (const [splitBytes, reducers] of [
        [997, 1],
        [4096, 3],
        [100_000, 4],
        [333, 7],
      ] as const)
        expect(distributed(kind, files, splitBytes, reducers), `${splitBytes} B splits, ${reducers} reducers`).toBe(expected);
    });
  }

  it("top talkers: the IPs with most requests, ties by address", () => {
    expect(
      topKeys(
        [
          ["ip:b", 3],
          ["ip:a", 3],
          ["status:200", 9],
          ["ip:c", 5],
        ],
        "ip:",
        2,
      ),
    ).toEqual([
      ["c", 5],
      ["a", 3],
    ]);
  });

  it("the generator is seeded: the same seed writes the same bytes", () => {
    const a = writeInputs(join(dir, "s1"), "logs", 1, 50, 7);
    const b = writeInputs(join(dir, "s2"), "logs", 1, 50, 7);
    expect(readFileSync(a[0] as string, "utf8")).toBe(readFileSync(b[0] as string, "utf8"));
  });
});
