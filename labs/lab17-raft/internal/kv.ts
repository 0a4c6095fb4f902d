// The replicated state machine: a key-value store of policies, with a session table so that a
// client's retried request (same client id, same sequence number) takes effect once.

/** A write a client asks for; `client` and `seq` identify it across retries. */
export type Command =
  | { op: "put"; key: string; value: string; client: string; seq: number }
  | { op: "delete"; key: string; client: string; seq: number }
  | { op: "cas"; key: string; expect: string | null; value: string; client: string; seq: number };

/**
 * What an operation answers: put → ok; delete → ok when the key existed; cas → ok when it swapped;
 * get → value (null when absent). `stale` marks a request older than the client's last one (a
 * retry that arrived late): it has no effect.
 */
export interface OpResult {
  ok: boolean;
  value?: string | null;
  stale?: boolean;
}

/** How many client sessions the table keeps; the oldest is forgotten first (the same on every node). */
export const MAX_SESSIONS = 100_000;

export class KvStore {
  readonly data = new Map<string, string>();
  /** client → its last applied sequence number and that request's result. */
  private readonly sessions = new Map<string, { seq: number; result: OpResult }>();
  /** Requests that took effect (not duplicates): the state-machine safety check counts them. */
  effects = 0;

  get(key: string): string | null {
    return this.data.get(key) ?? null;
  }

  /** Applies a committed command once per (client, seq); a duplicate gets the first result again. */
  apply(cmd: Command): OpResult {
    const session = this.sessions.get(cmd.client);
    if (session && cmd.seq <= session.seq) return cmd.seq === session.seq ? session.result : { ok: false, stale: true };
    const result = this.execute(cmd);
    this.effects += 1;
    this.sessions.delete(cmd.client);
    this.sessions.set(cmd.client, { seq: cmd.seq, result });
    if (this.sessions.size > MAX_SESSIONS) {
      const oldest = this.sessions.keys().next().value as string;
      this.sessions.delete(oldest);
    }
    return result;
  }

  private execute(cmd: Command): OpResult {
    switch (cmd.op) {
      case "put":
        this.data.set(cmd.key, cmd.value);
        return { ok: true };
      case "delete":
        return { ok: this.data.delete(cmd.key) };
      case "cas": {
        if (this.get(cmd.key) !== cmd.expect) return { ok: false };
        this.data.set(cmd.key, cmd.value);
        return { ok: true };
      }
    }
  }
}
