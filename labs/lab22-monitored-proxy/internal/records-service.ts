import { type Logger, peerLimits, receiveLoop, runLoops, type View } from "@zlabs/kit";
import { Reply } from "zeromq";
import { type CustomerRecord, encodeRecord, type FromClient, fromClient, type Lookup, PROTOCOL_VERSION } from "./protocol.ts";
import { RateWindow, serviceView, VIEW_MS } from "./view.ts";

export interface ServiceConfig {
  id: string;
  /** The proxy's back end. */
  proxy: string;
  /** Extra ms per lookup: a slower service. */
  costMs: number;
}

const FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Radia", "Donald", "Frances", "Linus"];
const LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson", "Perlman", "Knuth", "Allen", "Torvalds"];
const TIERS = ["bronze", "silver", "gold", "platinum"];

/** The record of a customer: made up, but always the same for the same id (any service answers alike). */
export function customerRecord(lookup: Lookup, by: string): CustomerRecord {
  const n = Number(lookup.customer.slice(2));
  return {
    v: PROTOCOL_VERSION,
    customer: lookup.customer,
    name: `${FIRST[n % FIRST.length]} ${LAST[Math.floor(n / FIRST.length) % LAST.length]}`,
    tier: TIERS[n % TIERS.length] as string,
    by,
  };
}

/**
 * The internal records service behind the proxy: a REP socket that connects to the proxy's back
 * end and answers each lookup with a customer record, or a malformed one with an error (a REP must
 * answer every request, or it can take no other).
 */
export class RecordsService {
  private readonly socket = new Reply({ linger: 0, ...peerLimits() });
  served = 0;
  refused = 0;
  private readonly rates = new RateWindow();

  constructor(
    private readonly config: ServiceConfig,
    private readonly log: Logger,
    private readonly publish?: (view: View) => void,
  ) {}

  async run(signal: AbortSignal): Promise<void> {
    this.socket.connect(this.config.proxy);
    this.log.info({ proxy: this.config.proxy, id: this.config.id }, "serving lookups");
    const publish = this.publish;
    await runLoops(
      signal,
      {
        sockets: [this.socket],
        every: publish ? [{ ms: VIEW_MS, run: () => publish(this.view()) }] : [],
        log: this.log,
      },
      () => receiveLoop(this.socket, signal, (frames) => this.answer(fromClient(frames), signal), { log: this.log, name: "proxy" }),
    );
  }

  view(): View {
    const [perSecond = 0] = this.rates.update("served", performance.now(), [this.served]);
    return serviceView({ id: this.config.id, served: this.served, refused: this.refused, perSecond });
  }

  private async answer(msg: FromClient, signal: AbortSignal): Promise<void> {
    if (msg.kind === "invalid") {
      this.refused += 1;
      this.log.warn({ reason: msg.reason, refused: this.refused }, "malformed lookup refused");
      await this.socket.send(encodeRecord({ v: PROTOCOL_VERSION, error: `malformed lookup: ${msg.reason}`.slice(0, 200) }));
      return;
    }
    if (this.config.costMs > 0) await new Promise((r) => setTimeout(r, this.config.costMs));
    if (signal.aborted) return;
    this.served += 1;
    const record = customerRecord(msg.lookup, this.config.id);
    this.log.debug({ customer: msg.lookup.customer }, "lookup served");
    await this.socket.send(encodeRecord(record));
  }
}
