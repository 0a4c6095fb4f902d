import { type Logger, untilAborted, type View } from "@zlabs/kit";
import { type CurveKeyPair, generateKeyPair, keyLabel } from "lab19/keys";
import { z85Encode } from "lab19/z85";
import { BeaconSocket, type BeaconSocketConfig } from "./beacon.ts";
import { type ChannelConfig, DeviceChannel } from "./channel.ts";
import { Drops } from "./drops.ts";
import { endpointOf, type Peer, PeerTable } from "./peers.ts";
import { decodeBeacon, type StatusReply } from "./protocol.ts";
import { BeaconVerifier, PinnedKeys } from "./trust.ts";
import { type DeviceRow, type Presence, type ScannerSnapshot, scannerView, type Trust, VIEW_MS } from "./view.ts";

/** Gone devices stay on the screen this long, marked left or vanished, then go. */
export const GONE_SHOWN_MS = 15_000;
/** The most gone devices remembered for the screen. */
const MAX_GONE = 16;
/** How often silent peers are looked for. */
const SWEEP_MS = 250;

export interface ScannerConfig {
  beacon: BeaconSocketConfig;
  /** The allowlist: a folder of public certificates (lab19's zcert files). */
  pinnedDir?: string;
  /** The fleet's Ed25519 verify key, raw: signed beacons are checked with it. */
  verifyKey?: Uint8Array;
  maxSkewMs: number;
  intervalMs: number;
  expiryMs: number;
  handshakeTimeoutMs: number;
  pollMs: number;
  requestTimeoutMs: number;
  goneShownMs: number;
}

export interface ScannerOptions {
  publish?: (view: View) => void;
  now?: () => number;
  clock?: () => number;
}

interface Device {
  peer: Peer;
  trust: Trust;
  failure?: string;
  channel?: DeviceChannel;
  name?: string;
  /** The CURVE handshake with the advertised endpoint succeeded (kept after it has gone, for the screen). */
  secure: boolean;
  replies: number;
  missed: number;
  gone?: { how: "left" | "vanished"; at: number };
}

/**
 * The network scanner: it listens on the beacon port, keeps a table of the devices it hears, and
 * talks (CURVE REQ-REP, a status call every poll interval) only to those it trusts: a pinned key,
 * or a beacon signed with the fleet's key. Everything else is listed and left alone. A device that
 * says port 0 has left; one silent for the expiry has vanished; both stay on the screen a while.
 */
export class NetworkScanner {
  private readonly udp: BeaconSocket;
  private readonly table: PeerTable;
  private readonly devices = new Map<string, Device>();
  private readonly gone: Device[] = [];
  private readonly pinned: PinnedKeys;
  private readonly verifier: BeaconVerifier;
  readonly drops: Drops;
  /** The scanner's own CURVE pair: a fresh one each run (devices accept any CURVE client). */
  readonly client: CurveKeyPair = generateKeyPair();
  beacons = 0;
  private readonly now: () => number;

  constructor(
    private readonly config: ScannerConfig,
    private readonly log: Logger,
    private readonly options: ScannerOptions = {},
  ) {
    this.now = options.now ?? (() => performance.now());
    this.table = new PeerTable(config.expiryMs);
    this.pinned = new PinnedKeys(config.pinnedDir, log, this.now);
    this.verifier = new BeaconVerifier(config.verifyKey, config.maxSkewMs, options.clock);
    this.drops = new Drops(log, "datagram", this.now);
    // Per-datagram error boundary: reading the allowlist may fail (a folder made unreadable); the
    // datagram is dropped and counted, the scanner goes on.
    this.udp = new BeaconSocket(config.beacon, (datagram, from) =>
      this.onDatagram(datagram, from.address).catch((err: unknown) => this.drops.count("handling failed", { err, from: from.address })),
    );
  }

  get port(): number {
    return this.udp.port;
  }

  async start(): Promise<void> {
    await this.pinned.load();
    await this.udp.open();
    this.log.info(
      { beaconPort: this.udp.port, pinned: this.pinned.size, pinnedDir: this.config.pinnedDir, verifying: this.verifier.enabled },
      "listening for beacons",
    );
  }

  /** Devices by label, for tests: trust, whether CURVE is up, presence. */
  list(): DeviceRow[] {
    return this.snapshot().devices;
  }

  snapshot(): ScannerSnapshot {
    const now = this.now();
    const row = (d: Device): DeviceRow => {
      const silent = now - d.peer.lastHeard;
      const presence: Presence = d.gone ? d.gone.how : silent > this.config.intervalMs * 2 ? "quiet" : "present";
      return {
        label: d.name ?? `${d.peer.id.slice(0, 8)}…`,
        endpoint: endpointOf(d.peer),
        key: d.peer.key ? keyLabel(z85Encode(d.peer.key)) : "",
        trust: d.trust,
        secure: d.secure,
        ...(d.failure ? { failure: d.failure } : {}),
        presence,
        forMs: d.gone ? now - d.gone.at : presence === "quiet" ? silent : now - d.peer.joinedAt,
        replies: d.replies,
        missed: d.missed,
      };
    };
    return {
      devices: [...[...this.devices.values()].map(row), ...this.gone.map(row)],
      beacons: this.beacons,
      dropped: { ...this.drops.byReason },
      pinnedKeys: this.pinned.size,
      pinnedDir: this.config.pinnedDir,
      verifying: this.verifier.enabled,
      expiryMs: this.config.expiryMs,
    };
  }

  async run(signal: AbortSignal): Promise<void> {
    if (!this.udp.port) await this.start();
    const publish = this.options.publish;
    const sweep = setInterval(() => this.sweep(), SWEEP_MS);
    const view = publish ? setInterval(() => publish(scannerView(this.snapshot())), VIEW_MS) : undefined;
    try {
      await untilAborted(signal);
    } finally {
      clearInterval(sweep);
      clearInterval(view);
      this.udp.close();
      for (const d of this.devices.values()) d.channel?.close();
    }
  }

  private async onDatagram(datagram: Buffer, address: string): Promise<void> {
    const frame = decodeBeacon(datagram);
    if (frame.kind === "invalid") return this.drops.count("malformed", { why: frame.reason, from: address, bytes: datagram.length });
    const verdict = this.verifier.check(frame.beacon);
    if (!verdict.ok) return this.drops.count(verdict.reason, { from: address, uuid: frame.beacon.uuid });
    this.beacons += 1;
    const seen = this.table.observe(frame.beacon, address, this.now(), verdict.signed);
    switch (seen.kind) {
      case "refused":
        this.drops.count("spoofed", { why: seen.reason, from: address, uuid: frame.beacon.uuid });
        return;
      case "joined": {
        const device: Device = { peer: seen.peer, trust: "checking", secure: false, replies: 0, missed: 0 };
        this.devices.set(seen.peer.id, device);
        this.log.info(
          { endpoint: endpointOf(seen.peer), key: device.peer.key ? keyLabel(z85Encode(device.peer.key)) : "none", uuid: seen.peer.id },
          "device joined",
        );
        return this.admit(device);
      }
      case "moved": {
        const device = this.devices.get(seen.peer.id);
        if (!device) return;
        this.log.info({ device: this.labelOf(device), from: seen.from, to: endpointOf(seen.peer) }, "device moved; connecting again");
        device.channel?.close();
        device.channel = undefined;
        device.secure = false;
        device.failure = undefined;
        device.trust = "checking";
        return this.admit(device);
      }
      case "heard": {
        // A key pinned since it joined (a certificate dropped into the folder) is picked up here.
        const device = this.devices.get(seen.peer.id);
        if (device?.trust === "not pinned") return this.admit(device);
        return;
      }
      case "left": {
        const device = this.devices.get(seen.peer.id);
        if (device) this.retire(device, "left");
        return;
      }
    }
  }

  /** Decides whether to talk to a device, and opens its channel if so. */
  private async admit(device: Device): Promise<void> {
    const peer = device.peer;
    if (!peer.key) {
      device.trust = "no key";
      return;
    }
    let trust: Trust = "not pinned";
    if (peer.signed) trust = "signed";
    else if (await this.pinned.lookup(peer.key)) trust = "pinned";
    // It may have left, moved or been admitted while the folder was read.
    if (this.devices.get(peer.id) !== device || device.channel || device.trust === "untrusted") return;
    const before = device.trust;
    device.trust = trust;
    if (trust === "not pinned") {
      if (before !== "not pinned")
        this.log.warn(
          { endpoint: endpointOf(peer), key: keyLabel(z85Encode(peer.key)), uuid: peer.id },
          "device untrusted: key not pinned",
        );
      return;
    }
    this.connect(device, peer.key);
  }

  private connect(device: Device, key: Buffer): void {
    const endpoint = endpointOf(device.peer);
    const config: ChannelConfig = {
      endpoint,
      serverKey: z85Encode(key),
      client: this.client,
      handshakeTimeoutMs: this.config.handshakeTimeoutMs,
      pollMs: this.config.pollMs,
      requestTimeoutMs: this.config.requestTimeoutMs,
    };
    const channel = new DeviceChannel(
      config,
      {
        secure: (ms) => {
          device.secure = true;
          this.log.info({ endpoint, trust: device.trust, handshakeMs: Math.round(ms), uuid: device.peer.id }, "CURVE handshake done");
        },
        failed: (reason) => {
          device.channel = undefined;
          device.secure = false;
          device.trust = "untrusted";
          device.failure = reason;
          this.log.warn({ device: this.labelOf(device), endpoint, reason }, "device untrusted: the endpoint cannot prove the key");
        },
        reply: (reply: StatusReply) => {
          device.replies += 1;
          // Traffic over TCP is presence too: UDP is what gets lost under load.
          this.table.heard(device.peer.id, this.now());
          if (device.name !== reply.name) {
            device.name = reply.name;
            this.log.info({ name: reply.name, endpoint: endpointOf(device.peer), uuid: device.peer.id }, "device named itself over CURVE");
          }
        },
        missed: (reason) => {
          device.missed += 1;
          this.log.debug({ device: this.labelOf(device), reason }, "status call missed");
        },
      },
      this.log,
    );
    device.channel = channel;
    channel.open();
  }

  private labelOf(device: Device): string {
    return device.name ?? device.peer.id.slice(0, 8);
  }

  /** A device that left (port 0) or vanished (silent for the expiry): channel closed, kept on screen a while. */
  private retire(device: Device, how: "left" | "vanished"): void {
    device.channel?.close();
    device.channel = undefined;
    this.devices.delete(device.peer.id);
    device.gone = { how, at: this.now() };
    this.gone.unshift(device);
    if (this.gone.length > MAX_GONE) this.gone.pop();
    const fields = {
      device: this.labelOf(device),
      endpoint: endpointOf(device.peer),
      silentMs: Math.round(this.now() - device.peer.lastHeard),
    };
    if (how === "left") this.log.info(fields, "device left");
    else this.log.warn(fields, "device vanished");
  }

  private sweep(): void {
    const now = this.now();
    for (const peer of this.table.expire(now)) {
      const device = this.devices.get(peer.id);
      if (device) this.retire(device, "vanished");
    }
    while (this.gone.length > 0 && now - (this.gone[this.gone.length - 1]?.gone?.at ?? now) > this.config.goneShownMs) this.gone.pop();
    this.drops.flush();
  }
}
