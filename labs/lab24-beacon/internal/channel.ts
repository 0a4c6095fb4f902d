/**
 * The scanner's secure channel to one device: a CURVE REQ socket to the endpoint the beacon
 * advertised, with the key the beacon advertised as the server key.
 *
 * libzmq never reports "wrong server key" as such: a server that cannot prove it holds the secret
 * half of that key fails the handshake (ERR_ZMTP_CRYPTOGRAPHIC on its side), and the client just
 * reconnects and fails again, for ever (lab09's verified behaviours). So the channel watches the
 * socket's handshake events and gives the handshake a deadline: no "handshake" event by then, or a
 * handshake error, and the endpoint is untrusted and the socket closed. Only after the handshake
 * does the scanner ask for the device's status, Lazy Pirate style (relaxed + correlate: a request
 * without a reply in time is sent again on the same socket, and a late reply to an old one dropped).
 */
import { type Logger, peerLimits } from "@zlabs/kit";
import type { CurveKeyPair } from "lab19/keys";
import { Request } from "zeromq";
import { decodeReply, encodeRequest, MAX_CALL_BYTES, type StatusReply } from "./protocol.ts";

/** How long a device has to complete the CURVE handshake before it is marked untrusted. */
export const HANDSHAKE_TIMEOUT_MS = 3000;
/** How often a trusted device is asked for its status. */
export const POLL_INTERVAL_MS = 2000;
/** How long a status request waits for its reply. */
export const REQUEST_TIMEOUT_MS = 1500;

export interface ChannelConfig {
  endpoint: string;
  /** The device's CURVE public key, Z85, as its beacon advertised it. */
  serverKey: string;
  /** The scanner's own pair. */
  client: CurveKeyPair;
  handshakeTimeoutMs: number;
  pollMs: number;
  requestTimeoutMs: number;
}

export interface ChannelEvents {
  /** The handshake succeeded: the endpoint holds the secret key. */
  secure(ms: number): void;
  /** No handshake by the deadline, or a handshake error: the socket is closed already. */
  failed(reason: string): void;
  reply(reply: StatusReply): void;
  /** No reply in time, or a reply that did not decode. */
  missed(reason: string): void;
}

export class DeviceChannel {
  private readonly socket: Request;
  private readonly opened = performance.now();
  private deadline: NodeJS.Timeout | undefined;
  private poller: NodeJS.Timeout | undefined;
  private seq = 0;
  private busy = false;
  private state: "handshaking" | "secure" | "closed" = "handshaking";

  constructor(
    private readonly config: ChannelConfig,
    private readonly events: ChannelEvents,
    private readonly log: Logger,
  ) {
    this.socket = new Request({
      linger: 0,
      curveServerKey: config.serverKey,
      curvePublicKey: config.client.publicKey,
      curveSecretKey: config.client.secretKey,
      relaxed: true,
      correlate: true,
      receiveTimeout: config.requestTimeoutMs,
      // A request waits in the socket only while the device is connected; otherwise it fails at once.
      sendTimeout: 0,
      immediate: true,
      ...peerLimits(MAX_CALL_BYTES),
    });
    this.socket.events.on("handshake", () => this.onSecure());
    this.socket.events.on("handshake:error:protocol", (e) => this.fail(`handshake failed: ${e.error.code ?? e.error.message}`));
    this.socket.events.on("handshake:error:auth", (e) => this.fail(`handshake refused: ${e.error.status ?? e.error.message}`));
    // A rogue server's failure shows here on the client (EPIPE, ECONNRESET) and would repeat for ever.
    this.socket.events.on("handshake:error:other", (e) => this.fail(`handshake failed: ${e.error.code ?? e.error.message}`));
  }

  get secure(): boolean {
    return this.state === "secure";
  }

  open(): void {
    this.deadline = setTimeout(
      () => this.fail(`no CURVE handshake within ${this.config.handshakeTimeoutMs} ms`),
      this.config.handshakeTimeoutMs,
    );
    this.socket.connect(this.config.endpoint);
  }

  close(): void {
    if (this.state === "closed") return;
    this.state = "closed";
    clearTimeout(this.deadline);
    clearInterval(this.poller);
    this.socket.close();
  }

  private onSecure(): void {
    if (this.state !== "handshaking") return;
    this.state = "secure";
    clearTimeout(this.deadline);
    this.events.secure(performance.now() - this.opened);
    this.poll();
    this.poller = setInterval(() => this.poll(), this.config.pollMs);
  }

  private fail(reason: string): void {
    if (this.state === "closed") return;
    const wasSecure = this.state === "secure";
    this.close();
    // After a good handshake, a later error is a reconnection that failed: the endpoint changed hands.
    this.events.failed(wasSecure ? `${reason} (after a good handshake)` : reason);
  }

  /** One status request; never two in flight on the socket. */
  private poll(): void {
    if (this.busy || this.state !== "secure") return;
    this.busy = true;
    this.call()
      .catch((err: unknown) => {
        if (this.state === "closed") return;
        const code = (err as { code?: string }).code;
        this.events.missed(code === "EAGAIN" ? `no reply within ${this.config.requestTimeoutMs} ms` : (err as Error).message);
      })
      .finally(() => {
        this.busy = false;
      });
  }

  private async call(): Promise<void> {
    this.seq += 1;
    const seq = this.seq;
    try {
      await this.socket.send(encodeRequest(seq));
    } catch (err) {
      // immediate + sendTimeout 0: no completed connection to the device right now.
      if ((err as { code?: string }).code === "EAGAIN") throw new Error("not connected");
      throw err;
    }
    const reply = decodeReply(await this.socket.receive());
    if (this.state === "closed") return;
    if (!reply.ok) this.events.missed(reply.reason);
    else if (reply.value.seq !== seq) this.events.missed(`reply to request ${reply.value.seq}, expected ${seq}`);
    else this.events.reply(reply.value);
    this.log.trace({ seq }, "status call done");
  }
}
