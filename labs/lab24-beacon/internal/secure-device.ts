import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { bindAll, type Logger, type LoopStats, pause, peerLimits, receiveLoop, runLoops, type View } from "@zlabs/kit";
import type { CurveKeyPair } from "lab19/keys";
import { keyLabel } from "lab19/keys";
import { z85Decode, z85Encode } from "lab19/z85";
import { Reply } from "zeromq";
import { BeaconSocket, type BeaconSocketConfig } from "./beacon.ts";
import { Drops } from "./drops.ts";
import { loadOrCreatePair, readPublicKey, readSigningKey } from "./keys.ts";
import { PeerTable } from "./peers.ts";
import {
  decodeBeacon,
  decodeRequest,
  encodeBeacon,
  encodeReply,
  encodeSignedBeacon,
  LEAVING_PORT,
  MAX_CALL_BYTES,
  PROTOCOL_VERSION,
  UUID_BYTES,
} from "./protocol.ts";
import type { SigningKey } from "./signing.ts";
import { type DeviceSnapshot, deviceView, VIEW_MS } from "./view.ts";

/** How long an impostor waits for the certificate of the device it impersonates to appear. */
const IMPERSONATE_WAIT_MS = 10_000;

export interface DeviceConfig {
  /** Its name, as the status reply gives it to a scanner that got through the handshake. */
  name: string;
  /** The certificate's base path: `cert` (public, what scanners pin) and `cert`_secret; made when missing. */
  cert: string;
  /** The CURVE REP endpoint; its port goes in the beacon. */
  bind: string;
  beacon: BeaconSocketConfig;
  intervalMs: number;
  /** Other devices heard are listed until silent this long. */
  expiryMs: number;
  /** The fleet's signing seed file: beacons then carry a stamp and a signature. */
  signingKey?: string;
  /** A rogue's trick, for the demo and the tests: advertise the public key in this certificate, not its own. */
  impersonate?: string;
}

export interface DeviceOptions {
  publish?: (view: View) => void;
  now?: () => number;
  /** Wall-clock ms for signed stamps. */
  clock?: () => number;
}

/**
 * A device on the network: a CURVE REP socket that answers status requests, and a beacon every
 * second saying "I am here, at this port, with this key" (ZRE v3, signed when given the fleet's key).
 * Stopping sends a last beacon with port 0: a scanner removes it at once instead of after the expiry.
 * It hears the others' beacons too (the port is shared, with address reuse), and its own, which it ignores.
 */
export class SecureDevice {
  /** 16 random octets: this run's identity in beacons. */
  readonly uuid = randomBytes(UUID_BYTES);
  /** Made in start(): its CURVE options must be in the constructor. */
  private rep: Reply | undefined;
  private readonly udp: BeaconSocket;
  private readonly neighbours: PeerTable;
  readonly drops: Drops;
  private pair: CurveKeyPair | undefined;
  /** The key the beacon advertises: its own, or the one it impersonates. */
  private advertised: Buffer | undefined;
  private signing: SigningKey | undefined;
  endpoint = "";
  port = 0;
  beaconsSent = 0;
  ownIgnored = 0;
  served = 0;
  badRequests = 0;
  private lastStamp = 0;
  private readonly startedAt: number;
  readonly loop: LoopStats = { received: 0, failed: 0 };
  private readonly now: () => number;
  private readonly clock: () => number;

  constructor(
    private readonly config: DeviceConfig,
    private readonly log: Logger,
    private readonly options: DeviceOptions = {},
  ) {
    this.now = options.now ?? (() => performance.now());
    this.clock = options.clock ?? (() => Date.now());
    this.startedAt = this.now();
    this.neighbours = new PeerTable(config.expiryMs);
    this.drops = new Drops(log, "datagram", this.now);
    this.udp = new BeaconSocket(config.beacon, (datagram, from) => {
      try {
        this.onDatagram(datagram, from.address);
      } catch (err) {
        this.drops.count("handling failed", { err, from: from.address });
      }
    });
  }

  get publicKey(): string {
    return this.pair?.publicKey ?? "";
  }

  /** Keys, the CURVE REP bound, the beacon port bound. */
  async start(): Promise<void> {
    // The signing key first: a bad one stops the device before it writes anything.
    if (this.config.signingKey) this.signing = await readSigningKey(this.config.signingKey);
    const { pair, created } = await loadOrCreatePair(this.config.cert, { name: this.config.name });
    this.pair = pair;
    if (created) this.log.info({ cert: this.config.cert, key: keyLabel(pair.publicKey) }, "new key pair written");
    // CURVE server options go in the constructor. No ZAP handler: any CURVE client may ask (Stonehouse).
    const rep = new Reply({ linger: 0, curveServer: true, curveSecretKey: pair.secretKey, ...peerLimits(MAX_CALL_BYTES) });
    this.rep = rep;
    const advertisedKey = this.config.impersonate ? await this.victimKey(this.config.impersonate) : pair.publicKey;
    this.advertised = (z85Decode(advertisedKey) as { ok: true; value: Buffer }).value;
    this.endpoint = (await bindAll(this.log, { rep: [rep, this.config.bind] })).rep;
    this.port = Number(/:(\d+)$/.exec(this.endpoint)?.[1] ?? 0);
    await this.udp.open();
    this.log.info(
      {
        port: this.port,
        key: keyLabel(advertisedKey),
        to: `${this.config.beacon.address}:${this.udp.port}`,
        signed: this.signing !== undefined,
        ...(this.config.impersonate ? { impersonating: this.config.impersonate } : {}),
        uuid: this.uuid.toString("hex"),
      },
      "beaconing",
    );
  }

  /** The impersonated device may be starting too (in the demo): its certificate is waited for a while. */
  private async victimKey(path: string): Promise<string> {
    const until = this.now() + IMPERSONATE_WAIT_MS;
    while (!existsSync(path) && this.now() < until) await pause(200);
    return readPublicKey(path);
  }

  snapshot(): DeviceSnapshot {
    const now = this.now();
    return {
      name: this.config.name,
      endpoint: this.endpoint,
      key: this.advertised ? keyLabel(z85Encode(this.advertised)) : "",
      impersonating: this.config.impersonate !== undefined,
      signed: this.signing !== undefined,
      uptimeMs: now - this.startedAt,
      beaconsSent: this.beaconsSent,
      served: this.served,
      badRequests: this.badRequests,
      neighbours: this.neighbours.size,
      ownIgnored: this.ownIgnored,
      dropped: this.drops.total,
    };
  }

  async run(signal: AbortSignal): Promise<void> {
    if (!this.endpoint) await this.start();
    const rep = this.rep as Reply;
    const publish = this.options.publish;
    const log = this.log;
    try {
      await this.beacon(this.port);
      await runLoops(
        signal,
        {
          sockets: [rep],
          every: [
            { ms: this.config.intervalMs, run: () => void this.beacon(this.port) },
            {
              ms: VIEW_MS,
              run: () => {
                this.sweep();
                publish?.(deviceView(this.snapshot()));
              },
            },
          ],
          log,
        },
        () => receiveLoop(rep, signal, (frames) => this.onRequest(rep, frames), { log, name: "rep", stats: this.loop }),
      );
    } finally {
      await this.leave();
      this.udp.close();
    }
  }

  /** One beacon; a failed send is logged (the next interval tries again). */
  private async beacon(port: number): Promise<void> {
    const key = this.advertised as Buffer;
    const bytes = this.signing
      ? encodeSignedBeacon({ uuid: this.uuid, port, key }, this.stamp(), this.signing)
      : encodeBeacon({ uuid: this.uuid, port, key });
    try {
      await this.udp.send(bytes);
      this.beaconsSent += 1;
    } catch (err) {
      this.log.warn({ err }, "beacon not sent");
    }
  }

  /** Strictly increasing, so two beacons in one millisecond are not taken for a replay. */
  private stamp(): number {
    this.lastStamp = Math.max(this.clock(), this.lastStamp + 1);
    return this.lastStamp;
  }

  /** The goodbye: port 0, so scanners remove it at once. zyre sends it once; so do we. */
  private async leave(): Promise<void> {
    if (!this.advertised) return;
    await this.beacon(LEAVING_PORT);
    this.log.info({ uuid: this.uuid.toString("hex") }, "left (beacon with port 0 sent)");
  }

  /** The REP answers every request exactly once, an error reply for a bad one (or the socket would wait for ever). */
  private async onRequest(rep: Reply, frames: Buffer[]): Promise<void> {
    const request = decodeRequest(frames);
    if (!request.ok) {
      this.badRequests += 1;
      this.log.warn({ reason: request.reason, total: this.badRequests }, "bad request answered with an error");
      await rep.send(encodeReply({ v: PROTOCOL_VERSION, error: request.reason }));
      return;
    }
    this.served += 1;
    await rep.send(
      encodeReply({
        v: PROTOCOL_VERSION,
        seq: request.value.seq,
        name: this.config.name,
        uptimeMs: Math.round(this.now() - this.startedAt),
        served: this.served,
      }),
    );
  }

  private onDatagram(datagram: Buffer, address: string): void {
    const frame = decodeBeacon(datagram);
    if (frame.kind === "invalid") {
      this.drops.count("malformed", { why: frame.reason, from: address, bytes: datagram.length });
      return;
    }
    if (frame.beacon.uuid.equals(this.uuid)) {
      // Our own beacon, back from the broadcast: never a peer. zbeacon's noecho compares the bytes;
      // so do we (the unsigned part), so someone else's beacon under our uuid is a spoof, not an echo.
      const ours = encodeBeacon({ uuid: this.uuid, port: frame.beacon.port, key: this.advertised as Buffer });
      const mine =
        (frame.beacon.port === this.port || frame.beacon.port === LEAVING_PORT) && datagram.subarray(0, ours.length).equals(ours);
      if (mine) this.ownIgnored += 1;
      else this.drops.count("spoofed", { why: "our uuid, not our beacon", from: address });
      return;
    }
    const seen = this.neighbours.observe(frame.beacon, address, this.now());
    if (seen.kind === "refused") this.drops.count("spoofed", { why: seen.reason, from: address });
  }

  private sweep(): void {
    this.neighbours.expire(this.now());
    this.drops.flush();
  }
}
