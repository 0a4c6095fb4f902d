import { type ConfigOf, endpointOption, intOption, numberOption, userPath } from "@zlabs/kit";
import type { AuditorConfig } from "./auditor.ts";
import { CAPTURE_FILE_BYTES, CAPTURE_FILES_KEPT, CAPTURE_HWM } from "./capture.ts";
import { type ClientConfig, REQUEST_TIMEOUT_MS } from "./client-app.ts";
import type { ProxyConfig } from "./monitored-broker.ts";
import { MAX_PEERS } from "./peers.ts";
import { COMMANDS, type Command } from "./protocol.ts";
import { CTL_TIMEOUT_MS, type CtlConfig } from "./proxy-ctl.ts";
import type { ServiceConfig } from "./records-service.ts";

export const LAB = "lab22";
export const FRONT = "tcp://127.0.0.1:5220";
export const BACK = "tcp://127.0.0.1:5221";
export const CONTROL = "tcp://127.0.0.1:5222";
export const TAP = "tcp://127.0.0.1:5223";
/** Written in place of an endpoint or a path: that part is off. */
export const OFF = "off";

export const proxyOptions = {
  front: endpointOption(FRONT, "ROUTER endpoint for the client apps"),
  back: endpointOption(BACK, "DEALER endpoint for the records services"),
  control: endpointOption(CONTROL, "REP endpoint for PAUSE, RESUME, TERMINATE, STATISTICS"),
  capture: { type: "string", default: TAP, describe: `XPUB endpoint of the capture tap, or "${OFF}"` },
  captureFile: { type: "string", default: OFF, describe: `capture file (JSON lines, one per message), or "${OFF}"` },
  captureFileBytes: intOption(CAPTURE_FILE_BYTES, "rotate the capture file at this size", { min: 1024 }),
  captureFilesKept: intOption(CAPTURE_FILES_KEPT, "rotated capture files kept (.1, .2, ...)", { min: 0, max: 100 }),
  captureHwm: intOption(CAPTURE_HWM, "messages the tap queues per subscriber before it drops", { min: 1 }),
  countFrames: {
    type: "boolean",
    default: false,
    describe: "STATISTICS counts frames, as libzmq's master branch (default: messages, as libzmq 4.3 releases)",
  },
  captureLossy: {
    type: "boolean",
    default: false,
    describe: "tap as a plain PUB: a full subscriber loses messages alone, uncounted (default: counted, for all)",
  },
  maxPeers: intOption(MAX_PEERS, "clients the traffic table holds (the longest silent is forgotten)", { min: 1, max: 1_000_000 }),
} as const;

const ENDPOINT = /^(tcp|ipc|inproc):\/\/\S+$/;

export function checkProxy(a: { capture: string }): string | undefined {
  return a.capture === OFF || ENDPOINT.test(a.capture)
    ? undefined
    : `--capture must be an endpoint such as ${TAP} or "${OFF}" (got "${a.capture}")`;
}

export function proxyConfig(a: ConfigOf<typeof proxyOptions>): ProxyConfig {
  return {
    front: a.front,
    back: a.back,
    control: a.control,
    capture: {
      tap: a.capture === OFF ? undefined : a.capture,
      file: a.captureFile === OFF || a.captureFile === "" ? undefined : userPath(a.captureFile),
      fileBytes: a.captureFileBytes,
      filesKept: a.captureFilesKept,
      hwm: a.captureHwm,
      lossy: a.captureLossy,
    },
    maxPeers: a.maxPeers,
    countFrames: a.countFrames,
  };
}

const ID = /^[A-Za-z0-9_-]{1,64}$/;
const checkId = (id: string) => (ID.test(id) ? undefined : `--id "${id}" may hold only letters, digits, - and _ (at most 64)`);

export const clientOptions = {
  id: { type: "string", default: `client-${process.pid}`, describe: "routing identity: the proxy lists clients by it" },
  proxy: endpointOption(FRONT, "the proxy's front end"),
  rate: numberOption(1, "lookups a second (0: as fast as the records come back)", { min: 0, max: 100_000 }),
  count: intOption(0, "stop after this many records (0: until stopped)", { min: 0 }),
  timeout: intOption(REQUEST_TIMEOUT_MS, "ms to wait for a record before asking again", { min: 1 }),
  curve: { type: "boolean", default: false, describe: "speak CURVE to the proxy, which speaks NULL: a misconfigured client" },
  seed: intOption(1, "seed of the customer ids asked for", { min: 0 }),
} as const;

export const checkClient = (a: { id: string }) => checkId(a.id);

export function clientConfig(a: ConfigOf<typeof clientOptions>): ClientConfig {
  return { id: a.id, proxy: a.proxy, rate: a.rate, count: a.count, timeoutMs: a.timeout, curve: a.curve, seed: a.seed };
}

export const serviceOptions = {
  id: { type: "string", default: `records-${process.pid}`, describe: "the service's name, in its records" },
  proxy: endpointOption(BACK, "the proxy's back end"),
  costMs: numberOption(0, "extra ms per lookup: a slower service", { min: 0, max: 60_000 }),
} as const;

export const checkService = (a: { id: string }) => checkId(a.id);

export function serviceConfig(a: ConfigOf<typeof serviceOptions>): ServiceConfig {
  return { id: a.id, proxy: a.proxy, costMs: a.costMs };
}

export const auditorOptions = {
  tap: endpointOption(TAP, "the proxy's capture tap"),
  stall: { type: "boolean", default: false, describe: "subscribe and never read: a consumer that has stalled" },
} as const;

export function auditorConfig(a: ConfigOf<typeof auditorOptions>): AuditorConfig {
  return { tap: a.tap, stall: a.stall };
}

export const CTL_USAGE = `<${COMMANDS.join("|")}>`;

export const ctlOptions = {
  control: endpointOption(CONTROL, "the proxy's control socket"),
  timeout: intOption(CTL_TIMEOUT_MS, "ms to wait for the answer", { min: 1 }),
  json: { type: "boolean", default: false, describe: "print the answer as JSON" },
} as const;

export function checkCtl(a: { _: string[] }): string | undefined {
  if (a._.length !== 1) return `give one command: ${COMMANDS.join(", ")}`;
  const command = (a._[0] as string).toUpperCase();
  return (COMMANDS as readonly string[]).includes(command) ? undefined : `unknown command "${a._[0]}": ${COMMANDS.join(", ")}`;
}

export function ctlConfig(a: ConfigOf<typeof ctlOptions>): CtlConfig {
  return { control: a.control, command: (a._[0] as string).toUpperCase() as Command, timeoutMs: a.timeout, json: a.json };
}
