import { join } from "node:path";
import { type Logger, pause, type View } from "@zlabs/kit";
import { MdpClient } from "lab12/client";
import { Journal, type JournalRecord } from "./journal.ts";
import { decodeTspReply, parseUuid, TITANIC_CLOSE, TITANIC_REPLY, TITANIC_REQUEST, uuidBytes, uuidFromBytes } from "./protocol.ts";
import { digestOf, STORED } from "./storage-service.ts";
import { type ClientSnapshot, clientView, VIEW_MS } from "./view.ts";

/** The Guide's ticlient polls titanic.reply every 5 s; the demo polls every second so a person sees it. */
export const POLL_MS = 1000;
/** After a failed call (500, timeout, no broker) the client waits this long before that task again. */
export const RETRY_MS = 1000;
export const CLIENT_TIMEOUT_MS = 2500;
export const CLIENT_RETRIES = 3;
/** Calls to Titanic at once, each on its own MDP client. */
export const LANES = 4;
/** The most requests acknowledged and not yet answered at once. */
export const MAX_OUTSTANDING = 64;
export const ARTEFACT_BYTES = 2048;

export const CLIENT_JOURNAL = "client.journal";
/** The client's own journal: what Titanic acknowledged, what came back, what was closed. */
export const C_SUBMITTED = 1; // key uuid, frames [seq, expected digest]
export const C_ANSWERED = 2; // key uuid, frames: the reply body
export const C_CLOSED = 3; // key uuid
export const C_LOST = 4; // key uuid: Titanic answered 400 for an acknowledged uuid (must never happen)

export interface PatientConfig {
  broker: string;
  dir: string;
  service: string;
  requests: number;
  rate: number;
  seed: number;
  artefactBytes: number;
  lanes: number;
  maxOutstanding: number;
  pollMs: number;
  retryMs: number;
  timeoutMs: number;
  retries: number;
}

interface Ticket {
  seq: number;
  uuid: string;
  digest: string;
  answered: boolean;
  polls: number;
  last: string;
  nextAt: number;
  busy: boolean;
}

/** The artefact of request `seq`: the same bytes every time, so a retry sends the same evidence. */
export function artefact(seed: number, seq: number, bytes: number): { name: string; content: Buffer } {
  const name = `case-${seed}-${seq}.bin`;
  return { name, content: Buffer.alloc(bytes, `${name}|`) };
}

/** What a client journal says, for the client at start and for the tests (the proof of exactly-once). */
export interface ClientLedger {
  submitted: Map<string, { seq: number; digest: string }>;
  /** Answer records per uuid: exactly one for each answered request. */
  answers: Map<string, Buffer[][]>;
  closed: Set<string>;
  lost: Set<string>;
}

export function emptyLedger(): ClientLedger {
  return { submitted: new Map(), answers: new Map(), closed: new Set(), lost: new Set() };
}

export function applyRecord(ledger: ClientLedger, rec: JournalRecord): void {
  const uuid = uuidFromBytes(rec.key);
  switch (rec.type) {
    case C_SUBMITTED:
      ledger.submitted.set(uuid, { seq: Number(rec.frames[0]?.toString() ?? -1), digest: rec.frames[1]?.toString() ?? "" });
      return;
    case C_ANSWERED:
      ledger.answers.set(uuid, [...(ledger.answers.get(uuid) ?? []), rec.frames]);
      return;
    case C_CLOSED:
      ledger.closed.add(uuid);
      return;
    case C_LOST:
      ledger.lost.add(uuid);
      return;
  }
}

/** Reads a client journal (the client must not be running). */
export async function readLedger(dir: string, log: Logger): Promise<ClientLedger> {
  const ledger = emptyLedger();
  const journal = await Journal.open(join(dir, CLIENT_JOURNAL), { groupCommit: true, log }, (rec) => applyRecord(ledger, rec));
  await journal.close();
  return ledger;
}

/**
 * A TSP client that survives its own restarts: every uuid Titanic acknowledges goes into its
 * journal before anything else happens, so after a crash it polls for the same uuids again, records
 * each answer once, and closes it. It submits evidence artefacts to the archive through Titanic.
 */
export class PatientClient {
  private journal: Journal | undefined;
  private readonly tickets = new Map<string, Ticket>();
  private readonly toClose = new Set<string>();
  private nextSeq = 0;
  private submitted = 0;
  private answered = 0;
  private closed = 0;
  private errors = 0;
  private submitsInFlight = 0;
  /** Sequence numbers whose submission failed: sent again before new ones. */
  private readonly retrySeqs: number[] = [];
  private nextSubmitAt = 0;

  constructor(
    private readonly config: PatientConfig,
    private readonly log: Logger,
    private readonly deps: { publish?: (view: View) => void } = {},
  ) {}

  async run(signal: AbortSignal): Promise<void> {
    const ledger = emptyLedger();
    this.journal = await Journal.open(join(this.config.dir, CLIENT_JOURNAL), { groupCommit: true, log: this.log }, (rec) =>
      applyRecord(ledger, rec),
    );
    for (const [uuid, { seq, digest }] of ledger.submitted) {
      this.nextSeq = Math.max(this.nextSeq, seq + 1);
      if (ledger.closed.has(uuid) || ledger.lost.has(uuid)) continue;
      if (ledger.answers.has(uuid)) this.toClose.add(uuid);
      else this.tickets.set(uuid, { seq, uuid, digest, answered: false, polls: 0, last: "-", nextAt: 0, busy: false });
    }
    this.submitted = ledger.submitted.size;
    this.answered = ledger.answers.size;
    this.closed = ledger.closed.size;
    this.log.info(
      { dir: this.config.dir, submitted: this.submitted, waiting: this.tickets.size, toClose: this.toClose.size },
      this.submitted > 0 ? "patient client resumed from its journal" : "patient client started",
    );
    try {
      await Promise.all([...Array.from({ length: this.config.lanes }, (_, i) => this.lane(signal, i)), this.viewLoop(signal)]);
    } finally {
      await this.journal.close();
    }
  }

  private get finished(): boolean {
    return this.config.requests > 0 && this.submitted >= this.config.requests && this.tickets.size === 0 && this.toClose.size === 0;
  }

  private async lane(signal: AbortSignal, lane: number): Promise<void> {
    const client = new MdpClient(
      { broker: this.config.broker, timeoutMs: this.config.timeoutMs, retries: this.config.retries },
      this.log.child({ lane }),
    );
    try {
      while (!signal.aborted && !this.finished) {
        const did = await this.step(client, signal);
        if (!did) await pause(Math.min(50, this.config.pollMs), signal);
      }
      if (this.finished && lane === 0)
        this.log.info({ submitted: this.submitted, answered: this.answered, closed: this.closed }, "all requests answered and closed");
    } finally {
      client.close();
    }
  }

  /** One task: close an answered uuid, poll a due one, or submit a new request. False when none is due. */
  private async step(client: MdpClient, signal: AbortSignal): Promise<boolean> {
    for (const uuid of this.toClose) {
      this.toClose.delete(uuid);
      await this.close(client, uuid, signal);
      return true;
    }
    const now = Date.now();
    for (const t of this.tickets.values()) {
      if (t.busy || t.nextAt > now) continue;
      t.busy = true;
      try {
        await this.poll(client, t, signal);
      } finally {
        t.busy = false;
      }
      return true;
    }
    const more = this.config.requests === 0 || this.submitted + this.submitsInFlight < this.config.requests;
    if (more && this.tickets.size + this.submitsInFlight < this.config.maxOutstanding && now >= this.nextSubmitAt) {
      this.submitsInFlight += 1;
      this.nextSubmitAt = this.config.rate > 0 ? now + 1000 / this.config.rate : 0;
      const seq = this.retrySeqs.shift() ?? this.nextSeq++;
      try {
        if (!(await this.submit(client, seq, signal))) this.retrySeqs.push(seq);
      } finally {
        this.submitsInFlight -= 1;
      }
      return true;
    }
    return false;
  }

  private async call(client: MdpClient, service: string, body: Buffer[], signal: AbortSignal): Promise<Buffer[] | undefined> {
    try {
      return await client.request(service, body, signal);
    } catch (err) {
      if (!signal.aborted) {
        this.errors += 1;
        this.log.warn({ service, reason: (err as Error).message }, "Titanic not reached: will try again");
      }
      return undefined;
    }
  }

  /** True once Titanic acknowledged it and the uuid is in the journal. */
  private async submit(client: MdpClient, seq: number, signal: AbortSignal): Promise<boolean> {
    const { name, content } = artefact(this.config.seed, seq, this.config.artefactBytes);
    const reply = await this.call(client, TITANIC_REQUEST, [Buffer.from(this.config.service), Buffer.from(name), content], signal);
    const tsp = reply ? decodeTspReply(reply) : undefined;
    const uuid = tsp?.kind === "ok" ? parseUuid(tsp.frames[0]) : undefined;
    if (!uuid) {
      if (tsp) {
        this.errors += 1;
        this.log.warn({ seq, answer: tsp.kind }, "request not accepted: will try again");
      }
      this.nextSubmitAt = Date.now() + this.config.retryMs;
      return false;
    }
    const digest = digestOf(content);
    // The uuid goes to disk first: from here on a crash of this client loses nothing.
    await (this.journal as Journal).append([
      { type: C_SUBMITTED, key: uuidBytes(uuid), frames: [Buffer.from(String(seq)), Buffer.from(digest)] },
    ]);
    this.submitted += 1;
    this.tickets.set(uuid, {
      seq,
      uuid,
      digest,
      answered: false,
      polls: 0,
      last: "-",
      nextAt: Date.now() + Math.min(100, this.config.pollMs),
      busy: false,
    });
    this.log.info({ seq, uuid, name }, "request acknowledged (200): uuid kept on disk");
    return true;
  }

  private async poll(client: MdpClient, t: Ticket, signal: AbortSignal): Promise<void> {
    t.polls += 1;
    const reply = await this.call(client, TITANIC_REPLY, [Buffer.from(t.uuid)], signal);
    const tsp = reply ? decodeTspReply(reply) : undefined;
    switch (tsp?.kind) {
      case "ok": {
        const [status, digest] = tsp.frames.map((f) => f.toString());
        const good = status === STORED && digest === t.digest;
        await (this.journal as Journal).append([{ type: C_ANSWERED, key: uuidBytes(t.uuid), frames: tsp.frames }]);
        this.tickets.delete(t.uuid);
        this.answered += 1;
        if (good) this.log.info({ seq: t.seq, uuid: t.uuid, digest: digest?.slice(0, 16), polls: t.polls }, "reply received (200)");
        else {
          this.errors += 1;
          this.log.error(
            { seq: t.seq, uuid: t.uuid, answer: tsp.frames.map(String).join(" ") },
            "reply is not the digest of what was sent",
          );
        }
        this.toClose.add(t.uuid);
        return;
      }
      case "pending":
        t.last = "300 pending";
        t.nextAt = Date.now() + this.config.pollMs;
        return;
      case "unknown":
        this.errors += 1;
        this.log.error({ seq: t.seq, uuid: t.uuid }, "Titanic does not know an acknowledged uuid (400)");
        await (this.journal as Journal).append([{ type: C_LOST, key: uuidBytes(t.uuid), frames: [] }]);
        this.tickets.delete(t.uuid);
        return;
      default:
        t.last = tsp?.kind === "error" ? "500 error" : "no answer";
        t.nextAt = Date.now() + this.config.retryMs;
    }
  }

  private async close(client: MdpClient, uuid: string, signal: AbortSignal): Promise<void> {
    const reply = await this.call(client, TITANIC_CLOSE, [Buffer.from(uuid)], signal);
    if (reply && decodeTspReply(reply).kind === "ok") {
      await (this.journal as Journal).append([{ type: C_CLOSED, key: uuidBytes(uuid), frames: [] }]);
      this.closed += 1;
      return;
    }
    if (!signal.aborted) {
      await pause(this.config.retryMs, signal);
      this.toClose.add(uuid);
    }
  }

  snapshot(): ClientSnapshot {
    const waiting = [...this.tickets.values()].slice(0, 4).map((t) => ({ seq: t.seq, uuid: t.uuid, polls: t.polls, last: t.last }));
    return {
      submitted: this.submitted,
      answered: this.answered,
      closed: this.closed,
      waiting,
      outstanding: this.tickets.size,
      errors: this.errors,
      target: this.config.requests,
    };
  }

  private async viewLoop(signal: AbortSignal): Promise<void> {
    const publish = this.deps.publish;
    if (!publish) return;
    do publish(clientView(this.snapshot()));
    while (!this.finished && (await pause(VIEW_MS, signal)));
  }
}
