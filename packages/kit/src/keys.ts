import type { InstanceInfo } from "./orchestrator.ts";

/** What the keyboard may ask of a running demo. */
export interface DemoControls {
  list(): InstanceInfo[];
  /** The roles `a` may start another instance of (the manifest marks them "scalable"). */
  scalableRoles(): string[];
  kill(name: string): boolean;
  restart(name: string): Promise<boolean>;
  add(role: string): string | undefined;
  stop(reason?: string): Promise<void>;
  say(message: string): void;
  /** A question waiting for its answer ("kill which? ..."); undefined once answered. It stays in view. */
  prompt(text: string | undefined): void;
  /** A second Ctrl-C: SIGKILL every process now instead of waiting for them to stop. */
  killAll?(): void;
}

type Pending = { action: "kill" | "restart" | "add"; digits: string; choices: string[] };

export const KEY_HELP = "l list · k kill -9 a role · r restart a role · a add an instance · q or Ctrl-C stop · h help";

/**
 * The demo's keyboard as a small state machine: a command key, then a number from the menu it
 * shows (one digit is enough when there are at most 9 choices; otherwise digits and Enter).
 */
export class KeyController {
  private pending: Pending | undefined;
  private ctrlC = 0;

  constructor(private readonly demo: DemoControls) {}

  press(key: string): void {
    if (key === "\u0003") {
      this.clear();
      this.ctrlC += 1;
      if (this.ctrlC > 1 && this.demo.killAll) {
        this.demo.say("second Ctrl-C: SIGKILL to every process");
        this.demo.killAll();
      } else void this.demo.stop("Ctrl-C");
      return;
    }
    if (this.pending && this.choose(key, this.pending)) return;
    switch (key) {
      case "l":
        this.printInstances();
        break;
      case "k":
      case "r":
        this.ask(
          key === "k" ? "kill" : "restart",
          this.demo.list().map((i) => i.name),
          this.demo.list().map((i) => `${i.name} (${i.status})`),
        );
        break;
      case "a": {
        const roles = this.demo.scalableRoles();
        if (roles.length === 0) this.demo.say("no role of this lab can run more than once (none is marked scalable)");
        else this.ask("add", roles, roles);
        break;
      }
      case "q":
        void this.demo.stop("q pressed");
        break;
      case "h":
      case "?":
        this.demo.say(`keys: ${KEY_HELP}`);
        break;
      default:
        break;
    }
  }

  private ask(action: Pending["action"], choices: string[], labels: string[]): void {
    if (choices.length === 0) return;
    // The menu is fixed when shown: an instance added meanwhile does not shift the numbers.
    this.pending = { action, digits: "", choices };
    const menu = labels.map((label, i) => `${i + 1}) ${label}`).join("  ");
    const how = choices.length > 9 ? "number and Enter" : "number";
    this.demo.prompt(`${action} which? ${menu}  (${how}; Esc cancels)`);
  }

  private clear(): void {
    if (!this.pending) return;
    this.pending = undefined;
    this.demo.prompt(undefined);
  }

  /**
   * A key while a menu waits for its number. True when the key belonged to the menu; false for a
   * command key, which first settles the number typed so far (k 1 k 2 on a long menu is "kill 1,
   * kill 2", not "no choice 12") and is then taken as a command.
   */
  private choose(key: string, pending: Pending): boolean {
    const count = pending.choices.length;
    if (key === "\u001b") {
      this.clear();
      this.demo.say("cancelled");
      return true;
    }
    if (/^[0-9]$/.test(key)) {
      pending.digits += key;
      // Run as soon as no further digit could name a choice: "2" of 12 is choice 2, "1" may become 10-12.
      if (count <= 9 || Number(pending.digits) * 10 > count || pending.digits.length >= String(count).length) this.run(pending);
      return true;
    }
    if (key === "\r" || key === "\n") {
      if (pending.digits) this.run(pending);
      return true;
    }
    if (pending.digits) this.run(pending);
    else this.clear();
    return false;
  }

  private run(pending: Pending): void {
    this.clear();
    const target = pending.choices[Number(pending.digits) - 1];
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
      const pid = inst.state !== "exited" && inst.pid ? ` pid ${inst.pid}` : "";
      const restarts = inst.restarts ? `, restarted ${inst.restarts}x` : "";
      this.demo.say(`${i + 1}) ${inst.name}: ${inst.status}${pid}${restarts}`);
    }
  }
}
