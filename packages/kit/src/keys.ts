import type { InstanceInfo } from "./orchestrator.ts";

/** What the keyboard may ask of a running demo. */
export interface DemoControls {
  list(): InstanceInfo[];
  roles(): string[];
  kill(name: string): boolean;
  restart(name: string): Promise<boolean>;
  add(role: string): string | undefined;
  stop(reason?: string): Promise<void>;
  say(message: string): void;
}

type Pending = { action: "kill" | "restart" | "add"; digits: string };

export const KEY_HELP = "keys: l list · k kill -9 a role · r restart a role · a add an instance of a role · q or Ctrl-C stop · h help";

/**
 * The demo's keyboard as a small state machine: a command key, then a number from the list it
 * printed (one digit is enough when there are at most 9 choices; otherwise digits and Enter).
 */
export class KeyController {
  private pending: Pending | undefined;

  constructor(private readonly demo: DemoControls) {}

  press(key: string): void {
    if (key === "\u0003") {
      void this.demo.stop("Ctrl-C");
      return;
    }
    if (this.pending) {
      this.choose(key, this.pending);
      return;
    }
    switch (key) {
      case "l":
        this.printInstances();
        break;
      case "k":
      case "r":
        this.ask(
          key === "k" ? "kill" : "restart",
          this.demo.list().map((i) => `${i.name} (${i.state})`),
        );
        break;
      case "a":
        this.ask("add", this.demo.roles());
        break;
      case "q":
        void this.demo.stop("q pressed");
        break;
      case "h":
      case "?":
        this.demo.say(KEY_HELP);
        break;
      default:
        break;
    }
  }

  private choices(action: Pending["action"]): string[] {
    return action === "add" ? this.demo.roles() : this.demo.list().map((i) => i.name);
  }

  private ask(action: Pending["action"], labels: string[]): void {
    if (labels.length === 0) return;
    this.pending = { action, digits: "" };
    const menu = labels.map((label, i) => `${i + 1}) ${label}`).join("  ");
    this.demo.say(`${action} which? ${menu}  (Esc cancels)`);
  }

  private choose(key: string, pending: Pending): void {
    const count = this.choices(pending.action).length;
    if (key === "\u001b") {
      this.pending = undefined;
      this.demo.say("cancelled");
      return;
    }
    if (/^[0-9]$/.test(key)) {
      pending.digits += key;
      if (count <= 9 || pending.digits.length >= String(count).length) this.run(pending);
      return;
    }
    if ((key === "\r" || key === "\n") && pending.digits) this.run(pending);
  }

  private run(pending: Pending): void {
    this.pending = undefined;
    const choices = this.choices(pending.action);
    const target = choices[Number(pending.digits) - 1];
    if (!target) {
      this.demo.say(`no choice ${pending.digits}`);
      return;
    }
    if (pending.action === "kill") {
      this.demo.say(this.demo.kill(target) ? `sent SIGKILL to ${target}` : `${target} is not running`);
    } else if (pending.action === "restart") {
      this.demo.say(`restarting ${target}`);
      void this.demo.restart(target);
    } else {
      const name = this.demo.add(target);
      if (name) this.demo.say(`started ${name}`);
    }
  }

  private printInstances(): void {
    for (const [i, inst] of this.demo.list().entries()) {
      const ended = inst.state === "exited" && inst.ended ? `, ${inst.ended}` : "";
      const restarts = inst.restarts ? `, restarted ${inst.restarts}x` : "";
      this.demo.say(`${i + 1}) ${inst.name}: ${inst.state}${inst.pid ? ` pid ${inst.pid}` : ""}${ended}${restarts}`);
    }
  }
}
