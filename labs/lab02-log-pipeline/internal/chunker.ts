/**
 * The collector's input side: counts a file's lines (so the writer knows the batch size before
 * work flows) and cuts it into chunks of whole lines. It works on bytes and never decodes text:
 * finding newlines with indexOf is what lets one collector feed the pipeline at a million lines/s.
 */
import { createReadStream } from "node:fs";
import { UsageError } from "@zlabs/kit";
import { MAX_CHUNK_BYTES } from "./protocol.ts";

const NEWLINE = 0x0a;
const READ_BLOCK = 1 << 20;

export interface LineCount {
  lines: number;
  /** Bytes of the longest line, its newline included (one is added to a last line without), and its file. */
  longest: number;
  longestIn: string;
}

/** Lines in the files together; a last line without "\n" counts too. A file that cannot be read is a UsageError. */
export async function countLines(paths: readonly string[]): Promise<LineCount> {
  let lines = 0;
  let longest = 0;
  let longestIn = "";
  for (const path of paths) {
    const before = longest;
    let run = 0;
    try {
      for await (const block of createReadStream(path, { highWaterMark: READ_BLOCK }) as AsyncIterable<Buffer>) {
        let from = 0;
        for (let i = block.indexOf(NEWLINE); i !== -1; i = block.indexOf(NEWLINE, i + 1)) {
          lines += 1;
          longest = Math.max(longest, run + i - from + 1);
          run = 0;
          from = i + 1;
        }
        run += block.length - from;
      }
    } catch (err) {
      throw new UsageError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (run > 0) {
      lines += 1;
      longest = Math.max(longest, run + 1);
    }
    if (longest > before) longestIn = path;
  }
  return { lines, longest, longestIn };
}

export interface Chunk {
  first: number;
  count: number;
  /** `count` lines, each ended by "\n"; a fresh Buffer the caller may hand to zeromq. */
  payload: Buffer;
}

/**
 * Chunks of up to linesPerChunk lines and MAX_CHUNK_BYTES from the files in turn, numbered from 0
 * across them all; a file's last line gets a "\n" if it lacks one, so lines of two files are never
 * joined. (A single line longer than maxBytes is a chunk of its own: the collector refuses such
 * input before it starts, since no socket of the pipeline would take it.)
 */
export async function* readChunks(paths: readonly string[], linesPerChunk: number, maxBytes = MAX_CHUNK_BYTES): AsyncGenerator<Chunk> {
  let pieces: Buffer[] = [];
  let lines = 0;
  let first = 0;
  const take = (): Chunk => {
    // A copy, never a view of the read buffer: zeromq sends large buffers by reference.
    const chunk = { first, count: lines, payload: Buffer.concat(pieces) };
    first += lines;
    pieces = [];
    lines = 0;
    return chunk;
  };
  for (const path of paths) {
    yield* readFile(path);
    const last = pieces[pieces.length - 1];
    if (last && last[last.length - 1] !== NEWLINE) {
      pieces.push(Buffer.from("\n"));
      lines += 1;
      if (lines === linesPerChunk) yield* withinBytes(take(), maxBytes);
    }
  }
  if (lines > 0) yield* withinBytes(take(), maxBytes);

  async function* readFile(path: string): AsyncGenerator<Chunk> {
    for await (const block of createReadStream(path, { highWaterMark: READ_BLOCK }) as AsyncIterable<Buffer>) {
      let start = 0;
      while (start < block.length) {
        let end = -1;
        let pos = start;
        while (lines < linesPerChunk) {
          const nl = block.indexOf(NEWLINE, pos);
          if (nl === -1) break;
          lines += 1;
          pos = nl + 1;
          end = pos;
        }
        if (lines === linesPerChunk) {
          pieces.push(block.subarray(start, end));
          yield* withinBytes(take(), maxBytes);
          start = end;
        } else {
          pieces.push(block.subarray(start));
          start = block.length;
        }
      }
    }
  }
}

/** The chunk itself when it is small enough (nearly always), or pieces of whole lines of at most maxBytes. */
function* withinBytes(chunk: Chunk, maxBytes: number): Generator<Chunk> {
  const payload = chunk.payload;
  if (payload.length <= maxBytes) {
    yield chunk;
    return;
  }
  let first = chunk.first;
  for (let from = 0; from < payload.length; ) {
    let end = payload.length - from <= maxBytes ? payload.length - 1 : payload.lastIndexOf(NEWLINE, from + maxBytes - 1);
    if (end < from) end = payload.indexOf(NEWLINE, from);
    // A view of a buffer made for this chunk alone, which nobody reuses: safe to hand to zeromq.
    const piece = payload.subarray(from, end + 1);
    let count = 0;
    for (let i = piece.indexOf(NEWLINE); i !== -1; i = piece.indexOf(NEWLINE, i + 1)) count += 1;
    yield { first, count, payload: piece };
    first += count;
    from = end + 1;
  }
}
