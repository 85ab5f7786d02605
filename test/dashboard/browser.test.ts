/**
 * The dashboard end to end in headless Chromium (Debian's `chromium`, driven by playwright-core; no
 * browser is ever downloaded): pages, escaping of hostile job data, live updates without reloading,
 * and an action with its confirmation. With HEWN_SCREENSHOTS=1 it also rewrites the screenshots under
 * docs/screenshots/ that the README shows.
 */
import "../leak-check.js";
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { JobError, type Queue } from "../../src/index.js";
import { serveDashboard } from "../../src/dashboard/index.js";
import { sqliteHarness } from "../harness/sqlite.js";
import { Signal, setup, within } from "../helpers.js";

const CHROMIUM = "/usr/bin/chromium";
const TOKEN = "correct-horse-battery-staple";
const root = fileURLToPath(new URL("../..", import.meta.url));

function skipReason(): string | false {
  if (fs.existsSync(CHROMIUM)) return false;
  if (process.env.CI === "true") throw new Error(`${CHROMIUM} is required in CI (apt-get install chromium; .ci/run does it)`);
  process.stderr.write(`!!!!! SKIPPING THE BROWSER TESTS: ${CHROMIUM} is missing (apt-get install chromium) !!!!!\n`);
  return `${CHROMIUM} is missing`;
}

const screenshots = process.env.HEWN_SCREENSHOTS === "1" ? path.join(root, "docs/screenshots") : fs.mkdtempSync(path.join(os.tmpdir(), "hewn-shots-"));
process.on("exit", () => {
  if (!screenshots.startsWith(root)) fs.rmSync(screenshots, { recursive: true, force: true });
});

async function browserPage(t: TestContext): Promise<Page> {
  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu"] });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const problems: string[] = [];
  page.on("pageerror", (error) => problems.push(error.message));
  t.after(() => assert.deepEqual(problems, [], "no script errors on any page"));
  return page;
}

/** A queue with a few tasks and jobs in every status, like a small production one. */
async function seeded(queue: Queue): Promise<{ evil: string; waiting: string }> {
  const names = { email: "send-email", resize: "resize-image", report: "nightly-report" };
  const done = new Signal<void>();
  let left = 14;
  const settle = () => {
    if (--left === 0) done.resolve();
  };
  queue.on("job:complete", settle).on("job:fail", settle).on("job:cancel", settle);
  queue.define<{ to: string }>(names.email, () => ({ messageId: "m-1" }));
  queue.define<{ width: number }>(names.resize, (ctx) => {
    if (ctx.job.data.width > 4000) throw new JobError("image too large", { retry: false });
    if (ctx.job.data.width > 2000) throw new Error("out of memory while resizing");
    return { ok: true };
  }, { maxAttempts: 3 });
  await queue.enqueueMany(Array.from({ length: 8 }, (_, i) => ({ name: names.email, data: { to: `user${i}@example.com` } })));
  await queue.enqueueMany([800, 1200, 1600, 3000, 5000, 640].map((width) => ({ name: names.resize, data: { width } })));
  await queue.start();
  await within(done.promise, "the seeded jobs to settle");
  await queue.enqueueMany(Array.from({ length: 5 }, (_, i) => ({ name: names.report, data: { day: i }, delay: 3_600_000 })));
  const evil = await queue.enqueue("import-profile", { bio: "<script>window.__pwned = true; alert('xss')</script>", name: "<img src=x onerror=alert(1)>" });
  const waiting = await queue.enqueue("import-profile", { bio: "plain" }, { label: "user-42" });
  return { evil: evil.id, waiting: waiting.id };
}

const skip = skipReason();

test("the dashboard in Chromium: pages, escaping, live updates, a confirmed action; screenshots", { skip }, async (t) => {
  const { queue } = await setup(t, sqliteHarness);
  const { evil, waiting } = await seeded(queue);
  const server = await serveDashboard(queue, { port: 0, token: TOKEN, refreshInterval: 500, statsTtl: 100 });
  t.after(() => server.close());
  const page = await browserPage(t);
  const dialogs: string[] = [];
  page.on("dialog", (dialog) => {
    dialogs.push(dialog.message());
    void (/^(Cancel job|Pause task|Run job)/.test(dialog.message()) ? dialog.accept() : dialog.dismiss());
  });

  // Overview: tasks with counts; the chart fills in while jobs complete.
  await page.goto(`${server.url}/`);
  await page.waitForSelector("table.tasks");
  const email = page.locator("table.tasks tr", { hasText: "send-email" });
  assert.match(await email.innerText(), /send-email\s+0\s+0\s+8\s+0\s+0/);
  const more = setInterval(() => void queue.enqueueMany(Array.from({ length: 5 }, (_, i) => ({ name: "send-email", data: { to: `late${i}@example.com` } }))), 150);
  try {
    await page.waitForSelector("svg.chart", { timeout: 20_000 });
  } finally {
    clearInterval(more);
  }
  await page.screenshot({ path: path.join(screenshots, "overview.png"), fullPage: true });

  // Job list: newest first, filtered by status from the form.
  await page.goto(`${server.url}/jobs`);
  await page.waitForSelector("table.jobs");
  await page.screenshot({ path: path.join(screenshots, "jobs.png") });
  await page.selectOption("select[name=status]", "cancelled");
  await page.click("form.filters button");
  await page.waitForURL(/status=cancelled/);
  const statuses = await page.locator("table.jobs td .status").allInnerTexts();
  assert.ok(statuses.length > 0 && statuses.every((status) => status === "cancelled"), statuses.join());

  // Schedules, with their next slots.
  queue.define("nightly-report", () => null);
  await queue.schedule("nightly-report", "nightly-report", { cron: "0 3 * * *", tz: "Europe/Berlin" });
  await queue.schedule("email-digest", "send-email", { every: 3_600_000 }, { data: { to: "digest@example.com" } });
  await page.goto(`${server.url}/schedules`);
  assert.match(await page.locator("table.schedules").innerText(), /nightly-report[\s\S]*cron 0 3 \* \* \* \(Europe\/Berlin\)/);
  await page.screenshot({ path: path.join(screenshots, "schedules.png") });

  // Hostile data renders as text and runs nothing.
  await page.goto(`${server.url}/jobs/${evil}`);
  const data = await page.locator("pre.data").innerText();
  assert.ok(data.includes("<script>window.__pwned = true; alert('xss')</script>"), data);
  assert.ok(data.includes("<img src=x onerror=alert(1)>"));
  assert.equal(await page.evaluate("typeof globalThis.__pwned"), "undefined");
  assert.equal(await page.locator("main img").count(), 0);
  assert.deepEqual(dialogs, [], "no alert ran");

  // A failed job's detail, with its error history and timeline.
  const failed = (await queue.list({ name: "resize-image", status: "cancelled" })).find((job) => job.errors.length > 1);
  assert.ok(failed, "a resize job that failed and was retried");
  await page.goto(`${server.url}/jobs/${failed.id}`);
  assert.match(await page.locator("table.errors").innerText(), /out of memory while resizing/);
  await page.screenshot({ path: path.join(screenshots, "job.png"), fullPage: true });

  // A job in a dependency graph: its parents and children as linked nodes with their statuses.
  const [extract, transformA, transformB, load] = await queue.enqueueMany([
    { name: "extract-orders" }, { name: "transform-orders", data: { part: "a" }, after: [0] },
    { name: "transform-orders", data: { part: "b" }, after: [0] }, { name: "load-warehouse", after: [1, 2] },
  ]);
  await page.goto(`${server.url}/jobs/${transformA!.id}`);
  assert.match(await page.locator(".graph .column.parent").innerText(), new RegExp(`enqueued\\s+extract-orders\\s+#${extract!.id}`));
  assert.match(await page.locator(".graph .column.child").innerText(), new RegExp(`enqueued\\s+load-warehouse\\s+#${load!.id}`));
  await page.screenshot({ path: path.join(screenshots, "job-graph.png"), fullPage: true });
  await page.click(`.graph a.node.child[href="/jobs/${load!.id}"]`);
  await page.waitForURL(new RegExp(`/jobs/${load!.id}$`));
  assert.deepEqual(await page.locator(".graph a.node.parent").evaluateAll((links) => links.map((link) => link.getAttribute("href"))),
    [`/jobs/${transformA!.id}`, `/jobs/${transformB!.id}`]);

  // Live: a job enqueued while the list is open appears without a reload.
  await page.goto(`${server.url}/jobs`);
  let navigations = 0;
  page.on("framenavigated", () => navigations++);
  const fresh = await queue.enqueue("import-profile", { bio: "arrived live" });
  await page.waitForSelector(`a[href="/jobs/${fresh.id}"]`, { timeout: 10_000 });
  assert.equal(navigations, 0, "updated in place");

  // Actions need signing in; a cancel is confirmed first (dismissed: nothing happens; accepted: cancelled).
  await page.goto(`${server.url}/jobs/${waiting}`);
  assert.equal(await page.locator("form.action").count(), 0, "no actions before signing in");
  await page.goto(`${server.url}/login`);
  await page.fill("input[name=token]", TOKEN);
  await page.click("form button");
  await page.waitForSelector("text=actions enabled");
  await page.goto(`${server.url}/jobs/${waiting}`);
  await page.click("form.action button:has-text('Run now')");
  assert.equal(dialogs.at(-1), `Make job ${waiting} available now?`, "asked first (and dismissed)");
  await page.click("form.action button:has-text('Cancel')");
  await page.waitForSelector(".notice");
  assert.match(await page.locator(".notice").innerText(), new RegExp(`Job ${waiting} cancelled`));
  assert.equal((await queue.get(waiting))?.status, "cancelled");
  assert.equal(dialogs.at(-1), `Cancel job ${waiting} (import-profile)?`);
  await page.click("form.action button:has-text('Retry')");
  await page.waitForSelector(".notice >> text=will run again");
  assert.equal((await queue.get(waiting))?.status, "enqueued");

  // Pausing a task from the overview (confirmed), shown as paused.
  await page.goto(`${server.url}/`);
  await page.locator("table.tasks tr", { hasText: "nightly-report" }).locator("button:has-text('Pause')").click();
  await page.waitForSelector(".notice");
  assert.deepEqual(await queue.paused(), ["nightly-report"]);
  assert.match(await page.locator("table.tasks tr", { hasText: "nightly-report" }).innerText(), /paused/);
  assert.match(dialogs.at(-1) ?? "", /^Pause task nightly-report in every process\?/);
  await page.screenshot({ path: path.join(screenshots, "overview-actions.png"), fullPage: true });
});
