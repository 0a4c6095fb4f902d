import { type Logger, peerLimits } from "@zlabs/kit";
import { Request } from "zeromq";
import { type Command, decodeStatistics, type ProxyStatistics } from "./protocol.ts";

/** How long proxy-ctl waits for the proxy's answer. */
export const CTL_TIMEOUT_MS = 3000;
export const EXIT_NO_ANSWER = 3;
export const EXIT_BAD_ANSWER = 1;

export interface CtlConfig {
  control: string;
  command: Command;
  timeoutMs: number;
  json: boolean;
}

/** STATISTICS as a person reads it: the two ends, in and out, frames and bytes. */
export function statisticsTable(s: ProxyStatistics): string {
  const row = (end: string, msgsIn: number, bytesIn: number, msgsOut: number, bytesOut: number) =>
    `${end.padEnd(6)}${String(msgsIn).padStart(14)}${String(bytesIn).padStart(16)}${String(msgsOut).padStart(14)}${String(bytesOut).padStart(16)}`;
  return [
    `${"END".padEnd(6)}${"FRAMES IN".padStart(14)}${"BYTES IN".padStart(16)}${"FRAMES OUT".padStart(14)}${"BYTES OUT".padStart(16)}`,
    row("front", s.frontMsgsIn, s.frontBytesIn, s.frontMsgsOut, s.frontBytesOut),
    row("back", s.backMsgsIn, s.backBytesIn, s.backMsgsOut, s.backBytesOut),
  ].join("\n");
}

/**
 * Sends one command to a steerable proxy's REP control socket (ours or libzmq's) and waits for the
 * answer: an empty frame, or STATISTICS' 8 frames. Returns the exit code: 0 answered, 3 no answer
 * within the timeout, 1 an answer that is not what the command gets.
 */
export async function runCtl(config: CtlConfig, log: Logger, print: (text: string) => void, signal: AbortSignal): Promise<number> {
  const socket = new Request({ linger: 0, receiveTimeout: config.timeoutMs, ...peerLimits() });
  const stop = () => socket.close();
  signal.addEventListener("abort", stop, { once: true });
  try {
    socket.connect(config.control);
    await socket.send(config.command);
    let frames: Buffer[];
    try {
      frames = await socket.receive();
    } catch (err) {
      if (signal.aborted) return EXIT_NO_ANSWER;
      if ((err as { code?: string }).code !== "EAGAIN") throw err;
      log.error({ control: config.control, command: config.command, timeoutMs: config.timeoutMs }, "no answer from the proxy");
      return EXIT_NO_ANSWER;
    }
    if (config.command !== "STATISTICS") {
      if (frames.length !== 1 || frames[0]?.length !== 0) {
        log.error({ frames: frames.length }, "the answer is not the empty frame");
        return EXIT_BAD_ANSWER;
      }
      log.info({ command: config.command, control: config.control }, "done");
      print(config.json ? JSON.stringify({ command: config.command, ok: true }) : `${config.command}: done`);
      return 0;
    }
    const stats = decodeStatistics(frames);
    if (!stats.ok) {
      log.error({ why: stats.reason }, "STATISTICS answer malformed");
      return EXIT_BAD_ANSWER;
    }
    log.info({ ...stats.value }, "STATISTICS");
    print(config.json ? JSON.stringify(stats.value) : statisticsTable(stats.value));
    return 0;
  } finally {
    signal.removeEventListener("abort", stop);
    socket.close();
  }
}
