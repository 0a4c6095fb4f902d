import { closeSockets, type Logger, pause, SendQueue } from "@zlabs/kit";
import { Pull, Push, Subscriber } from "zeromq";
import type { Pseudonymizer } from "./anonymize.ts";
import { parseChunk } from "./parse.ts";
import { decode, encode } from "./protocol.ts";

/** Until work arrives, a parser says HELLO this often, so a writer that starts late still counts it. */
export const HELLO_INTERVAL_MS = 1000;
/** A parser holds few chunks: what sits in a dead parser's pipe is what must be sent again. */
export const PARSER_HWM = 4;

export interface ParserConfig {
  id: string;
  /** The collector's PUSH endpoint. */
  work: string;
  /** The writer's PULL endpoint. */
  results: string;
  /** The writer's PUB endpoint (KILL). */
  bus: string;
  /** false: pass lines through untouched (measures what the pipeline costs without parsing). */
  parse: boolean;
  /** Extra time per chunk, ms: a slow parser for experiments and fault tests. */
  delayMs?: number;
}

/**
 * A worker: pulls chunks of lines, turns them into anonymised events, pushes them to the writer.
 * It listens on two sockets, like the Guide's taskwork2: work on PULL, KILL on SUB.
 */
export class LogParser {
  private readonly work = new Pull({ linger: 0, receiveHighWaterMark: PARSER_HWM });
  private readonly results = new Push({ linger: 1000, sendHighWaterMark: PARSER_HWM });
  private readonly bus = new Subscriber({ linger: 0 });
  private readonly out = new SendQueue(this.results);
  chunks = 0;
  lines = 0;
  malformed = 0;

  constructor(
    private readonly config: ParserConfig,
    private readonly pseudonymizer: Pseudonymizer,
    private readonly log: Logger,
  ) {}

  /** Runs until KILL or the signal; resolves with why it stopped. */
  async run(signal: AbortSignal): Promise<"killed" | "stopped"> {
    const stop = new AbortController();
    const onAbort = () => stop.abort("stopped");
    signal.addEventListener("abort", onAbort, { once: true });
    stop.signal.addEventListener("abort", () => closeSockets(this.work, this.bus), { once: true });
    this.work.connect(this.config.work);
    this.results.connect(this.config.results);
    this.bus.connect(this.config.bus);
    this.bus.subscribe("KILL");
    this.log.info({ worker: this.config.id, parse: this.config.parse }, "parser ready");
    const hello = () => void this.out.send(encode("HELLO", { worker: this.config.id })).catch(() => {});
    hello();
    const helloTimer = setInterval(() => this.chunks === 0 && hello(), HELLO_INTERVAL_MS);
    try {
      await Promise.all([this.workLoop(stop.signal), this.killLoop(stop)]);
    } finally {
      clearInterval(helloTimer);
      signal.removeEventListener("abort", onAbort);
      closeSockets(this.work, this.bus, this.results);
    }
    this.log.info({ worker: this.config.id, chunks: this.chunks, lines: this.lines, reason: stop.signal.reason }, "parser stopped");
    return stop.signal.reason === "killed" ? "killed" : "stopped";
  }

  private async killLoop(stop: AbortController): Promise<void> {
    try {
      for await (const frames of this.bus) {
        const decoded = decode(frames, ["KILL"]);
        if (decoded.ok) {
          this.log.info("KILL received");
          stop.abort("killed");
          return;
        }
      }
    } catch (err) {
      if (!stop.signal.aborted) throw err;
    }
  }

  private async workLoop(signal: AbortSignal): Promise<void> {
    try {
      for await (const frames of this.work) {
        const decoded = decode(frames, ["LINES"]);
        if (!decoded.ok || decoded.message.cmd !== "LINES" || !decoded.message.payload) {
          this.malformed += 1;
          this.log.warn({ reason: decoded.ok ? "not LINES" : decoded.reason, total: this.malformed }, "malformed message dropped");
          continue;
        }
        const { header, payload } = decoded.message;
        this.log.debug({ first: header.first, count: header.count }, "chunk received");
        if (this.config.delayMs && !(await pause(this.config.delayMs, signal))) break;
        await this.out.send(this.process(header, payload));
        this.chunks += 1;
        this.lines += header.count;
      }
    } catch (err) {
      if (!signal.aborted) throw err;
    }
  }

  private process(header: { batch: string; first: number; count: number }, payload: Buffer): Buffer[] {
    const base = { ...header, worker: this.config.id };
    if (!this.config.parse) return encode("EVENTS", { ...base, unparsed: 0, raw: true }, payload);
    const parsed = parseChunk(payload, header.first, this.pseudonymizer);
    return encode("EVENTS", { ...base, unparsed: parsed.unparsed, raw: false }, parsed.ndjson);
  }
}
