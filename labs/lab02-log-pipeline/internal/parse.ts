import type { Pseudonymizer } from "./anonymize.ts";
import { parseLine } from "./formats.ts";

export interface ParsedChunk {
  /** One JSON event per line, each ended by "\n". */
  ndjson: Buffer;
  unparsed: number;
}

/** A chunk of raw lines (sequence numbers from `first`) into NDJSON events: the parser's whole job. */
export function parseChunk(payload: Buffer, first: number, p: Pseudonymizer): ParsedChunk {
  // Events are written straight into one buffer: concatenating thousands of strings and encoding
  // the result at the end costs a parser a tenth of its time.
  let out = scratchFor(payload.length * 3 + 4096);
  let used = 0;
  let unparsed = 0;
  let seq = first;
  for (let from = 0; from < payload.length; ) {
    const cut = piece(payload, from);
    const text = payload.toString("utf8", from, cut);
    from = cut;
    // One pass over the text: no array of lines, no second copy of each.
    for (let start = 0, end = text.indexOf("\n"); end !== -1; start = end + 1, end = text.indexOf("\n", start)) {
      const line = text.charCodeAt(end - 1) === 0x0d ? text.slice(start, end - 1) : text.slice(start, end);
      const event = parseLine(line, seq++, p);
      if (event.format === "unparsed") unparsed += 1;
      const json = `${JSON.stringify(event)}\n`;
      if (used + json.length * 3 > out.length) out = grow(out, used, json.length * 3);
      used += out.write(json, used);
    }
  }
  scratch = out;
  return { ndjson: Buffer.from(out.subarray(0, used)), unparsed };
}

/**
 * The events are written into one buffer kept from chunk to chunk, and only the bytes used are
 * copied out. A parser hands its output to zeromq, which holds it until sent: long enough for V8
 * to move it to the old generation, where every byte counts towards the next full collection. A
 * buffer sized for the worst case (three bytes per input byte) made the parsers collect half as
 * often again as an exact copy does, and the copy costs far less than those collections.
 */
let scratch: Buffer = Buffer.alloc(0);

function scratchFor(size: number): Buffer {
  if (scratch.length < size) scratch = Buffer.allocUnsafeSlow(size);
  return scratch;
}

function grow(buffer: Buffer, used: number, need: number): Buffer {
  const bigger = Buffer.allocUnsafe(Math.max(buffer.length * 2, used + need));
  buffer.copy(bigger, 0, 0, used);
  return bigger;
}

/**
 * Lines are decoded to text a piece at a time. A string of more than 128 KiB goes to V8's
 * large-object space, which maps fresh memory for it (a page fault per 4 KiB) and unmaps it after
 * the next GC: decoding a 4000-line chunk in one go did that on every chunk.
 */
const PIECE_BYTES = 48 * 1024;

/** Where the piece starting at `from` ends: after the last newline within PIECE_BYTES (or the first one past it, for a longer line). */
function piece(payload: Buffer, from: number): number {
  if (payload.length - from <= PIECE_BYTES) return payload.length;
  const nl = payload.lastIndexOf(0x0a, from + PIECE_BYTES - 1);
  if (nl >= from) return nl + 1;
  const next = payload.indexOf(0x0a, from + PIECE_BYTES);
  return next === -1 ? payload.length : next + 1;
}
