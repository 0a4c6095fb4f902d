// The registry contract (infra's suite) against the built-in registry: the service-registry's class
// in this process on a free port, and its client; restarted on the same port with nothing kept (the
// clients' renewals are told "unknown lease" and register again).
import { freeTcpEndpoint, testLogger } from "@zlabs/kit/testing";
import { BuiltinRegistry } from "../internal/registry-builtin.ts";
import { ServiceRegistry } from "../internal/service-registry.ts";
import { describeRegistryContract } from "./support/registry-contract.ts";

const log = testLogger("lab10");

class Server {
  private stop = new AbortController();
  private running: Promise<void> | undefined;

  constructor(readonly endpoint: string) {}

  async start(): Promise<void> {
    this.stop = new AbortController();
    // The port of the registry that just closed can take a moment to be free again.
    for (let attempt = 0; ; attempt++) {
      const registry = new ServiceRegistry({ endpoint: this.endpoint }, log);
      try {
        await registry.bind();
        this.running = registry.run(this.stop.signal);
        return;
      } catch (err) {
        if (attempt >= 50) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  async close(): Promise<void> {
    this.stop.abort();
    await this.running;
  }
}

describeRegistryContract("built-in", async () => {
  const server = new Server(await freeTcpEndpoint());
  await server.start();
  return {
    registry: async () => new BuiltinRegistry(server.endpoint, log),
    restart: async () => {
      await server.close();
      await server.start();
    },
    close: () => server.close(),
  };
});
