/**
 * The service the pair fronts: a ticket desk handing out numbered tickets (a queue-number machine
 * at a counter). Its whole state, the next ticket number and who took how many, lives in the
 * active broker's memory only. Binary Star replicates nothing: after a fail-over the new active
 * broker starts from its own (usually empty) desk, so ticket numbers already given out are given
 * out again, and the client sees its numbers go back. lab07 (Clone) shows how to replicate state.
 */

/** Clients remembered by name for the view; the oldest is forgotten past this. */
export const MAX_CLIENTS = 10_000;

export class TicketDesk {
  private next = 1;
  private readonly perClient = new Map<string, number>();
  /** Tickets handed out by this desk. */
  issued = 0;

  /** The next ticket, for this client. */
  take(client: string): number {
    const ticket = this.next++;
    this.issued += 1;
    const taken = (this.perClient.get(client) ?? 0) + 1;
    this.perClient.delete(client);
    this.perClient.set(client, taken);
    if (this.perClient.size > MAX_CLIENTS) {
      const oldest = this.perClient.keys().next().value as string;
      this.perClient.delete(oldest);
    }
    return ticket;
  }

  /** The number the next ticket will have. */
  get nextTicket(): number {
    return this.next;
  }

  get clients(): number {
    return this.perClient.size;
  }
}
