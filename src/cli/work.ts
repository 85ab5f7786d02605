/**
 * `hewn work <module>`: runs an application's tasks in this process until SIGINT or SIGTERM, then shuts
 * down gracefully (running jobs get `grace` ms to finish, then are handed back).
 *
 * The module defines its tasks either with a default export `(queue) => void | Promise<void>` that calls
 * `queue.define(…)`, or with an export `tasks`: `{ [name]: handler }` or `{ [name]: [handler, options] }`.
 * @module
 */
import path from "node:path";
import { pathToFileURL } from "node:url";
import { ValidationError } from "../errors.js";
import type { Queue } from "../queue.js";
import type { Handler, TaskOptions } from "../task.js";
import { untilSignal } from "./signals.js";

type TaskEntry = Handler | [Handler, TaskOptions];

export async function runWorker(queue: Queue, module: string, options: { grace: number; log: (text: string) => void }): Promise<void> {
  const exports = (await import(pathToFileURL(path.resolve(module)).href)) as { default?: unknown; tasks?: unknown };
  if (typeof exports.default === "function") {
    await (exports.default as (queue: Queue) => unknown)(queue);
  } else if (typeof exports.tasks === "object" && exports.tasks !== null) {
    for (const [name, entry] of Object.entries(exports.tasks as Record<string, TaskEntry>)) {
      if (typeof entry === "function") queue.define(name, entry);
      else if (Array.isArray(entry) && typeof entry[0] === "function") queue.define(name, entry[0], entry[1]);
      else throw new ValidationError(`tasks.${name}`, "must be a handler or [handler, options]");
    }
  } else {
    throw new ValidationError("module", `${module} exports neither a default function (queue) => … nor a tasks object`);
  }
  await queue.start();
  options.log(`hewn: working (pid ${process.pid}); Ctrl-C or SIGTERM stops gracefully`);
  const signal = await untilSignal();
  options.log(`hewn: ${signal}: finishing running jobs (up to ${options.grace} ms)`);
  await queue.close({ grace: options.grace });
  options.log("hewn: stopped");
}
