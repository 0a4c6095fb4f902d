// The c2-server process in order: keys, certificate store, ZAP handler (up before any server
// socket), then the CURVE socket. Each step that reads a file turns a bad one into one line, exit 2.
import { type ConfigOf, type Logger, runLoops, type View } from "@zlabs/kit";
import { keyLabel } from "lab19/keys";
import { z85Encode } from "lab19/z85";
import { C2Server, ZAP_DOMAIN } from "./c2-server.ts";
import { CertificateStore, ironhousePolicy } from "./cert-store.ts";
import { demoKeys } from "./cert-tool.ts";
import { layoutFor, serverConfig, type serverOptions } from "./config.ts";
import { ZapHandler } from "./zap.ts";

export async function startServer(
  a: ConfigOf<typeof serverOptions>,
  log: Logger,
  signal: AbortSignal,
  publish?: (view: View) => void,
): Promise<void> {
  if (a.demoKeys) {
    const made = await demoKeys(layoutFor(a.keys));
    if (made.length > 0) log.info({ made }, "demo keys created");
  }
  const { config, layout, rules } = await serverConfig(a);
  let server: C2Server | undefined;
  const store = new CertificateStore(layout.store, log, (change) => server?.onStoreChange(change));
  await store.refresh();
  const zap = new ZapHandler(ironhousePolicy({ domain: ZAP_DOMAIN, store, rules }), log.child({ component: "zap" }), {
    onDecision: (request, decision) => {
      if (decision.status === 200) return;
      const key = request.mechanism === "CURVE" ? keyLabel(decision.userId ?? keyOf(request.credentials[0])) : undefined;
      log.warn(
        { status: decision.status, why: decision.text, mechanism: request.mechanism, address: request.address, key },
        "ZAP denied a handshake",
      );
    },
  });
  await zap.start();
  server = new C2Server(config, zap, store, log, { publish });
  await server.bind();
  log.info(
    { allow: rules.allowCount, deny: rules.denyCount, operator: config.operator.name, serverKey: config.publicKey },
    "ironhouse ready",
  );
  await runLoops(
    signal,
    { sockets: [], log },
    () => zap.run(signal),
    () => (server as C2Server).run(signal),
  );
}

const keyOf = (raw: Buffer | undefined) => (raw?.length === 32 ? z85Encode(raw) : "????????");
