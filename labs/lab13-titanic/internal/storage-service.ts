import { createHash } from "node:crypto";
import { mkdir, open, rename, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { isSafeName, type Logger, pathInside, pause, syncDirectory, type View } from "@zlabs/kit";
import { MdpWorker } from "lab12/worker";
import { type StorageSnapshot, storageView, VIEW_MS } from "./view.ts";

/** The MDP service the evidence archive registers. */
export const STORAGE_SERVICE = "evidence.store";
/** The largest artefact the archive takes (Titanic bounds a whole request at 1 MiB). */
export const MAX_ARTEFACT_BYTES = 256 * 1024;

/** Reply bodies: ["stored", sha256 hex, size] or ["refused", reason]. */
export const STORED = "stored";
export const REFUSED = "refused";

export interface StorageConfig {
  broker: string;
  service: string;
  dir: string;
  maxArtefactBytes: number;
  costMs: number;
  heartbeatMs: number;
  liveness: number;
  reconnectMs: number;
}

export type ArtefactRequest = { kind: "artefact"; name: string; content: Buffer } | { kind: "invalid"; reason: string };

/** A storage request: [name, content]; the name becomes a file name only after isSafeName/pathInside. */
export function decodeArtefact(body: Buffer[], maxBytes: number): ArtefactRequest {
  if (body.length !== 2) return { kind: "invalid", reason: `expected [name, content], got ${body.length} frames` };
  const [nameFrame, content] = body as [Buffer, Buffer];
  const name = nameFrame.length <= 128 ? nameFrame.toString("utf8") : "";
  if (!isSafeName(name)) return { kind: "invalid", reason: "artefact name must be 1-128 of A-Z a-z 0-9 . _ - (no '..', no leading '.')" };
  if (content.length > maxBytes) return { kind: "invalid", reason: `artefact of ${content.length} bytes, over ${maxBytes}` };
  return { kind: "artefact", name, content };
}

export function digestOf(content: Buffer): string {
  return createHash("sha256").update(content).digest("hex");
}

/**
 * The evidence archive: an MDP worker that stores each submitted artefact under its SHA-256
 * (content-addressed, so storing the same artefact twice is harmless: Titanic delivers at least
 * once) plus a receipt under its name, and answers with the digest.
 */
export class StorageService {
  private readonly snapshot: StorageSnapshot = { recent: [], stored: 0, duplicates: 0, refused: 0 };

  constructor(
    private readonly config: StorageConfig,
    private readonly log: Logger,
    private readonly deps: { publish?: (view: View) => void } = {},
  ) {}

  private folders: Promise<unknown> | undefined;

  async run(signal: AbortSignal): Promise<void> {
    const worker = new MdpWorker(
      {
        broker: this.config.broker,
        service: this.config.service,
        heartbeatMs: this.config.heartbeatMs,
        liveness: this.config.liveness,
        reconnectMs: this.config.reconnectMs,
      },
      this.log,
    );
    this.log.info({ broker: this.config.broker, service: this.config.service, dir: this.config.dir }, "evidence archive up");
    await Promise.all([worker.run(signal, (body) => this.handle(body, signal)), this.viewLoop(signal)]);
  }

  async handle(body: Buffer[], signal?: AbortSignal): Promise<Buffer[]> {
    const msg = decodeArtefact(body, this.config.maxArtefactBytes);
    switch (msg.kind) {
      case "invalid":
        this.snapshot.refused += 1;
        this.log.warn({ reason: msg.reason, refused: this.snapshot.refused }, "artefact refused");
        return [Buffer.from(REFUSED), Buffer.from(msg.reason)];
      case "artefact": {
        if (this.config.costMs > 0) await pause(this.config.costMs, signal);
        const digest = digestOf(msg.content);
        const duplicate = await this.store(msg.name, digest, msg.content);
        if (duplicate) this.snapshot.duplicates += 1;
        else this.snapshot.stored += 1;
        this.snapshot.recent.unshift({ name: msg.name, digest, bytes: msg.content.length, duplicate });
        if (this.snapshot.recent.length > 4) this.snapshot.recent.pop();
        this.log.info({ name: msg.name, digest: digest.slice(0, 16), bytes: msg.content.length, duplicate }, "artefact stored");
        return [Buffer.from(STORED), Buffer.from(digest), Buffer.from(String(msg.content.length))];
      }
    }
  }

  /** Writes the blob (if new) and the receipt, each durably: tmp file, fsync, rename, fsync the folder. */
  private async store(name: string, digest: string, content: Buffer): Promise<boolean> {
    this.folders ??= Promise.all(["blobs", "names"].map((d) => mkdir(join(this.config.dir, d), { recursive: true })));
    await this.folders;
    const blobs = join(this.config.dir, "blobs");
    const blob = join(blobs, digest);
    const exists = await stat(blob).then(
      () => true,
      () => false,
    );
    if (!exists) await writeDurably(blobs, digest, content);
    const names = join(this.config.dir, "names");
    const receipt = pathInside(names, name);
    if (!receipt) throw new Error("unsafe artefact name"); // decodeArtefact already refused it
    await writeDurably(names, name, Buffer.from(`${digest}\n`));
    return exists;
  }

  private async viewLoop(signal: AbortSignal): Promise<void> {
    const publish = this.deps.publish;
    if (!publish) return;
    do publish(storageView(this.snapshot));
    while (await pause(VIEW_MS, signal));
  }
}

async function writeDurably(dir: string, name: string, content: Buffer): Promise<void> {
  const tmp = join(dir, `.${name}.${process.pid}.tmp`);
  const fh = await open(tmp, "w");
  try {
    await fh.writeFile(content);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, join(dir, name));
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await syncDirectory(dir);
}
