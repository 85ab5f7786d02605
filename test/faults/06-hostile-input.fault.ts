/**
 * 6. Hostile input: fast-check throws generated enqueue inputs at `enqueue` and `enqueueMany` — unicode
 * and control characters in names, labels and data, deeply nested and huge payloads, `__proto__` /
 * `constructor` keys, SQL-looking strings everywhere, numbers at the edges, invalid dates and odd option
 * values. Each input is either stored and returned identical (JSON text, name, label, priority) or rejected
 * with a `ValidationError` storing nothing; anything else thrown is a failure. Then a worker runs every
 * accepted job (each sees its payload intact, and nothing is reported through onError), and a set of
 * sentinel jobs enqueued first is byte-identical at the end. Object.prototype stays unpolluted.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { ValidationError, type EnqueuedJob, type Job } from "../../src/index.js";
import { SCALE, SCENARIO_TIMEOUT_MS } from "./lib/config.js";
import { makeAllAvailable } from "./lib/db.js";
import { recordResult } from "./lib/results.js";
import { prepare, seconds, stores } from "./lib/scenario.js";
import { waitFor } from "./lib/wait.js";

const { runs: RUNS, sentinels: SENTINELS } = SCALE.fuzz;
const SEED = process.env.HEWN_FAULTS_SEED === undefined ? undefined : Number(process.env.HEWN_FAULTS_SEED);

// ---- Arbitraries ----------------------------------------------------------------------------------

const SQL = [
  "'; DROP TABLE hewn_jobs; --", "' OR '1'='1", "\"; DROP SCHEMA public CASCADE; --", "$1", "$2::json", "?", "?1", "@name", ":name",
  "NULL", "' || pg_sleep(10) || '", "'); DELETE FROM jobs; --", "\\", "\\'", "E'\\x00'", "{table}", "${q}", "/*", "*/", "--", ";",
  "COMMIT; BEGIN;", "LISTEN x; NOTIFY x, 'y'", "SELECT pg_terminate_backend(pg_backend_pid())", "ATTACH DATABASE '/tmp/x.db' AS x;",
  "PRAGMA writable_schema = 1", "'||(SELECT name FROM sqlite_master)||'", "\" OR \"\"=\"", "%s%n%x", "`id`", "\u0000'; --",
];
const KEYS = [
  "__proto__", "constructor", "prototype", "toString", "valueOf", "hasOwnProperty", "__defineGetter__", "toJSON", "then", "0", "-1",
  "1e3", "4294967295", "", " ", "\u0000", "a.b", "$where", "length", "__proto__ ", "Object.prototype",
];
const UNICODE = [
  "\u202e", "\ufeff", "\u2028\u2029", "👨‍👩‍👧‍👦", "e\u0301", "\u0085", "\u007f", "\t\r\n\b\f\v", "Ω≈ç√∫˜µ≤≥÷", "𝕳𝖊𝖜𝖓", "null", "undefined",
  "NaN", "[object Object]", "\u0000", "\u0000\u0001\u001f", "\ud83d\ude00", "\u200b\u200c\u200d", "ﷺ", "\uffff", "\u{10ffff}",
];

const sqlString = fc.constantFrom(...SQL);
const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((code) => `a${String.fromCharCode(code)}b`);
const controlString = fc.string({ unit: fc.integer({ min: 0, max: 0x1f }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 4 });
/** Strings that are hostile yet mostly acceptable as names and labels … */
const oddString = fc.oneof(
  sqlString,
  fc.constantFrom(...UNICODE, ...KEYS),
  fc.string({ unit: "grapheme", minLength: 1, maxLength: 20 }),
  fc.string({ unit: "binary", minLength: 1, maxLength: 20 }),
  fc.tuple(sqlString, fc.string({ unit: "grapheme", maxLength: 5 }), fc.constantFrom(...UNICODE)).map(([a, b, c]) => a + b + c),
);
/** … and everything, including what names and labels must refuse (fine inside payloads). */
const hostileString = fc.oneof({ arbitrary: oddString, weight: 6 }, { arbitrary: loneSurrogate, weight: 1 }, { arbitrary: controlString, weight: 1 });
const finiteEdge = fc.constantFrom(
  -0, 0, 2 ** 53 + 1, 2 ** 53 - 1, -(2 ** 53 + 1), Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, Number.EPSILON, 1e21, 1e-7,
  0.1 + 0.2, 2 ** 31, -(2 ** 31) - 1, 2 ** 63, 1.5, -1,
);
const nonFinite = fc.constantFrom(NaN, Infinity, -Infinity);
const number = fc.oneof(
  { arbitrary: finiteEdge, weight: 3 },
  { arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }), weight: 3 },
  { arbitrary: fc.integer(), weight: 3 },
  { arbitrary: nonFinite, weight: 1 },
);

/** Values JSON cannot carry faithfully: they must be rejected wherever they appear. */
function nonJson(): fc.Arbitrary<unknown> {
  return fc.constantFrom<() => unknown>(
    () => undefined, () => 1n, () => Symbol("s"), () => () => 1, () => new Date(NaN), () => new Date(0), () => new Map([[1, 2]]),
    () => new Set([1]), () => Buffer.from("x"), () => new Uint8Array(2), () => /re/, () => new Error("e"), () => class A {},
    () => Object.create({ inherited: 1 }) as unknown, () => new (class Point { x = 1 })(), () => Object(1) as unknown,
    () => Object("s") as unknown, () => Promise.resolve(1), () => [1, , 3], // eslint-disable-line no-sparse-arrays
    () => {
      const cycle: Record<string, unknown> = { a: 1 };
      cycle.self = cycle;
      return cycle;
    },
  ).map((make) => make());
}

/** An object with exactly these own enumerable keys, `__proto__` included (as a key, not the prototype). */
function objectOf(entries: Array<[string, unknown]>, nullPrototype: boolean): Record<string, unknown> {
  const object = (nullPrototype ? Object.create(null) : {}) as Record<string, unknown>;
  for (const [key, value] of entries) Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
  return object;
}

function nested(depth: number, leaf: unknown): unknown {
  let value = leaf;
  for (let level = 0; level < depth; level++) value = level % 2 === 0 ? [value] : objectOf([["d", value]], false);
  return value;
}

const { value: jsonish } = fc.letrec<{ value: unknown; leaf: unknown; array: unknown[]; object: Record<string, unknown> }>((tie) => ({
  value: fc.oneof({ depthSize: "small", withCrossShrink: true }, tie("leaf"), tie("array"), tie("object")),
  leaf: fc.oneof(
    { arbitrary: hostileString, weight: 30 },
    { arbitrary: number, weight: 20 },
    { arbitrary: fc.boolean(), weight: 4 },
    { arbitrary: fc.constant(null), weight: 4 },
    { arbitrary: nonJson(), weight: 1 },
  ),
  array: fc.array(tie("value"), { maxLength: 4 }),
  object: fc.tuple(fc.array(fc.tuple(fc.oneof(fc.constantFrom(...KEYS), hostileString), tie("value")), { maxLength: 4 }), fc.boolean())
    .map(([entries, nullPrototype]) => objectOf(entries, nullPrototype)),
}));

const MiB = 1024 * 1024;
const bigPayload = fc.oneof(
  fc.integer({ min: MiB - 64, max: MiB + 64 }).map((n) => "x".repeat(n)), // around the 1 MiB limit
  fc.integer({ min: Math.floor((MiB - 64) / 3), max: Math.floor((MiB + 64) / 3) }).map((n) => "€".repeat(n)), // 3 bytes each in UTF-8
  fc.integer({ min: 10_000, max: 200_000 }).map((n) => Array.from({ length: n }, (_, i) => i % 7)),
  fc.integer({ min: 1_000, max: 20_000 }).map((n) => objectOf(Array.from({ length: n }, (_, i) => [`k${i}`, i]), false)),
  fc.integer({ min: 250, max: 262 }).map((depth) => nested(depth, "bottom")), // around the 256-level limit
);
const payload = fc.oneof(
  { arbitrary: jsonish, weight: 12 },
  { arbitrary: bigPayload, weight: 1 },
  { arbitrary: fc.constant(undefined), weight: 1 },
  { arbitrary: fc.jsonValue(), weight: 4 },
);

const nameArb = fc.oneof(
  { arbitrary: oddString, weight: 16 },
  { arbitrary: fc.oneof(loneSurrogate, controlString), weight: 1 },
  { arbitrary: fc.constantFrom("a".repeat(255), "a".repeat(256), "é".repeat(255), "😀".repeat(127), "😀".repeat(128), ""), weight: 1 },
  { arbitrary: fc.string({ unit: "grapheme", minLength: 200, maxLength: 300 }), weight: 1 },
  { arbitrary: fc.oneof(number, fc.constant(null), fc.constant(undefined), fc.constant({}), fc.constant(["a"]), nonJson()), weight: 1 },
);

/** Anything an option could be given by mistake (or malice). */
const oddValue = fc.oneof(number, hostileString, fc.constant(null), nonJson(), fc.constant(new Date()),
  fc.constant(new Date("invalid")), fc.constant("1000"), fc.constant(true));
const MAX_DELAY = 100 * 365 * 24 * 3600 * 1000;
const delayArb = fc.oneof(
  { arbitrary: fc.integer({ min: -1e9, max: 1e9 }), weight: 8 },
  { arbitrary: fc.constantFrom(MAX_DELAY, MAX_DELAY + 1, -MAX_DELAY - 1, 0.5, -0, 2 ** 53 + 1), weight: 1 },
  { arbitrary: oddValue, weight: 1 },
);
const priorityArb = fc.oneof({ arbitrary: fc.integer({ min: -1_000_001, max: 1_000_001 }), weight: 8 }, { arbitrary: oddValue, weight: 1 });
const labelArb = fc.oneof({ arbitrary: oddString, weight: 8 }, { arbitrary: fc.oneof(loneSurrogate, controlString, oddValue), weight: 1 });
const txArb = fc.constantFrom<unknown>(null, "BEGIN", 1, {}, [], { query: "not a function" }, { prepare: 1, inTransaction: true, name: "x" });

/**
 * An options object: each field absent (mostly), explicitly undefined, or drawn from its arbitrary; rarely
 * an unknown key; rarely not an object at all.
 */
function optionsArb(fields: Record<string, [fc.Arbitrary<unknown>, number]>): fc.Arbitrary<unknown> {
  const absent = fc.constant(undefined);
  const record = fc.tuple(
    ...Object.entries(fields).map(([key, [arb, presence]]) => fc.oneof(
      { arbitrary: absent, weight: 10 - presence },
      { arbitrary: arb.map((value) => [key, value] as [string, unknown]), weight: presence },
    )),
    fc.oneof(
      { arbitrary: absent, weight: 15 },
      { arbitrary: fc.tuple(fc.constantFrom("delayMs", "maxAttempt", "__proto__", "constructor", "Priority", "data"), oddValue), weight: 1 },
    ),
  ).map((entries) => objectOf(entries.filter((entry): entry is [string, unknown] => entry !== undefined), false));
  return fc.oneof({ arbitrary: record, weight: 25 }, { arbitrary: fc.constantFrom(undefined, null, "x", 42, [], new Date()), weight: 1 });
}

type Case =
  | { kind: "one"; name: unknown; data: unknown; options: unknown }
  | { kind: "many"; items: unknown; options: unknown }
  | { kind: "read"; id: unknown; list: unknown };

const idArb = fc.oneof(
  fc.constantFrom("0", "01", "1", "9223372036854775807", "9223372036854775808", "9999999999999999999", "99999999999999999999", "-1",
    "1e3", " 1", "1 ", "1.0", "0x10", "1; DROP TABLE hewn_jobs", "1 OR 1=1", "", 1, 0, -1, 1.5, 2 ** 53 + 1, NaN),
  hostileString,
  oddValue,
);

const oneCase = fc.record({
  kind: fc.constant("one" as const),
  name: nameArb,
  data: payload,
  options: optionsArb({ delay: [delayArb, 4], priority: [priorityArb, 4], label: [labelArb, 4], tx: [txArb, 1] }),
});
const manyCase = fc.record({
  kind: fc.constant("many" as const),
  items: fc.oneof(
    {
      arbitrary: fc.array(optionsArb({ name: [nameArb, 10], data: [payload, 9], delay: [delayArb, 3], priority: [priorityArb, 3], label: [labelArb, 3] }), { maxLength: 4 }),
      weight: 8,
    },
    { arbitrary: fc.constantFrom(undefined, null, "items", { length: 1, 0: { name: "a" } }), weight: 1 },
  ),
  options: optionsArb({ tx: [txArb, 1] }),
});
/** Reads with hostile ids and filters: a result, or a ValidationError. */
const readCase = fc.record({
  kind: fc.constant("read" as const),
  id: idArb,
  list: optionsArb({
    name: [nameArb, 3], status: [fc.oneof(fc.constantFrom("enqueued", "completed", "ENQUEUED", "done"), oddValue), 3],
    limit: [fc.oneof(fc.integer({ min: -1, max: 10_001 }), oddValue), 3], afterId: [idArb, 3],
  }),
});
const caseArb: fc.Arbitrary<Case> = fc.oneof({ arbitrary: oneCase, weight: 6 }, { arbitrary: manyCase, weight: 2 }, { arbitrary: readCase, weight: 1 });

// ---- The property ---------------------------------------------------------------------------------

interface Given {
  name: string;
  json: string;
  label: string | null;
  priority: number;
}

function expected(name: string, data: unknown, options: Record<string, unknown> | undefined): Given {
  return {
    name,
    json: JSON.stringify(data === undefined ? {} : data),
    label: (options?.label as string | undefined) ?? null,
    priority: (options?.priority as number | undefined) ?? 0,
  };
}

function sameAsGiven(job: Job | null, given: Given, where: string): void {
  if (!job) throw new Error(`${where}: stored job not found`);
  if (JSON.stringify(job.data) !== given.json) throw new Error(`${where}: data came back different:\n given ${given.json.slice(0, 300)}\n  got ${JSON.stringify(job.data).slice(0, 300)}`);
  if (job.name !== given.name) throw new Error(`${where}: name ${JSON.stringify(given.name)} came back as ${JSON.stringify(job.name)}`);
  if (job.label !== given.label) throw new Error(`${where}: label ${JSON.stringify(given.label)} came back as ${JSON.stringify(job.label)}`);
  if (job.priority !== given.priority) throw new Error(`${where}: priority ${given.priority} came back as ${job.priority}`);
}

const total = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);

for (const store of await stores()) {
  describe(`${store.kind}: 6. hostile input`, { skip: store.skip }, () => {
    test(`${RUNS} generated enqueue inputs: stored identical or rejected with ValidationError; worker unharmed; sentinels untouched`, { timeout: SCENARIO_TIMEOUT_MS }, async (t) => {
      const reported: string[] = [];
      const s = await prepare(t, store, "fuzz", { onError: (error, context) => reported.push(`${context.source}: ${error.message}`) });
      const prototypeBefore = Object.getOwnPropertyNames(Object.prototype).sort().join();

      // Sentinels first: whatever the fuzz does must not touch them.
      const sentinelName = `sentinel-${s.name}`;
      const sentinelData = fc.sample(fc.jsonValue(), { numRuns: SENTINELS, seed: 42 });
      const sentinels = await s.queue.enqueueMany(sentinelData.map((data, i) => ({
        name: sentinelName, data: data as never, label: `label ${i} ✓ '`, priority: i - 10, delay: i * 1000,
      })));
      const snapshot = async () => JSON.stringify(await Promise.all(sentinels.map((job) => s.queue.get(job.id))));
      const sentinelsBefore = await snapshot();

      const accepted = new Map<string, Given>();
      let rejected = 0;
      let cases = 0;
      let reads = 0;
      const expectValidation = (error: unknown): undefined => {
        if (error instanceof ValidationError) return undefined;
        throw new Error(`not a ValidationError: ${(error as Error)?.name}: ${(error as Error)?.message}`, { cause: error });
      };
      await fc.assert(fc.asyncProperty(caseArb, async (input) => {
        cases++;
        let stored: Job[];
        let given: Given[];
        try {
          if (input.kind === "read") {
            const job = await s.queue.get(input.id as string).catch(expectValidation);
            if (job !== undefined && job !== null && !(sentinels.some((x) => x.id === job.id) || accepted.has(job.id))) {
              throw new Error(`get(${String(input.id)}) returned a job nobody stored`);
            }
            const list = await s.queue.list(input.list as never).catch(expectValidation);
            if (list !== undefined && !Array.isArray(list)) throw new Error("list returned something else than an array");
            reads++;
            return;
          }
          if (input.kind === "one") {
            const job = await s.queue.enqueue(input.name as string, input.data as never, input.options as never);
            stored = [job];
            given = [expected(input.name as string, input.data, input.options as Record<string, unknown>)];
          } else {
            stored = await s.queue.enqueueMany(input.items as never, input.options as never);
            given = (input.items as Array<Record<string, unknown>>).map((item) => expected(item.name as string, item.data, item));
          }
        } catch (error) {
          if (!(error instanceof ValidationError)) {
            throw new Error(`not a ValidationError: ${(error as Error)?.name}: ${(error as Error)?.message}`, { cause: error });
          }
          if (typeof error.field !== "string" || error.field === "") throw new Error(`ValidationError without a field: ${error.message}`);
          rejected++;
          const count = total(await s.queue.count());
          if (count !== SENTINELS + accepted.size) throw new Error(`a rejected input stored something: ${count} jobs, expected ${SENTINELS + accepted.size}`);
          return;
        }
        if (stored.length !== given.length) throw new Error(`${given.length} given, ${stored.length} stored`);
        for (let i = 0; i < stored.length; i++) {
          // A labelled input whose job stands already (unique jobs) returns that job, as it was given then.
          const duplicate = (stored[i] as EnqueuedJob).duplicate;
          const standing = duplicate ? accepted.get(stored[i]!.id) : given[i]!;
          if (!standing) throw new Error(`returned job ${i} is flagged a duplicate of a job nobody stored`);
          if (duplicate && (standing.name !== given[i]!.name || standing.label !== given[i]!.label)) {
            throw new Error(`returned job ${i} is a duplicate of a job with another name or label`);
          }
          sameAsGiven(stored[i]!, standing, `returned job ${i}`);
          sameAsGiven(await s.queue.get(stored[i]!.id), standing, `get(${stored[i]!.id})`);
          if (!duplicate) accepted.set(stored[i]!.id, standing);
        }
      }), { numRuns: RUNS, ...(SEED !== undefined && { seed: SEED }) });

      assert.equal(Object.getOwnPropertyNames(Object.prototype).sort().join(), prototypeBefore, "Object.prototype was polluted");
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
      assert.equal(await snapshot(), sentinelsBefore, "the sentinel jobs changed");
      assert.ok(accepted.size > RUNS / 10 && rejected > RUNS / 10, `both outcomes exercised: ${accepted.size} stored, ${rejected} rejected`);

      // A worker runs every accepted job: each sees its payload intact, nothing is reported.
      const mismatches: string[] = [];
      const runs = new Map<string, number>();
      for (const name of new Set([...accepted.values()].map((given) => given.name))) {
        s.queue.define(name, (ctx) => {
          runs.set(ctx.job.id, (runs.get(ctx.job.id) ?? 0) + 1);
          if (JSON.stringify(ctx.job.data) !== accepted.get(ctx.job.id)?.json) mismatches.push(ctx.job.id);
          return { length: JSON.stringify(ctx.job.data).length };
        }, { workers: 4, interval: 20 });
      }
      // Delays are not the point here; the sentinels' task is never defined, so they stay enqueued.
      await makeAllAvailable(s.loc, s.kind);
      const sentinelIds = new Set(sentinels.map((job) => job.id));
      await s.queue.start();
      await waitFor(async () => (await s.queue.count()).completed === accepted.size, `${accepted.size} accepted jobs to complete`, 120_000, 50);
      assert.deepEqual(mismatches, [], "handlers saw a payload different from the one given");
      assert.deepEqual(reported, [], "errors were reported while running the accepted jobs");
      const all = await s.queue.list({ limit: 10_000 });
      for (const job of all) {
        if (sentinelIds.has(job.id)) continue;
        sameAsGiven(job, accepted.get(job.id)!, `job ${job.id} after its run`);
        assert.equal(job.status, "completed");
        assert.deepEqual(job.result, { length: accepted.get(job.id)!.json.length });
      }
      // Sentinels: only availableAt moved (made available above); everything else is byte-identical.
      const withoutAvailability = (text: string) => JSON.stringify((JSON.parse(text) as Array<Record<string, unknown>>).map(({ availableAt: _a, ...rest }) => rest));
      assert.equal(withoutAvailability(await snapshot()), withoutAvailability(sentinelsBefore), "the sentinel jobs changed");

      const measure = `${cases} cases: ${accepted.size} jobs stored identical, ${rejected} inputs rejected with ValidationError, ${reads} hostile reads, 0 other errors; `
        + `${SENTINELS} sentinels untouched; all stored jobs ran and completed`;
      t.diagnostic(`${measure}; ${seconds(s)} s`);
      const ranTwice = [...runs.values()].filter((n) => n > 1).length;
      assert.equal(runs.size, accepted.size, "every stored job ran");
      assert.equal(ranTwice, 0, "no job ran twice");
      recordResult({
        scenario: "6. hostile input (fast-check)", store: store.kind, runs: [...runs.values()].reduce((a, b) => a + b, 0), jobs: accepted.size,
        lost: accepted.size - runs.size, duplicated: ranTwice + mismatches.length, measure, seconds: seconds(s),
      });
    });
  });
}
