import { fileURLToPath } from "node:url";
import { type ConfigOf, endpointOption, intOption, userPath } from "@zlabs/kit";
import { BEACON_ADDRESS, BEACON_INTERVAL_MS, BEACON_PORT, type BeaconSocketConfig } from "./beacon.ts";
import { HANDSHAKE_TIMEOUT_MS, POLL_INTERVAL_MS, REQUEST_TIMEOUT_MS } from "./channel.ts";
import { keyFromFlag } from "./keys.ts";
import { GONE_SHOWN_MS, type ScannerConfig } from "./network-scanner.ts";
import { PEER_EXPIRY_MS } from "./peers.ts";
import type { DeviceConfig } from "./secure-device.ts";
import { MAX_SKEW_MS } from "./trust.ts";

export const LAB = "lab24";
/** The lab's folder: its own defaults (.store/...) resolve here, not where the user ran the command. */
const LAB_DIR = fileURLToPath(new URL("..", import.meta.url));
/** Where devices keep their certificates by default, and so what the scanner pins by default. */
export const DEVICES_DIR = ".store/devices";
const labPath = (p: string) => `${LAB_DIR}${p}`;

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

const beaconOptions = {
  beaconPort: intOption(BEACON_PORT, "UDP port every node binds (with address reuse) and beacons to", { min: 1, max: 65535 }),
  beaconAddress: {
    type: "string",
    default: BEACON_ADDRESS,
    describe: "where beacons go: a broadcast address (127.255.255.255: this host only) or a multicast group (239.x.x.x)",
  },
  multicastInterface: { type: "string", default: "127.0.0.1", describe: "the interface a multicast group is joined on" },
  interval: intOption(BEACON_INTERVAL_MS, "beacon interval, ms", { min: 10 }),
  expiry: intOption(PEER_EXPIRY_MS, "ms of silence after which a node is gone (vanished)", { min: 10 }),
} as const;

function checkBeacon(a: { beaconAddress: string; multicastInterface: string }): string | undefined {
  if (!IPV4.test(a.beaconAddress)) return `--beacon-address (or LAB24_BEACON_ADDRESS) must be an IPv4 address (got "${a.beaconAddress}")`;
  if (!IPV4.test(a.multicastInterface))
    return `--multicast-interface (or LAB24_MULTICAST_INTERFACE) must be an IPv4 address (got "${a.multicastInterface}")`;
  return undefined;
}

function beaconConfig(a: ConfigOf<typeof beaconOptions>): BeaconSocketConfig {
  return { port: a.beaconPort, address: a.beaconAddress, multicastInterface: a.multicastInterface };
}

export const deviceOptions = {
  name: { type: "string", default: `device-${process.pid}`, describe: "the device's name (its status reply gives it)" },
  cert: {
    type: "string",
    describe: `certificate base path: CERT (public, what scanners pin) and CERT_secret, written if missing [default: the lab's ${DEVICES_DIR}/NAME]`,
  },
  bind: endpointOption("tcp://127.0.0.1:*", "the CURVE REP endpoint (its port goes in the beacon)"),
  ...beaconOptions,
  signingKey: { type: "string", describe: "the fleet's signing key file: beacons carry a stamp and an Ed25519 signature" },
  newSigningKey: { type: "string", describe: "write a new fleet signing key to this file (mode 0600), print its verify key, exit" },
  impersonate: { type: "string", describe: "(a rogue, for experiments) advertise the public key in this certificate instead of its own" },
} as const;

export function checkDevice(a: ConfigOf<typeof deviceOptions>): string | undefined {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(a.name)) return `--name "${a.name}" may hold only letters, digits, - and _ (at most 64)`;
  return checkBeacon(a);
}

export function deviceConfig(a: ConfigOf<typeof deviceOptions>): DeviceConfig {
  return {
    name: a.name,
    cert: a.cert !== undefined ? userPath(a.cert) : labPath(`${DEVICES_DIR}/${a.name}`),
    bind: a.bind,
    beacon: beaconConfig(a),
    intervalMs: a.interval,
    expiryMs: a.expiry,
    ...(a.signingKey !== undefined ? { signingKey: userPath(a.signingKey) } : {}),
    ...(a.impersonate !== undefined ? { impersonate: userPath(a.impersonate) } : {}),
  };
}

export const scannerOptions = {
  pinned: {
    type: "string",
    describe: `the allowlist: a folder of public certificates (zcert files) [default: the lab's ${DEVICES_DIR}]; "" for none`,
  },
  verifyKey: { type: "string", describe: "the fleet's verify key (Z85, from --new-signing-key): signed beacons are trusted" },
  ...beaconOptions,
  maxSkew: intOption(MAX_SKEW_MS, "how far a signed beacon's stamp may be from this clock, ms", { min: 1 }),
  handshakeTimeout: intOption(HANDSHAKE_TIMEOUT_MS, "ms a device has to complete the CURVE handshake before it is untrusted", { min: 10 }),
  poll: intOption(POLL_INTERVAL_MS, "ms between status calls to a trusted device", { min: 10 }),
  requestTimeout: intOption(REQUEST_TIMEOUT_MS, "ms a status call waits for its reply", { min: 10 }),
  forget: intOption(GONE_SHOWN_MS, "ms a device that left or vanished stays on the screen", { min: 0 }),
} as const;

export function checkScanner(a: ConfigOf<typeof scannerOptions>): string | undefined {
  if (a.verifyKey !== undefined) {
    try {
      keyFromFlag(a.verifyKey, "--verify-key (or LAB24_VERIFY_KEY)");
    } catch (err) {
      return (err as Error).message;
    }
  }
  return checkBeacon(a);
}

export function scannerConfig(a: ConfigOf<typeof scannerOptions>): ScannerConfig {
  const pinned = a.pinned === undefined ? labPath(DEVICES_DIR) : a.pinned === "" ? undefined : userPath(a.pinned);
  return {
    beacon: beaconConfig(a),
    ...(pinned !== undefined ? { pinnedDir: pinned } : {}),
    ...(a.verifyKey !== undefined ? { verifyKey: keyFromFlag(a.verifyKey, "--verify-key") } : {}),
    maxSkewMs: a.maxSkew,
    intervalMs: a.interval,
    expiryMs: a.expiry,
    handshakeTimeoutMs: a.handshakeTimeout,
    pollMs: a.poll,
    requestTimeoutMs: a.requestTimeout,
    goneShownMs: a.forget,
  };
}
