/**
 * UDP beacons on loopback, as lab24 and CZMQ's zbeacon do it: every node binds the beacon port
 * with address reuse and broadcasts its beacon to 127.255.255.255 each interval, so every node on
 * the host hears every other. The beacon says where the node's PUB and mailbox are (the address is
 * the datagram's source). A datagram that is not a valid beacon is counted and dropped.
 */
import { createSocket, type Socket } from "node:dgram";
import { type Checked, UsageError } from "@zlabs/kit";
import { type Beacon, decodeBeacon } from "./protocol.ts";

/** The lab's beacon port (its range is 5230-5239). */
export const BEACON_PORT = 5230;
export const BEACON_INTERVAL_MS = 1000;
/** The loopback network's broadcast address: every socket bound to the port on this host, nothing off it. */
export const BEACON_ADDRESS = "127.255.255.255";

export type BeaconHeard = (beacon: Checked<Beacon>, from: string) => void;

export class Discovery {
  private readonly socket: Socket;
  private closed = false;

  constructor(
    private readonly port: number,
    onBeacon: BeaconHeard,
    private readonly address = BEACON_ADDRESS,
  ) {
    this.socket = createSocket({ type: "udp4", reuseAddr: true });
    this.socket.on("message", (msg, rinfo) => onBeacon(decodeBeacon(msg), rinfo.address));
  }

  async open(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.socket.once("error", reject);
      this.socket.bind(this.port, () => {
        this.socket.off("error", reject);
        resolve();
      });
    }).catch((err: NodeJS.ErrnoException) => {
      throw new UsageError(`cannot bind UDP port ${this.port}: ${err.code ?? err.message}`);
    });
    this.socket.on("error", () => {});
    this.socket.setBroadcast(true);
  }

  send(beacon: Buffer): void {
    if (!this.closed) this.socket.send(beacon, this.port, this.address, () => {});
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.close();
  }
}
