import type { Logger } from "pino";

/** How long a dropped connection is left to libzmq before the socket connects again itself. */
export const RECONNECT_AFTER_DROP_MS = 1000;

/** What a zeromq socket offers for this; structural, so the kit's runtime needs no zeromq. */
export interface Reconnectable {
  readonly closed: boolean;
  connect(endpoint: string): void;
  disconnect(endpoint: string): void;
  readonly events: {
    on(type: "connect" | "disconnect" | "connect:retry" | "connect:delay", listener: (event: { address: string }) => void): unknown;
  };
}

/**
 * libzmq never reconnects a connection it dropped for a protocol error, such as a frame over the
 * socket's maximum message size: one oversized message from a peer would cut a connecting socket
 * off from it for good. This watches the socket's own endpoints and, when one drops and libzmq
 * neither connected again nor scheduled a retry within `afterMs` (it does both when the peer
 * merely went away), disconnects and connects it again.
 */
export function reconnectAfterDrops(
  socket: Reconnectable,
  endpoints: readonly string[],
  log: Logger,
  afterMs: number = RECONNECT_AFTER_DROP_MS,
): void {
  const lastSign = new Map<string, number>();
  const alive = ({ address }: { address: string }) => lastSign.set(address, performance.now());
  socket.events.on("connect", alive);
  socket.events.on("connect:retry", alive);
  socket.events.on("connect:delay", alive);
  socket.events.on("disconnect", ({ address }) => {
    if (!endpoints.includes(address)) return;
    const droppedAt = performance.now();
    setTimeout(() => {
      if (socket.closed || (lastSign.get(address) ?? 0) > droppedAt) return;
      log.warn({ endpoint: address }, "connection dropped (a message over the limit?); connecting again");
      try {
        socket.disconnect(address);
      } catch {
        // libzmq has already forgotten the endpoint.
      }
      socket.connect(address);
    }, afterMs).unref();
  });
}
