/**
 * The collector's input side: counts a file's lines (so the writer knows the batch size before
 * work flows) and cuts it into chunks of whole lines. It works on bytes and never decodes text:
 * finding newlines with indexOf is what lets one collector feed the pipeline at a million lines/s.
 */
import { createReadStream } from "node:fs";

const NEWLINE = 0x0a;
const READ_BLOCK = 1 << 20;

/** Lines in the files together; a last line without "\n" counts too. */
export async function countLines(paths: readonly string[]): Promise<number> {
  let total = 0;
  for (const path of paths) {
    let last = NEWLINE;
    for await (const block of createReadStream(path, { highWaterMark: READ_BLOCK }) as AsyncIterable<Buffer>) {
      for (let i = block.indexOf(NEWLINE); i !== -1; i = block.indexOf(NEWLINE, i + 1)) total += 1;
      if (block.length > 0) last = block[block.length - 1] as number;
    }
    if (last !== NEWLINE) total += 1;
  }
  return total;
}

export interface Chunk {
  first: number;
  count: number;
  /** `count` lines, each ended by "\n"; a fresh Buffer the caller may hand to zeromq. */
  payload: Buffer;
}

/**
 * Chunks of up to linesPerChunk lines from the files in turn, numbered from 0 across them all; a
 * file's last line gets a "\n" if it lacks one, so lines of two files are never joined.
 */
export async function* readChunks(paths: readonly string[], linesPerChunk: number): AsyncGenerator<Chunk> {
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
      if (lines === linesPerChunk) yield take();
    }
  }
  if (lines > 0) yield take();

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
          yield take();
          start = end;
        } else {
          pieces.push(block.subarray(start));
          start = block.length;
        }
      }
    }
  }
}
