/** How a Majordomo request fails, for both client APIs (re-exported by lab12/client and lab12/async-client). */

/** No reply within the timeout, after every attempt (the synchronous client) or the one attempt (the async client). */
export class MdpTimeout extends Error {
  override readonly name = "MdpTimeout";
  constructor(
    readonly service: string,
    readonly attempts: number,
    readonly timeoutMs: number,
  ) {
    super(`no reply from service "${service}" after ${attempts} attempt${attempts === 1 ? "" : "s"} of ${timeoutMs} ms`);
  }
}

/**
 * The broker's error reply (["mmi.error", code, reason], see mdp.ts): "504" the request expired
 * waiting for a worker of the service, "503" the broker failed it (its workers died, or the broker is full).
 */
export class MdpServiceError extends Error {
  override readonly name = "MdpServiceError";
  constructor(
    readonly service: string,
    readonly code: string,
    readonly reason: string,
  ) {
    super(`broker answered ${code} for service "${service}": ${reason}`);
  }

  /** True for "504": no worker of the service took the request in time. */
  get expired(): boolean {
    return this.code === "504";
  }
}

/** The request was cancelled through its AbortSignal, or the client was closed. */
export class MdpAborted extends Error {
  override readonly name = "MdpAborted";
  constructor(readonly service: string) {
    super(`request to service "${service}" cancelled`);
  }
}
