// The few terminal escape codes the live views need, and text measured in terminal columns.
// Hand-written on purpose: see packages/kit/README.md ("Why no terminal library").

const ESC = "\x1b[";

export const ansi = {
  /** Cursor to a 1-based row and column. */
  to: (row: number, col = 1) => `${ESC}${row};${col}H`,
  /** Erase from the cursor to the end of the line. */
  eraseLine: `${ESC}K`,
  eraseScreen: `${ESC}2J`,
  hideCursor: `${ESC}?25l`,
  showCursor: `${ESC}?25h`,
  /** The alternate screen: what the user had on the terminal comes back when we leave it. */
  enterAltScreen: `${ESC}?1049h`,
  leaveAltScreen: `${ESC}?1049l`,
  /** Lines top..bottom (1-based) scroll; the rest stay where they are. Moves the cursor home. */
  scrollRegion: (top: number, bottom: number) => `${ESC}${top};${bottom}r`,
  resetScrollRegion: `${ESC}r`,
  saveCursor: "\x1b7",
  restoreCursor: "\x1b8",
} as const;

export type Tone = "good" | "warn" | "bad" | "dim" | "bold" | "info";

const TONE_SGR: Record<Tone, string> = { good: "32", warn: "33", bad: "31", dim: "2", bold: "1", info: "36" };

/** Text in a tone's colour (SGR), or as it is without colour. */
export function paint(text: string, tone: Tone | undefined, color: boolean): string {
  return color && tone && text ? `${ESC}${TONE_SGR[tone]}m${text}${ESC}0m` : text;
}

/** A foreground colour by number (30-37, 90-97), for instance names. */
export function paintCode(text: string, code: number, color: boolean): string {
  return color ? `${ESC}${code}m${text}${ESC}0m` : text;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching escape sequences is the point
const ANSI_RE = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b[78]/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters would move the cursor
const CONTROL_RE = /[\x00-\x08\x0b-\x1f\x7f]/g;

export function stripAnsi(text: string): string {
  return text.replace(ANSI_RE, "");
}

/** Text from a child process made safe to place on the screen: no escape codes, no control characters, tabs as spaces. */
export function sanitize(text: string): string {
  return stripAnsi(text).replaceAll("\t", "  ").replace(CONTROL_RE, "");
}

/**
 * Columns one code point takes: 2 for East Asian wide and emoji, 0 for combining marks, 1 otherwise.
 * An approximation of Unicode's East Asian Width that is right for the scripts and symbols logs use.
 */
function charWidth(cp: number): number {
  if (cp < 0x300) return 1;
  if ((cp >= 0x300 && cp <= 0x36f) || (cp >= 0x200b && cp <= 0x200f) || (cp >= 0xfe00 && cp <= 0xfe0f)) return 0;
  if (
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0xa4cf) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x1f300 && cp <= 0x1faff) ||
    (cp >= 0x20000 && cp <= 0x3fffd)
  )
    return 2;
  return 1;
}

/** How many terminal columns the text takes (escape codes take none). */
export function textWidth(text: string): number {
  let width = 0;
  for (const ch of stripAnsi(text)) width += charWidth(ch.codePointAt(0) ?? 0);
  return width;
}

/**
 * The text cut to at most `width` columns, escape codes kept (and a reset added when a cut may
 * have left a colour open), with "…" where something was cut.
 */
export function truncate(text: string, width: number): string {
  if (width <= 0) return "";
  if (textWidth(text) <= width) return text;
  let out = "";
  let used = 0;
  let i = 0;
  let colored = false;
  while (i < text.length) {
    ANSI_RE.lastIndex = i;
    const m = ANSI_RE.exec(text);
    if (m && m.index === i) {
      out += m[0];
      colored = true;
      i += m[0].length;
      continue;
    }
    const cp = text.codePointAt(i) ?? 0;
    const ch = String.fromCodePoint(cp);
    const w = charWidth(cp);
    if (used + w > width - 1) break;
    out += ch;
    used += w;
    i += ch.length;
  }
  return `${out}…${colored ? `${ESC}0m` : ""}`;
}

/** Pads with spaces to `width` columns (longer text is left as it is). */
export function padEnd(text: string, width: number): string {
  const w = textWidth(text);
  return w >= width ? text : text + " ".repeat(width - w);
}

/** Splits text into lines of at most `width` columns, breaking at spaces where it can. */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/(?<= )/)) {
    if (line && textWidth((line + word).trimEnd()) > width) {
      lines.push(line.trimEnd());
      line = "";
    }
    line += word;
    while (textWidth(line.trimEnd()) > width) {
      lines.push(truncate(line, width).replace(/…$/, ""));
      line = line.slice(lines.at(-1)?.length ?? line.length);
    }
  }
  if (line.trim() || lines.length === 0) lines.push(line.trimEnd());
  return lines;
}

/** What the screen code needs of a terminal stream (a tty.WriteStream, or a fake one in tests). */
export interface TerminalStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
  rows?: number;
  on?(event: "resize", listener: () => void): unknown;
  off?(event: "resize", listener: () => void): unknown;
}

export function terminalSize(out: TerminalStream): { columns: number; rows: number } {
  return { columns: Math.max(20, out.columns ?? 80), rows: Math.max(8, out.rows ?? 24) };
}
