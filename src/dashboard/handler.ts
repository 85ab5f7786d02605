/**
 * The dashboard as one request handler `(req, res, next?)`: it works in a plain `http` server, as
 * Express middleware (mounted with `app.use(path, handler)`, it reads Express's `req.baseUrl`), and in
 * Fastify (through `reply.hijack()` and the raw request and response).
 *
 * Routes (below the mount path): `GET /` overview, `GET /jobs` list, `GET /jobs/:id` detail, `GET /schedules`,
 * `GET /api/stats` JSON, `GET /metrics` (Prometheus), `GET|POST /login`, `POST /logout`, `POST /jobs/:id/{cancel,run-now,retry,delete}` and
 * `POST /tasks/:name/{pause,resume}` actions,
 * and whatever extra routes (e.g. `/metrics`) are plugged in. GETs never change anything.
 * @module
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { HewnError, JobNotFoundError, ValidationError, coerceError } from "../errors.js";
import type { Job } from "../job.js";
import type { Queue } from "../queue.js";
import { APP_JS, STYLE_CSS } from "./assets.js";
import { Auth, SESSION_COOKIE } from "./auth.js";
import { html, layout, type PageContext, type Safe } from "./html.js";
import { jobLive } from "./pages/job.js";
import { PAGE_SIZE, jobsControls, jobsLive, type JobsQuery } from "./pages/jobs.js";
import { overviewLive } from "./pages/overview.js";
import { schedulesLive } from "./pages/schedules.js";
import { StatsCache } from "./stats-cache.js";
import { exposition, gaugeFamilies } from "../metrics/gauges.js";

/** A request handler for `http.createServer`, Express (`app.use`) and Fastify (raw request/response). */
export type DashboardHandler = (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void) => void;

/** Options of `createDashboard`. */
export interface DashboardOptions {
  /**
   * Enables actions (cancel, run now, …): a browser signs in with it, a script sends it as
   * `Authorization: Bearer <token>`. Without it the dashboard is read-only. Use a long random string.
   */
  token?: string;
  /**
   * The path the dashboard is served under in a plain `http` server or Fastify, e.g. `"/hewn"`.
   * Not needed with Express's `app.use("/hewn", handler)`, which strips the path itself. Default `""`.
   */
  basePath?: string;
  /** How often pages refresh their live part, in ms (0: never). Default 3 000. */
  refreshInterval?: number;
  /**
   * How long `queue.stats()` is reused across viewers and scrapes, in ms (at least ten times as long as
   * counting took; an expired reading is shown while the next is counted). 0: count on every request.
   * Default 5 000.
   */
  statsTtl?: number;
  /**
   * Serve `/metrics`, the Prometheus text of the database-wide gauges (jobs by task and status, oldest
   * ready age, running jobs, paused tasks), from the same cached stats. Default true.
   */
  metrics?: boolean;
  /** Receives errors met while answering (they also become a 500 page) or counting in the background. Default: printed to stderr. */
  onError?: (error: Error) => void;
}

const MAX_BODY = 64 * 1024;
const SECURITY_HEADERS = {
  "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "same-origin",
  "x-frame-options": "DENY",
} as const;

/** A response to send: status, content type, body, headers. */
class Reply {
  constructor(readonly status: number, readonly body: string, readonly type = "text/html; charset=utf-8", readonly headers: Record<string, string> = {}) {}
}

export function dashboardHandler(queue: Queue, options: DashboardOptions): DashboardHandler {
  const basePath = (options.basePath ?? "").replace(/\/+$/, "");
  if (basePath !== "" && !basePath.startsWith("/")) throw new ValidationError("options.basePath", 'must start with "/", e.g. "/hewn"');
  if (options.token !== undefined && (typeof options.token !== "string" || options.token.length < 8)) {
    throw new ValidationError("options.token", "must be a string of at least 8 characters");
  }
  const auth = new Auth(options.token);
  const refreshMs = options.refreshInterval ?? 3_000;
  const onError = options.onError ?? ((error: Error) => console.error("hewn dashboard:", error));
  const cache = new StatsCache(queue, options.statsTtl ?? 5_000, onError);

  return (req, res, next) => {
    const url = new URL(req.url ?? "/", "http://dashboard");
    if (basePath !== "" && url.pathname !== basePath && !url.pathname.startsWith(`${basePath}/`)) {
      if (next) return next();
      return send(res, new Reply(404, "not found", "text/plain; charset=utf-8"));
    }
    const path = url.pathname.slice(basePath.length) || "/";
    const base = `${(req as { baseUrl?: string }).baseUrl ?? ""}${basePath}`;
    const nonce = auth.session(req);
    const ctx: PageContext = {
      base, canAct: auth.enabled && nonce !== undefined, hasToken: auth.enabled, csrf: auth.csrf(nonce), refreshMs,
      ...(url.searchParams.get("done") && { notice: url.searchParams.get("done") ?? "" }),
    };
    const partial = req.headers["x-hewn-partial"] === "1";
    route(req, path, url, ctx, partial).then((reply) => send(res, reply)).catch((thrown: unknown) => {
      const error = coerceError(thrown);
      const status = error instanceof ValidationError ? 400 : 500;
      if (status === 500) onError(error);
      const message = error instanceof HewnError ? error.message : "internal error (see the server's log)";
      send(res, new Reply(status, page(ctx, "Error", html`<p class="error">${message}</p>`, partial).text));
    });
  };

  async function route(req: IncomingMessage, path: string, url: URL, ctx: PageContext, partial: boolean): Promise<Reply> {
    const method = req.method ?? "GET";
    if (method === "GET" || method === "HEAD") {
      if (path === "/metrics" && options.metrics !== false) {
        return new Reply(200, exposition(gaugeFamilies(await cache.get()), "hewn_"), "text/plain; version=0.0.4; charset=utf-8");
      }
      if (path === "/assets/app.js") return new Reply(200, APP_JS, "text/javascript; charset=utf-8", { "cache-control": "max-age=300" });
      if (path === "/assets/style.css") return new Reply(200, STYLE_CSS, "text/css; charset=utf-8", { "cache-control": "max-age=300" });
      if (path === "/") {
        const stats = await cache.get();
        return new Reply(200, page(ctx, "Overview", overviewLive(ctx, stats, cache.samples), partial, { active: "overview" }).text);
      }
      if (path === "/api/stats") return new Reply(200, JSON.stringify(await cache.get()), "application/json");
      if (path === "/schedules") {
        const live = schedulesLive(ctx, await queue.schedules(), Date.now());
        return new Reply(200, page(ctx, "Schedules", live, partial, { active: "schedules" }).text);
      }
      if (path === "/jobs") return jobsPage(ctx, url, partial);
      const id = /^\/jobs\/([^/]+)$/.exec(path)?.[1];
      if (id !== undefined) {
        const job = await queue.get(decodeURIComponent(id));
        if (!job) return new Reply(404, page(ctx, "Not found", html`<p class="error">No job with id ${decodeURIComponent(id)}.</p>`, partial).text);
        const graph = await queue.dependencies(job.id).catch((error: unknown) => {
          // Deleted between the two reads: the page still shows the job, without a graph.
          if (error instanceof JobNotFoundError) return { parents: [], children: [] };
          throw error;
        });
        return new Reply(200, page(ctx, `Job ${job.id}`, jobLive(ctx, job, graph), partial, { active: "jobs" }).text);
      }
      if (path === "/login") return new Reply(200, page({ ...ctx, refreshMs: 0 }, "Sign in", loginForm(ctx), partial).text);
      return new Reply(404, page(ctx, "Not found", html`<p class="error">No such page.</p>`, partial).text);
    }
    if (method !== "POST") return new Reply(405, "method not allowed", "text/plain; charset=utf-8", { allow: "GET, HEAD, POST" });
    const form = await readForm(req);
    if (path === "/login") return login(ctx, form);
    if (path === "/logout") return redirect(`${ctx.base}/`, { "set-cookie": cookie(ctx, "", 0) });
    const refused = auth.refuseAction(req, form);
    if (refused !== null) return new Reply(403, page({ ...ctx, refreshMs: 0 }, "Refused", html`<p class="error">${refused}</p>`, false).text);
    return act(path, ctx);
  }

  async function jobsPage(ctx: PageContext, url: URL, partial: boolean): Promise<Reply> {
    const query: JobsQuery = {};
    for (const key of ["status", "name", "label", "group", "q", "before", "after"] as const) {
      const value = url.searchParams.get(key);
      if (value) query[key] = value;
    }
    if (query.q !== undefined) {
      // An id goes straight to its job; anything else is a label.
      const found = /^\d{1,19}$/.test(query.q) ? await queue.get(query.q) : null;
      if (found) return redirect(`${ctx.base}/jobs/${encodeURIComponent(found.id)}`);
      query.label = query.q;
    }
    const jobs: Job[] = await queue.list({
      order: "desc", limit: PAGE_SIZE,
      ...(query.status !== undefined && { status: query.status as Job["status"] }),
      ...(query.name !== undefined && { name: query.name }),
      ...(query.label !== undefined && { label: query.label }),
      ...(query.group !== undefined && { group: query.group }),
      ...(query.before !== undefined && { beforeId: query.before }),
      ...(query.after !== undefined && { afterId: query.after }),
    });
    return new Reply(200, page(ctx, "Jobs", jobsLive(ctx, query, jobs), partial, { active: "jobs", controls: jobsControls(ctx, query) }).text);
  }

  async function act(path: string, ctx: PageContext): Promise<Reply> {
    const task = /^\/tasks\/([^/]+)\/(pause|resume)$/.exec(path);
    if (task?.[1]) {
      const name = decodeURIComponent(task[1]);
      const changed = task[2] === "pause" ? await queue.pause(name) : await queue.resume(name);
      cache.invalidate();
      const notice = `Task ${name} ${task[2] === "pause" ? (changed ? "paused" : "was already paused") : (changed ? "resumed" : "was not paused")}.`;
      return redirect(`${ctx.base}/?done=${encodeURIComponent(notice)}`);
    }
    const match = /^\/jobs\/([^/]+)\/(cancel|run-now|retry|delete)$/.exec(path);
    if (!match?.[1]) return new Reply(404, page(ctx, "Not found", html`<p class="error">No such action.</p>`, false).text);
    const id = decodeURIComponent(match[1]);
    cache.invalidate();
    const back = (notice: string) => redirect(`${ctx.base}/jobs/${encodeURIComponent(id)}?done=${encodeURIComponent(notice)}`);
    const job = await queue.get(id);
    if (!job) return new Reply(404, page(ctx, "Not found", html`<p class="error">No job with id ${id}.</p>`, false).text);
    if (match[2] === "retry" || match[2] === "delete") {
      const allowed = match[2] === "retry" ? job.status === "cancelled" : job.status === "cancelled" || job.status === "completed";
      if (!allowed) return back(`Job ${id} is ${job.status}: ${match[2] === "retry" ? "only cancelled jobs are retried" : "cancel it before deleting it"}.`);
      if (match[2] === "retry") {
        await queue.retry(id);
        return back(`Job ${id} will run again.`);
      }
      await queue.delete(id);
      return redirect(`${ctx.base}/jobs?done=${encodeURIComponent(`Job ${id} deleted.`)}`);
    }
    if (match[2] === "cancel") {
      return back((await queue.cancel(id, "cancelled from the dashboard")) ? `Job ${id} cancelled.` : `Job ${id} had already finished.`);
    }
    return back((await queue.reschedule(id, { delay: 0 })) ? `Job ${id} is available now.` : `Job ${id} is not waiting.`);
  }

  function login(ctx: PageContext, form: URLSearchParams): Reply {
    if (!auth.enabled) return new Reply(403, page(ctx, "Sign in", html`<p class="error">This dashboard is read-only: it was started without a token.</p>`, false).text);
    if (!auth.checkToken(form.get("token") ?? "")) {
      return new Reply(403, page({ ...ctx, refreshMs: 0 }, "Sign in", html`<p class="error">Wrong token.</p>${loginForm(ctx)}`, false).text);
    }
    return redirect(`${ctx.base}/`, { "set-cookie": cookie(ctx, auth.newSession(), 12 * 3600) });
  }
}

function page(ctx: PageContext, title: string, live: Safe, partial: boolean, options?: Parameters<typeof layout>[3]): Safe {
  return partial ? live : layout(ctx, title, live, options);
}

function loginForm(ctx: PageContext): Safe {
  return html`<form method="post" action="${ctx.base}/login" class="filters"><label>Token<input type="password" name="token" autocomplete="current-password"></label>
<button type="submit">Sign in</button></form>`;
}

function cookie(ctx: PageContext, value: string, maxAge: number): string {
  return `${SESSION_COOKIE}=${value}; Path=${ctx.base || "/"}; HttpOnly; SameSite=Strict; Max-Age=${maxAge}`;
}

function redirect(location: string, headers: Record<string, string> = {}): Reply {
  return new Reply(303, "", "text/plain; charset=utf-8", { location, ...headers });
}

function send(res: ServerResponse, reply: Reply): void {
  if (res.headersSent) return;
  res.writeHead(reply.status, { "content-type": reply.type, "cache-control": "no-store", ...SECURITY_HEADERS, ...reply.headers });
  res.end(reply.body);
}

/** An urlencoded form body, at most 64 KiB. */
function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  return new Promise((resolve, reject) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => {
      body += chunk;
      if (body.length > MAX_BODY) {
        reject(new ValidationError("body", `is larger than ${MAX_BODY} bytes`));
        req.destroy();
      }
    });
    req.on("end", () => resolve(new URLSearchParams(body)));
    req.on("error", reject);
  });
}
