// Raw MDP peers for the tests: a DEALER (client or worker) and a ROUTER (a broker stand-in) that
// record every message, so a test can wait for one with a deadline and check what came before.
import { withDeadline } from "@zlabs/kit/testing";
import { Dealer, Router } from "zeromq";

/** How long a test waits for what the broker should do at once: generous, for a loaded 2-core CI machine. */
export const DEADLINE_MS = 20_000;

type Frames = Buffer[];

class Recorder {
  readonly received: Frames[] = [];
  private waiters = new Set<() => void>();

  protected record(frames: Frames): void {
    this.received.push(frames);
    for (const w of [...this.waiters]) w();
  }

  /** The first message from index `from` on that matches, within the deadline; its index too. */
  async next(match: (f: Frames) => boolean, what: string, timeoutMs = 10_000, from = 0): Promise<{ frames: Frames; index: number }> {
    let checked = from;
    let wake: () => void = () => {};
    const found = new Promise<{ frames: Frames; index: number }>((resolve) => {
      wake = () => {
        for (; checked < this.received.length; checked++) {
          const frames = this.received[checked] as Frames;
          if (match(frames)) {
            this.waiters.delete(wake);
            resolve({ frames, index: checked });
            return;
          }
        }
      };
      this.waiters.add(wake);
      wake();
    });
    try {
      return await withDeadline(found, timeoutMs, what);
    } finally {
      this.waiters.delete(wake);
    }
  }

  /** Waits for `n` matching messages from `from` on. */
  async count(match: (f: Frames) => boolean, n: number, what: string, timeoutMs = 10_000, from = 0): Promise<void> {
    let at = from;
    for (let i = 0; i < n; i++) at = (await this.next(match, `${what} (${i + 1} of ${n})`, timeoutMs, at)).index + 1;
  }
}

type Peer = Dealer | Router;

/** A raw socket that records what it receives. */
class RawSocket<S extends Peer> extends Recorder {
  constructor(readonly socket: S) {
    super();
  }

  protected async loop(): Promise<void> {
    try {
      for await (const frames of this.socket) this.record(frames as Frames);
    } catch {
      // Closed.
    }
  }

  send(frames: (Buffer | string | number[])[]): Promise<void> {
    return this.socket.send(frames.map((f) => (Array.isArray(f) ? Buffer.from(f) : f)));
  }

  close(): void {
    if (!this.socket.closed) this.socket.close();
  }
}

/** A raw DEALER: a hand-written client or worker. */
export class RawDealer extends RawSocket<Dealer> {
  constructor(endpoint: string, routingId?: string) {
    super(new Dealer({ linger: 0, ...(routingId ? { routingId } : {}) }));
    this.socket.connect(endpoint);
    void this.loop();
  }
}

/** A raw ROUTER bound to a loopback port: a stand-in broker that records [identity, ...frames]. */
export class RawRouter extends RawSocket<Router> {
  endpoint = "";

  constructor() {
    super(new Router({ linger: 0 }));
  }

  async bind(): Promise<this> {
    await this.socket.bind("tcp://127.0.0.1:*");
    this.endpoint = this.socket.lastEndpoint as string;
    void this.loop();
    return this;
  }
}

/** Frame helpers: is this the MDP/Worker command `cmd` (as a DEALER sees it, or after a ROUTER identity)? */
export const isCommand =
  (cmd: number, offset = 0) =>
  (f: Frames) =>
    f[offset]?.length === 0 && f[offset + 1]?.toString() === "MDPW01" && f[offset + 2]?.length === 1 && f[offset + 2]?.[0] === cmd;
export const any = () => true;
export const text = (frames: readonly Buffer[]) => frames.map((f) => f.toString());
