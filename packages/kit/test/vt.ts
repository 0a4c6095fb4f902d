// A fake terminal for tests: a Writable that says it is a TTY (with columns and rows) and keeps
// what a real terminal would show, by applying the escape codes the kit writes (cursor moves,
// erases, scroll regions); colours are dropped.
import { Writable } from "node:stream";

export class FakeTerminal extends Writable {
  readonly isTTY = true;
  screen: string[][];
  private row = 0;
  private col = 0;
  private top = 0;
  private bottom: number;
  private saved = { row: 0, col: 0 };
  /** Everything written, as it was written. */
  raw = "";

  constructor(
    public columns = 80,
    public rows = 24,
  ) {
    super({ decodeStrings: false });
    this.bottom = rows - 1;
    this.screen = this.blank();
  }

  private blank(): string[][] {
    return Array.from({ length: this.rows }, () => Array<string>(this.columns).fill(" "));
  }

  /** A resize as the terminal reports it. */
  resize(columns: number, rows: number): void {
    this.columns = columns;
    this.rows = rows;
    this.bottom = rows - 1;
    this.top = 0;
    this.screen = this.blank();
    this.emit("resize");
  }

  /** The screen as lines, trailing spaces trimmed. */
  lines(): string[] {
    return this.screen.map((r) => r.join("").trimEnd());
  }

  text(): string {
    return this.lines().join("\n");
  }

  override _write(chunk: string | Buffer, _enc: BufferEncoding, done: () => void): void {
    this.apply(chunk.toString());
    done();
  }

  private lineFeed(): void {
    if (this.row === this.bottom) {
      this.screen.splice(this.top, 1);
      this.screen.splice(this.bottom, 0, Array<string>(this.columns).fill(" "));
    } else if (this.row < this.rows - 1) this.row++;
  }

  apply(text: string): void {
    this.raw += text;
    let i = 0;
    while (i < text.length) {
      const ch = text[i] as string;
      if (ch === "\x1b") {
        if (text[i + 1] === "7" || text[i + 1] === "8") {
          if (text[i + 1] === "7") this.saved = { row: this.row, col: this.col };
          else ({ row: this.row, col: this.col } = this.saved);
          i += 2;
          continue;
        }
        // biome-ignore lint/suspicious/noControlCharactersInRegex: parsing escape sequences is the point
        const m = /^\x1b\[([?0-9;]*)([A-Za-z])/.exec(text.slice(i, i + 32));
        if (!m) throw new Error(`fake terminal: unknown escape at ${JSON.stringify(text.slice(i, i + 12))}`);
        this.csi(m[1] ?? "", m[2] ?? "");
        i += m[0].length;
        continue;
      }
      if (ch === "\n") {
        this.lineFeed();
        this.col = 0;
      } else if (ch === "\r") this.col = 0;
      else {
        const cp = text.codePointAt(i) ?? 0;
        const s = String.fromCodePoint(cp);
        if (this.col >= this.columns) {
          this.lineFeed();
          this.col = 0;
        }
        const line = this.screen[this.row];
        if (line) line[this.col] = s;
        this.col++;
        i += s.length;
        continue;
      }
      i++;
    }
  }

  private csi(params: string, cmd: string): void {
    if (params.startsWith("?")) return; // modes: alternate screen, cursor visibility
    const nums = params.split(";").map((p) => (p === "" ? undefined : Number(p)));
    switch (cmd) {
      case "H":
        this.row = Math.min(this.rows - 1, (nums[0] ?? 1) - 1);
        this.col = Math.min(this.columns - 1, (nums[1] ?? 1) - 1);
        break;
      case "K": {
        const line = this.screen[this.row];
        if (line) for (let c = this.col; c < this.columns; c++) line[c] = " ";
        break;
      }
      case "J":
        if (nums[0] === 2) this.screen = this.blank();
        break;
      case "r":
        this.top = (nums[0] ?? 1) - 1;
        this.bottom = (nums[1] ?? this.rows) - 1;
        this.row = 0;
        this.col = 0;
        break;
      case "m":
        break;
      default:
        throw new Error(`fake terminal: unknown CSI ${params}${cmd}`);
    }
  }
}
