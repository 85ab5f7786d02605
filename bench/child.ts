/**
 * The parent's side of worker processes (bench/worker-process.ts): spawn, wait for ready, start,
 * follow progress, stop, and read back which job indexes each one ran.
 * @module
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Place } from "./adapter.js";

const ENTRY = fileURLToPath(new URL("./worker-process.ts", import.meta.url));

export interface WorkerConfig {
  /** The adapter file to load (adapters/<family>.ts). */
  family: string;
  place: Place;
  concurrency: number;
  /** Each handler run appends the job's index here, one per line. */
  runsFile: string;
}

export type ToChild = { type: "go" } | { type: "stop" };
export type FromChild =
  | { type: "ready"; rss: number }
  | { type: "progress"; runs: number; lastAt: number; rss: number; peakRss: number }
  | { type: "stopped"; runs: number; lastAt: number; peakRss: number; vmHwm: number | null; errors: string[] }
  | { type: "failed"; message: string };

/** Peak resident set size as the kernel counts it (VmHWM), in bytes; null where /proc is missing. */
export function vmHwm(pid: number | "self" = "self"): number | null {
  try {
    const match = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

export interface StoppedReport {
  runs: number;
  lastAt: number;
  /** Highest sampled `process.memoryUsage().rss` (every 25 ms). */
  peakRss: number;
  /** The kernel's VmHWM at exit. */
  vmHwm: number | null;
  errors: string[];
}

/** A running worker process. Every method fails fast if the process dies or reports a failure. */
export class WorkerChild {
  readonly #child: ChildProcess;
  readonly #runsFile: string;
  #stderr = "";
  #failure: Error | undefined;
  #listeners = new Set<(message: FromChild | Error) => void>();
  /** Created before the process can speak: its `ready` may arrive before anyone awaits it. */
  readonly #ready: Promise<FromChild>;
  /** Handler runs so far, and the epoch time (ms, sub-ms precision) of the latest one. */
  runs = 0;
  lastAt = 0;
  peakRss = 0;
  readyRss = 0;
  /** The latest RSS the process reported. */
  rss = 0;
  /** The kernel's VmHWM, once stopped. */
  vmHwm: number | null = null;

  constructor(systemId: string, config: WorkerConfig) {
    this.#runsFile = config.runsFile;
    rmSync(config.runsFile, { force: true });
    this.#ready = this.#next("ready");
    this.#ready.catch(() => undefined); // observed by ready(); never an unhandled rejection
    this.#child = spawn(process.execPath, ["--import", "tsx", ENTRY, systemId, JSON.stringify(config)], {
      stdio: ["ignore", "ignore", "pipe", "ipc"],
    });
    this.#child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (this.#stderr = (this.#stderr + chunk).slice(-4000)));
    this.#child.on("message", (message: FromChild) => {
      if (message.type === "progress") {
        this.runs = message.runs;
        this.lastAt = message.lastAt;
        this.peakRss = message.peakRss;
        this.rss = message.rss;
      } else if (message.type === "ready") {
        this.readyRss = message.rss;
      } else if (message.type === "failed") {
        this.#fail(new Error(`worker process failed: ${message.message}`));
      }
      for (const listener of this.#listeners) listener(message);
    });
    this.#child.on("exit", (code, signal) => {
      this.#exited = true;
      if (this.#stopping) return;
      this.#fail(new Error(`worker process exited (code ${code}, signal ${signal}); stderr: ${this.#stderr.slice(-1000)}`));
    });
    this.#child.on("error", (error) => this.#fail(error));
  }

  #stopping = false;
  #exited = false;

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** Throws if the process has failed. */
  check(): void {
    if (this.#failure) throw this.#failure;
  }

  ready(): Promise<void> {
    return this.#ready.then(() => undefined);
  }

  go(): void {
    this.check();
    this.#child.send({ type: "go" } satisfies ToChild);
  }

  /** Graceful stop: the child stops its workers, writes its last runs and exits. */
  async stop(): Promise<StoppedReport> {
    this.#stopping = true;
    const stopped = this.#next("stopped");
    this.#child.send({ type: "stop" } satisfies ToChild);
    const message = await stopped;
    if (message.type !== "stopped") throw new Error("unreachable");
    this.runs = message.runs;
    this.lastAt = message.lastAt;
    this.peakRss = Math.max(this.peakRss, message.peakRss);
    this.vmHwm = message.vmHwm;
    return { runs: message.runs, lastAt: message.lastAt, peakRss: message.peakRss, vmHwm: message.vmHwm, errors: message.errors };
  }

  /** The job indexes this process ran, one entry per handler run (duplicates included). */
  readRuns(): number[] {
    let text = "";
    try {
      text = readFileSync(this.#runsFile, "utf8");
    } catch {
      return [];
    }
    return text.split("\n").filter((line) => line !== "").map(Number);
  }

  /** Ends the process at once (cleanup after a failure or timeout) and removes its runs file. */
  kill(): void {
    this.#stopping = true;
    if (!this.#exited) this.#child.kill("SIGKILL");
    rmSync(this.#runsFile, { force: true });
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    for (const listener of this.#listeners) listener(error);
  }

  #next(type: FromChild["type"]): Promise<FromChild> {
    return new Promise<FromChild>((resolve, reject) => {
      if (this.#failure) return reject(this.#failure);
      const listener = (message: FromChild | Error) => {
        if (message instanceof Error) {
          this.#listeners.delete(listener);
          reject(message);
        } else if (message.type === type) {
          this.#listeners.delete(listener);
          resolve(message);
        }
      };
      this.#listeners.add(listener);
    });
  }
}
