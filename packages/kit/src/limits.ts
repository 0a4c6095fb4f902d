import { isAbsolute, relative, resolve } from "node:path";

/**
 * The largest frame a socket takes from a peer unless its lab says otherwise (ZMQ_MAXMSGSIZE: libzmq
 * checks each frame of a multipart message, not their sum). libzmq drops the connection of a peer
 * that sends more, so one message can never make a process allocate without bound; a socket that
 * connected is not connected again by libzmq after such a drop (see reconnectAfterDrops). Labs that
 * carry files or frames raise it for that socket alone.
 */
export const MAX_MESSAGE_BYTES = 1024 * 1024;

/**
 * Socket options for any socket that receives from a peer: `new Router({ ...peerLimits() })`,
 * or `peerLimits(64 * 1024 * 1024)` where the lab's payload needs more.
 */
export function peerLimits(maxMessageBytes: number = MAX_MESSAGE_BYTES): { maxMessageSize: number } {
  return { maxMessageSize: maxMessageBytes };
}

/** A name a peer may choose for something on disk: letters, digits, ".", "_", "-"; no ".." and no leading ".". */
const SAFE_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

export function isSafeName(name: unknown): name is string {
  return typeof name === "string" && SAFE_NAME.test(name) && !name.includes("..");
}

/**
 * The path of `name` inside `dir`, or undefined when the name is not a safe single segment or the
 * result would leave the folder: a peer never chooses where a file goes.
 */
export function pathInside(dir: string, name: unknown): string | undefined {
  if (!isSafeName(name)) return undefined;
  const root = resolve(dir);
  const path = resolve(root, name);
  const rel = relative(root, path);
  return rel && !rel.startsWith("..") && !isAbsolute(rel) ? path : undefined;
}
