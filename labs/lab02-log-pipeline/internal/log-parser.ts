import { type Logger, pause, peerLimits, receiveLoop, runLoops, SendQueue } from "@zlabs/kit";
import { Pull, Push, Subscriber } from "zeromq";
import type { Pseudonymizer } from "./anonymize.ts";
import { parseChunk } from "./parse.ts";
import {
  BUS_MAX_MESSAGE_BYTES,
  type ChunkHeader,
  decodeParserBus,
  decodeParserWork,
  encodeMessage,
  LINES_MAX_MESSAGE_BYTES,
} from "./protocol.ts";

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
  private readonly work = new Pull({ linger: 0, receiveHighWaterMark: PARSER_HWM, ...peerLimits(LINES_MAX_MESSAGE_BYTES) });
  private readonly results = new Push({ linger: 1000, sendHighWaterMark: PARSER_HWM });
  private readonly bus = new Subscriber({ linger: 0, ...peerLimits(BUS_MAX_MESSAGE_BYTES) });
  private readonly out = new SendQueue(this.results);
  private readonly stop = new AbortController();
  chunks = 0;
  lines = 0;
  /** Messages dropped because they were malformed, on either socket. */
  malformed = 0;

  constructor(
    private readonly config: ParserConfig,
    private readonly pseudonymizer: Pseudonymizer,
    private readonly log: Logger,
  ) {}

  /** Runs until KILL or the signal; resolves with why it stopped. */
  async run(signal: AbortSignal): Promise<"killed" | "stopped"> {
    const stopped = AbortSignal.any([signal, this.stop.signal]);
    this.work.connect(this.config.work);
    this.results.connect(this.config.results);
    this.bus.connect(this.config.bus);
    this.bus.subscribe("KILL");
    this.log.info({ worker: this.config.id, parse: this.config.parse }, "parser ready");
    const hello = () => void this.out.send(encodeMessage("HELLO", { worker: this.config.id })).catch(() => {});
    hello();
    await runLoops(
      stopped,
      {
        sockets: [this.work, this.bus, this.results],
        every: [{ ms: HELLO_INTERVAL_MS, run: () => this.chunks === 0 && hello() }],
        log: this.log,
      },
      () => receiveLoop(this.work, stopped, (frames) => this.onWork(frames, stopped), { log: this.log, name: "work" }),
      () => receiveLoop(this.bus, stopped, (frames) => this.onBus(frames), { log: this.log, name: "bus" }),
    );
    const reason = this.stop.signal.aborted ? "killed" : "stopped";
    this.log.info({ worker: this.config.id, chunks: this.chunks, lines: this.lines, reason }, "parser stopped");
    return reason;
  }

  private onBus(frames: Buffer[]): void {
    const message = decodeParserBus(frames);
    switch (message.kind) {
      case "kill":
        this.log.info("KILL received");
        this.stop.abort();
        return;
      case "invalid":
        this.malformed += 1;
        this.log.warn({ reason: message.reason, socket: "bus", total: this.malformed }, "malformed message dropped");
        return;
    }
  }

  private async onWork(frames: Buffer[], signal: AbortSignal): Promise<void> {
    const message = decodeParserWork(frames);
    switch (message.kind) {
      case "invalid":
        this.malformed += 1;
        this.log.warn({ reason: message.reason, socket: "work", total: this.malformed }, "malformed message dropped");
        return;
      case "lines": {
        const { header, payload } = message;
        this.log.debug({ first: header.first, count: header.count }, "chunk received");
        if (this.config.delayMs && !(await pause(this.config.delayMs, signal))) return;
        await this.out.send(this.process(header, payload));
        this.chunks += 1;
        this.lines += header.count;
        return;
      }
    }
  }

  private process(header: ChunkHeader, payload: Buffer): Buffer[] {
    const base = { ...header, worker: this.config.id };
    if (!this.config.parse) return encodeMessage("EVENTS", { ...base, unparsed: 0, raw: true }, payload);
    const parsed = parseChunk(payload, header.first, this.pseudonymizer);
    return encodeMessage("EVENTS", { ...base, unparsed: parsed.unparsed, raw: false }, parsed.ndjson);
  }
}
