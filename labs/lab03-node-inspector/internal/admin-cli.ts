import { type Logger, pause, publishView, type View } from "@zlabs/kit";
import { type LazyPirateClient, NoReplyError } from "./client.ts";
import { formatResult } from "./format.ts";
import {
  addTotals,
  answeredBy,
  answerInWords,
  cliView,
  emptyTotals,
  type RequestRecord,
  type RequestTotals,
  VIEW_REQUESTS,
} from "./view.ts";

/** Exit codes of the admin CLI (2, a bad flag, comes from the kit). */
export const EXIT_OK = 0;
export const EXIT_AGENT_ERROR = 1;
export const EXIT_NO_REPLY = 3;
export const EXIT_INTERRUPTED = 130;

export interface AdminQuery {
  cmd: string;
  args: Record<string, unknown>;
  json: boolean;
  /** Repeat every N seconds until stopped; 0 asks once. */
  watchSec: number;
}

export interface WatchOptions {
  /** Where the watch's live view goes: the kit's publishView by default. */
  publish?: (view: View) => void;
  /** Print every answer's table while watching (false under the demo, where the view shows each answer). */
  printAnswers?: boolean;
  /** How often the view is refreshed while a request waits (its "waiting 1.5 s" counts up), ms. */
  refreshMs?: number;
}

/**
 * The requests of a watch and their attempts, as the client reports them: what the live view
 * shows. Only the last few are kept, with the totals.
 */
export class RequestHistory {
  readonly records: RequestRecord[] = [];
  /** The requests no longer listed, counted. */
  private readonly retired: RequestTotals = emptyTotals();

  begin(cmd: string, now = Date.now()): RequestRecord {
    const n = (this.records.at(-1)?.n ?? 0) + 1;
    const record: RequestRecord = { n, cmd, startedAt: now, attemptAt: now, attempt: 1, timeouts: 0, state: "waiting" };
    this.records.push(record);
    if (this.records.length > VIEW_REQUESTS) addTotals(this.retired, this.records.shift() as RequestRecord);
    return record;
  }

  totals(): RequestTotals {
    const t = { ...this.retired };
    for (const r of this.records) addTotals(t, r);
    return t;
  }
}

/** Asks once, or every watchSec seconds (with a live view of the attempts); returns the exit code. */
export async function runAdmin(
  client: LazyPirateClient,
  query: AdminQuery,
  print: (text: string) => void,
  log: Logger,
  signal: AbortSignal,
  watch: WatchOptions = {},
): Promise<number> {
  const watching = query.watchSec > 0;
  const history = new RequestHistory();
  let nextAt: number | undefined;
  const publish = () =>
    (watch.publish ?? publishView)(
      cliView(history.records, history.totals(), { ...client.config, everySec: query.watchSec, nextAt }, Date.now()),
    );
  let current: RequestRecord | undefined;
  if (watching) {
    const failed = client.onFailure;
    client.onAttempt = ({ attempt }) => {
      if (!current) return;
      current.attempt = attempt;
      current.attemptAt = Date.now();
      publish();
    };
    client.onFailure = (failure) => {
      failed(failure);
      if (current && failure.reason === "timeout") current.timeouts += 1;
      publish();
    };
  }
  const refresh = watching ? setInterval(publish, watch.refreshMs ?? 500) : undefined;
  refresh?.unref();
  try {
    for (;;) {
      let code: number;
      current = watching ? history.begin(query.cmd) : undefined;
      nextAt = undefined;
      try {
        code = await askOnce(client, query, print, log, signal, current, watching && watch.printAnswers !== false);
      } catch (err) {
        if (signal.aborted) return watching ? EXIT_OK : EXIT_INTERRUPTED;
        throw err;
      }
      // Watching carries on through failures, like any monitor: the agent may come back.
      if (!watching) return code;
      nextAt = Date.now() + query.watchSec * 1000;
      publish();
      if (!(await pause(query.watchSec * 1000, signal))) return EXIT_OK;
    }
  } finally {
    clearInterval(refresh);
  }
}

async function askOnce(
  client: LazyPirateClient,
  query: AdminQuery,
  print: (text: string) => void,
  log: Logger,
  signal: AbortSignal,
  record: RequestRecord | undefined,
  printWatched: boolean,
): Promise<number> {
  let reply: Awaited<ReturnType<LazyPirateClient["request"]>>;
  try {
    reply = await client.request(query.cmd, query.args, signal);
  } catch (err) {
    if (!(err instanceof NoReplyError)) throw err;
    if (record) record.state = "no reply";
    log.error(err.message);
    return EXIT_NO_REPLY;
  }
  const latencyMs = record ? Date.now() - record.attemptAt : undefined;
  if (!reply.ok) {
    if (record) Object.assign(record, { state: "refused", answeredBy: reply.error.code, latencyMs, answer: reply.error.message });
    log.error({ code: reply.error.code, id: reply.id }, `the agent refused: ${reply.error.message}`);
    if (query.json) print(JSON.stringify({ error: reply.error }));
    return EXIT_AGENT_ERROR;
  }
  if (record) {
    const by = answeredBy(reply.result);
    Object.assign(record, {
      state: "answered",
      latencyMs,
      answer: answerInWords(query.cmd, reply.result),
      ...(by ? { answeredBy: by } : {}),
    });
    log.info(
      { cmd: query.cmd, attempt: record.attempt, ms: latencyMs, ...(by ? { by } : {}) },
      record.timeouts ? `answered after ${record.timeouts} timeout${record.timeouts > 1 ? "s" : ""}` : "answered",
    );
    if (!printWatched) return EXIT_OK;
  }
  if (query.json) print(JSON.stringify(reply.result));
  else {
    if (record) print(`\n── ${new Date().toLocaleTimeString()}  ${query.cmd}`);
    print(formatResult(query.cmd, reply.result));
  }
  return EXIT_OK;
}
