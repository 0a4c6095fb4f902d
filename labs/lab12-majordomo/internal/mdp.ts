/**
 * Lab 12 wire protocol: RFC 7/MDP 0.1 (Majordomo) and RFC 8/MMI, frame for frame as the RFCs write
 * them, so a client, worker or broker written from the RFC in any language works with ours.
 *
 * The frames below are as a DEALER sends and receives them; the broker's ROUTER adds (receives) or
 * takes (sends) the peer's routing identity in front, which the RFC does not show.
 *
 * Client → broker   REQUEST   ["", "MDPC01", service, body...]         (at least one body frame)
 * Broker → client   REPLY     ["", "MDPC01", service, body...]
 * Worker → broker   READY     ["", "MDPW01", 0x01, service]
 * Broker → worker   REQUEST   ["", "MDPW01", 0x02, client address, "", body...]
 * Worker → broker   REPLY     ["", "MDPW01", 0x03, client address, "", body...]
 * Both directions   HEARTBEAT ["", "MDPW01", 0x04]
 * Both directions   DISCONNECT["", "MDPW01", 0x05]
 *
 * MMI (RFC 8): a request to "mmi.service" with body [name] is answered by the broker itself with
 * body ["200"] when a worker is registered for `name`, ["404"] when none is; any other "mmi.*"
 * service answers ["501"]. A worker that sends READY for an "mmi.*" name gets DISCONNECT.
 *
 * Broker error reply (ours, inside the RFC's REPLY): when the broker gives up on a request it
 * answers ["", "MDPC01", service, "mmi.error", code, reason] where `service` is the service the
 * client asked for (so any RFC client takes it as the reply to its request) and the first body
 * frame is the literal "mmi.error". The broker owns the "mmi." namespace (RFC 8) and treats a
 * worker REPLY whose first body frame is "mmi.error" as a protocol violation, so through our broker
 * only the broker can produce this reply. Codes:
 *   "504"  EXPIRED   the request waited `requestExpiryMs` and no worker of the service took it
 *   "503"  FAILED    the request was in progress on a worker that died, sent once more, and that
 *                    worker died too (we send a request to at most two workers)
 *   "503"  FULL      the broker already holds its maximum of waiting requests
 *
 * Client envelope (for the asynchronous client): the RFC's client frames begin with the empty
 * delimiter; whatever a DEALER puts in front of it is a routing envelope, exactly as a REQ client
 * behind a DEALER proxy would have. Our broker keeps a request's whole envelope (up to
 * MAX_ENVELOPE_FRAMES frames) and puts it back in front of the reply; the REQUEST to the worker
 * still carries precisely one client address frame (the client's routing identity), as the RFC
 * says. MdpAsyncClient puts a request tag there: it sends [tag, "", "MDPC01", service, body...]
 * and gets [tag, "", "MDPC01", service, body...] back.
 */

/** MDP/Client v0.1 header. */
export const MDPC01 = "MDPC01";
/** MDP/Worker v0.1 header. */
export const MDPW01 = "MDPW01";

/** MDP/Worker commands: one byte each. */
export const READY = 0x01;
export const REQUEST = 0x02;
export const REPLY = 0x03;
export const HEARTBEAT = 0x04;
export const DISCONNECT = 0x05;

export const COMMAND_NAMES: Record<number, string> = {
  [READY]: "READY",
  [REQUEST]: "REQUEST",
  [REPLY]: "REPLY",
  [HEARTBEAT]: "HEARTBEAT",
  [DISCONNECT]: "DISCONNECT",
};

/** RFC 8: the namespace the broker serves itself. */
export const MMI_PREFIX = "mmi.";
export const MMI_SERVICE = "mmi.service";
export const MMI_FOUND = "200";
export const MMI_NOT_FOUND = "404";
export const MMI_NOT_IMPLEMENTED = "501";

/** The broker's error reply: first body frame, then a code and a reason (see above). */
export const MMI_ERROR = "mmi.error";
export const ERROR_EXPIRED = "504";
export const ERROR_FAILED = "503";

/** The Guide's values (mdbroker.c, mdwrkapi.c, mdcliapi.c): the demo runs with them, tests with less. */
export const HEARTBEAT_INTERVAL_MS = 2500;
export const HEARTBEAT_LIVENESS = 3;
export const RECONNECT_MS = 2500;
export const CLIENT_TIMEOUT_MS = 2500;
export const CLIENT_RETRIES = 3;
/** A request waits this long for a worker of its service before the broker answers EXPIRED. */
export const REQUEST_EXPIRY_MS = 10_000;
/** The most requests the broker holds waiting for workers, over all services. */
export const MAX_WAITING_REQUESTS = 10_000;
/** The most bytes of request bodies the broker holds waiting (a request may be 64 frames of 1 MiB). */
export const MAX_WAITING_BYTES = 256 * 1024 * 1024;
/** The most services the broker keeps a record of (a client names them: this bounds what it can make us allocate). */
export const MAX_SERVICES = 1000;

/** A service name: printable ASCII, 1 to 255 characters (a 0MQ string, as RFC 7 says "printable string"). */
export const MAX_SERVICE_CHARS = 255;
/** Body frames in one request or reply. */
export const MAX_BODY_FRAMES = 64;
/** Routing frames in front of a client's empty delimiter: its identity, and what proxies or the async client add. */
export const MAX_ENVELOPE_FRAMES = 8;
/** A routing identity or envelope frame is 1 to 255 bytes (libzmq's identity limit). */
export const MAX_ADDRESS_BYTES = 255;

export const EMPTY = Buffer.alloc(0);
export const MDPC01_FRAME = Buffer.from(MDPC01);
export const MDPW01_FRAME = Buffer.from(MDPW01);
export const READY_FRAME = Buffer.from([READY]);
export const REQUEST_FRAME = Buffer.from([REQUEST]);
export const REPLY_FRAME = Buffer.from([REPLY]);
export const HEARTBEAT_FRAME = Buffer.from([HEARTBEAT]);
export const DISCONNECT_FRAME = Buffer.from([DISCONNECT]);
export const MMI_ERROR_FRAME = Buffer.from(MMI_ERROR);

const PRINTABLE = /^[\x20-\x7e]+$/;

export function isServiceName(name: string): boolean {
  return name.length > 0 && name.length <= MAX_SERVICE_CHARS && PRINTABLE.test(name);
}

export const isMmi = (service: string) => service.startsWith(MMI_PREFIX);

const isAddress = (frame: Buffer | undefined): frame is Buffer =>
  frame !== undefined && frame.length > 0 && frame.length <= MAX_ADDRESS_BYTES;

function serviceOf(frame: Buffer | undefined): string | undefined {
  if (frame === undefined || frame.length === 0 || frame.length > MAX_SERVICE_CHARS) return undefined;
  const name = frame.toString("latin1");
  return PRINTABLE.test(name) ? name : undefined;
}

// ---------------------------------------------------------------------------------------------
// Builders. Client and worker frames are as a DEALER sends them (the empty frame 0 included);
// broker frames start with the ROUTER identity of the peer they go to.

/** Client REQUEST, as a DEALER sends it; `envelope` goes in front (the async client's tag). */
export function clientRequest(service: string, body: readonly Buffer[], envelope: readonly Buffer[] = []): Buffer[] {
  return [...envelope, EMPTY, MDPC01_FRAME, Buffer.from(service), ...body];
}

/** Broker REPLY to a client: `envelope` is what the ROUTER received in front of the empty frame. */
export function clientReply(envelope: readonly Buffer[], service: string | Buffer, body: readonly Buffer[]): Buffer[] {
  return [...envelope, EMPTY, MDPC01_FRAME, typeof service === "string" ? Buffer.from(service) : service, ...body];
}

/** The broker's error reply body: ["mmi.error", code, reason]. */
export function errorBody(code: string, reason: string): Buffer[] {
  return [MMI_ERROR_FRAME, Buffer.from(code), Buffer.from(reason)];
}

export function workerReady(service: string): Buffer[] {
  return [EMPTY, MDPW01_FRAME, READY_FRAME, Buffer.from(service)];
}

export function workerReply(client: Buffer, body: readonly Buffer[]): Buffer[] {
  return [EMPTY, MDPW01_FRAME, REPLY_FRAME, client, EMPTY, ...body];
}

/** HEARTBEAT or DISCONNECT as a worker sends it. */
export function workerCommand(command: typeof HEARTBEAT | typeof DISCONNECT): Buffer[] {
  return [EMPTY, MDPW01_FRAME, command === HEARTBEAT ? HEARTBEAT_FRAME : DISCONNECT_FRAME];
}

/** Broker REQUEST to a worker (ROUTER frames: the worker's identity first). */
export function brokerRequest(worker: Buffer, client: Buffer, body: readonly Buffer[]): Buffer[] {
  return [worker, EMPTY, MDPW01_FRAME, REQUEST_FRAME, client, EMPTY, ...body];
}

/** HEARTBEAT or DISCONNECT from the broker to a worker (ROUTER frames). */
export function brokerCommand(worker: Buffer, command: typeof HEARTBEAT | typeof DISCONNECT): Buffer[] {
  return [worker, EMPTY, MDPW01_FRAME, command === HEARTBEAT ? HEARTBEAT_FRAME : DISCONNECT_FRAME];
}

// ---------------------------------------------------------------------------------------------
// Decoders: one per socket, each a tagged union its loop switches on.

/** Why the broker disconnects a worker: every one of these is answered with DISCONNECT. */
export type Violation =
  | "second READY"
  | "READY for an mmi.* service"
  | "READY with a bad service name"
  | "REPLY from a worker that never sent READY"
  | "HEARTBEAT from a worker that never sent READY"
  | "REPLY while no request is in progress"
  | "REPLY for another client"
  | "REPLY posing as a broker error"
  | "REQUEST from a worker"
  | "unknown command"
  | "wrong frame count";

/** What the broker's ROUTER takes: a client's request, a worker's command, or garbage. */
export type FromPeer =
  | { kind: "request"; envelope: Buffer[]; service: string; body: Buffer[] }
  | { kind: "ready"; worker: Buffer; service: string }
  | { kind: "reply"; worker: Buffer; client: Buffer; body: Buffer[] }
  | { kind: "heartbeat"; worker: Buffer }
  | { kind: "disconnect"; worker: Buffer }
  /** A worker's frames that break MDP/Worker: answered with DISCONNECT. Some are only known as such by the broker's state (`ready`, `reply`, `heartbeat` from an unknown worker). */
  | { kind: "violation"; worker: Buffer; reason: Violation; detail?: string }
  /** Neither a client nor a worker message: dropped and counted. */
  | { kind: "invalid"; peer: Buffer | undefined; reason: string };

/** Decodes one message from the broker's ROUTER (the peer's identity first). */
export function fromPeer(frames: readonly Buffer[]): FromPeer {
  const peer = frames[0];
  if (!isAddress(peer)) return { kind: "invalid", peer, reason: "no routing identity" };
  // The envelope: the identity and any routing frames up to the empty delimiter.
  let delimiter = 1;
  while (delimiter < frames.length && (frames[delimiter] as Buffer).length > 0) {
    if (delimiter >= MAX_ENVELOPE_FRAMES || !isAddress(frames[delimiter])) return { kind: "invalid", peer, reason: "bad envelope" };
    delimiter++;
  }
  const header = frames[delimiter + 1];
  if (delimiter >= frames.length || header === undefined) return { kind: "invalid", peer, reason: "no empty delimiter and header" };
  if (header.equals(MDPC01_FRAME)) return fromClient(frames, delimiter);
  if (header.equals(MDPW01_FRAME)) {
    if (delimiter !== 1) return { kind: "invalid", peer, reason: "a worker command with routing frames" };
    return fromWorker(peer, frames);
  }
  return { kind: "invalid", peer, reason: `neither ${MDPC01} nor ${MDPW01}` };
}

function fromClient(frames: readonly Buffer[], delimiter: number): FromPeer {
  const envelope = frames.slice(0, delimiter);
  const service = serviceOf(frames[delimiter + 2]);
  const body = frames.slice(delimiter + 3);
  if (service === undefined) return { kind: "invalid", peer: frames[0], reason: "client REQUEST without a printable service name" };
  if (body.length === 0) return { kind: "invalid", peer: frames[0], reason: "client REQUEST without a body" };
  if (body.length > MAX_BODY_FRAMES)
    return { kind: "invalid", peer: frames[0], reason: `client REQUEST over ${MAX_BODY_FRAMES} body frames` };
  return { kind: "request", envelope, service, body };
}

function fromWorker(worker: Buffer, frames: readonly Buffer[]): FromPeer {
  const command = frames[3];
  const count = frames.length - 1;
  if (command === undefined || command.length !== 1)
    return { kind: "violation", worker, reason: "unknown command", detail: "no one-byte command" };
  const wrongCount = (name: string): FromPeer => ({
    kind: "violation",
    worker,
    reason: "wrong frame count",
    detail: `${name} with ${count} frames`,
  });
  switch (command[0]) {
    case READY: {
      if (count !== 4) return wrongCount("READY");
      const service = serviceOf(frames[4]);
      if (service === undefined) return { kind: "violation", worker, reason: "READY with a bad service name" };
      if (isMmi(service)) return { kind: "violation", worker, reason: "READY for an mmi.* service", detail: service };
      return { kind: "ready", worker, service };
    }
    case REPLY: {
      const client = frames[4];
      if (count < 6 || !isAddress(client) || frames[5]?.length !== 0) return wrongCount("REPLY");
      const body = frames.slice(6);
      if (body.length > MAX_BODY_FRAMES) return wrongCount("REPLY");
      if (body[0]?.equals(MMI_ERROR_FRAME)) return { kind: "violation", worker, reason: "REPLY posing as a broker error" };
      return { kind: "reply", worker, client, body };
    }
    case HEARTBEAT:
      return count === 3 ? { kind: "heartbeat", worker } : wrongCount("HEARTBEAT");
    case DISCONNECT:
      return count === 3 ? { kind: "disconnect", worker } : wrongCount("DISCONNECT");
    case REQUEST:
      return { kind: "violation", worker, reason: "REQUEST from a worker" };
    default:
      return { kind: "violation", worker, reason: "unknown command", detail: `0x${command.toString("hex")}` };
  }
}

/** What a worker's DEALER takes from the broker. */
export type FromBroker =
  | { kind: "request"; client: Buffer; body: Buffer[] }
  | { kind: "heartbeat" }
  | { kind: "disconnect" }
  | { kind: "invalid"; reason: string };

export function fromBroker(frames: readonly Buffer[]): FromBroker {
  if (frames.length < 3 || frames[0]?.length !== 0 || !frames[1]?.equals(MDPW01_FRAME))
    return { kind: "invalid", reason: "not an MDPW01 command" };
  const command = frames[2] as Buffer;
  if (command.length === 1)
    switch (command[0]) {
      case REQUEST: {
        const client = frames[3];
        const body = frames.slice(5);
        if (!isAddress(client) || frames[4]?.length !== 0 || body.length === 0 || body.length > MAX_BODY_FRAMES)
          return { kind: "invalid", reason: `REQUEST with ${frames.length} frames` };
        return { kind: "request", client, body };
      }
      case HEARTBEAT:
        return frames.length === 3 ? { kind: "heartbeat" } : { kind: "invalid", reason: "HEARTBEAT with extra frames" };
      case DISCONNECT:
        return frames.length === 3 ? { kind: "disconnect" } : { kind: "invalid", reason: "DISCONNECT with extra frames" };
    }
  return { kind: "invalid", reason: `unexpected command 0x${command.toString("hex")}` };
}

/** What a client's DEALER takes: a reply (after the envelope it sent), or garbage. */
export type FromBrokerToClient =
  | { kind: "reply"; envelope: Buffer[]; service: string; body: Buffer[] }
  | { kind: "error"; envelope: Buffer[]; service: string; code: string; reason: string }
  | { kind: "invalid"; reason: string };

/**
 * A client's reply, as its DEALER receives it: `envelopeFrames` routing frames (0 for the
 * synchronous client, 1 for the async client's tag), the empty frame, "MDPC01", service, body.
 */
export function clientReplyOf(frames: readonly Buffer[], envelopeFrames = 0): FromBrokerToClient {
  const envelope = frames.slice(0, envelopeFrames);
  if (envelope.length !== envelopeFrames || envelope.some((f) => f.length === 0)) return { kind: "invalid", reason: "no envelope" };
  const rest = frames.slice(envelopeFrames);
  if (rest.length < 4 || rest[0]?.length !== 0 || !rest[1]?.equals(MDPC01_FRAME)) return { kind: "invalid", reason: "not an MDPC01 reply" };
  const service = serviceOf(rest[2]);
  if (service === undefined) return { kind: "invalid", reason: "reply without a service name" };
  const body = rest.slice(3);
  if (body[0]?.equals(MMI_ERROR_FRAME)) {
    const code = body[1]?.toString() ?? "";
    const reason = body[2]?.toString() ?? "";
    return /^\d{3}$/.test(code)
      ? { kind: "error", envelope, service, code, reason }
      : { kind: "invalid", reason: "malformed broker error reply" };
  }
  return { kind: "reply", envelope, service, body };
}

/** A printable rendering of a command byte, for logs. */
export function commandName(frame: Buffer | undefined): string {
  if (frame?.length === 1) return COMMAND_NAMES[frame[0] as number] ?? `0x${frame.toString("hex")}`;
  return "?";
}
