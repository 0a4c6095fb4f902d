// The span exporter with real sockets in-process: it never blocks, drops and counts when the
// collector is absent, and its batches decode at a PULL.

import { ROOT_CONTEXT, SpanKind, trace } from "@opentelemetry/api";
import { testLogger, waitUntil, withDeadline } from "@zlabs/kit/testing";
import { describe, expect, it } from "vitest";
import { Pull } from "zeromq";
import { fromProducer, parseTraceParent } from "../internal/protocol.ts";
import { Tracing } from "../internal/tracing.ts";

describe("the ZeroMQ span exporter", () => {
  it("with no collector, spans are dropped and counted, and export never waits", async () => {
    const tracing = new Tracing(
      { service: "gateway", collector: "tcp://127.0.0.1:1", enabled: true, sampleRatio: 1, flushMs: 10, sideHwm: 64, sideSndbuf: 0 },
      testLogger("lab20"),
    );
    try {
      const t0 = performance.now();
      for (let i = 0; i < 3000; i++) tracing.tracer.startSpan("s", { kind: SpanKind.SERVER }).end();
      expect(performance.now() - t0).toBeLessThan(5000);
      await tracing.shutdown();
      expect(tracing.stats.spansSent).toBe(0);
      expect(tracing.stats.spansDropped).toBe(3000);
    } finally {
      await tracing.shutdown();
    }
  });

  it("batches reach a PULL; the context injected is the span's, its sampled flag set", async () => {
    const pull = new Pull({ linger: 0 });
    await pull.bind("tcp://127.0.0.1:*");
    const tracing = new Tracing(
      {
        service: "enricher",
        collector: pull.lastEndpoint as string,
        enabled: true,
        sampleRatio: 1,
        flushMs: 10,
        sideHwm: 64,
        sideSndbuf: 0,
      },
      testLogger("lab20"),
    );
    try {
      // The PUSH is `immediate`: spans ended before its connection is up are dropped by design (and
      // counted). A pair of spans at a time until one is sent: the batch received is that pair's.
      const pair = async () => {
        const before = { ...tracing.stats };
        const server = tracing.server("enricher forward", ROOT_CONTEXT);
        const client = tracing.client("enricher -> next", server);
        const tp = parseTraceParent(tracing.inject(client));
        expect(tp.ok && tp.value).toMatchObject({ traceId: server.spanContext().traceId, spanId: client.spanContext().spanId, flags: 1 });
        client.end();
        server.end();
        await waitUntil(() => tracing.stats.batchesSent > before.batchesSent || tracing.stats.spansDropped > before.spansDropped, {
          timeoutMs: 5000,
          what: "the pair sent or dropped",
        });
        return tracing.stats.batchesSent > before.batchesSent && server.spanContext().traceId;
      };
      const traceId = await waitUntil(pair, { timeoutMs: 10_000, what: "a pair of spans sent", everyMs: 50 });
      const msg = fromProducer(await withDeadline(pull.receive(), 5000, "a batch"));
      expect(msg.kind).toBe("batch");
      if (msg.kind === "batch") {
        expect(msg.batch.service).toBe("enricher");
        const [c, s] = msg.batch.spans;
        expect(s?.traceId).toBe(traceId);
        expect(c?.parentId).toBe(s?.spanId);
        expect(s?.parentId).toBeUndefined();
      }
      expect(trace.getSpan(ROOT_CONTEXT)).toBeUndefined();
    } finally {
      await tracing.shutdown();
      pull.close();
    }
  });

  it("a bad traceparent starts a new trace and is counted; a good one is the parent", () => {
    const tracing = new Tracing(
      { service: "scorer", collector: "tcp://127.0.0.1:1", enabled: true, sampleRatio: 1, flushMs: 10, sideHwm: 64, sideSndbuf: 0 },
      testLogger("lab20"),
    );
    const good = tracing.server("x", tracing.extract(Buffer.from("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")));
    expect(good.spanContext().traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    const bad = tracing.server("x", tracing.extract(Buffer.from("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01")));
    expect(bad.spanContext().traceId).not.toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    expect(tracing.badTraceparents).toBe(1);
    void tracing.shutdown();
  });
});
