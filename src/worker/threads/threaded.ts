/**
 * CPU-bound handlers off the event loop: `threaded(module, exportName)` is a handler that runs the
 * module's export in a pool of worker threads, so a long computation neither blocks the process's other
 * jobs nor starves its lease renewals (the heartbeat stays on the process's event loop).
 *
 * The handler in the thread gets a {@link ThreadContext}: the job, a signal, `progress` and `extend`
 * (forwarded to the process, which holds the lease). Its return value and throws are the attempt's
 * outcome as usual (`JobError` included). When the attempt's signal aborts (lease lost, cancel, lifetime,
 * shutdown), the thread's signal aborts too; a handler that has not settled `abortGraceMs` later (a loop
 * that never looks at its signal) has its thread terminated, and the attempt ends with the abort reason.
 * @module
 */
import { Worker } from "node:worker_threads";
import { ValidationError } from "../../errors.js";
import type { Json } from "../../job.js";
import type { Handler, JobContext, RunningJob } from "../../task.js";
import { checkDuration, checkInteger } from "../../validate.js";
import { fromRecord, toRecord, type FromThread, type ThreadData, type ToThread } from "./protocol.js";

/** What a handler running in a worker thread receives. */
export interface ThreadContext<Data = Json> {
  readonly job: RunningJob<Data>;
  /** Aborts when the attempt's signal aborts in the process (its reason's name and message carried over). */
  readonly signal: AbortSignal;
  /** As `ctx.progress`, done by the process. */
  progress(value: number): Promise<void>;
  /** As `ctx.extend`, done by the process. */
  extend(ms: number): Promise<void>;
}

/** Options of {@link threaded}. */
export interface ThreadedOptions {
  /** Threads kept at most (running ones included). Default 4; size it with the task's `workers`. */
  threads?: number;
  /** An idle thread is ended after this long. Default 30 000. */
  idleMs?: number;
  /** After the attempt's signal aborts, how long the thread's handler may take to settle before the thread is terminated. Default 1 000. */
  abortGraceMs?: number;
}

/** A handler that runs in worker threads; `close()` ends its threads (call it after `queue.close()`). */
export interface ThreadedHandler<Data = Json, Result = unknown> extends Handler<Data, Result> {
  /** Terminates every thread of this handler. Idempotent. */
  close(): Promise<void>;
}

/** How long `close()` lets a starting thread finish loading before it terminates it. */
const CLOSE_WAIT_MS = 5_000;

/** One thread and the attempt it runs, if any. */
interface Thread {
  readonly worker: Worker;
  /** Resolves once the thread imported the handler. */
  readonly ready: Promise<void>;
  /** The attempt running on it: how to end it. */
  current?: { settle(outcome: { result: unknown } | { error: Error }): void; ctx: JobContext<unknown> };
  idleTimer?: NodeJS.Timeout;
}

/** The thread's main module, beside this one: compiled (.js), or the source when hewn itself runs from TypeScript. */
const MAIN = new URL(import.meta.url.endsWith(".ts") ? "./thread-main.ts" : "./thread-main.js", import.meta.url);

/**
 * What a thread runs first (as CommonJS, the form of `eval` workers): TypeScript loaders registered with
 * `--import` in the process do not reach worker threads, so where the thread's main module or the
 * handler's is TypeScript, tsx's loader is registered in the thread through its API (tsx must then be
 * installed, as it is wherever TypeScript runs through it); then the main module is imported.
 */
const BOOT = `
const { workerData } = require("node:worker_threads");
const typescript = /\.[cm]?ts$/;
(typescript.test(workerData.main) || typescript.test(workerData.module) ? import("tsx/esm/api").then((tsx) => tsx.register()) : Promise.resolve())
  .then(() => import(workerData.main));
`;

/**
 * A handler that runs `exportName` of `module` (a file URL or path: `new URL("./resize.js", import.meta.url)`)
 * in a pool of worker threads. The export is `(ctx: ThreadContext<Data>) => Result | Promise<Result>`.
 * @throws ValidationError for bad options.
 */
export function threaded<Data = Json, Result = unknown>(module: string | URL, exportName = "default", options: ThreadedOptions = {}): ThreadedHandler<Data, Result> {
  const size = checkInteger(options.threads ?? 4, "options.threads", 1, 1024);
  const idleMs = checkDuration(options.idleMs ?? 30_000, "options.idleMs", { min: 0 });
  const abortGraceMs = checkDuration(options.abortGraceMs ?? 1_000, "options.abortGraceMs", { min: 0 });
  const url = module instanceof URL ? module.href : module.startsWith("file:") ? module : new URL(module, "file://").href;
  if (typeof exportName !== "string" || exportName === "") throw new ValidationError("exportName", "must be a non-empty string");
  const data: ThreadData = { module: url, exportName };
  const idle: Thread[] = [];
  const all = new Set<Thread>();
  const waiting: Array<(thread: Thread) => void> = [];
  let closed = false;
  // Terminations begun outside close() (idle threads, threads that ignored their signal): close() awaits
  // them too, so no thread (and its message port) outlives the handler.
  const ending = new Set<Promise<number>>();

  const end = (thread: Thread): Promise<number> => {
    clearTimeout(thread.idleTimer);
    all.delete(thread);
    const at = idle.indexOf(thread);
    if (at >= 0) idle.splice(at, 1);
    const terminated = thread.worker.terminate();
    ending.add(terminated);
    const forget = () => void ending.delete(terminated);
    terminated.then(forget, forget);
    return terminated;
  };

  const spawn = (): Thread => {
    const worker = new Worker(BOOT, { eval: true, workerData: { ...data, main: MAIN.href } });
    let started!: () => void;
    let failedToStart!: (error: Error) => void;
    const thread: Thread = { worker, ready: new Promise<void>((resolve, reject) => ((started = resolve), (failedToStart = reject))) };
    thread.ready.catch(() => undefined);
    worker.on("message", (message: FromThread) => {
      if (message.type === "ready") return started();
      const current = thread.current;
      if (message.type === "call") {
        const reply = (error?: unknown) => worker.postMessage({ type: "reply", call: message.call, error: error === undefined ? undefined : toRecord(error) } satisfies ToThread);
        const work = current ? current.ctx[message.method](message.value) : Promise.reject(new Error("no attempt is running"));
        work.then(() => reply(), reply);
        return;
      }
      current?.settle(message.type === "done" ? { result: message.result } : { error: fromRecord(message.error) });
    });
    // A thread that dies (an uncaught error, process.exit in it, a failed import) ends its attempt as a plain failure.
    const died = (error: Error) => {
      all.delete(thread);
      failedToStart(error);
      thread.current?.settle({ error });
    };
    worker.on("error", died);
    worker.on("exit", (code) => died(new Error(`the handler's worker thread exited (code ${code})`)));
    all.add(thread);
    return thread;
  };

  const acquire = (): Promise<Thread> => {
    if (closed) return Promise.reject(new Error("threaded handler: closed"));
    const thread = idle.pop();
    if (thread) {
      clearTimeout(thread.idleTimer);
      thread.worker.ref();
      return Promise.resolve(thread);
    }
    if (all.size < size) return Promise.resolve(spawn());
    return new Promise((resolve) => waiting.push(resolve));
  };

  const release = (thread: Thread): void => {
    thread.current = undefined;
    if (!all.has(thread)) return;
    const next = waiting.shift();
    if (next) return next(thread);
    thread.worker.unref();
    thread.idleTimer = setTimeout(() => void end(thread), idleMs);
    thread.idleTimer.unref();
    idle.push(thread);
  };

  const handler = (async (ctx: JobContext<Data>): Promise<Result> => {
    const running = await acquire();
    // A thread that could not load the handler has died (and left the pool): the attempt fails with why.
    await running.ready;
    return new Promise<Result>((resolve, reject) => {
      let graceTimer: NodeJS.Timeout | undefined;
      const onAbort = () => {
        running.worker.postMessage({ type: "abort", reason: toRecord(ctx.signal.reason) } satisfies ToThread);
        graceTimer = setTimeout(() => {
          // The handler ignores its signal (a busy loop cannot even see it): end the thread itself.
          void end(running);
          running.current?.settle({ error: ctx.signal.reason instanceof Error ? ctx.signal.reason : new Error(String(ctx.signal.reason)) });
        }, abortGraceMs);
      };
      running.current = {
        ctx: ctx as JobContext<unknown>,
        settle: (outcome) => {
          clearTimeout(graceTimer);
          ctx.signal.removeEventListener("abort", onAbort);
          release(running);
          if ("error" in outcome) reject(outcome.error);
          else resolve(outcome.result as Result);
        },
      };
      if (ctx.signal.aborted) onAbort();
      else ctx.signal.addEventListener("abort", onAbort, { once: true });
      running.worker.postMessage({ type: "run", job: ctx.job } satisfies ToThread);
    });
  }) as ThreadedHandler<Data, Result>;

  handler.close = async () => {
    closed = true;
    // A thread still loading its modules is let finish first (bounded): terminated mid-load, it can leave
    // the files it was reading open in the process.
    await Promise.all([...all].map(async (thread) => {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([thread.ready.catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS)))]);
      clearTimeout(timer);
      await end(thread);
    }));
    await Promise.allSettled([...ending]);
  };
  return handler;
}
