/** What a zeromq socket offers for sending; structural, so the kit needs no zeromq. */
export interface Sender {
  send(message: Buffer | string | (Buffer | string)[]): Promise<void>;
}

/**
 * Serialises sends on one socket: zeromq.js rejects a send while another is pending on the same
 * socket (EBUSY), so code that sends from a loop and from a timer goes through one queue.
 */
export class SendQueue {
  private tail: Promise<void> = Promise.resolve();

  constructor(private readonly socket: Sender) {}

  send(message: Buffer | string | (Buffer | string)[]): Promise<void> {
    const sent = this.tail.then(() => this.socket.send(message));
    // A failed send must not stall the ones queued after it; the caller still sees the error.
    this.tail = sent.catch(() => {});
    return sent;
  }
}
