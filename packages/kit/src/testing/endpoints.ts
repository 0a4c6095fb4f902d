import { randomInt } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";

/** Bind to this and read socket.lastEndpoint back: the kernel picks a free port. */
export const ANY_LOOPBACK_TCP = "tcp://127.0.0.1:*";

/** The lowest port freeTcpEndpoint picks. */
const PICK_FROM = 20_000;

/** The ports the kernel gives outgoing connections (Linux's setting; elsewhere the IANA range). */
function ephemeralRange(): [number, number] {
  try {
    const [lo, hi] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    if (lo && hi && lo <= hi) return [lo, hi];
  } catch {
    // not Linux
  }
  return [49_152, 65_535];
}

const EPHEMERAL = ephemeralRange();

/** A random port outside the ephemeral range, or 0 (the kernel's pick) when the range leaves no room. */
function candidatePort(): number {
  const [lo, hi] = EPHEMERAL;
  if (lo - PICK_FROM >= 1000) return PICK_FROM + randomInt(lo - PICK_FROM);
  if (65_535 - hi >= 1000) return hi + 1 + randomInt(65_535 - hi);
  return 0;
}

/** Listens on the port and closes again: the port it got, or undefined when the port is taken. */
function probe(port: number): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "EADDRINUSE" || err.code === "EACCES") resolve(undefined);
      else reject(err);
    });
    server.listen(port, "127.0.0.1", () => {
      const address = server.address();
      const got = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(got));
    });
  });
}

/**
 * A loopback endpoint whose port was free a moment ago, for a process that must bind a port known
 * in advance (a broker restarted on the same address in a fault test). Prefer ANY_LOOPBACK_TCP
 * whenever the binder can report its endpoint.
 *
 * The port is picked outside the kernel's ephemeral range: in the second or so before the process
 * binds it, any outgoing connection on the machine (a ZeroMQ socket reconnecting every 100 ms in
 * another test) could otherwise be given that very port as its source port, and the bind would fail.
 */
export async function freeTcpEndpoint(): Promise<string> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = await probe(candidatePort());
    if (port) return `tcp://127.0.0.1:${port}`;
  }
  const port = await probe(0);
  if (!port) throw new Error("no free loopback port");
  return `tcp://127.0.0.1:${port}`;
}

export async function freeTcpEndpoints(n: number): Promise<string[]> {
  const endpoints = new Set<string>();
  while (endpoints.size < n) endpoints.add(await freeTcpEndpoint());
  return [...endpoints];
}

/** Keeps the sockets of a test and closes them all in afterEach, so no test leaks one. */
export class SocketJar {
  private readonly sockets: { linger: number; closed: boolean; close(): void }[] = [];

  add<T extends { linger: number; closed: boolean; close(): void }>(socket: T): T {
    socket.linger = 0;
    this.sockets.push(socket);
    return socket;
  }

  closeAll(): void {
    for (const s of this.sockets.splice(0)) if (!s.closed) s.close();
  }
}
