// TSP frames, uuids, artefact requests, and the views: pure functions, table-driven.
import { describe, expect, it } from "vitest";
import { artefact } from "../internal/patient-client.ts";
import {
  decodeTitanicRequest,
  decodeTspReply,
  decodeUuidRequest,
  MAX_BODY_BYTES,
  MAX_BODY_FRAMES,
  newUuid,
  parseStatus,
  parseUuid,
  uuidBytes,
  uuidFromBytes,
} from "../internal/protocol.ts";
import { decodeArtefact, digestOf } from "../internal/storage-service.ts";
import { clientView, storageView, titanicView } from "../internal/view.ts";

const b = (s: string) => Buffer.from(s, "latin1");

describe("uuids", () => {
  it("a new uuid is 32 upper-case hex characters and round-trips through 16 bytes", () => {
    const uuid = newUuid();
    expect(uuid).toMatch(/^[0-9A-F]{32}$/);
    expect(uuidFromBytes(uuidBytes(uuid))).toBe(uuid);
  });

  it.each([
    ["0123456789ABCDEF0123456789ABCDEF", "0123456789ABCDEF0123456789ABCDEF"],
    ["0123456789abcdef0123456789abcdef", "0123456789ABCDEF0123456789ABCDEF"],
    ["0123456789ABCDEF0123456789ABCDE", undefined],
    ["0123456789ABCDEF0123456789ABCDEF0", undefined],
    ["0123456789ABCDEF0123456789ABCDEG", undefined],
    ["../../../../../../../../etc/pass", undefined],
    ["0123456789ABCDEF/123456789ABCDEF", undefined],
    ["0123456789ABCDEF 123456789ABCDEF", undefined],
    ["", undefined],
  ])("parseUuid(%j) = %j", (text, want) => {
    expect(parseUuid(b(text))).toBe(want);
  });

  it("bytes that only look like 32 characters (a multi-byte UTF-8 string) are refused", () => {
    expect(parseUuid(Buffer.from("é".repeat(16)))).toBeUndefined();
    expect(parseUuid(undefined)).toBeUndefined();
  });
});

describe("status frames", () => {
  it.each([
    ["200", "200"],
    ["300", "300"],
    ["400", "400"],
    ["500", "500"],
    ["200 OK", "200"],
    ["500 disk full", "500"],
    ["201", undefined],
    ["2000", undefined],
    ["20", undefined],
    ["abc", undefined],
  ])("parseStatus(%j) = %j", (text, want) => {
    expect(parseStatus(b(text))).toBe(want);
  });

  it("decodeTspReply: the text after the code is ignored, frames after 200 are the body", () => {
    expect(decodeTspReply([b("200 fine"), b("x"), b("y")])).toEqual({ kind: "ok", frames: [b("x"), b("y")] });
    expect(decodeTspReply([b("300")])).toEqual({ kind: "pending" });
    expect(decodeTspReply([b("400 who")])).toEqual({ kind: "unknown" });
    expect(decodeTspReply([b("500")])).toEqual({ kind: "error" });
    expect(decodeTspReply([]).kind).toBe("invalid");
  });
});

describe("titanic.request / titanic.reply / titanic.close bodies", () => {
  it.each([
    ["a service and a body", [b("evidence.store"), b("x")], "request"],
    ["a service and an empty body frame", [b("echo"), b("")], "request"],
    ["no body", [b("echo")], "invalid"],
    ["nothing", [], "invalid"],
    ["a service with a space", [b("ev store"), b("x")], "invalid"],
    ["a titanic.* service (a loop)", [b("titanic.request"), b("x")], "invalid"],
    ["an mmi.* service", [b("mmi.service"), b("x")], "invalid"],
    ["a 256-byte service", [b("s".repeat(256)), b("x")], "invalid"],
    ["too many frames", [b("echo"), ...Array.from({ length: MAX_BODY_FRAMES + 1 }, () => b("x"))], "invalid"],
    ["too many bytes", [b("echo"), Buffer.alloc(MAX_BODY_BYTES + 1)], "invalid"],
  ])("titanic.request with %s: %s", (_what, frames, kind) => {
    expect(decodeTitanicRequest(frames as Buffer[]).kind).toBe(kind);
  });

  it("reply and close take exactly one frame, a uuid", () => {
    const uuid = newUuid();
    expect(decodeUuidRequest([b(uuid)])).toEqual({ kind: "uuid", uuid });
    expect(decodeUuidRequest([b(uuid), b("more")]).kind).toBe("invalid");
    expect(decodeUuidRequest([]).kind).toBe("invalid");
    expect(decodeUuidRequest([b("x")]).kind).toBe("invalid");
  });
});

describe("archive requests", () => {
  it.each([
    ["ok.bin", 10, "artefact"],
    ["case-1-2.bin", 10, "artefact"],
    ["../x", 10, "invalid"],
    ["..", 10, "invalid"],
    [".hidden", 10, "invalid"],
    ["a/b", 10, "invalid"],
    ["", 10, "invalid"],
    ["ok.bin", 101, "invalid"],
  ])("name %j, %i bytes: %s", (name, bytes, kind) => {
    expect(decodeArtefact([b(name), Buffer.alloc(bytes)], 100).kind).toBe(kind);
  });

  it("the patient client's artefacts are the same bytes every time (a retry sends the same evidence)", () => {
    expect(digestOf(artefact(1, 7, 300).content)).toBe(digestOf(artefact(1, 7, 300).content));
    expect(artefact(1, 7, 300).name).toBe("case-1-7.bin");
    expect(digestOf(artefact(1, 7, 300).content)).not.toBe(digestOf(artefact(1, 8, 300).content));
  });
});

describe("views", () => {
  it("titanic: pending and replied counts, storage state, fsyncs per record, recent uuids", () => {
    const view = titanicView({
      recent: [{ uuid: "0123456789ABCDEF0123456789ABCDEF", service: "evidence.store", state: "replied", ageMs: 1200 }],
      counters: { stored: 10, refused: 1, failed500: 2, dispatched: 9, replied: 8, closed: 7, dispatchErrors: 0 },
      size: { entries: 3, pending: 2, done: 1, deadBytes: 500, bytes: 2000 },
      journal: { fsyncs: 5, appended: 20, batches: 5, compactions: 1, tornBytes: 0, bytes: 2000 },
      storage: undefined,
      groupCommit: true,
    });
    expect(view.title).toBe("titanic: 2 pending, 1 replied, not closed · storage ok");
    expect(view.rows?.[0]?.[0]).toBe("01234567…");
    expect(view.rows?.[0]?.[2]).toEqual({ text: "replied", tone: "good" });
    expect(view.summary?.[1]).toContain("fsyncs/record 0.25 (group commit)");
    const down = titanicView({
      recent: [],
      counters: { stored: 0, refused: 0, failed500: 0, dispatched: 0, replied: 0, closed: 0, dispatchErrors: 0 },
      size: { entries: 0, pending: 0, done: 0, deadBytes: 0, bytes: 0 },
      journal: undefined,
      storage: "ENOTDIR",
      groupCommit: false,
    });
    expect(down.title).toContain("storage DOWN (ENOTDIR)");
  });

  it("archive and client", () => {
    const archive = storageView({
      recent: [{ name: "a.bin", digest: "f".repeat(64), bytes: 2048, duplicate: true }],
      stored: 4,
      duplicates: 1,
      refused: 2,
    });
    expect(archive.title).toBe("evidence archive: 4 artefacts stored, 1 again (idempotent)");
    expect(archive.rows?.[0]).toEqual(["a.bin", `${"f".repeat(16)}…`, "2,048", { text: "again", tone: "dim" }]);
    const client = clientView({
      submitted: 5,
      answered: 3,
      closed: 3,
      waiting: [{ seq: 4, uuid: "A".repeat(32), polls: 2, last: "300 pending" }],
      outstanding: 2,
      errors: 0,
      target: 10,
    });
    expect(client.title).toBe("patient client: 5 of 10 submitted, 3 answered, 2 waiting");
    expect(client.rows?.[0]?.[3]).toEqual({ text: "300 pending", tone: "warn" });
  });
});
