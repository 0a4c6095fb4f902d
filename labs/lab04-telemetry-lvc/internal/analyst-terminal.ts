import { type Logger, type LoopStats, peerLimits, receiveLoop, reconnectAfterDrops, runLoops, UsageError } from "@zlabs/kit";
import { Subscriber } from "zeromq";
import { decodePayload, decodeSample, MAX_SAMPLE_FRAME_BYTES, type SampleHeader } from "./protocol.ts";

export const REDRAW_MS = 500;
export const STATUS_EVERY_MS = 5000;
/** Topics the terminal shows at most; past it, the least recently updated one makes room. */
export const MAX_VIEW_TOPICS = 10_000;

export interface TerminalConfig {
  broker: string;
  prefixes: string[];
  view: "table" | "log";
  statusEveryMs: number;
  /** The kit's RECONNECT_AFTER_DROP_MS by default. */
  reconnectMs?: number;
}

export interface TopicView {
  topic: string;
  header: SampleHeader;
  values: number[];
  /** Local clock at arrival, ms since the epoch. */
  receivedAt: number;
  updates: number;
}

/**
 * The analyst's terminal: a SUB socket on the broker with the analyst's prefixes. Thanks to the
 * broker's cache it has current values the moment it subscribes, not at the next publish. The
 * cache may replay a sample this terminal has already seen (a replay goes to every subscriber of
 * the topic); a repeat of the sample last seen on a topic is dropped.
 */
export class AnalystTerminal {
  private readonly socket = new Subscriber({ linger: 0, ...peerLimits(MAX_SAMPLE_FRAME_BYTES) });
  readonly topics = new Map<string, TopicView>();
  readonly stats: LoopStats = { received: 0, failed: 0 };
  duplicates = 0;
  malformed = 0;

  constructor(
    private readonly config: TerminalConfig,
    private readonly log: Logger,
    private readonly onUpdate: (view: TopicView, first: boolean) => void = () => {},
  ) {}

  async run(signal: AbortSignal): Promise<void> {
    try {
      this.socket.connect(this.config.broker);
    } catch (err) {
      this.socket.close();
      throw new UsageError(`cannot connect to ${this.config.broker}: ${(err as Error).message}`);
    }
    this.socket.subscribe(...this.config.prefixes);
    reconnectAfterDrops(this.socket, [this.config.broker], this.log, this.config.reconnectMs);
    this.log.info({ broker: this.config.broker, prefixes: this.config.prefixes }, "watching");
    const every: { ms: number; run: () => void }[] = [];
    if (this.config.view === "table") every.push({ ms: REDRAW_MS, run: () => this.draw() });
    else if (this.config.statusEveryMs > 0) every.push({ ms: this.config.statusEveryMs, run: () => this.status() });
    await runLoops(signal, { sockets: [this.socket], every, log: this.log }, () =>
      receiveLoop(this.socket, signal, (frames) => this.receive(frames), { log: this.log, name: "broker", stats: this.stats }),
    );
  }

  receive(frames: Buffer[]): void {
    const message = decodeSample(frames);
    switch (message.kind) {
      case "sample":
        this.show(message.topic, message.header, message.payload);
        break;
      case "invalid":
        this.malformed += 1;
        this.log.warn({ reason: message.reason, total: this.malformed }, "malformed sample dropped");
        break;
    }
  }

  private show(topic: string, header: SampleHeader, payload: Buffer): void {
    const known = this.topics.get(topic);
    // The cache replays exactly the last sample of a topic: the same source, seq and timestamp.
    // (Comparing seq alone would drop everything from a restarted source, which counts from 1 again.)
    if (known && known.header.source === header.source && known.header.seq === header.seq && known.header.ts === header.ts) {
      this.duplicates += 1;
      return;
    }
    const view: TopicView = { topic, header, values: decodePayload(payload), receivedAt: Date.now(), updates: (known?.updates ?? 0) + 1 };
    // Re-inserted, so the first entry is always the least recently updated one.
    this.topics.delete(topic);
    this.topics.set(topic, view);
    if (this.topics.size > MAX_VIEW_TOPICS) this.topics.delete(this.topics.keys().next().value as string);
    if (!known) this.log.info({ topic, ageMs: view.receivedAt - header.ts, value: view.values.at(-1), units: header.units }, "first value");
    else this.log.debug({ topic, seq: header.seq }, "value");
    this.onUpdate(view, !known);
  }

  private status(): void {
    this.log.info({ topics: this.topics.size, duplicates: this.duplicates, malformed: this.malformed }, "status");
  }

  private draw(): void {
    const rows = [...this.topics.values()].sort((a, b) => a.topic.localeCompare(b.topic));
    const width = Math.max(5, ...rows.map((r) => r.topic.length));
    const now = Date.now();
    const lines = [
      `${"TOPIC".padEnd(width)}  ${"VALUE".padStart(10)}  UNITS  ${"AGE".padStart(7)}  SOURCE`,
      ...rows.map(
        (r) =>
          `${r.topic.padEnd(width)}  ${(r.values.at(-1) ?? 0).toFixed(2).padStart(10)}  ${r.header.units.padEnd(5)}  ${`${((now - r.header.ts) / 1000).toFixed(1)}s`.padStart(7)}  ${r.header.source}`,
      ),
      "",
      `${rows.length} topics · ${this.duplicates} repeats dropped · ${this.malformed} malformed · Ctrl-C quits`,
    ];
    process.stdout.write(`\x1b[H\x1b[2J${lines.join("\n")}\n`);
  }
}
