// Every bound socket, fuzzed with the kit's helper against the real process: the camera's PUB
// (hostile subscriptions from an XSUB), and the engine's SUB input through a hostile bound PUB.
import { fileURLToPath } from "node:url";
import { MAX_MESSAGE_BYTES } from "@zlabs/kit";
import { freeTcpEndpoints, fuzzRole, ProcessPool, withDeadline } from "@zlabs/kit/testing";
import { afterEach, describe, expect, it } from "vitest";
import { Publisher, Subscriber } from "zeromq";
import { encodeHeader, frameChecksum, fromCamera, nv12Bytes, SUB_MAX_MESSAGE_BYTES, TOPIC_PREFIX, topicOf } from "../internal/protocol.ts";
import { drawFrame } from "../internal/scene.ts";

const labDir = fileURLToPath(new URL("..", import.meta.url));
const WAIT_MS = 30_000;
const procs = new ProcessPool();
afterEach(() => procs.stopAll());
const HEADER_FIELDS = ["v", "camera", "seq", "ts", "width", "height", "format", "stride", "sum"];

describe("fuzzing", () => {
  it("the camera's PUB takes 1,000 hostile subscription messages and still publishes valid frames", async () => {
    const [endpoint] = (await freeTcpEndpoints(1)) as [string];
    const camera = procs.start({
      labDir,
      cmd: "cmd/camera-feed.ts",
      name: "camera",
      args: ["--endpoint", endpoint, "--width", "320", "--height", "180", "--fps", "20"],
    });
    await camera.waitForLog("listening", WAIT_MS);
    const probe = async () => {
      const sub = new Subscriber({ linger: 0, receiveTimeout: 10_000, maxMessageSize: SUB_MAX_MESSAGE_BYTES });
      try {
        sub.connect(endpoint);
        sub.subscribe(TOPIC_PREFIX);
        const msg = fromCamera(await withDeadline(sub.receive(), 15_000, "a frame from the camera"));
        if (msg.kind !== "frame" || frameChecksum(msg.payload) !== msg.header.sum) throw new Error(`the probe got ${JSON.stringify(msg)}`);
      } finally {
        sub.close();
      }
    };
    await probe();
    const report = await fuzzRole(camera, {
      endpoint,
      peer: "xsub",
      words: [Buffer.from([1, ...Buffer.from("video.")]), Buffer.from([0, ...Buffer.from("video.")]), Buffer.from([1])],
      maxMessageBytes: MAX_MESSAGE_BYTES,
      maxRssMiB: 300,
      probe,
    });
    expect(report.sent).toBeGreaterThanOrEqual(1000);
    expect(camera.find("unhandled error")).toEqual([]);
  });

  it("an engine's SUB takes 1,000 malformed frames from a hostile camera, counts them, and still analyses valid frames", async () => {
    const [hostile, good] = (await freeTcpEndpoints(2)) as [string, string];
    const pub = new Publisher({ linger: 0 });
    await pub.bind(good);
    try {
      const engine = procs.start({
        labDir,
        cmd: "cmd/analytics-engine.ts",
        name: "engine",
        args: ["--id", "fuzzed", "--cameras", hostile, "--cameras", good, "--stats-ms", "100"],
      });
      await engine.waitForLog("subscribed", WAIT_MS);
      const g = { width: 64, height: 32, stride: 64 };
      let seq = 0;
      const probe = async () => {
        const from = engine.logs.length;
        const seen = engine.waitForLog((e) => e.msg === "engine stats" && (e.frames as number) > 0 && e.badChecksums === 0, WAIT_MS, from);
        const timer = setInterval(() => {
          const payload = Buffer.alloc(nv12Bytes(64, 32));
          drawFrame(payload, g, seq);
          const header = encodeHeader({ camera: "cam-p", seq: seq++, ts: Date.now(), ...g, format: "nv12", sum: frameChecksum(payload) });
          pub.send([topicOf("cam-p"), header, payload]).catch(() => {});
        }, 20);
        try {
          await seen;
        } finally {
          clearInterval(timer);
        }
      };
      const report = await fuzzRole(engine, {
        endpoint: hostile,
        peer: "pub",
        bind: true,
        words: ["video.cam-f.", "video.", "video.cam-p."],
        fields: HEADER_FIELDS,
        maxMessageBytes: SUB_MAX_MESSAGE_BYTES,
        maxRssMiB: 400,
        probe,
      });
      expect(report.sent).toBeGreaterThanOrEqual(1000);
      expect(engine.find("malformed frame dropped").length).toBeGreaterThan(500);
      expect(engine.find("message dropped: its handling failed")).toEqual([]);
    } finally {
      pub.close();
    }
  });
});
