import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
import { pathInside } from "@zlabs/kit";

/**
 * Append-only NDJSON files that roll over at a size: events-<batch>-0001.ndjson, -0002... A chunk is
 * never split across two files, so a file holds whole events only. The prefix may come from a peer
 * (the batch name), so every file name must be one safe segment inside the folder, or nothing is
 * written.
 */
export class RotatingFile {
  private fd: number | undefined;
  private size = 0;
  readonly files: string[] = [];

  constructor(
    private readonly dir: string,
    private readonly prefix: string,
    private readonly maxBytes: number,
    private readonly extension = "ndjson",
  ) {
    mkdirSync(dir, { recursive: true });
  }

  write(data: Buffer): void {
    if (this.fd === undefined || (this.size > 0 && this.size + data.length > this.maxBytes)) this.roll();
    writeSync(this.fd as number, data);
    this.size += data.length;
  }

  private roll(): void {
    this.close();
    const name = `${this.prefix}-${String(this.files.length + 1).padStart(4, "0")}.${this.extension}`;
    const file = pathInside(this.dir, name);
    if (!file) throw new Error(`refusing to write ${JSON.stringify(name)}: not a file name inside ${this.dir}`);
    this.fd = openSync(file, "w");
    this.size = 0;
    this.files.push(file);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
