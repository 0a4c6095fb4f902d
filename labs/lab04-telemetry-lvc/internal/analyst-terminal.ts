import {
  type Logger,
  type LoopStats,
  peerLimits,
  publishView,
  receiveLoop,
  reconnectAfterDrops,
  runLoops,
  UsageError,
  type View,
} from "@zlabs/kit";
import { Subscriber } from "zeromq";
import { decodePayload, decodeSample, MAX_SAMPLE_FRAME_BYTES, type SampleHeader } from "./protocol.ts";
import { terminalView } from "./view.ts";

/** How often the live view (the table of values) is published: the ages in it move on. */
export const VIEW_MS = 500;
/**
 * New topics arriving within this long of each other are logged as one line ("first values",
 * with how many and how old): a subscription answered from the cache brings them all at once.
 */
export const FIRST_VALUES_MS = 200;
/** Topics the terminal shows at most; past it, the least recently updated one makes room. */
export const MAX_VIEW_TOPICS = 10_000;
/** Topic names a "first values" line lists at most. */
const FIRST_VALUES_NAMED = 3;

export interface TerminalConfig {
  broker: string;
  prefixes: string[];
  /** The kit's RECONNECT_AFTER_DROP_MS by default. */
  reconnectMs?: number;
}

export interface TerminalHooks {
  /** Every sample shown, for tests and embedding. */
  onUpdate?: (view: TopicView, first: boolean) => void;
  /** Where the live view goes: the kit's publishView by default. */
  publish?: (view: View) => void;
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
 * The analyst's terminal: a SUB socket on the broker with the analyst's prefixes, and a live view
 * (a table of the latest value per topic). Thanks to the broker's cache it has current values the
 * moment it subscribes, not at the next publish. The
 * cache may replay a sample this terminal has already seen (a replay goes to every subscriber of
 * the topic); a repeat of the sample last seen on a topic is dropped.
 */
export class AnalystTerminal {
  private readonly socket = new Subscriber({ linger: 0, ...peerLimits(MAX_SAMPLE_FRAME_BYTES) });
  readonly topics = new Map<string, TopicView>();
  readonly stats: LoopStats = { received: 0, failed: 0 };
  duplicates = 0;
  malformed = 0;
  /** Topics seen for the first time since the last "first values" line: how many, the oldest's age, a few names. */
  private firstValues = { topics: 0, oldestMs: 0, names: [] as string[] };
  private firstValuesTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: TerminalConfig,
    private readonly log: Logger,
    private readonly hooks: TerminalHooks = {},
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
    this.publishView();
    const every = [{ ms: VIEW_MS, run: () => this.publishView() }];
    try {
      await runLoops(signal, { sockets: [this.socket], every, log: this.log }, () =>
        receiveLoop(this.socket, signal, (frames) => this.receive(frames), { log: this.log, name: "broker", stats: this.stats }),
      );
    } finally {
      this.logFirstValues();
    }
  }

  /** The live view now: the latest value of every topic watched. */
  view(): View {
    return terminalView(this.config.prefixes, this.topics.values(), Date.now(), { duplicates: this.duplicates, malformed: this.malformed });
  }

  private publishView(): void {
    (this.hooks.publish ?? publishView)(this.view());
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
    if (!known) {
      this.log.debug({ topic, ageMs: view.receivedAt - header.ts, value: view.values.at(-1), units: header.units }, "first value");
      const batch = this.firstValues;
      batch.topics += 1;
      batch.oldestMs = Math.max(batch.oldestMs, view.receivedAt - header.ts);
      if (batch.names.length < FIRST_VALUES_NAMED) batch.names.push(topic);
      this.firstValuesTimer ??= setTimeout(() => this.logFirstValues(), FIRST_VALUES_MS).unref();
      this.publishView();
    } else this.log.debug({ topic, seq: header.seq }, "value");
    this.hooks.onUpdate?.(view, !known);
  }

  /** One line for the topics that arrived together: how many, the oldest's age (old: from the cache), a few names. */
  private logFirstValues(): void {
    clearTimeout(this.firstValuesTimer);
    this.firstValuesTimer = undefined;
    const { topics, oldestMs, names } = this.firstValues;
    if (topics === 0) return;
    this.firstValues = { topics: 0, oldestMs: 0, names: [] };
    const more = topics > names.length ? ` … ${topics - names.length} more` : "";
    this.log.info({ topics, oldestMs, names: `${names.join(" ")}${more}` }, "first values");
  }
}
