/**
 * The ring's discovery channel: a UDP socket on the beacon port, shared by every node and client on
 * the host (SO_REUSEADDR), sending to the loopback broadcast address so each of them hears each
 * datagram (zguide ch8, "Cooperative Discovery Using UDP Broadcasts"). Datagrams are handed on
 * undecoded, with the sender's address: the node and the client decode and count them.
 */
import { createSocket, type Socket } from "node:dgram";
import { UsageError } from "@zlabs/kit";

/** zbeacon's default interval. */
export const BEACON_INTERVAL_MS = 1000;
/** Lab 14's own UDP port (its range is 5140-5149). */
export const BEACON_PORT = 5140;
/** Every socket bound to the port on this host hears a datagram sent here, and nothing leaves the host. */
export const BEACON_ADDRESS = "127.255.255.255";

export class BeaconChannel {
  private readonly udp: Socket = createSocket({ type: "udp4", reuseAddr: true });
  private open = false;

  constructor(
    private readonly port: number,
    private readonly address: string,
    onDatagram: (datagram: Buffer, fromAddress: string) => void,
  ) {
    this.udp.on("message", (datagram, rinfo) => onDatagram(datagram, rinfo.address));
  }

  async start(): Promise<void> {
    try {
      await new Promise<void>((resolve, reject) => {
        this.udp.once("error", reject);
        this.udp.bind(this.port, () => {
          this.udp.off("error", reject);
          resolve();
        });
      });
    } catch (err) {
      throw new UsageError(`cannot bind the beacon port udp ${this.port}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    this.udp.on("error", () => {});
    this.udp.setBroadcast(true);
    this.open = true;
  }

  /** One datagram to every listener on the port; a failed send is the caller's to log. */
  send(datagram: Buffer): Promise<void> {
    if (!this.open) return Promise.resolve();
    return new Promise((resolve, reject) => this.udp.send(datagram, this.port, this.address, (err) => (err ? reject(err) : resolve())));
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    this.udp.close();
  }
}
