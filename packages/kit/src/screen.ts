// The demo's screen on a terminal: the roles' live views on top (updated in place), the events of
// every role below them as one human line each (scrolling), and the key prompt and key help pinned
// to the bottom. Drawn as whole frames on the alternate screen; only the lines that changed are
// written, at most every FRAME_MS.
import { ansi, paint, paintCode, sanitize, type TerminalStream, type Tone, terminalSize, textWidth, truncate, wrap } from "./terminal.ts";
import { renderView, type View } from "./view.ts";

/** At most one frame per this many ms (25 a second): smooth for a person, cheap for the machine. */
export const FRAME_MS = 40;
/** Events kept for the log region (a resize to a taller terminal shows more of them). */
const LOG_KEEP = 500;
/** The log region keeps at least this many lines however many views there are. */
const MIN_LOG_LINES = 6;
/** A prompt wraps over at most this many lines. */
const MAX_PROMPT_LINES = 4;

const LEVELS: Record<number, [string, Tone | undefined]> = {
  10: ["TRACE", "dim"],
  20: ["DEBUG", "dim"],
  30: ["INFO", "good"],
  40: ["WARN", "warn"],
  50: ["ERROR", "bad"],
  60: ["FATAL", "bad"],
};
/** Fields every record has, or that the screen already shows elsewhere on the line. */
const HIDDEN_FIELDS = new Set(["level", "time", "pid", "hostname", "lab", "role", "msg", "instance", "v"]);

function clock(time: unknown): string {
  const d = typeof time === "string" || typeof time === "number" ? new Date(time) : new Date();
  const t = Number.isNaN(d.getTime()) ? new Date() : d;
  const two = (n: number) => String(n).padStart(2, "0");
  return `${two(t.getHours())}:${two(t.getMinutes())}:${two(t.getSeconds())}.${String(t.getMilliseconds()).padStart(3, "0")}`;
}

/** A field as a person reads it: fractions to 4 significant digits (the JSON lines keep them all). */
function fieldValue(value: unknown): string {
  if (typeof value === "number" && !Number.isInteger(value)) return String(Number(value.toPrecision(4)));
  if (typeof value === "string") return /^[^\s="]+$/.test(value) ? value : JSON.stringify(value);
  if (value && typeof value === "object") {
    const err = value as { message?: unknown; type?: unknown; stack?: unknown };
    if (typeof err.message === "string" && typeof err.stack === "string") return JSON.stringify(err.message);
    return JSON.stringify(value);
  }
  return String(value);
}

/** What one output line of a child says, for the screen: a parsed pino record, or plain text. */
export interface LogEvent {
  time: string;
  level: string;
  tone: Tone | undefined;
  msg: string;
  fields: string;
}

/** A pino JSON line as time, level, message and key=value pairs; any other line as it is. */
export function parseLogLine(line: string): LogEvent {
  if (line.startsWith("{")) {
    try {
      const record = JSON.parse(line) as Record<string, unknown>;
      if (record && typeof record === "object" && typeof record.level === "number") {
        const [level, tone] = LEVELS[record.level] ?? [`L${record.level}`, undefined];
        const fields = Object.entries(record)
          .filter(([k]) => !HIDDEN_FIELDS.has(k))
          .map(([k, v]) => `${k}=${fieldValue(v)}`)
          .join(" ");
        return { time: clock(record.time), level, tone, msg: String(record.msg ?? ""), fields };
      }
    } catch {
      // Not JSON after all: shown as text.
    }
  }
  return { time: clock(undefined), level: "", tone: undefined, msg: line, fields: "" };
}

/** One line of the events region; the same event again right after only counts up. */
interface ScreenEvent {
  name: string;
  code: number;
  event: LogEvent;
  repeats: number;
}

export interface ScreenOptions {
  color?: boolean;
  /** The first line: the lab and its pattern. */
  header?: string;
}

/**
 * The demo's terminal screen. The orchestrator feeds it lines and views; the key controller its
 * prompt. `frame()` is the screen as plain text (what tests and README snapshots read).
 */
export class DemoScreen {
  private readonly color: boolean;
  private header: string;
  private status = "";
  private readonly views = new Map<string, { view: View; note: string | undefined }>();
  private order: string[] = [];
  private readonly events: ScreenEvent[] = [];
  private prompt: string | undefined;
  private help = "";
  private nameWidth = 5;
  private painted: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private started = false;
  private readonly onResize = () => {
    this.painted = [];
    this.schedule();
  };

  constructor(
    private readonly out: TerminalStream,
    options: ScreenOptions = {},
  ) {
    this.color = options.color ?? false;
    this.header = options.header ?? "";
  }

  /** Takes over the terminal (alternate screen, cursor hidden) until close(). */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.out.write(`${ansi.enterAltScreen}${ansi.hideCursor}${ansi.eraseScreen}`);
    this.out.on?.("resize", this.onResize);
    this.paint();
  }

  /**
   * Gives the terminal back and prints the last events there, so what happened stays readable after
   * the demo (the alternate screen vanishes with it).
   */
  close(tail = 20): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.started) return;
    this.started = false;
    this.out.off?.("resize", this.onResize);
    const { columns } = terminalSize(this.out);
    const last = this.events.slice(-tail).map((e) => truncate(this.eventLine(e, this.color), columns));
    this.out.write(`${ansi.showCursor}${ansi.leaveAltScreen}${last.map((l) => `${l}\n`).join("")}`);
  }

  setHeader(header: string, status = this.status): void {
    this.header = header;
    this.status = status;
    this.schedule();
  }

  /** The instances in screen order (views are shown in it) and the width of their names. */
  setInstances(names: string[]): void {
    this.order = names;
    this.nameWidth = Math.max(5, ...names.map((n) => n.length));
    this.schedule();
  }

  setView(name: string, view: View): void {
    this.views.set(name, { view, note: undefined });
    this.schedule();
  }

  /** Marks a view as stale ("killed by SIGKILL") when its process ended; a new view clears it. */
  noteView(name: string, note: string | undefined): void {
    const v = this.views.get(name);
    if (!v) return;
    v.note = note;
    this.schedule();
  }

  /**
   * One output line of an instance (a pino JSON line or any text); a tone colours a plain line
   * (the orchestrator's own "DIED"). The same event as the one before from the same instance is
   * not repeated: its line counts "×N" and takes the newer time.
   */
  log(name: string, code: number, line: string, tone?: Tone): void {
    const event = parseLogLine(sanitize(line));
    if (tone && !event.level) event.tone = tone;
    const last = this.events.at(-1);
    if (
      last &&
      last.name === name &&
      last.event.msg === event.msg &&
      last.event.fields === event.fields &&
      last.event.level === event.level
    ) {
      last.repeats += 1;
      last.event.time = event.time;
    } else {
      this.events.push({ name, code, event, repeats: 1 });
      if (this.events.length > LOG_KEEP) this.events.splice(0, this.events.length - LOG_KEEP);
    }
    this.schedule();
  }

  setPrompt(prompt: string | undefined): void {
    this.prompt = prompt;
    this.schedule();
  }

  setHelp(help: string): void {
    this.help = help;
    this.schedule();
  }

  private eventLine({ name, code, event, repeats }: ScreenEvent, color: boolean): string {
    const parts = [
      paint(event.time, "dim", color),
      paintCode(name.padEnd(this.nameWidth), code, color),
      paint(event.level.padEnd(5), event.tone, color),
      event.level ? event.msg : paint(event.msg, event.tone, color),
    ];
    if (event.fields) parts.push(paint(event.fields, "dim", color));
    if (repeats > 1) parts.push(paint(`×${repeats}`, "bold", color));
    return parts.join(" ");
  }

  /** The screen as lines (exactly `rows` of them, none wider than `columns`). */
  frame(color = false): string[] {
    const { columns, rows } = terminalSize(this.out);
    const header = truncate(`${paint(this.header, "bold", color)}${this.status ? `  ${paint(this.status, "dim", color)}` : ""}`, columns);
    const promptLines = this.prompt ? wrap(this.prompt, columns).slice(0, MAX_PROMPT_LINES) : [];
    const footer = [...promptLines.map((l) => paint(l, "warn", color)), paint(truncate(this.help, columns), "dim", color)];
    const middle = rows - 1 - footer.length;
    const viewLines = this.viewLines(columns, Math.max(0, middle - 1 - MIN_LOG_LINES), color);
    const logRows = Math.max(0, middle - viewLines.length - 1);
    const rule = paint(truncate(`── events ${"─".repeat(columns)}`, columns).replace(/…$/, "─"), "dim", color);
    const events = this.events.slice(-logRows).map((e) => truncate(this.eventLine(e, color), columns));
    const log = [...events, ...Array<string>(Math.max(0, logRows - events.length)).fill("")];
    return [header, ...viewLines, ...(middle > viewLines.length ? [rule] : []), ...log, ...footer].slice(0, rows);
  }

  /** The views in instance order, each shortened (longest first) until they fit in `budget` lines. */
  private viewLines(columns: number, budget: number, color: boolean): string[] {
    const shown = [...this.order.filter((n) => this.views.has(n)), ...[...this.views.keys()].filter((n) => !this.order.includes(n))];
    const natural = shown.map((name) => this.renderOne(name, columns, Number.POSITIVE_INFINITY, color).length);
    const heights = [...natural];
    let total = heights.reduce((a, b) => a + b, 0);
    while (total > budget && heights.some((h) => h > 1)) {
      const i = heights.indexOf(Math.max(...heights));
      heights[i] = (heights[i] ?? 1) - 1;
      total -= 1;
    }
    // Too many views for even a line each: the first ones' title lines, as many as fit.
    const fitting = total > budget ? shown.slice(0, Math.max(0, budget)) : shown;
    return fitting.flatMap((name, i) => this.renderOne(name, columns, heights[i] ?? 1, color));
  }

  private renderOne(name: string, columns: number, maxLines: number, color: boolean): string[] {
    const entry = this.views.get(name);
    if (!entry) return [];
    const note = entry.note ? ` (${entry.note}; last view)` : "";
    const title = `${name}: ${entry.view.title}${note}`;
    return renderView({ ...entry.view, title }, { width: columns, color, maxLines });
  }

  /** The screen as plain text: what a person sees now (tests, README snapshots). */
  snapshot(): string {
    return this.frame(false)
      .map((l) => l.trimEnd())
      .join("\n");
  }

  private schedule(): void {
    if (!this.started || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.paint();
    }, FRAME_MS);
  }

  /** Writes the lines that differ from the last frame, in one write. */
  paint(): void {
    if (!this.started) return;
    const lines = this.frame(this.color);
    let text = "";
    if (this.painted.length !== lines.length) {
      text += ansi.eraseScreen;
      this.painted = [];
    }
    for (const [i, line] of lines.entries()) {
      if (this.painted[i] === line) continue;
      text += `${ansi.to(i + 1)}${line}${textWidth(line) < terminalSize(this.out).columns ? ansi.eraseLine : ""}`;
    }
    this.painted = lines;
    if (text) this.out.write(text);
  }
}
