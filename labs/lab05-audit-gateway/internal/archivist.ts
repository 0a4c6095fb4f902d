import { closeSockets, type Logger, type OnceStore, pause } from "@zlabs/kit";
import { Dealer } from "zeromq";
import { decodeRecord, encodeBody } from "./protocol.ts";

export interface ArchivistConfig {
  id: string;
  /** The gateway's DEALER endpoint. */
  gateway: string;
  /** Extra time per record, ms: a slow archive. */
  delayMs: number;
}

/**
 * An archival worker: takes records from the gateway and acknowledges each only once it is on disk
 * (the kit's OnceStore: written, fsynced, linked into place). A record id is stored once, whichever
 * archivist gets a retry, so a client's retry never makes a second copy.
 */
export class ArchivalWorker {
  private readonly socket = new Dealer({ linger: 1000 });
  stored = 0;
  duplicates = 0;

  constructor(
    private readonly config: ArchivistConfig,
    private readonly store: OnceStore,
    private readonly log: Logger,
  ) {}

  async run(signal: AbortSignal): Promise<void> {
    this.socket.connect(this.config.gateway);
    this.log.info({ gateway: this.config.gateway, archivist: this.config.id }, "archivist ready");
    const onAbort = () => closeSockets(this.socket);
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      for await (const frames of this.socket) {
        const [client, corr, kind, body] = frames;
        if (frames.length !== 4 || !client || !corr || kind?.toString() !== "AUDIT" || !body) {
          this.log.warn({ frames: frames.length }, "malformed message dropped");
          continue;
        }
        const record = decodeRecord(body);
        if (!record.ok) {
          await this.socket.send([client, corr, "ERROR", encodeBody({ reason: record.reason })]);
          continue;
        }
        this.log.debug({ recordId: record.value.id }, "record received");
        if (this.config.delayMs > 0 && !(await pause(this.config.delayMs, signal))) break;
        const result = this.store.put("records", record.value.id, `${JSON.stringify({ ...record.value, archivedBy: this.config.id })}\n`);
        if (result === "stored") this.stored += 1;
        else this.duplicates += 1;
        this.log.debug({ recordId: record.value.id, result }, "record archived");
        await this.socket.send([client, corr, "ACK", encodeBody({ recordId: record.value.id, result, archivist: this.config.id })]);
      }
    } catch (err) {
      if (!signal.aborted) throw err;
    } finally {
      signal.removeEventListener("abort", onAbort);
      closeSockets(this.socket);
      this.log.info({ stored: this.stored, duplicates: this.duplicates }, "archivist stopped");
    }
  }
}
