/**
 * `hewn dashboard`: serves the web dashboard until SIGINT or SIGTERM.
 * @module
 */
import type { Queue } from "../queue.js";
import { serveDashboard, type ServeOptions } from "../dashboard/index.js";
import { untilSignal } from "./signals.js";

export async function runDashboard(queue: Queue, options: ServeOptions): Promise<void> {
  const server = await serveDashboard(queue, options);
  process.stderr.write(`hewn: dashboard on ${server.url}/ (${options.token ? "actions enabled for who signs in with the token" : "read-only"})\n`);
  await untilSignal();
  await server.close();
}
