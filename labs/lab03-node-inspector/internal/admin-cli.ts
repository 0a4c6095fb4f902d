import { type Logger, pause } from "@zlabs/kit";
import { type LazyPirateClient, NoReplyError } from "./client.ts";
import { formatResult } from "./format.ts";

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

/** Asks once, or every watchSec seconds; returns the exit code. */
export async function runAdmin(
  client: LazyPirateClient,
  query: AdminQuery,
  print: (text: string) => void,
  log: Logger,
  signal: AbortSignal,
): Promise<number> {
  for (;;) {
    let code: number;
    try {
      code = await askOnce(client, query, print, log, signal);
    } catch (err) {
      if (signal.aborted) return query.watchSec > 0 ? EXIT_OK : EXIT_INTERRUPTED;
      throw err;
    }
    // Watching carries on through failures, like any monitor: the agent may come back.
    if (query.watchSec <= 0) return code;
    if (!(await pause(query.watchSec * 1000, signal))) return EXIT_OK;
  }
}

async function askOnce(
  client: LazyPirateClient,
  query: AdminQuery,
  print: (text: string) => void,
  log: Logger,
  signal: AbortSignal,
): Promise<number> {
  let reply: Awaited<ReturnType<LazyPirateClient["request"]>>;
  try {
    reply = await client.request(query.cmd, query.args, signal);
  } catch (err) {
    if (!(err instanceof NoReplyError)) throw err;
    log.error(err.message);
    return EXIT_NO_REPLY;
  }
  if (!reply.ok) {
    log.error({ code: reply.error.code, id: reply.id }, `the agent refused: ${reply.error.message}`);
    if (query.json) print(JSON.stringify({ error: reply.error }));
    return EXIT_AGENT_ERROR;
  }
  if (query.json) print(JSON.stringify(reply.result));
  else {
    if (query.watchSec > 0) print(`\n── ${new Date().toLocaleTimeString()}  ${query.cmd}`);
    print(formatResult(query.cmd, reply.result));
  }
  return EXIT_OK;
}
