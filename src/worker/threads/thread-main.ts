/**
 * The main module of a handler's worker thread: imports the handler once, then runs one attempt at a
 * time for the process, with a context like the process's own (`job`, `signal`, `progress`, `extend`,
 * the last two forwarded to the process, which owns the lease).
 * @module
 */
import { parentPort, workerData } from "node:worker_threads";
import type { ThreadContext } from "./threaded.js";
import { fromRecord, toRecord, type FromThread, type ThreadData, type ToThread } from "./protocol.js";

const port = parentPort;
if (port === null) throw new Error("hewn: thread-main runs only as a worker thread");
const { module, exportName } = workerData as ThreadData;

const loaded: Record<string, unknown> = await import(module) as Record<string, unknown>;
const handler = loaded[exportName];
if (typeof handler !== "function") throw new TypeError(`hewn: ${module} has no function export "${exportName}"`);

let controller: AbortController | undefined;
let nextCall = 0;
const calls = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
const send = (message: FromThread) => port.postMessage(message);

function call(method: "progress" | "extend", value: number): Promise<void> {
  const id = ++nextCall;
  return new Promise<void>((resolve, reject) => {
    calls.set(id, { resolve, reject });
    send({ type: "call", call: id, method, value });
  });
}

port.on("message", (message: ToThread) => {
  if (message.type === "abort") {
    controller?.abort(fromRecord(message.reason));
  } else if (message.type === "reply") {
    const pending = calls.get(message.call);
    calls.delete(message.call);
    if (message.error) pending?.reject(fromRecord(message.error));
    else pending?.resolve();
  } else {
    controller = new AbortController();
    const ctx: ThreadContext<unknown> = {
      job: message.job,
      signal: controller.signal,
      progress: (value) => call("progress", value),
      extend: (ms) => call("extend", ms),
    };
    Promise.resolve()
      .then(() => (handler as (ctx: ThreadContext<unknown>) => unknown)(ctx))
      .then((result) => send({ type: "done", result }), (error: unknown) => send({ type: "failed", error: toRecord(error) }));
  }
});
send({ type: "ready" });
