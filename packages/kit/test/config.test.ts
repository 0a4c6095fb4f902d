import { describe, expect, it } from "vitest";
import { ConfigError, endpointOption, envPrefix, intOption, listOption, tryParseConfig } from "../src/config.ts";

const spec = {
  lab: "lab06",
  role: "scanner-broker",
  describe: "test",
  options: {
    frontend: { type: "string", default: "tcp://127.0.0.1:5060", describe: "client side" },
    heartbeatMs: { type: "number", default: 1000, describe: "heartbeat interval" },
    engine: { type: "string", array: true, default: [] as string[], describe: "engines" },
  },
  check: (args: { heartbeatMs: number }) => (args.heartbeatMs <= 0 ? "--heartbeat-ms must be positive" : undefined),
} as const;

describe("configuration", () => {
  it("takes defaults, flags, and LABNN_ environment values, a flag winning over the env", () => {
    expect(tryParseConfig(spec, [], {}).heartbeatMs).toBe(1000);
    expect(tryParseConfig(spec, [], { LAB06_HEARTBEAT_MS: "250" }).heartbeatMs).toBe(250);
    expect(tryParseConfig(spec, ["--heartbeat-ms", "50"], { LAB06_HEARTBEAT_MS: "250" }).heartbeatMs).toBe(50);
    expect(tryParseConfig(spec, [], { LAB06_FRONTEND: "tcp://127.0.0.1:7000" }).frontend).toBe("tcp://127.0.0.1:7000");
  });

  it("rejects a value that is not a number, from a flag or from the env, naming both", () => {
    expect(() => tryParseConfig(spec, ["--heartbeat-ms", "soon"], {})).toThrow(ConfigError);
    expect(() => tryParseConfig(spec, [], { LAB06_HEARTBEAT_MS: "soon" })).toThrow(
      /--heartbeat-ms \(or LAB06_HEARTBEAT_MS\) must be a number/,
    );
  });

  it("rejects an unknown flag and a failed cross-field check", () => {
    expect(() => tryParseConfig(spec, ["--bogus"], {})).toThrow(/Unknown argument: bogus/);
    expect(() => tryParseConfig(spec, ["--heartbeat-ms", "0"], {})).toThrow("--heartbeat-ms must be positive");
  });

  it("lets the last of a repeated single-value flag win, and keeps list flags as lists", () => {
    const args = tryParseConfig(spec, ["--frontend", "tcp://a:1", "--frontend", "tcp://b:2", "--engine", "x", "--engine", "y,z"], {});
    expect(args.frontend).toBe("tcp://b:2");
    expect(listOption(args.engine)).toEqual(["x", "y", "z"]);
  });

  it("takes words after the flags only from a command that declares them", () => {
    expect(() => tryParseConfig(spec, ["ps"], {})).toThrow(/Unknown argument: ps/);
    const cli = { ...spec, positionals: "<command>" };
    expect(tryParseConfig(cli, ["ps", "--heartbeat-ms", "5"], {})._).toEqual(["ps"]);
    expect(() => tryParseConfig(cli, ["ps", "--bogus"], {})).toThrow(/Unknown argument: bogus/);
  });

  it("derives the env prefix from the lab name", () => {
    expect(envPrefix("lab06")).toBe("LAB06");
    expect(envPrefix("my-lab")).toBe("MY_LAB");
  });

  it("splits lists given with commas, spaces or repeated flags", () => {
    expect(listOption(["a,b", "c d", "", 5])).toEqual(["a", "b", "c", "d", "5"]);
    expect(listOption(undefined)).toEqual([]);
  });

  it("names the flag and its variable for a value out of its constraints", () => {
    const strict = {
      ...spec,
      options: {
        front: endpointOption("tcp://127.0.0.1:5060", "client side"),
        liveness: intOption(3, "silent intervals", { min: 1 }),
      },
      check: undefined,
    };
    expect(() => tryParseConfig(strict, ["--liveness", "1.5"], {})).toThrow("--liveness (or LAB06_LIVENESS) must be a whole number");
    expect(() => tryParseConfig(strict, ["--liveness", "0"], {})).toThrow("--liveness (or LAB06_LIVENESS) must be at least 1");
    expect(() => tryParseConfig(strict, ["--front", "notanendpoint"], {})).toThrow(/--front \(or LAB06_FRONT\) must be a ZeroMQ endpoint/);
    expect(tryParseConfig(strict, ["--front", "ipc:///tmp/x"], {}).front).toBe("ipc:///tmp/x");
  });

  it("refuses a flag given without its value", () => {
    expect(() => tryParseConfig(spec, ["--heartbeat-ms"], {})).toThrow(/Not enough arguments following: heartbeat-ms/);
  });

  it("names an environment variable that is no setting of the command, and a bad LOG_LEVEL or LOG_FORMAT", () => {
    expect(() => tryParseConfig(spec, [], { LAB06_HEARTBEAT: "abc" })).toThrow(
      "LAB06_HEARTBEAT is not a setting of scanner-broker (its settings: LAB06_FRONTEND, LAB06_HEARTBEAT_MS, LAB06_ENGINE)",
    );
    expect(() => tryParseConfig(spec, [], { LOG_LEVEL: "bogus" })).toThrow(/LOG_LEVEL must be one of/);
    expect(() => tryParseConfig(spec, [], { LOG_FORMAT: "xml" })).toThrow('LOG_FORMAT must be json or pretty; got "xml"');
  });

  it("says a value outside the choices on one line", () => {
    const choosy = {
      ...spec,
      options: { mode: { type: "string", choices: ["calm", "storm"], default: "calm", describe: "m" } },
      check: undefined,
    } as const;
    const err = (() => {
      try {
        tryParseConfig(choosy, ["--mode", "meltdown"], {});
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err?.message).toMatch(/^Invalid values: Argument: mode, Given: "meltdown", Choices: "calm", "storm"$/);
  });
});
