import { type Logger, type LoopStats, pause, peerLimits, receiveLoop, runLoops, type View } from "@zlabs/kit";
import { Dealer } from "zeromq";
import type { Archive } from "./archive.ts";
import { type AuditRecord, decodeWork, encodeBody, type Work } from "./protocol.ts";
import { archivistView, VIEW_MS } from "./view.ts";

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
 * archivist gets a retry, so a client's retry never makes a second copy. The archive is shared and
 * bounded (see Archive); at start an archivist removes what a crashed write left behind.
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
    private readonly archive: Archive,
    private readonly log: Logger,
    private readonly publish: (view: View) => void = () => {},
  ) {}

  view(): View {
    const { stored, duplicates } = this;
    return archivistView({ stored, duplicates, delayMs: this.config.delayMs, files: this.archive.files, keep: this.archive.keep });
  }

  async run(signal: AbortSignal): Promise<void> {
    const leftovers = this.archive.removeLeftovers();
    if (leftovers > 0) this.log.info({ files: leftovers }, "removed the temporary files of writes that crashed");
    this.socket.connect(this.config.gateway);
    this.log.info(
      { gateway: this.config.gateway, archivist: this.config.id, records: this.archive.files, keep: this.archive.keep || "all" },
      "archivist ready",
    );
    const every = [{ ms: VIEW_MS, run: () => this.publish(this.view()) }];
    try {
      await runLoops(signal, { sockets: [this.socket], every, log: this.log }, () =>
        receiveLoop(this.socket, signal, (frames) => this.onWork(decodeWork(frames), signal), {
          log: this.log,
          name: "gateway",
          stats: this.loop,
        }),
      );
    } finally {
      this.publish(this.view());
      const { stored, duplicates, dropped } = this;
      this.log.info({ stored, duplicates, dropped, trimmed: this.archive.trimmed }, "archivist stopped");
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
        return this.store(work, signal);
    }
  }

  private async store({ client, corr, record }: Work & { kind: "audit" }, signal: AbortSignal): Promise<void> {
    this.log.debug({ recordId: record.id }, "record received");
    if (this.config.delayMs > 0 && !(await pause(this.config.delayMs, signal))) return;
    const result = this.archive.put(record.id, archivedText(record, this.config.id));
    if (result === "stored") this.stored += 1;
    else this.duplicates += 1;
    this.log.debug({ recordId: record.id, result }, "record archived");
    await this.socket.send([client, corr, "ACK", encodeBody({ recordId: record.id, result, archivist: this.config.id })]);
  }
}
