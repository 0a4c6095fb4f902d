import { closeSockets, type Logger } from "@zlabs/kit";
import { unpack } from "msgpackr";
import { Subscriber } from "zeromq";
import { checkSample, decodePayload, type SampleHeader } from "./protocol.ts";

export const REDRAW_MS = 500;
export const STATUS_EVERY_MS = 5000;

export interface TerminalConfig {
  broker: string;
  prefixes: string[];
  view: "table" | "log";
  statusEveryMs: number;
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
  private readonly socket = new Subscriber({ linger: 0 });
  readonly topics = new Map<string, TopicView>();
  duplicates = 0;
  malformed = 0;

  constructor(
    private readonly config: TerminalConfig,
    private readonly log: Logger,
    private readonly onUpdate: (view: TopicView, first: boolean) => void = () => {},
  ) {}

  async run(signal: AbortSignal): Promise<void> {
    this.socket.connect(this.config.broker);
    this.socket.subscribe(...this.config.prefixes);
    this.log.info({ broker: this.config.broker, prefixes: this.config.prefixes }, "watching");
    const onAbort = () => closeSockets(this.socket);
    signal.addEventListener("abort", onAbort, { once: true });
    const timers = [
      this.config.view === "table" ? setInterval(() => this.draw(), REDRAW_MS) : undefined,
      this.config.view === "log" && this.config.statusEveryMs > 0 ? setInterval(() => this.status(), this.config.statusEveryMs) : undefined,
    ];
    try {
      for await (const frames of this.socket) this.receive(frames);
    } catch (err) {
      if (!signal.aborted) throw err;
    } finally {
      for (const t of timers) clearInterval(t);
      signal.removeEventListener("abort", onAbort);
      closeSockets(this.socket);
    }
  }

  receive(frames: Buffer[]): void {
    const checked = checkSample(frames);
    if (!checked.ok) {
      this.malformed += 1;
      this.log.warn({ reason: checked.reason }, "malformed sample dropped");
      return;
    }
    const header = unpack(frames[1] as Buffer) as SampleHeader;
    const known = this.topics.get(checked.topic);
    // The cache replays exactly the last sample of a topic: the same source, seq and timestamp.
    // (Comparing seq alone would drop everything from a restarted source, which counts from 1 again.)
    if (known && known.header.source === header.source && known.header.seq === header.seq && known.header.ts === header.ts) {
      this.duplicates += 1;
      return;
    }
    const view: TopicView = {
      topic: checked.topic,
      header,
      values: decodePayload(frames[2] as Buffer),
      receivedAt: Date.now(),
      updates: (known?.updates ?? 0) + 1,
    };
    this.topics.set(checked.topic, view);
    if (!known)
      this.log.info(
        { topic: view.topic, ageMs: view.receivedAt - header.ts, value: view.values.at(-1), units: header.units },
        "first value",
      );
    else this.log.debug({ topic: view.topic, seq: header.seq }, "value");
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
