// A role's live view: its state as data (a title, a table, a summary), published as often as the
// role likes. Where it goes depends on where the role runs:
//   - under the orchestrator (ZLABS_VIEW=ipc): to the orchestrator over the node IPC channel, which
//     draws it above the demo's log; the log lines on stdout are never mixed with it;
//   - alone on a terminal: drawn by the kit at the top of the terminal, updated in place, while the
//     log scrolls below it;
//   - otherwise (a pipe, a file, CI): nothing, or one JSON line per update with ZLABS_VIEW=json.
import { ansi, padEnd, paint, type TerminalStream, type Tone, terminalSize, textWidth, truncate } from "./terminal.ts";

// Paths the user typed resolve against where they typed them: exported with the views, for roles.
export { USER_CWD_ENV, userCwd, userPath } from "./paths.ts";
export type { Tone } from "./terminal.ts";

/** A table cell: text, or text with a tone (good, warn, bad, dim, bold, info) the screen colours. */
export type ViewCell = string | number | { text: string | number; tone?: Tone };

export interface View {
  /** One line above the table: what this is, with the headline numbers ("5 agents, 4 alive"). */
  title: string;
  /** Column headings of the table (optional: a view may be a title and a summary alone). */
  columns?: string[];
  rows?: ViewCell[][];
  /** Lines under the table (totals, the current phase). */
  summary?: string | string[];
}

/** How views travel: set by the orchestrator (ipc), or by the user (json, off). Unset: a terminal draws it. */
export const VIEW_ENV = "ZLABS_VIEW";
export type ViewMode = "ipc" | "tty" | "json" | "off";

/** The message a role sends the orchestrator. */
export interface ViewMessage {
  zlabsView: View;
}

/** How often a view is drawn or sent at most; the latest one always arrives. */
export const VIEW_INTERVAL_MS = 250;

const TONES = new Set<string>(["good", "warn", "bad", "dim", "bold", "info"]);

function isCell(c: unknown): c is ViewCell {
  if (typeof c === "string" || typeof c === "number") return true;
  if (!c || typeof c !== "object") return false;
  const cell = c as { text?: unknown; tone?: unknown };
  return (typeof cell.text === "string" || typeof cell.text === "number") && (cell.tone === undefined || TONES.has(String(cell.tone)));
}

/** A view received from another process, checked; undefined when it is not one. */
export function asView(value: unknown): View | undefined {
  const v = value as Partial<View> | null;
  if (!v || typeof v !== "object" || typeof v.title !== "string") return undefined;
  if (v.columns !== undefined && (!Array.isArray(v.columns) || v.columns.some((c) => typeof c !== "string"))) return undefined;
  if (v.rows !== undefined && (!Array.isArray(v.rows) || v.rows.some((r) => !Array.isArray(r) || !r.every(isCell)))) return undefined;
  const s = v.summary;
  if (s !== undefined && typeof s !== "string" && !(Array.isArray(s) && s.every((l) => typeof l === "string"))) return undefined;
  return v as View;
}

export function isViewMessage(message: unknown): message is ViewMessage {
  return Boolean(message && typeof message === "object" && asView((message as ViewMessage).zlabsView));
}

function cellText(cell: ViewCell): string {
  return String(typeof cell === "object" ? cell.text : cell).replace(/[\r\n\t]+/g, " ");
}

function cellTone(cell: ViewCell): Tone | undefined {
  return typeof cell === "object" ? cell.tone : undefined;
}

export interface RenderViewOptions {
  width: number;
  color: boolean;
  /** At most this many lines; table rows past it become "… N more rows". */
  maxLines?: number;
}

/** The view as terminal lines, each at most `width` columns: title, table (aligned columns), summary. */
export function renderView(view: View, options: RenderViewOptions): string[] {
  const { width, color } = options;
  const columns = view.columns ?? [];
  const rows = view.rows ?? [];
  const summary = view.summary === undefined ? [] : Array.isArray(view.summary) ? view.summary : [view.summary];
  const cols = Math.max(columns.length, ...rows.map((r) => r.length), 0);
  const widths = Array.from({ length: cols }, (_, c) =>
    Math.max(textWidth(columns[c] ?? ""), ...rows.map((r) => textWidth(cellText(r[c] ?? "")))),
  );
  const line = (cells: ViewCell[], header = false) =>
    cells
      .map((cell, c) => {
        const text = c === cells.length - 1 ? cellText(cell) : padEnd(cellText(cell), widths[c] ?? 0);
        return paint(text, header ? "bold" : cellTone(cell), color);
      })
      .join("  ");
  const table = rows.map((r) => line(r));
  const head = [paint(view.title, "bold", color), ...(columns.length ? [line(columns, true)] : [])];
  const tail = summary.map((s) => s.replace(/[\r\n\t]+/g, " "));
  const max = options.maxLines ?? Number.POSITIVE_INFINITY;
  let body = table;
  if (head.length + table.length + tail.length > max) {
    const room = Math.max(0, max - head.length - tail.length - 1);
    body = [...table.slice(0, room), paint(`… ${table.length - room} more rows`, "dim", color)];
  }
  return [...head, ...body, ...tail].slice(0, Math.max(1, max)).map((l) => truncate(l, width));
}

/**
 * Draws a view at the top of a terminal while the rest of the terminal (a scroll region) goes on
 * scrolling the role's log, which pino writes to the same terminal on its own. Every write is one
 * synchronous string, so a log line never lands inside a half-drawn view.
 */
export class PinnedView {
  private height = 0;
  private started = false;
  private last: View | undefined;
  private readonly onResize = () => this.repaint(true);

  constructor(
    private readonly out: TerminalStream,
    private readonly color = !process.env.NO_COLOR,
  ) {}

  draw(view: View): void {
    this.last = view;
    this.repaint(false);
  }

  private repaint(resized: boolean): void {
    if (!this.last) return;
    const { columns, rows } = terminalSize(this.out);
    const lines = [...renderView(this.last, { width: columns, color: this.color, maxLines: Math.max(1, rows - 4) }), "─".repeat(columns)];
    let text = "";
    if (!this.started) {
      // Push what the terminal shows into its scrollback, so the view starts on a clean screen.
      text += "\n".repeat(rows);
      this.started = true;
      this.out.on?.("resize", this.onResize);
    }
    const regionChanged = resized || lines.length !== this.height;
    text += ansi.saveCursor;
    if (regionChanged) text += ansi.scrollRegion(lines.length + 1, rows);
    for (const [i, l] of lines.entries()) text += `${ansi.to(i + 1)}${l}${ansi.eraseLine}`;
    // Lines the view no longer uses become part of the log region again.
    for (let i = lines.length; i < this.height; i++) text += `${ansi.to(i + 1)}${ansi.eraseLine}`;
    text += regionChanged ? ansi.to(rows) : ansi.restoreCursor;
    this.height = lines.length;
    this.out.write(text);
  }

  /** Gives the whole terminal back to scrolling text (at exit). */
  close(): void {
    if (!this.started) return;
    this.out.off?.("resize", this.onResize);
    const { rows } = terminalSize(this.out);
    this.out.write(`${ansi.resetScrollRegion}${ansi.to(rows)}\n`);
    this.started = false;
  }
}

/** Sends, draws or prints views, at most one per interval, always ending with the latest. */
export class ViewPublisher {
  private pending: View | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastAt = Number.NEGATIVE_INFINITY;
  private pinned: PinnedView | undefined;

  constructor(
    readonly mode: ViewMode,
    private readonly io: {
      out?: TerminalStream;
      send?: (message: ViewMessage) => void;
      intervalMs?: number;
    } = {},
  ) {}

  publish(view: View): void {
    if (this.mode === "off") return;
    this.pending = view;
    const interval = this.io.intervalMs ?? VIEW_INTERVAL_MS;
    const wait = this.lastAt + interval - Date.now();
    if (wait <= 0) this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), wait);
      this.timer.unref();
    }
  }

  /** Delivers the latest view now (a role may call it before it exits). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const view = this.pending;
    if (!view) return;
    this.pending = undefined;
    this.lastAt = Date.now();
    const out = this.io.out ?? process.stdout;
    switch (this.mode) {
      case "ipc":
        this.io.send?.({ zlabsView: view });
        break;
      case "tty":
        this.pinned ??= new PinnedView(out);
        this.pinned.draw(view);
        break;
      case "json":
        out.write(`${JSON.stringify({ view })}\n`);
        break;
      default:
        break;
    }
  }

  close(): void {
    this.flush();
    this.pinned?.close();
  }
}

/** The mode for this process: what the orchestrator or the user set, else a terminal draws and a pipe stays quiet. */
export function viewModeFrom(env: NodeJS.ProcessEnv = process.env, isTTY = Boolean(process.stdout.isTTY)): ViewMode {
  const asked = env[VIEW_ENV];
  if (asked === "ipc") return typeof process.send === "function" ? "ipc" : "off";
  if (asked === "json" || asked === "off" || asked === "tty") return asked;
  return isTTY ? "tty" : "off";
}

function sendToParent(message: ViewMessage): void {
  // The callback swallows the error of a channel that closed (the orchestrator went away first).
  if (process.connected) process.send?.(message, undefined, undefined, () => {});
}

let publisher: ViewPublisher | undefined;

/**
 * Publishes this role's live view: call it whenever the state changes (or on a timer); the kit
 * draws or sends at most four per second, always the latest. Under the demo the orchestrator draws
 * it above the log; alone on a terminal the kit pins it to the top; in a pipe it prints nothing
 * (or a JSON line per update with ZLABS_VIEW=json).
 *
 *   publishView({ title: "engines: 3 idle", columns: ["ENGINE", "JOBS"], rows: [["fast-1", 42]], summary: "queue 0" });
 */
export function publishView(view: View): void {
  if (!publisher) {
    publisher = new ViewPublisher(viewModeFrom(), { send: sendToParent });
    if (publisher.mode === "tty") process.once("exit", () => publisher?.close());
  }
  publisher.publish(view);
}

/** A count as people read it in a view: 12,345. */
export function formatCount(x: number): string {
  return Math.round(x).toLocaleString("en-US");
}

/** Milliseconds as seconds with one decimal, "1.4 s"; never negative (two processes' clocks differ a little). */
export function formatSeconds(ms: number): string {
  return `${(Math.max(0, ms) / 1000).toFixed(1)} s`;
}
