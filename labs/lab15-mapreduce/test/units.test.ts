// The protocol's decoders (table-driven), the reducer's duplicate handling with real sockets in
// process, and the views.
import { encode } from "@zlabs/kit";
import { testLogger, waitUntil, withDeadline } from "@zlabs/kit/testing";
import { describe, expect, it } from "vitest";
import { Pull, Router } from "zeromq";
import {
  encodeAssign,
  encodeEnd,
  encodeHeader,
  encodeHello,
  encodeKill,
  encodeMapTask,
  encodeRecords,
  F,
  fromMaster,
  fromSink,
  fromWorker,
  MAX_BATCH_RECORDS,
} from "../internal/protocol.ts";
import { ReduceWorker } from "../internal/reduce-worker.ts";
import { masterView, workerView } from "../internal/view.ts";

const b = (s: string) => Buffer.from(s);
const header = encodeHeader({ job: 7, task: 0, attempt: 1, partition: 0 });

describe("protocol decoders", () => {
  it.each([
    ["READY with a hello", [F.READY, encodeHello({ kind: "map", name: "m1" })], "ready"],
    ["READY without a body", [F.READY], "invalid"],
    ["READY of an unknown kind", [F.READY, encode({ v: 1, kind: "boss", name: "x" })], "invalid"],
    ["READY of another version", [F.READY, encode({ v: 2, kind: "map", name: "x" })], "invalid"],
    ["READY with an empty name", [F.READY, encode({ v: 1, kind: "map", name: "" })], "invalid"],
    ["an unknown word", [b("HELLO"), encodeHello({ kind: "map", name: "m1" })], "invalid"],
  ] as const)("work ROUTER: %s -> %s", (_, frames, kind) => {
    expect(fromWorker(frames as unknown as Buffer[]).kind).toBe(kind);
  });

  it.each([
    ["BATCH", [F.BATCH, header, encodeRecords([["a", 1]])], "batch"],
    ["BATCH without records", [F.BATCH, header], "invalid"],
    ["BATCH with task out of range", [F.BATCH, encode({ v: 1, job: 7, task: -1, attempt: 1, partition: 0 }), encodeRecords([])], "invalid"],
    ["BATCH with partition 64", [F.BATCH, encode({ v: 1, job: 7, task: 0, attempt: 1, partition: 64 }), encodeRecords([])], "invalid"],
    [
      "BATCH with end (a partition's last batch)",
      [F.BATCH, encodeHeader({ job: 7, task: 0, attempt: 1, partition: 0, end: 1 }), encodeRecords([["a", 1]])],
      "batch",
    ],
    ["BATCH with end -1", [F.BATCH, encode({ v: 1, job: 7, task: 0, attempt: 1, partition: 0, end: -1 }), encodeRecords([])], "invalid"],
    [
      "BATCH with end null",
      [F.BATCH, encode({ v: 1, job: 7, task: 0, attempt: 1, partition: 0, end: null }), encodeRecords([])],
      "invalid",
    ],
    ["END", [F.END, encodeEnd({ job: 7, task: 0, attempt: 1, partition: 0, records: 1 })], "end"],
    ["END with records -1", [F.END, encode({ v: 1, job: 7, task: 0, attempt: 1, partition: 0, records: -1 })], "invalid"],
    ["RESULT", [F.RESULT, encode({ v: 1, job: 7, partition: 0, attempt: 1 }), encodeRecords([["k", 2]])], "result"],
    ["RESULT with a negative value", [F.RESULT, encode({ v: 1, job: 7, partition: 0, attempt: 1 }), encode(["k", -2])], "invalid"],
    ["RESULT with an odd array", [F.RESULT, encode({ v: 1, job: 7, partition: 0, attempt: 1 }), encode(["k"])], "invalid"],
    ["DONE", [F.DONE, encode({ v: 1, job: 7, partition: 0, attempt: 1, records: 3 })], "done"],
    ["DONE of job 0", [F.DONE, encode({ v: 1, job: 0, partition: 0, attempt: 1, records: 3 })], "invalid"],
    ["garbage", [b("\xff\xff")], "invalid"],
  ] as const)("sink PULL: %s -> %s", (_, frames, kind) => {
    expect(fromSink(frames as unknown as Buffer[]).kind).toBe(kind);
  });

  it.each([
    ["MAP", [F.MAP, encodeMapTask({ job: 1, kind: "logs", task: 0, attempt: 1, file: "/x", start: 0, end: 10, reducers: 2 })], "map"],
    [
      "MAP with end < start",
      [F.MAP, encode({ v: 1, job: 1, kind: "logs", task: 0, attempt: 1, file: "/x", start: 9, end: 1, reducers: 2 })],
      "invalid",
    ],
    [
      "MAP of an unknown job kind",
      [F.MAP, encode({ v: 1, job: 1, kind: "sql", task: 0, attempt: 1, file: "/x", start: 0, end: 1, reducers: 2 })],
      "invalid",
    ],
    ["REDUCE", [F.REDUCE, encodeAssign({ job: 1, kind: "wordcount", partition: 1, attempt: 1, maps: 4 })], "reduce"],
    ["REDUCE with 0 maps", [F.REDUCE, encode({ v: 1, job: 1, kind: "wordcount", partition: 1, attempt: 1, maps: 0 })], "invalid"],
    ["KILL", [F.KILL, encodeKill(3)], "kill"],
  ] as const)("worker DEALER: %s -> %s", (_, frames, kind) => {
    expect(fromMaster(frames as unknown as Buffer[]).kind).toBe(kind);
  });

  it("a last batch carries its end marker through both decoders; other batches carry none", () => {
    const last = [F.BATCH, encodeHeader({ job: 7, task: 3, attempt: 2, partition: 1, end: 5 }), encodeRecords([["a", 1]])];
    const end = { job: 7, task: 3, attempt: 2, partition: 1, records: 5 };
    const s = fromSink(last);
    expect(s.kind === "batch" && s.end).toEqual(end);
    const m = fromMaster(last);
    expect(m.kind === "batch" && m.end).toEqual(end);
    const plain = fromMaster([F.BATCH, header, encodeRecords([["a", 1]])]);
    expect(plain.kind === "batch" && plain.end).toBeUndefined();
  });

  it("a batch is bounded: more than MAX_BATCH_RECORDS pairs, or a key over 200 characters, is refused", () => {
    const many = encodeRecords(Array.from({ length: MAX_BATCH_RECORDS + 1 }, (_, i) => [`k${i}`, 1] as [string, number]));
    expect(fromSink([F.RESULT, encode({ v: 1, job: 7, partition: 0, attempt: 1 }), many]).kind).toBe("invalid");
    expect(fromMaster([F.BATCH, header, encodeRecords([["x".repeat(201), 1]])]).kind).toBe("invalid");
  });
});

describe("the reducer, in process", () => {
  it("ignores a duplicate map output (same task, another attempt) and finishes only on the end marker of every map task", async () => {
    const master = new Router({ linger: 0 });
    const sink = new Pull({ linger: 0 });
    await master.bind("tcp://127.0.0.1:*");
    await sink.bind("tcp://127.0.0.1:*");
    const ac = new AbortController();
    const reducer = new ReduceWorker(
      { name: "r1", work: master.lastEndpoint as string, sink: sink.lastEndpoint as string, heartbeatMs: 1000, batchRecords: 2 },
      testLogger("lab15"),
    );
    const running = reducer.run(ac.signal);
    try {
      const [id] = await withDeadline(master.receive(), 10_000, "READY");
      const to = (...frames: Buffer[]) => master.send([id as Buffer, ...frames]);
      const h = (task: number, attempt: number) => encodeHeader({ job: 9, task, attempt, partition: 0 });
      const end = (task: number, attempt: number, records: number) => [F.END, encodeEnd({ job: 9, task, attempt, partition: 0, records })];
      await to(F.REDUCE, encodeAssign({ job: 9, kind: "wordcount", partition: 0, attempt: 1, maps: 2 }));
      // Task 0, attempt 1 and its backup attempt 2, interleaved; attempt 2 ends first and wins.
      await to(
        F.BATCH,
        h(0, 1),
        encodeRecords([
          ["a", 1],
          ["b", 2],
        ]),
      );
      await to(
        F.BATCH,
        h(0, 2),
        encodeRecords([
          ["a", 1],
          ["b", 2],
        ]),
      );
      await to(...end(0, 2, 2));
      await to(...end(0, 1, 2));
      // Another job's output, and a repeat of the winning attempt: neither counts.
      await to(F.BATCH, encodeHeader({ job: 8, task: 1, attempt: 1, partition: 0 }), encodeRecords([["z", 100]]));
      await to(F.BATCH, h(0, 2), encodeRecords([["a", 50]]));
      await to(...end(0, 2, 1));
      // Every one of those handled, and no result: task 1's end marker is missing.
      await waitUntil(() => reducer.duplicates === 2 && reducer.dropped === 1, { timeoutMs: 10_000, what: "the duplicates handled" });
      expect(sink.readable).toBe(false);
      // Task 1 in one message: its last (only) batch carries the end marker, as a mapper sends it.
      await to(
        F.BATCH,
        encodeHeader({ job: 9, task: 1, attempt: 1, partition: 0, end: 2 }),
        encodeRecords([
          ["a", 3],
          ["c", 1],
        ]),
      );
      const got: [string, number][] = [];
      for (;;) {
        const msg = fromSink(await withDeadline(sink.receive(), 10_000, "the result"));
        if (msg.kind === "result") got.push(...msg.records);
        else if (msg.kind === "done") {
          expect(msg.done.records).toBe(3);
          break;
        } else throw new Error(`unexpected ${msg.kind}`);
      }
      expect(Object.fromEntries(got)).toEqual({ a: 4, b: 2, c: 1 });
      expect(reducer.duplicates).toBe(2);
      expect(reducer.dropped).toBe(1);
    } finally {
      ac.abort();
      await running;
      master.close();
      sink.close();
    }
  });
});

describe("views", () => {
  it("the master shows the job's progress, tasks done/running/re-run, backups and every worker", () => {
    const v = masterView({
      job: {
        id: 12,
        kind: "logs",
        ms: 1500,
        tasks: 10,
        done: 5,
        running: 2,
        reruns: 1,
        backups: 1,
        duplicates: 1,
        partitions: 2,
        reduced: 0,
      },
      waiting: undefined,
      workers: [
        { name: "m1", kind: "map", doing: "task 6", done: 3, silentMs: 100 },
        { name: "r1", kind: "reduce", doing: undefined, done: 0, silentMs: 2500 },
      ],
      jobsDone: 3,
      last: { id: 11, kind: "logs", ms: 900, keys: 40, top: [["10.0.0.1", 50]], reruns: 0, backups: 0, duplicates: 0 },
      dropped: 0,
    });
    expect(v.title).toBe("job 12 logs [##########..........] map 5/10 · reduce 0/2 · 1.5 s");
    expect(v.rows?.[0]).toEqual(["m1", "map", { text: "task 6", tone: "warn" }, "3", { text: "ok", tone: "dim" }]);
    expect(v.rows?.[1]?.[4]).toEqual({ text: "2.5 s", tone: "bad" });
    expect(v.summary?.[0]).toContain("run again 1 · backup (speculative) 1 · duplicates ignored 1");
    expect(v.summary?.[2]).toContain("top talkers: 10.0.0.1 50");
  });

  it("the master says whom it waits for before the first task", () => {
    const v = masterView({
      job: undefined,
      waiting: { mappers: 2, reducers: 2 },
      workers: [{ name: "m1", kind: "map", doing: undefined, done: 0, silentMs: 0 }],
      jobsDone: 0,
      last: undefined,
      dropped: 0,
    });
    expect(v.title).toContain("1/2 mappers, 0/2 reducers");
  });

  it("a worker shows its records/s", () => {
    const v = workerView({ name: "m1", kind: "map", doing: undefined, done: 4, records: 12000, perSecond: 2400, dropped: 0 });
    expect(v.title).toBe("idle");
    expect(v.summary).toContain("2,400 lines/s");
  });
});
