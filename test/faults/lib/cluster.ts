/**
 * A scenario's worker processes (test/faults/fixtures/fault-worker.ts): started, killed, restarted and
 * supervised, with every process that died without closing remembered for the checker.
 */
import { fileURLToPath } from "node:url";
import path from "node:path";
import { startWorker, type Exit, type WorkerProcess } from "../../process/spawn.js";
import type { FaultWorkerConfig } from "../fixtures/fault-worker.js";
import { pause } from "./wait.js";

const FIXTURE = fileURLToPath(new URL("../fixtures/fault-worker.ts", import.meta.url));

export type BaseConfig = Omit<FaultWorkerConfig, "tag" | "effectsFile" | "errorsFile">;

export interface Incarnation {
  /** Which member (0-based). */
  index: number;
  /** 1 for the first process of the member, 2 after one restart, … */
  generation: number;
  tag: string;
  pid: number;
  proc: WorkerProcess;
  effectsFile: string;
  errorsFile: string;
  /** Set when the test itself ends it (SIGKILL or SIGTERM), so supervision does not restart it. */
  ending: boolean;
  /** Printed "ready". A process that dies before that is the concern of whoever is waiting in spawn(). */
  ready: boolean;
  /** How it exited, once it has. */
  exit?: Exit;
}

export interface ClusterOptions {
  dir: string;
  base: BaseConfig;
  /** Restart a member whose process exits on its own (crash, process.exit). */
  supervise?: boolean;
  /** Give up restarting after this many unplanned exits in total. Default 50. */
  maxRestarts?: number;
  nodeArgs?: string[];
  /** Per-member config overrides. */
  override?: (index: number) => Partial<BaseConfig>;
  onLine?: (incarnation: Incarnation, line: string) => void;
}

export class Cluster {
  readonly options: ClusterOptions;
  /** The current incarnation of each member. */
  readonly members: Incarnation[] = [];
  readonly all: Incarnation[] = [];
  /** Processes that died without closing: killed by the test or crashed on their own. */
  readonly crashedPids = new Set<number>();
  /** Exits nobody asked for (crashes), as text. */
  readonly unplannedExits: string[] = [];
  #closing = false;
  #restarting = new Set<Promise<unknown>>();
  #failure: Error | undefined;

  constructor(options: ClusterOptions) {
    this.options = options;
  }

  /** Starts members 0..count-1 and waits until all are ready. */
  async start(count: number): Promise<void> {
    await Promise.all(Array.from({ length: count }, (_, index) => this.spawn(index)));
  }

  /** Starts a new incarnation of member `index` and waits until it is ready. */
  async spawn(index: number): Promise<Incarnation> {
    const generation = (this.members[index]?.generation ?? 0) + 1;
    const tag = `w${index}.${generation}`;
    const effectsFile = path.join(this.options.dir, `effects-${tag}.txt`);
    const errorsFile = path.join(this.options.dir, `errors-${tag}.jsonl`);
    const config: FaultWorkerConfig = { ...this.options.base, ...this.options.override?.(index), tag, effectsFile, errorsFile };
    let incarnation: Incarnation | undefined;
    const proc = startWorker(config as unknown as Record<string, unknown>, {
      fixture: FIXTURE,
      ...(this.options.nodeArgs && { nodeArgs: this.options.nodeArgs }),
      onLine: (line) => incarnation && this.options.onLine?.(incarnation, line),
    });
    incarnation = { index, generation, tag, pid: proc.child.pid!, proc, effectsFile, errorsFile, ending: false, ready: false };
    this.members[index] = incarnation;
    this.all.push(incarnation);
    const current = incarnation;
    void proc.exited.then((exit) => this.#exited(current, exit));
    await Promise.race([
      proc.line(/^ready$/, `worker ${tag} ready`).then(() => (current.ready = true)),
      proc.exited.then((exit) => {
        throw new Error(`worker ${tag} exited before it was ready (${describeExit(exit)}): ${proc.stderr().slice(-1000)}`);
      }),
    ]);
    return incarnation;
  }

  /** SIGKILLs member `index`'s process and waits until it is gone. Returns the dead incarnation. */
  async kill(index: number): Promise<Incarnation> {
    const victim = this.members[index]!;
    victim.ending = true;
    this.crashedPids.add(victim.pid);
    await victim.proc.kill();
    return victim;
  }

  /** Stops member `index` gracefully (SIGTERM) and returns its exit. */
  async stop(index: number): Promise<Exit> {
    const member = this.members[index]!;
    member.ending = true;
    await member.proc.stop();
    return member.proc.exited;
  }

  /** Stops every member gracefully (SIGTERM) and returns their exits. No restarts from here on. */
  async stopAll(): Promise<Exit[]> {
    this.#closing = true;
    await Promise.all([...this.#restarting]);
    return Promise.all(this.members.map(async (member) => {
      member.ending = true;
      await member.proc.stop();
      return member.proc.exited;
    }));
  }

  /** Kills whatever still runs. For t.after; idempotent. */
  async destroy(): Promise<void> {
    this.#closing = true;
    await Promise.all([...this.#restarting].map((p) => p.catch(() => undefined)));
    await Promise.all(this.all.map((member) => {
      member.ending = true;
      return member.proc.kill().catch(() => undefined);
    }));
  }

  /** Pids of every process that ever ran. */
  pids(): Set<number> {
    return new Set(this.all.map((member) => member.pid));
  }

  /** Fails if supervision gave up (a restart failed, or too many crashes). */
  assertHealthy(): void {
    if (this.#failure) throw this.#failure;
  }

  /** Resolves once no supervised restart is in flight. */
  async settled(): Promise<void> {
    while (this.#restarting.size > 0) await Promise.all([...this.#restarting]);
  }

  #exited(incarnation: Incarnation, exit: Exit): void {
    incarnation.exit = exit;
    if (incarnation.ending) return;
    this.crashedPids.add(incarnation.pid);
    if (!incarnation.ready) return;
    this.unplannedExits.push(`${incarnation.tag} (pid ${incarnation.pid}): ${describeExit(exit)}`);
    if (!this.options.supervise || this.#closing || this.members[incarnation.index] !== incarnation) return;
    if (this.unplannedExits.length > (this.options.maxRestarts ?? 50)) {
      this.#failure ??= new Error(`workers crashed ${this.unplannedExits.length} times: ${this.unplannedExits.slice(-5).join("; ")}`);
      return;
    }
    const restart = (async () => {
      // A process that cannot even start (the database is down, say) is retried a few times.
      for (let tries = 1; ; tries++) {
        if (this.#closing) return;
        try {
          await this.spawn(incarnation.index);
          return;
        } catch (error) {
          if (tries >= 5) {
            this.#failure ??= error as Error;
            return;
          }
          await pause(200 * tries);
        }
      }
    })();
    this.#restarting.add(restart);
    void restart.finally(() => this.#restarting.delete(restart));
  }
}

export function describeExit(exit: Exit): string {
  return exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`;
}
