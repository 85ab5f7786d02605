/**
 * The invariants checked after every scenario, against the final rows and what the handlers recorded.
 *
 * For every job the scenario enqueued:
 * - it reached the end its policy says: `completed`, or `cancelled` with a reason (`quarantined: …` naming
 *   its crash count, for a job that kept killing its worker — or, where processes are killed at random
 *   and the scenario says so, for a job whose workers were killed under it `maxCrashes` times). Anything
 *   else is *lost*; in particular no job is left `dequeued` (or enqueued, or failed) at the end.
 * - attempts match the claims made: no attempt number was started twice (that would be a double claim),
 *   no run was recorded for an attempt the row never reached, runs ≤ attempts, and
 *   attempts − crashes − (1 if quarantined) ≤ runs. For a job that never crashed, runs = attempts exactly.
 * - no outcome was written by a stale attempt: a completed job's result carries the attempt and pid that
 *   produced it; that attempt is the row's final `attempts`, that process recorded its start and its
 *   completion side-effect.
 * - completion side-effects happen once: a side-effect of an attempt that is not the one whose result was
 *   stored is allowed only where at-least-once delivery explains it — the process that recorded it died
 *   (SIGKILL, exit, uncaught exception) or reported that attempt's lease lost. Anything else is *duplicated*.
 * - a quarantined job's crashes are its own count: at least `maxCrashes`, and not handler errors (its
 *   `errors` hold crash entries and the quarantine, nothing else).
 */
import type { Job, Queue } from "../../../src/index.js";
import { CRASH_MESSAGE } from "../../../src/job.js";
import type { EffectRecord, ErrorRecord } from "./effects.js";

/**
 * complete: must be completed. quarantine: must be cancelled as quarantined. cancel: cancelled with a reason.
 * policy: completed, or quarantined if its crashes reached maxCrashes (processes killed at random may
 * legitimately take a job down that often).
 */
export type Expectation = "complete" | "quarantine" | "cancel" | "policy";

export interface CheckInput {
  /** The ids the scenario enqueued. */
  ids: readonly string[];
  /** Final rows, by id. */
  jobs: ReadonlyMap<string, Job>;
  effects: readonly EffectRecord[];
  errors: readonly ErrorRecord[];
  /** Processes that died without closing (killed, exited, crashed). */
  crashedPids: ReadonlySet<number>;
  /** What each job's policy says its end is. Default: completed. */
  expect?: (job: Job) => Expectation;
  /** The task's maxCrashes, for quarantined jobs. */
  maxCrashes?: number;
}

export interface CheckSummary {
  jobs: number;
  completed: number;
  cancelled: number;
  /** Jobs not in the state their policy says. */
  lost: number;
  /** Jobs with an unexplained repeated side-effect or a stale write. */
  duplicated: number;
  /** Handler starts recorded. */
  runs: number;
  /** Jobs whose handler ran more than once. */
  reRuns: number;
  /** Side-effects repeated by at-least-once delivery (after a crash or a lost lease): allowed. */
  repeatedEffects: number;
  /** Sum of the rows' `crashes`. */
  crashes: number;
  /** Jobs cancelled as quarantined. */
  quarantined: number;
  violations: string[];
}

/** The result shape the fixture's handlers return. */
interface HandlerResult {
  attempt: number;
  pid: number;
}

export function check(input: CheckInput): CheckSummary {
  const expect = input.expect ?? (() => "complete");
  const leaseLost = new Set<string>();
  for (const error of input.errors) {
    if (error.job !== null && (error.source === "lease" || error.error === "LeaseLostError")) leaseLost.add(`${error.job}:${error.attempt}`);
  }
  const byJob = new Map<string, EffectRecord[]>();
  for (const record of input.effects) {
    let list = byJob.get(record.id);
    if (!list) byJob.set(record.id, (list = []));
    list.push(record);
  }

  const summary: CheckSummary = {
    jobs: input.ids.length, completed: 0, cancelled: 0, lost: 0, duplicated: 0, runs: 0, reRuns: 0, repeatedEffects: 0, crashes: 0, quarantined: 0, violations: [],
  };
  const violate = (text: string) => summary.violations.push(text);
  const known = new Set(input.ids);
  for (const id of byJob.keys()) if (!known.has(id)) violate(`job ${id}: a handler ran for a job the scenario never enqueued`);

  for (const id of input.ids) {
    const job = input.jobs.get(id);
    const records = byJob.get(id) ?? [];
    const starts = records.filter((r) => r.kind === "S");
    summary.runs += starts.length;
    if (!job) {
      summary.lost++;
      violate(`job ${id}: missing`);
      continue;
    }
    summary.crashes += job.crashes;
    if (starts.length > 1) summary.reRuns++;

    // The end its policy says.
    const expected = expect(job);
    const where = `job ${id} (${job.status}, attempts ${job.attempts}, crashes ${job.crashes}, reason ${JSON.stringify(job.reason)})`;
    if (job.status === "completed") summary.completed++;
    if (job.status === "cancelled") summary.cancelled++;
    const isQuarantined = job.status === "cancelled" && /^quarantined:/.test(job.reason ?? "")
      && new RegExp(`\\b${job.crashes}\\b`).test(job.reason ?? "") && job.crashes >= (input.maxCrashes ?? 1);
    if (isQuarantined) summary.quarantined++;
    let ok: boolean;
    if (expected === "complete") ok = job.status === "completed";
    else if (expected === "quarantine") ok = isQuarantined;
    else if (expected === "policy") ok = job.status === "completed" || (isQuarantined && input.maxCrashes !== undefined);
    else ok = job.status === "cancelled" && (job.reason ?? "") !== "";
    if (!ok) {
      summary.lost++;
      const lease = job.status === "dequeued" && job.availableAt.getTime() < Date.now() ? " — left dequeued after its lease expired" : "";
      violate(`${where}: expected ${expected}${lease}`);
    }
    if (job.status === "dequeued" || job.status === "enqueued" || job.status === "failed") continue;

    // Attempts match the claims made.
    const startsByAttempt = new Map<number, EffectRecord>();
    for (const start of starts) {
      if (startsByAttempt.has(start.attempt)) violate(`${where}: attempt ${start.attempt} started twice (pids ${startsByAttempt.get(start.attempt)!.pid}, ${start.pid}): double claim`);
      startsByAttempt.set(start.attempt, start);
      if (start.attempt > job.attempts || start.attempt < 1) violate(`${where}: a run of attempt ${start.attempt}, which the row never reached`);
    }
    const quarantined = /^quarantined:/.test(job.reason ?? "") ? 1 : 0;
    const runs = startsByAttempt.size;
    if (job.crashes > job.attempts) violate(`${where}: more crashes than attempts`);
    if (runs > job.attempts - quarantined) violate(`${where}: ${runs} runs recorded, more than its claims allow`);
    if (runs < job.attempts - job.crashes - quarantined) {
      violate(`${where}: only ${runs} runs recorded for ${job.attempts} attempts with ${job.crashes} crashes: claims not accounted for`);
    }
    if (job.crashes === 0 && runs !== job.attempts) violate(`${where}: never crashed, yet ${runs} runs for ${job.attempts} attempts`);
    if (quarantined) {
      const handlerErrors = job.errors.filter((e) => !/^quarantined:/.test(e.message) && e.message !== CRASH_MESSAGE);
      if (handlerErrors.length > 0) violate(`${where}: crashes were recorded as handler errors: ${JSON.stringify(handlerErrors)}`);
    }

    // No outcome written by a stale attempt.
    let storedAttempt: number | undefined;
    if (job.status === "completed") {
      const result = job.result as HandlerResult | null;
      storedAttempt = result?.attempt;
      if (!result || result.attempt !== job.attempts) {
        summary.duplicated++;
        violate(`${where}: stale write — the stored result is from attempt ${result?.attempt} (pid ${result?.pid})`);
      } else {
        const start = startsByAttempt.get(result.attempt);
        if (!start || start.pid !== result.pid) violate(`${where}: the stored result's process (${result.pid}) did not record starting attempt ${result.attempt}`);
        if (!records.some((r) => r.kind === "C" && r.attempt === result.attempt && r.pid === result.pid)) {
          violate(`${where}: no completion side-effect recorded by the attempt whose result was stored`);
        }
      }
    }

    // Completion side-effects happen once, except where a crash or a lost lease explains a repeat.
    const seen = new Set<number>();
    let unexplained = 0;
    for (const effect of records.filter((r) => r.kind === "C")) {
      if (seen.has(effect.attempt)) {
        unexplained++;
        violate(`${where}: attempt ${effect.attempt} recorded its side-effect twice`);
      }
      seen.add(effect.attempt);
      if (effect.attempt === storedAttempt) continue;
      if (input.crashedPids.has(effect.pid) || leaseLost.has(`${id}:${effect.attempt}`)) {
        summary.repeatedEffects++;
      } else {
        unexplained++;
        violate(`${where}: side-effect of attempt ${effect.attempt} (pid ${effect.pid}) repeated with no crash or lost lease to explain it`);
      }
    }
    if (unexplained > 0) summary.duplicated++;
  }
  return summary;
}

/** Every job of task `name`, by id (paged through the public API). */
export async function jobsOf(queue: Queue, name: string): Promise<Map<string, Job>> {
  const jobs = new Map<string, Job>();
  let afterId: string | undefined;
  for (;;) {
    const page = await queue.list({ name, limit: 10_000, ...(afterId !== undefined && { afterId }) });
    for (const job of page) jobs.set(job.id, job);
    if (page.length < 10_000) return jobs;
    afterId = page[page.length - 1]!.id;
  }
}

/** Fails with the first violations, if any. */
export function assertClean(summary: CheckSummary, what: string): void {
  if (summary.violations.length === 0) return;
  const shown = summary.violations.slice(0, 25).join("\n  ");
  throw new Error(`${what}: ${summary.violations.length} invariant violations (lost ${summary.lost}, duplicated ${summary.duplicated}):\n  ${shown}`);
}
