/**
 * The dashboard over HTTP on both stores: read-only without a token, sign-in, CSRF and cross-site
 * refusals, escaping of user content, bad input, and mounting in plain http, Express and Fastify.
 */
import "../leak-check.js";
import { describe, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import Fastify from "fastify";
import { createDashboard, serveDashboard, type DashboardOptions } from "../../src/dashboard/index.js";
import type { Queue } from "../../src/index.js";
import { sqliteHarness } from "../harness/sqlite.js";
import { postgresHarness } from "../harness/postgres.js";
import type { StoreHarness } from "../harness/harness.js";
import { setup, taskName } from "../helpers.js";

const TOKEN = "correct-horse-battery-staple";
const EVIL = "<script>window.__pwned = 1</script><img src=x onerror=alert(1)>";

async function serve(t: TestContext, queue: Queue, options: DashboardOptions = {}): Promise<string> {
  const server = await serveDashboard(queue, { port: 0, ...options });
  t.after(() => server.close());
  return server.url;
}

/** A browser's session: the cookie from signing in, and the CSRF value a page of it carries. */
async function signIn(url: string): Promise<{ cookie: string; csrf: (page: string) => Promise<string> }> {
  const response = await fetch(`${url}/login`, { method: "POST", body: new URLSearchParams({ token: TOKEN }), redirect: "manual" });
  assert.equal(response.status, 303);
  const cookie = (response.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
  assert.match(cookie, /^hewn_session=/);
  return {
    cookie,
    async csrf(page) {
      const text = await (await fetch(`${url}${page}`, { headers: { cookie } })).text();
      const value = /name="csrf" value="([^"]+)"/.exec(text)?.[1];
      assert.ok(value, "the page carries a CSRF value");
      return value;
    },
  };
}

function post(url: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, { method: "POST", body: new URLSearchParams(form), headers, redirect: "manual" });
}

for (const harness of [sqliteHarness, postgresHarness] as StoreHarness[]) {
  const skip = (await harness.skipReason()) ?? false;
  describe(`dashboard over HTTP on ${harness.kind}`, { skip }, () => {
    test("pages render; user content is escaped; a strict CSP forbids inline script", async (t) => {
      const { queue } = await setup(t, harness);
      const name = taskName("<b>task</b>");
      const job = await queue.enqueue(name, { html: EVIL }, { label: EVIL });
      const url = await serve(t, queue);
      for (const page of ["/", "/jobs", `/jobs/${job.id}`, `/jobs?label=${encodeURIComponent(EVIL)}`]) {
        const response = await fetch(`${url}${page}`);
        assert.equal(response.status, 200, page);
        assert.match(response.headers.get("content-security-policy") ?? "", /script-src 'self'/);
        const body = await response.text();
        assert.ok(!body.includes("<script>window"), `${page}: no raw script`);
        assert.ok(!body.includes("<img src=x"), `${page}: no raw img`);
        assert.ok(!body.includes("<b>task"), `${page}: the name is escaped`);
      }
      const detail = await (await fetch(`${url}/jobs/${job.id}`)).text();
      assert.ok(detail.includes("&#60;script&#62;window.__pwned = 1&#60;/script&#62;"), "shown as text");
      const listed = await (await fetch(`${url}/jobs?label=${encodeURIComponent(EVIL)}`)).text();
      assert.ok(listed.includes(`href="/jobs/${job.id}"`), "the label filter finds it");
      const live = await (await fetch(`${url}/jobs`, { headers: { "x-hewn-partial": "1" } })).text();
      assert.ok(!live.includes("<html") && live.includes(`/jobs/${job.id}`), "the live part alone");
      const stats = await (await fetch(`${url}/api/stats`)).json() as { tasks: Array<{ name: string }> };
      assert.ok(stats.tasks.some((task) => task.name === name));
    });

    test("job page: the dependency graph links parents and children with their statuses, escaped", async (t) => {
      const { queue } = await setup(t, harness);
      const name = taskName("<b>graph</b>");
      const [root, left, right, join] = await queue.enqueueMany([
        { name }, { name, after: [0] }, { name, after: [0] }, { name, after: [1, 2] },
      ]);
      await queue.cancel(right!.id, "stop");
      const url = await serve(t, queue);
      const nodes = (body: string, role: string) =>
        [...body.matchAll(new RegExp(`<a class="node ${role}" href="/jobs/(\\d+)"><span class="status (\\w+)">`, "g"))].map((m) => [m[1], m[2]]);
      const middle = await (await fetch(`${url}/jobs/${left!.id}`)).text();
      assert.match(middle, /<h2>Dependencies<\/h2>/);
      assert.deepEqual(nodes(middle, "parent"), [[root!.id, "enqueued"]]);
      assert.deepEqual(nodes(middle, "child"), [[join!.id, "cancelled"]], "cancelled with its other parent");
      assert.ok(!middle.includes("<b>graph"), "task names in the graph are escaped");
      assert.ok(middle.includes("&#60;b&#62;graph"));
      const last = await (await fetch(`${url}/jobs/${join!.id}`)).text();
      assert.deepEqual(nodes(last, "parent"), [[left!.id, "enqueued"], [right!.id, "cancelled"]]);
      assert.deepEqual(nodes(last, "child"), []);
      const alone = await queue.enqueue(name);
      assert.ok(!(await (await fetch(`${url}/jobs/${alone.id}`)).text()).includes("Dependencies"), "no graph outside one");
    });

    test("schedules: each with its next slot, escaped", async (t) => {
      const { queue } = await setup(t, harness);
      const name = taskName();
      const url = await serve(t, queue);
      assert.match(await (await fetch(`${url}/schedules`)).text(), /No schedules/);
      await queue.schedule(`<b>nightly</b>`, name, { cron: "0 3 * * *", tz: "Europe/Berlin" });
      await queue.schedule("heartbeat", name, { every: 30_000 });
      const body = await (await fetch(`${url}/schedules`)).text();
      assert.ok(body.includes("&#60;b&#62;nightly&#60;/b&#62;") && !body.includes("<b>nightly"), "the key is escaped");
      assert.match(body, /cron 0 3 \* \* \* \(Europe\/Berlin\)/);
      assert.match(body, /every 30\.0 s/);
    });

    test("read-only without a token: every action and sign-in is refused, nothing changes", async (t) => {
      const { queue } = await setup(t, harness);
      const job = await queue.enqueue(taskName());
      const url = await serve(t, queue);
      assert.ok(!(await (await fetch(`${url}/jobs/${job.id}`)).text()).includes("<form method=\"post\""), "no action forms");
      assert.equal((await post(`${url}/jobs/${job.id}/cancel`, {})).status, 403);
      assert.equal((await post(`${url}/jobs/${job.id}/cancel`, {}, { authorization: `Bearer ${TOKEN}` })).status, 403);
      assert.equal((await post(`${url}/login`, { token: TOKEN })).status, 403);
      assert.equal((await queue.get(job.id))?.status, "enqueued");
    });

    test("with a token: sign-in, CSRF value and same origin required; a bearer token works for scripts", async (t) => {
      const { queue } = await setup(t, harness);
      const [a, b, c] = await queue.enqueueMany([{ name: taskName() }, { name: taskName() }, { name: taskName(), delay: 3_600_000 }]);
      assert.ok(a && b && c);
      const url = await serve(t, queue, { token: TOKEN });
      const cancel = `${url}/jobs/${a.id}/cancel`;

      const wrong = await post(`${url}/login`, { token: "not-the-token" });
      assert.equal(wrong.status, 403);
      assert.equal(wrong.headers.get("set-cookie"), null);
      assert.equal((await post(cancel, {})).status, 403, "not signed in");
      assert.equal((await post(cancel, {}, { authorization: "Bearer not-the-token" })).status, 403, "wrong bearer");

      const session = await signIn(url);
      const csrf = await session.csrf(`/jobs/${a.id}`);
      assert.equal((await post(cancel, {}, { cookie: session.cookie })).status, 403, "no CSRF value");
      assert.equal((await post(cancel, { csrf: `${csrf}x` }, { cookie: session.cookie })).status, 403, "wrong CSRF value");
      const forged = await post(cancel, { csrf }, { cookie: session.cookie, origin: "https://evil.example", "sec-fetch-site": "cross-site" });
      assert.equal(forged.status, 403, "a cross-site POST");
      assert.equal((await post(cancel, { csrf }, { cookie: session.cookie, "sec-fetch-site": "same-site" })).status, 403, "a sibling site's POST");
      assert.equal((await post(cancel, { csrf }, { cookie: session.cookie, origin: "https://evil.example" })).status, 403, "another Origin");
      assert.equal((await post(cancel, { csrf }, { cookie: "hewn_session=forged.value" })).status, 403, "a forged session");
      assert.equal((await queue.get(a.id))?.status, "enqueued", "nothing changed");

      const done = await post(cancel, { csrf }, { cookie: session.cookie, origin: new URL(url).origin });
      assert.equal(done.status, 303);
      assert.match(done.headers.get("location") ?? "", new RegExp(`/jobs/${a.id}\\?done=`));
      assert.equal((await queue.get(a.id))?.status, "cancelled");
      assert.equal((await queue.get(a.id))?.reason, "cancelled from the dashboard");

      assert.equal((await post(`${url}/jobs/${b.id}/cancel`, {}, { authorization: `Bearer ${TOKEN}` })).status, 303);
      assert.equal((await queue.get(b.id))?.status, "cancelled");
      assert.equal((await post(`${url}/jobs/${c.id}/run-now`, {}, { authorization: `Bearer ${TOKEN}` })).status, 303);
      assert.ok(((await queue.get(c.id))?.availableAt.getTime() ?? Infinity) <= Date.now() + 1000, "available now");
      assert.equal((await post(`${url}/jobs/987654321/cancel`, {}, { authorization: `Bearer ${TOKEN}` })).status, 404);

      // Dead letters: retry a cancelled job; delete it once finished; a live job is neither deleted nor retried.
      const bearer = { authorization: `Bearer ${TOKEN}` };
      assert.equal((await post(`${url}/jobs/${c.id}/delete`, {}, bearer)).status, 303);
      assert.equal((await queue.get(c.id))?.status, "enqueued", "a live job is not deleted");
      assert.equal((await post(`${url}/jobs/${a.id}/retry`, {}, bearer)).status, 303);
      assert.equal((await queue.get(a.id))?.status, "enqueued");
      assert.equal((await post(`${url}/jobs/${b.id}/delete`, {}, { cookie: session.cookie })).status, 403, "no CSRF value");
      const deleted = await post(`${url}/jobs/${b.id}/delete`, {}, bearer);
      assert.equal(deleted.status, 303);
      assert.match(deleted.headers.get("location") ?? "", /^\/jobs\?done=/);
      assert.equal(await queue.get(b.id), null);

      // Pausing a task: refused without the CSRF value, done with it; shown on the overview.
      const name = a.name;
      assert.equal((await post(`${url}/tasks/${name}/pause`, {}, { cookie: session.cookie })).status, 403);
      assert.deepEqual(await queue.paused(), []);
      const overviewCsrf = await session.csrf("/");
      const paused = await post(`${url}/tasks/${name}/pause`, { csrf: overviewCsrf }, { cookie: session.cookie });
      assert.equal(paused.status, 303);
      assert.deepEqual(await queue.paused(), [name]);
      const overview = await (await fetch(`${url}/`, { headers: { cookie: session.cookie } })).text();
      assert.match(overview, new RegExp(`${name}</a> <span class="status paused">paused</span>`));
      assert.match(overview, new RegExp(`action="/tasks/${name}/resume"`));
      assert.equal((await post(`${url}/tasks/${name}/resume`, {}, { authorization: `Bearer ${TOKEN}` })).status, 303);
      assert.deepEqual(await queue.paused(), []);
    });

    test("bad input: unknown job 404, bad filter 400, unknown page 404, wrong method 405", async (t) => {
      const { queue } = await setup(t, harness);
      const url = await serve(t, queue);
      assert.equal((await fetch(`${url}/jobs/987654321`)).status, 404);
      const bad = await fetch(`${url}/jobs?status=${encodeURIComponent("<done>")}`);
      assert.equal(bad.status, 400);
      const text = await bad.text();
      assert.match(text, /options\.status/);
      assert.ok(!text.includes("<done>"), "the bad value is escaped too");
      assert.equal((await fetch(`${url}/nope`)).status, 404);
      assert.equal((await fetch(`${url}/jobs`, { method: "DELETE" })).status, 405);
    });
  });
}

test("mounted in plain http, Express and Fastify under /hewn", async (t) => {
  const { queue } = await setup(t, sqliteHarness);
  const job = await queue.enqueue(taskName(), { hello: "world" });
  const check = async (base: string) => {
    const overview = await (await fetch(`${base}/hewn/`)).text();
    assert.match(overview, /href="\/hewn\/jobs"/, `${base}: links carry the mount path`);
    assert.match(await (await fetch(`${base}/hewn/jobs/${job.id}`)).text(), /&#34;hello&#34;: &#34;world&#34;/);
    const acted = await post(`${base}/hewn/jobs/${job.id}/run-now`, {}, { authorization: `Bearer ${TOKEN}` });
    assert.equal(acted.status, 303, base);
    assert.equal(acted.headers.get("location"), `/hewn/jobs/${job.id}?done=${encodeURIComponent(`Job ${job.id} is available now.`)}`);
  };
  const listen = async (server: http.Server) => {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    t.after(() => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };

  // Plain http: the handler answers under basePath and leaves other paths alone (404 without next).
  const plain = createDashboard(queue, { basePath: "/hewn", token: TOKEN });
  const plainUrl = await listen(http.createServer((req, res) => plain(req, res)));
  await check(plainUrl);
  assert.equal((await fetch(`${plainUrl}/other`)).status, 404);

  // Express: app.use strips the mount path; the handler reads req.baseUrl.
  const app = express();
  app.use("/hewn", createDashboard(queue, { token: TOKEN }));
  app.get("/", (_req, res) => void res.send("the app"));
  const expressUrl = await listen(http.createServer(app));
  await check(expressUrl);
  assert.equal(await (await fetch(`${expressUrl}/`)).text(), "the app");

  // Fastify: the raw request and response, with basePath.
  const fastify = Fastify();
  const handler = createDashboard(queue, { basePath: "/hewn", token: TOKEN });
  fastify.addContentTypeParser("application/x-www-form-urlencoded", (_request, _payload, done) => done(null));
  fastify.all("/hewn", (request, reply) => {
    reply.hijack();
    handler(request.raw, reply.raw);
  });
  fastify.all("/hewn/*", (request, reply) => {
    reply.hijack();
    handler(request.raw, reply.raw);
  });
  const fastifyUrl = await fastify.listen({ port: 0, host: "127.0.0.1" });
  t.after(() => fastify.close());
  await check(fastifyUrl);
});
