/**
 * `hewn/dashboard`: the web dashboard, as a request handler to mount in your server or as a server of
 * its own. Read-only unless given a token; see docs/operations.md.
 * @packageDocumentation
 */
import type { Queue } from "../queue.js";
import { dashboardHandler, type DashboardHandler, type DashboardOptions } from "./handler.js";

export type { DashboardHandler, DashboardOptions } from "./handler.js";
export { serveDashboard, type ServeOptions, type DashboardServer } from "./server.js";

/**
 * The dashboard of `queue` as a request handler `(req, res, next?)`:
 * - plain `http`: `http.createServer(createDashboard(queue, { basePath: "/hewn" }))`;
 * - Express: `app.use("/hewn", createDashboard(queue))`;
 * - Fastify: `app.all("/hewn/*", (req, reply) => { reply.hijack(); handler(req.raw, reply.raw); })`
 *   with `basePath: "/hewn"`.
 * @throws ValidationError for bad options.
 */
export function createDashboard(queue: Queue, options: DashboardOptions = {}): DashboardHandler {
  return dashboardHandler(queue, options);
}
