/**
 * The Binary Star finite state machine, exactly as the Guide's bstar.c runs it (s_execute_fsm),
 * as a pure function: (state, event, now, peerExpiry) -> (next state, accept | reject | fatal).
 *
 * | state   | event          | result                                                          |
 * |---------|----------------|-----------------------------------------------------------------|
 * | primary | peer-backup    | -> active  ("connected to backup (passive), ready active")      |
 * | primary | peer-active    | -> passive ("connected to backup (active), ready passive")      |
 * | primary | client-request | -> active if now >= peerExpiry, else reject                     |
 * | backup  | peer-active    | -> passive ("connected to primary (active), ready passive")     |
 * | backup  | client-request | reject                                                          |
 * | active  | peer-active    | fatal: dual actives                                             |
 * | active  | client-request | accept (served)                                                 |
 * | passive | peer-primary   | -> active  (the primary is restarting)                          |
 * | passive | peer-backup    | -> active  (the backup is restarting)                           |
 * | passive | peer-passive   | fatal: dual passives                                            |
 * | passive | client-request | -> active if now >= peerExpiry (fail-over), else reject         |
 *
 * Every other (state, event) pair is ignored: the state stays and the outcome is "accept" (bstar.c
 * returns 0 for them), with reason "ignored". The one change from bstar.c: it asserts
 * peer_expiry > 0 on a client request, so a primary that never heard its peer crashes on its first
 * request. Here the caller starts peerExpiry at start time + 2 heartbeats (BinaryStar does), so a
 * primary started alone goes active on the first request two heartbeats after it started. A backup
 * started alone never serves: backup + client-request is always a reject.
 */

export type BStarState = "primary" | "backup" | "active" | "passive";
export type BStarEvent = "peer-primary" | "peer-backup" | "peer-active" | "peer-passive" | "client-request";
export type BStarOutcome = "accept" | "reject" | "fatal";

export interface BStarStep {
  state: BStarState;
  /**
   * For a client request: accept = serve it, reject = drop it without a reply (the client times
   * out and tries the other server). For a peer state: accept = handled (changed state or ignored).
   * fatal: the pair is broken (dual actives or dual passives); the server must stop.
   */
  outcome: BStarOutcome;
  /** Why, in the Guide's words where it has them; "ignored" for an event the table does not list. */
  reason?: string;
}

export const STATES: readonly BStarState[] = ["primary", "backup", "active", "passive"];
export const EVENTS: readonly BStarEvent[] = ["peer-primary", "peer-backup", "peer-active", "peer-passive", "client-request"];

/** The Guide's numbers on the wire: a server publishes its state, the peer reads it as the event. */
export const STATE_NUMBER: Readonly<Record<BStarState, number>> = { primary: 1, backup: 2, active: 3, passive: 4 };
/** The event a peer's published state is to us (PEER_PRIMARY = 1 ... PEER_PASSIVE = 4). */
export const PEER_EVENT: Readonly<Record<BStarState, BStarEvent>> = {
  primary: "peer-primary",
  backup: "peer-backup",
  active: "peer-active",
  passive: "peer-passive",
};

export const IGNORED = "ignored";

const to = (state: BStarState, reason: string): BStarStep => ({ state, outcome: "accept", reason });
const stay = (state: BStarState): BStarStep => ({ state, outcome: "accept", reason: IGNORED });
const reject = (state: BStarState, reason: string): BStarStep => ({ state, outcome: "reject", reason });
const fatal = (state: BStarState, reason: string): BStarStep => ({ state, outcome: "fatal", reason });

/**
 * One event through the machine. `now` and `peerExpiry` are in the same clock (ms); peerExpiry is
 * the time of the last peer state heard + 2 heartbeats (or start time + 2 heartbeats before any).
 */
export function step(state: BStarState, event: BStarEvent, now: number, peerExpiry: number): BStarStep {
  const peerGone = now >= peerExpiry;
  switch (state) {
    case "primary":
      // Waiting for the peer; a client request makes it active once the peer has been silent long
      // enough (it may be a fail-back while the backup is active: then do not answer yet).
      if (event === "peer-backup") return to("active", "connected to backup (passive), ready active");
      if (event === "peer-active") return to("passive", "connected to backup (active), ready passive");
      if (event === "client-request")
        return peerGone
          ? to("active", "request from client, ready as active")
          : reject(state, "peer heard less than two heartbeats ago: not serving yet");
      return stay(state);
    case "backup":
      if (event === "peer-active") return to("passive", "connected to primary (active), ready passive");
      if (event === "client-request") return reject(state, "a backup that has not seen its primary never serves");
      return stay(state);
    case "active":
      // The only way out of active is death.
      if (event === "peer-active") return fatal(state, "fatal error - dual actives, aborting");
      if (event === "client-request") return { state, outcome: "accept" };
      return stay(state);
    case "passive":
      if (event === "peer-primary") return to("active", "primary (passive) is restarting, ready active");
      if (event === "peer-backup") return to("active", "backup (passive) is restarting, ready active");
      if (event === "peer-passive") return fatal(state, "fatal error - dual passives, aborting");
      if (event === "client-request")
        return peerGone ? to("active", "failover successful, ready active") : reject(state, "peer is alive: the active server serves");
      return stay(state);
  }
}
