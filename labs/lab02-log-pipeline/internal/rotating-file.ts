import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";

/**
 * Append-only NDJSON files that roll over at a size: events-<batch>-0001.ndjson, -0002... A chunk is
 * never split across two files, so a file holds whole events only.
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
    const file = join(this.dir, `${this.prefix}-${String(this.files.length + 1).padStart(4, "0")}.${this.extension}`);
    this.fd = openSync(file, "w");
    this.size = 0;
    this.files.push(file);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
