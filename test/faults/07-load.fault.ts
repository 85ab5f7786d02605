/**
 * 7. Load: many jobs through 4 worker processes, 10% of runs failing at random (retried with a small
 * backoff). Every job is accounted for, memory per process stays flat (RSS sampled every 500 ms; the
 * peak of the second half of the run may not run away from the first half's), and throughput is reported.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Cluster } from "./lib/cluster.js";
import { SCALE, SCENARIO_TIMEOUT_MS } from "./lib/config.js";
import { readErrors } from "./lib/effects.js";
import { recordResult } from "./lib/results.js";
import { enqueueAll, mb, prepare, seconds, stores, verify } from "./lib/scenario.js";
import { waitFor } from "./lib/wait.js";

const { jobs: JOBS, processes: PROCESSES, workers: WORKERS, failRate: FAIL_RATE } = SCALE.load;
/** A process whose RSS ends above this is called leaking, whatever its history. */
const RSS_CEILING = 400 * 1024 * 1024;

for (const store of await stores()) {
  describe(`${store.kind}: 7. load`, { skip: store.skip }, () => {
    test(`${JOBS} jobs, ${PROCESSES} processes, ${FAIL_RATE * 100}% random failures with retries`, { timeout: SCENARIO_TIMEOUT_MS }, async (t) => {
      const s = await prepare(t, store, "load");
      const samples = new Map<string, Array<{ at: number; rss: number }>>();
      const peaks = new Map<string, number>();
      const cluster = new Cluster({
        dir: s.dir,
        base: {
          url: s.loc.url, ...s.loc.queueOptions, name: s.name, workers: WORKERS, timeout: 5_000, interval: 50,
          minDelay: 10, maxDelay: 100, failRate: FAIL_RATE, memoryEvery: 500,
        },
        onLine: (member, line) => {
          const [kind, value] = line.split(" ");
          if (kind === "mem") {
            let list = samples.get(member.tag);
            if (!list) samples.set(member.tag, (list = []));
            list.push({ at: performance.now(), rss: Number(value) });
          } else if (kind === "peak") {
            peaks.set(member.tag, Number(value));
          }
        },
      });
      t.after(() => cluster.destroy());
      await cluster.start(PROCESSES);

      const started = performance.now();
      const ids = await enqueueAll(s.queue, s.name, Array.from({ length: JOBS }, (_, i) => ({ i })));
      await waitFor(async () => (await s.queue.count(s.name)).completed === JOBS, `${JOBS} completions`, SCENARIO_TIMEOUT_MS * 0.8, 200)
        .catch((error: unknown) => t.diagnostic(String(error)));
      const elapsed = (performance.now() - started) / 1000;
      const exits = await cluster.stopAll();
      assert.deepEqual(exits.map((exit) => exit.code), Array(PROCESSES).fill(0), cluster.members.map((m) => m.proc.stderr()).join("\n"));

      const { summary, jobs } = await verify(s, `${store.kind} load`, { ids, cluster });
      const failures = [...jobs.values()].reduce((n, job) => n + job.attempts - 1, 0);
      const reported = readErrors(s.dir).filter((e) => e.source === "handler").length;
      assert.equal(reported, failures, "every failed run was reported through onError, once");
      assert.ok(failures > JOBS * FAIL_RATE * 0.5, `${failures} failures: the failure rate did not apply`);
      const nonHandler = readErrors(s.dir).filter((e) => e.source !== "handler");
      assert.deepEqual(nonHandler.map((e) => `${e.source}: ${e.message}`), [], "only handler errors were reported");

      // Memory: flat means the second half's peak did not grow far beyond the first half's.
      const described: string[] = [];
      for (const member of cluster.members) {
        const list = samples.get(member.tag) ?? [];
        const peak = Math.max(peaks.get(member.tag) ?? 0, ...list.map((sample) => sample.rss));
        described.push(mb(peak).replace(" MB", ""));
        assert.ok(peak < RSS_CEILING, `${member.tag}: peak RSS ${mb(peak)}`);
        const during = list.filter((sample) => sample.at >= started && sample.at <= started + elapsed * 1000);
        if (during.length >= 6) {
          const half = Math.floor(during.length / 2);
          const first = Math.max(...during.slice(0, half).map((sample) => sample.rss));
          const second = Math.max(...during.slice(half).map((sample) => sample.rss));
          assert.ok(second <= first * 1.5 + 32 * 1024 * 1024, `${member.tag}: RSS grew from ${mb(first)} to ${mb(second)} between the halves of the run`);
        }
      }
      const rate = JOBS / elapsed;
      const measure = `${Math.round(rate).toLocaleString("en")} jobs/s (${failures.toLocaleString("en")} failed runs retried); peak RSS per process ${described.join(" / ")} MB`;
      t.diagnostic(`${measure}; ${seconds(s)} s`);
      recordResult({
        scenario: "7. load, 10% failures", store: store.kind, runs: summary.runs, jobs: ids.length,
        lost: summary.lost, duplicated: summary.duplicated, measure, seconds: seconds(s),
      });
    });
  });
}
