import type { Logger } from "@zlabs/kit";
import type { EchoConfig } from "./config.ts";
import { runServiceWorker, type ServiceWorkerOptions } from "./echo-worker.ts";
import { answer } from "./reputation.ts";

/**
 * The hash reputation worker: analysts' tools send a SHA-256, it answers [verdict, detail] from
 * the local table (reputation.ts). The lookup is pure, so a request sent twice (the broker re-sends
 * a request whose worker died) gets the same answer twice: the service is idempotent.
 */
export function runHashWorker(config: EchoConfig, log: Logger, signal: AbortSignal, options: ServiceWorkerOptions = {}): Promise<void> {
  return runServiceWorker(
    config,
    log,
    signal,
    (body) => {
      const reply = answer(body);
      log.info({ hash: body[0]?.subarray(0, 64).toString("latin1"), verdict: reply[0]?.toString() }, "lookup");
      return reply;
    },
    options,
  );
}
