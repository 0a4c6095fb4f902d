import { type Logger, pause, type View } from "@zlabs/kit";
import { MdpAsyncClient } from "./async-client.ts";
import { MdpClient, MdpServiceError, MdpTimeout } from "./client.ts";
import type { RequesterConfig } from "./config.ts";
import { MMI_SERVICE } from "./mdp.ts";
import { REPUTATION_TABLE } from "./reputation.ts";
import { type ClientSnapshot, clientView, VIEW_MS } from "./view.ts";

/** Replies per second are counted over this window. */
const RATE_WINDOW_MS = 5000;
/** Every this many requests, one is an mmi.service lookup of the hash service. */
const MMI_EVERY = 10;

/** A hash nobody knows: the table answers "unknown". */
const UNKNOWN_SAMPLE = `${"0".repeat(63)}1`;

export interface RequesterOptions {
  publish?: (view: View) => void;
}

/** The n-th request of the round: echo, a hash lookup, and now and then an mmi.service check. */
export function nthRequest(n: number, config: RequesterConfig): { service: string; body: Buffer[] } {
  if (n % MMI_EVERY === MMI_EVERY - 1) return { service: MMI_SERVICE, body: [Buffer.from(config.hashService)] };
  if (n % 2 === 0) return { service: config.echoService, body: [Buffer.from(`${config.async ? "async" : "sync"} ping ${n}`)] };
  const samples = config.hashes.length > 0 ? config.hashes : [...REPUTATION_TABLE.keys(), UNKNOWN_SAMPLE];
  return { service: config.hashService, body: [Buffer.from(samples[Math.floor(n / 2) % samples.length] as string)] };
}

/**
 * The client-requester role: an analyst's tool on the service bus. It asks the echo service, the
 * hash reputation service and the broker's mmi.service in turn, at `rate` a second, through the
 * synchronous client (Lazy Pirate) or the asynchronous one (`inFlight` at once), and logs each answer.
 * Returns 0, or 1 when a request failed (with --count).
 */
export async function runRequester(
  config: RequesterConfig,
  log: Logger,
  signal: AbortSignal,
  options: RequesterOptions = {},
): Promise<number> {
  const sync = config.async
    ? undefined
    : new MdpClient({ broker: config.broker, timeoutMs: config.timeoutMs, retries: config.retries }, log);
  const async = config.async ? new MdpAsyncClient({ broker: config.broker, timeoutMs: config.timeoutMs }, log) : undefined;
  const request = (service: string, body: Buffer[]) =>
    sync ? sync.request(service, body, signal) : (async as MdpAsyncClient).request(service, body, signal);
  const s: ClientSnapshot = {
    mode: sync ? "sync" : "async",
    sent: 0,
    replies: 0,
    inFlight: 0,
    retries: 0,
    timeouts: 0,
    errors: 0,
    malicious: 0,
    perSecond: 0,
  };
  const replyTimes: number[] = [];
  const startedAt = performance.now();
  const show = () => {
    const now = performance.now();
    while (replyTimes.length > 0 && (replyTimes[0] as number) < now - RATE_WINDOW_MS) replyTimes.shift();
    s.perSecond = (replyTimes.length * 1000) / Math.max(1000, Math.min(RATE_WINDOW_MS, now - startedAt));
    s.retries = sync?.stats.retries ?? 0;
    options.publish?.(clientView(s));
  };
  const timer = options.publish ? setInterval(show, VIEW_MS) : undefined;
  const gap = config.rate > 0 ? 1000 / config.rate : 0;
  let next = 0;
  let nextAt = performance.now();
  let failed = false;

  const lane = async () => {
    while (!signal.aborted && (config.count === 0 || next < config.count)) {
      const n = next++;
      if (gap > 0) {
        const wait = nextAt - performance.now();
        nextAt = Math.max(nextAt, performance.now()) + gap;
        if (wait > 0 && !(await pause(wait, signal))) return;
      }
      const { service, body } = nthRequest(n, config);
      const t0 = performance.now();
      s.sent += 1;
      s.inFlight += 1;
      try {
        const reply = await request(service, body);
        s.replies += 1;
        replyTimes.push(performance.now());
        const text = reply.map((f) => f.subarray(0, 60).toString());
        if (text[0] === "malicious") s.malicious += 1;
        const ms = Math.round(performance.now() - t0);
        log.info({ service, ask: body[0]?.subarray(0, 16).toString(), reply: text.join(" · "), ms }, `${service} answered`);
      } catch (err) {
        if (signal.aborted) return;
        failed = true;
        if (err instanceof MdpServiceError) {
          s.errors += 1;
          log.warn({ service, code: err.code, reason: err.reason }, "broker error reply");
        } else if (err instanceof MdpTimeout) {
          s.timeouts += 1;
          log.warn({ service, attempts: err.attempts }, "no reply: gave up");
        } else throw err;
      } finally {
        s.inFlight -= 1;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: sync ? 1 : config.inFlight }, lane));
  } finally {
    if (timer) clearInterval(timer);
    show();
    sync?.close();
    async?.close();
  }
  log.info({ sent: s.sent, replies: s.replies, errors: s.errors, timeouts: s.timeouts }, "done");
  return failed ? 1 : 0;
}
