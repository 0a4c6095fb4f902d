// A SUB peer written by hand (ZMTP 3.0 over a plain TCP socket), for sending subscriptions far
// larger than any real subscriber would. A zeromq SUB or XSUB would keep every prefix it sends
// in its own subscription trie (about 48 bytes per byte), so the test process itself would grow
// by gigabytes; this one keeps nothing.
import { connect, type Socket } from "node:net";

export interface RawSubscriber {
  /** Resolves when the other side closes the connection (libzmq does so for a message over its limit). */
  readonly closedByPeer: Promise<void>;
  close(): void;
}

function frame(flags: number, body: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head[0] = flags | 0x02; // long frame: 8-byte size
  head.writeBigUInt64BE(BigInt(body.length), 1);
  return Buffer.concat([head, body]);
}

/** Connects to a bound PUB or XPUB as a SUB and sends each prefix as a subscription (0x01 + prefix). */
export function rawSubscriber(endpoint: string, prefixes: Buffer[]): RawSubscriber {
  const { hostname, port } = new URL(endpoint.replace(/^tcp:/, "http:"));
  const socket: Socket = connect(Number(port), hostname);
  const greeting = Buffer.alloc(64);
  greeting[0] = 0xff;
  greeting[9] = 0x7f;
  greeting[10] = 3; // ZMTP 3.0
  greeting.write("NULL", 12);
  const ready = Buffer.concat([Buffer.from("\x05READY\x0bSocket-Type"), Buffer.from([0, 0, 0, 3]), Buffer.from("SUB")]);
  socket.write(greeting);
  socket.write(frame(0x04, ready));
  for (const prefix of prefixes) socket.write(frame(0, Buffer.concat([Buffer.from([1]), prefix])));
  socket.on("data", () => {});
  socket.on("error", () => {});
  const closedByPeer = new Promise<void>((resolve) => socket.on("close", () => resolve()));
  return { closedByPeer, close: () => socket.destroy() };
}
