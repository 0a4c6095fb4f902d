import { type Logger, pause, type View } from "@zlabs/kit";
import type { EchoConfig } from "./config.ts";
import { VIEW_MS, workerView } from "./view.ts";
import { MdpWorker } from "./worker.ts";

export interface ServiceWorkerOptions {
  /** Where the live view goes (the kit's publishView); none in the tests. */
  publish?: (view: View) => void;
}

/**
 * Runs an MDP worker with `answer` as its service, publishing the worker's view. Each request
 * takes `delayMs` first, so a worker killed mid-request can be seen in the demo.
 */
export async function runServiceWorker(
  config: EchoConfig,
  log: Logger,
  signal: AbortSignal,
  answer: (body: Buffer[]) => Buffer[],
  options: ServiceWorkerOptions = {},
): Promise<void> {
  const worker = new MdpWorker(config.worker, log);
  const publish = options.publish;
  const show = () => publish?.(workerView({ service: config.worker.service, state: worker.state, ...worker.stats }));
  const timer = publish ? setInterval(show, VIEW_MS) : undefined;
  try {
    await worker.run(signal, async (body) => {
      show();
      // Answered at once, returned after the delay: the log line marks the request's start.
      const reply = answer(body);
      if (config.delayMs > 0) await pause(config.delayMs);
      return reply;
    });
  } finally {
    if (timer) clearInterval(timer);
  }
}

/** The echo service: the reply is the request. */
export function echoService(log: Logger): (body: Buffer[]) => Buffer[] {
  return (body) => {
    log.info({ frames: body.length, first: body[0]?.subarray(0, 40).toString() }, "echo");
    return body;
  };
}
