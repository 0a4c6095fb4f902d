/**
 * The UDP side of discovery, as CZMQ's zbeacon does it: one socket bound to the beacon port with
 * address reuse (so several nodes on one host all hear every beacon), that broadcasts (or
 * multicasts) this node's beacon every interval and hands every datagram it hears, with the
 * sender's address, to the node. Nothing here trusts a datagram: the node decodes it.
 */
import { createSocket, type Socket } from "node:dgram";
import { UsageError } from "@zlabs/kit";

/** CZMQ's zbeacon and zyre send a beacon a second. */
export const BEACON_INTERVAL_MS = 1000;
/** IANA's "ZRE-DISC" port is 5670; the lab keeps to its own range (5240-5249) by default. */
export const BEACON_PORT = 5240;
/** The loopback network's broadcast address: reaches every socket bound to the port on this host, and nothing off it. */
export const BEACON_ADDRESS = "127.255.255.255";

export interface BeaconSocketConfig {
  /** The UDP port every node binds and sends to. */
  port: number;
  /** Where beacons go: a broadcast address (127.255.255.255) or a multicast group (239.x.x.x). */
  address: string;
  /** The interface a multicast group is joined on and sent from (ignored for broadcast). */
  multicastInterface?: string;
}

/** 224.0.0.0/4. */
export const isMulticast = (address: string) => {
  const first = Number(address.split(".")[0]);
  return first >= 224 && first <= 239;
};

export type DatagramHandler = (datagram: Buffer, from: { address: string; port: number }) => void;

export class BeaconSocket {
  private readonly socket: Socket;
  private closed = false;
  /** The port actually bound (the configured one, or the system's choice for 0). */
  port = 0;

  constructor(
    private readonly config: BeaconSocketConfig,
    onDatagram: DatagramHandler,
  ) {
    // reuseAddr: several nodes on one host bind the same port, and every one of them hears a broadcast.
    this.socket = createSocket({ type: "udp4", reuseAddr: true });
    this.socket.on("message", (msg, rinfo) => onDatagram(msg, { address: rinfo.address, port: rinfo.port }));
  }

  /** Binds the beacon port (every address, as zbeacon does) and sets broadcast or multicast up. */
  async open(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const fail = (err: Error) => reject(err);
      this.socket.once("error", fail);
      this.socket.bind(this.config.port, () => {
        this.socket.off("error", fail);
        resolve();
      });
    }).catch((err: NodeJS.ErrnoException) => {
      throw new UsageError(`cannot bind UDP port ${this.config.port}: ${err.code ?? err.message}`);
    });
    // After bind, a socket error is a send that failed: the node logs it with the send.
    this.socket.on("error", () => {});
    this.port = this.socket.address().port;
    if (isMulticast(this.config.address)) {
      const iface = this.config.multicastInterface ?? "127.0.0.1";
      this.socket.addMembership(this.config.address, iface);
      this.socket.setMulticastInterface(iface);
      this.socket.setMulticastLoopback(true);
      this.socket.setMulticastTTL(1);
    } else this.socket.setBroadcast(true);
  }

  /** Sends one beacon to the group; resolves when the kernel has it (or rejects with its error). */
  send(beacon: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.closed) return resolve();
      this.socket.send(beacon, this.config.port, this.config.address, (err) => (err ? reject(err) : resolve()));
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.close();
  }
}
