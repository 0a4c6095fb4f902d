import type { Pseudonymizer } from "./anonymize.ts";
import { parseLine } from "./formats.ts";
import { linesOf } from "./protocol.ts";

export interface ParsedChunk {
  /** One JSON event per line, each ended by "\n". */
  ndjson: Buffer;
  unparsed: number;
}

/** A chunk of raw lines (sequence numbers from `first`) into NDJSON events: the parser's whole job. */
export function parseChunk(payload: Buffer, first: number, p: Pseudonymizer): ParsedChunk {
  let out = "";
  let unparsed = 0;
  const lines = linesOf(payload);
  for (let i = 0; i < lines.length; i++) {
    const event = parseLine(lines[i] as string, first + i, p);
    if (event.format === "unparsed") unparsed += 1;
    out += `${JSON.stringify(event)}\n`;
  }
  return { ndjson: Buffer.from(out), unparsed };
}
