import { createServer } from "node:net";

/** Bind to this and read socket.lastEndpoint back: the kernel picks a free port. */
export const ANY_LOOPBACK_TCP = "tcp://127.0.0.1:*";

/**
 * A loopback endpoint whose port was free a moment ago, for a process that must bind a port known
 * in advance (a broker restarted on the same address in a fault test). Prefer ANY_LOOPBACK_TCP
 * whenever the binder can report its endpoint.
 */
export function freeTcpEndpoint(): Promise<string> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(`tcp://127.0.0.1:${port}`));
    });
  });
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
