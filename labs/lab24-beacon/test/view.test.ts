// The live views as data: pure functions of a snapshot.
import { describe, expect, it } from "vitest";
import { type DeviceRow, deviceView, type ScannerSnapshot, scannerView } from "../internal/view.ts";

const device = (over: Partial<DeviceRow>): DeviceRow => ({
  label: "secure-device-1",
  endpoint: "tcp://127.0.0.1:40001",
  key: "z9Y>{PaJ…",
  trust: "pinned",
  secure: true,
  presence: "present",
  forMs: 12_300,
  replies: 6,
  missed: 0,
  ...over,
});

const scanner = (over: Partial<ScannerSnapshot>): ScannerSnapshot => ({
  devices: [],
  beacons: 0,
  dropped: {},
  pinnedKeys: 3,
  pinnedDir: ".store/devices",
  verifying: false,
  expiryMs: 5000,
  ...over,
});

describe("the scanner's view", () => {
  it("lists each device with its endpoint, key, trust, presence and replies; counts the present and the secure", () => {
    const view = scannerView(
      scanner({
        devices: [
          device({}),
          device({ label: "secure-device-2", presence: "quiet", forMs: 2100, replies: 4, missed: 1 }),
          device({ label: "95b7a458…", trust: "not pinned", secure: false, replies: 0 }),
          device({ label: "b91c84df…", trust: "untrusted", secure: false, failure: "handshake failed: EPIPE", replies: 0 }),
          device({ label: "6a1f00aa…", trust: "no key", key: "", secure: false, replies: 0 }),
          device({ label: "secure-device-3", presence: "vanished", forMs: 3000, replies: 7, missed: 3 }),
          device({ label: "secure-device-4", presence: "left", forMs: 1000 }),
        ],
        beacons: 1234,
        dropped: { malformed: 12, spoofed: 2 },
      }),
    );
    expect(view.title).toBe("5 devices on the network, 2 over CURVE");
    expect(view.columns).toEqual(["DEVICE", "ENDPOINT", "KEY", "TRUST", "STATE", "REPLIES"]);
    expect(view.rows).toEqual([
      [
        "secure-device-1",
        "tcp://127.0.0.1:40001",
        "z9Y>{PaJ…",
        { text: "pinned, CURVE ok", tone: "good" },
        { text: "present 12.3 s", tone: "good" },
        "6",
      ],
      [
        "secure-device-2",
        "tcp://127.0.0.1:40001",
        "z9Y>{PaJ…",
        { text: "pinned, CURVE ok", tone: "good" },
        { text: "quiet 2.1 s (gone at 5.0 s)", tone: "warn" },
        "4 (1 missed)",
      ],
      [
        "95b7a458…",
        "tcp://127.0.0.1:40001",
        "z9Y>{PaJ…",
        { text: "untrusted: key not pinned", tone: "warn" },
        { text: "present 12.3 s", tone: "good" },
        { text: "-", tone: "dim" },
      ],
      [
        "b91c84df…",
        "tcp://127.0.0.1:40001",
        "z9Y>{PaJ…",
        { text: "untrusted: handshake failed: EPIPE", tone: "bad" },
        { text: "present 12.3 s", tone: "good" },
        { text: "-", tone: "dim" },
      ],
      [
        "6a1f00aa…",
        "tcp://127.0.0.1:40001",
        { text: "-", tone: "dim" },
        { text: "v1 beacon, no key: not contacted", tone: "dim" },
        { text: "present 12.3 s", tone: "good" },
        { text: "-", tone: "dim" },
      ],
      [
        { text: "secure-device-3", tone: "dim" },
        "tcp://127.0.0.1:40001",
        "z9Y>{PaJ…",
        { text: "pinned, CURVE ok", tone: "good" },
        { text: "vanished 3.0 s ago (silent)", tone: "bad" },
        "7 (3 missed)",
      ],
      [
        { text: "secure-device-4", tone: "dim" },
        "tcp://127.0.0.1:40001",
        "z9Y>{PaJ…",
        { text: "pinned, CURVE ok", tone: "good" },
        { text: "left 1.0 s ago (port 0)", tone: "dim" },
        "6",
      ],
    ]);
    expect(view.summary).toEqual([
      "beacons heard 1,234 · dropped: malformed 12, spoofed 2",
      "trust: 3 pinned keys (.store/devices) · no signing key",
    ]);
  });

  it("says so when nothing is dropped, no allowlist is used, signatures are checked, and a device is still handshaking", () => {
    const view = scannerView(
      scanner({ pinnedDir: undefined, verifying: true, devices: [device({ trust: "signed", secure: false, replies: 0 })] }),
    );
    expect(view.title).toBe("1 device on the network, 0 over CURVE");
    expect(view.rows?.[0]?.[3]).toEqual({ text: "signed, handshaking", tone: "info" });
    expect(view.summary).toEqual(["beacons heard 0 · dropped: none", "trust: no allowlist · signed beacons verified"]);
  });
});

describe("the device's view", () => {
  const snapshot = {
    name: "secure-device-1",
    endpoint: "tcp://127.0.0.1:40001",
    key: "z9Y>{PaJ…",
    impersonating: false,
    signed: false,
    uptimeMs: 10_000,
    beaconsSent: 10,
    served: 5,
    badRequests: 0,
    neighbours: 1,
    ownIgnored: 10,
    dropped: 0,
  };

  it("shows its endpoint and key, what it sent, served and heard", () => {
    expect(deviceView(snapshot)).toEqual({
      title: "secure-device-1 · CURVE REP tcp://127.0.0.1:40001 · key z9Y>{PaJ…",
      summary: "beacons sent 10 · status requests served 5 · bad 0 · hears 1 other node · own beacons ignored 10 · dropped 0",
    });
  });

  it("an impostor says whose key it advertises; signed beacons are named", () => {
    expect(deviceView({ ...snapshot, name: "impostor", impersonating: true, signed: true }).title).toBe(
      "impostor · CURVE REP tcp://127.0.0.1:40001 · advertises z9Y>{PaJ… (not its own: an impostor) · signed beacons",
    );
  });
});
