import { type Logger, type LoopStats, type OnceStore, pause, peerLimits, receiveLoop, runLoops } from "@zlabs/kit";
import { Dealer } from "zeromq";
import { type AuditRecord, decodeWork, encodeBody, type Work } from "./protocol.ts";

export interface ArchivistConfig {
  id: string;
  /** The gateway's DEALER endpoint. */
  gateway: string;
  /** Extra time per record, ms: a slow archive. */
  delayMs: number;
}

/**
 * A record as it is archived: JSON, with the archivist's name. The record came through the kit's
 * codec, so it holds no BigInt; a value JSON cannot hold is written as text all the same, so a
 * peer's record can never make the archivist throw.
 */
export function archivedText(record: AuditRecord, archivist: string): string {
  return `${JSON.stringify({ ...record, archivedBy: archivist }, (_key, v: unknown) => (typeof v === "bigint" ? v.toString() : v))}\n`;
}

/**
 * An archival worker: takes records from the gateway and acknowledges each only once it is on disk
 * (the kit's OnceStore: written, fsynced, linked into place). A record id is stored once, whichever
 * archivist gets a retry, so a client's retry never makes a second copy.
 */
export class ArchivalWorker {
  private readonly socket = new Dealer({ linger: 1000, ...peerLimits() });
  stored = 0;
  duplicates = 0;
  /** Messages from the gateway that were not an addressed AUDIT job. */
  dropped = 0;
  readonly loop: LoopStats = { received: 0, failed: 0 };

  constructor(
    private readonly config: ArchivistConfig,
    private readonly store: OnceStore,
    private readonly log: Logger,
  ) {}

  async run(signal: AbortSignal): Promise<void> {
    this.socket.connect(this.config.gateway);
    this.log.info({ gateway: this.config.gateway, archivist: this.config.id }, "archivist ready");
    try {
      await runLoops(signal, { sockets: [this.socket] }, () =>
        receiveLoop(this.socket, signal, (frames) => this.onWork(decodeWork(frames), signal), {
          log: this.log,
          name: "gateway",
          stats: this.loop,
        }),
      );
    } finally {
      this.log.info({ stored: this.stored, duplicates: this.duplicates, dropped: this.dropped }, "archivist stopped");
    }
  }

  private async onWork(work: Work, signal: AbortSignal): Promise<void> {
    switch (work.kind) {
      case "invalid":
        this.dropped += 1;
        this.log.warn({ reason: work.reason, total: this.dropped }, "malformed message dropped");
        return;
      case "refused":
        await this.socket.send([work.client, work.corr, "ERROR", encodeBody({ reason: work.reason })]);
        return;
      case "audit":
        return this.archive(work, signal);
    }
  }

  private async archive({ client, corr, record }: Work & { kind: "audit" }, signal: AbortSignal): Promise<void> {
    this.log.debug({ recordId: record.id }, "record received");
    if (this.config.delayMs > 0 && !(await pause(this.config.delayMs, signal))) return;
    const result = this.store.put("records", record.id, archivedText(record, this.config.id));
    if (result === "stored") this.stored += 1;
    else this.duplicates += 1;
    this.log.debug({ recordId: record.id, result }, "record archived");
    await this.socket.send([client, corr, "ACK", encodeBody({ recordId: record.id, result, archivist: this.config.id })]);
  }
}
