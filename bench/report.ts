/**
 * Turns the cells of a run into bench/RESULTS.md (environment, one table per scenario with hewn's
 * ratios to every peer and to the best one, targets PASS/MISS) and bench/throughput.svg (a grouped bar
 * chart drawn by hand, log scale). The same tables are printed to stdout.
 * @module
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import type { System } from "./adapter.js";
import { SCENARIO_TITLES, fmt, type Cell, type ScenarioId, type Sizes } from "./scenarios.js";

export interface Environment {
  date: string;
  mode: string;
  filters: string;
  cpu: string;
  cores: number;
  memory: string;
  loadAverage: string;
  loadAverageEnd: string;
  versions: Array<[string, string]>;
  settings: Array<[string, string]>;
  durationSeconds: number;
}

export interface RunData {
  env: Environment;
  sizes: Sizes;
  systems: readonly System[];
  cells: Cell[];
}

// ---------------------------------------------------------------------------------------------------
// What each scenario's table shows

interface Column {
  key: string;
  label: string;
  unit: "jobs/s" | "ms" | "MB" | "×" | "q/job" | "n";
  /** Compared across systems as hewn ÷ peer; `lower` when smaller is better (latency). */
  ratio?: "higher" | "lower";
}

function columns(scenario: ScenarioId, sizes: Sizes): Column[] {
  const n = (value: number) => value.toLocaleString("en-US");
  switch (scenario) {
    case "S1":
      return [
        { key: "seq", label: `jobs/s (${n(sizes.s1)} awaited)`, unit: "jobs/s", ratio: "higher" },
        { key: "burst.seq", label: `${n(sizes.burst)} sequential, jobs/s`, unit: "jobs/s" },
        { key: "burst.par", label: `${n(sizes.burst)} parallel (Promise.all), jobs/s`, unit: "jobs/s" },
        { key: "burst.speedup", label: "parallel ÷ sequential", unit: "×" },
      ];
    case "S2":
      return [{ key: "bulk", label: `jobs/s (${n(sizes.s2)} in batches of ${n(sizes.s2Batch)})`, unit: "jobs/s", ratio: "higher" }];
    case "S3":
      return sizes.concurrencies.flatMap((c): Column[] => [
        { key: `c${c}`, label: `concurrency ${c}, jobs/s`, unit: "jobs/s", ratio: "higher" },
        { key: `c${c}.queries`, label: `c${c} PG queries/job`, unit: "q/job" },
        { key: `c${c}.cpu`, label: `c${c} process CPU (cores)`, unit: "q/job" },
      ]);
    case "S4":
      return [
        { key: "p50", label: "p50 ms", unit: "ms", ratio: "lower" },
        { key: "p95", label: "p95 ms", unit: "ms" },
        { key: "p99", label: "p99 ms", unit: "ms", ratio: "lower" },
        { key: "max", label: "max ms", unit: "ms" },
        { key: "n", label: "jobs", unit: "n" },
      ];
    case "S5":
      return [{ key: "jobs/s", label: `jobs/s (${n(sizes.s5)} jobs, ${sizes.s5Processes} processes × concurrency ${sizes.s5Concurrency})`, unit: "jobs/s", ratio: "higher" }];
    case "S6":
      return [
        { key: "empty", label: "empty table, jobs/s", unit: "jobs/s" },
        { key: "finished", label: `+${n(sizes.s6Rows)} finished, jobs/s`, unit: "jobs/s" },
        { key: "finished.ratio", label: "÷ empty", unit: "×" },
        { key: "delayed", label: `+${n(sizes.s6Rows)} delayed, jobs/s`, unit: "jobs/s" },
        { key: "delayed.ratio", label: "÷ empty", unit: "×" },
        { key: "rss.jobs/s", label: `1 process drains ${n(sizes.s6Drain)}, jobs/s`, unit: "jobs/s" },
        { key: "rss.idle", label: "RSS idle MB", unit: "MB" },
        { key: "rss.peak", label: "peak RSS MB (sampled)", unit: "MB" },
        { key: "rss.hwm", label: "VmHWM MB", unit: "MB" },
        { key: "rss.at25", label: "RSS at 25 % MB", unit: "MB" },
        { key: "rss.at50", label: "at 50 %", unit: "MB" },
        { key: "rss.at75", label: "at 75 %", unit: "MB" },
      ];
  }
}

const SCENARIO_NOTES: Record<ScenarioId, (sizes: Sizes) => string> = {
  S1: () => "Each `enqueueOne` awaited before the next. The parallel column fires all calls at once and awaits them together; the sequential one just before it is the baseline of the speed-up.",
  S2: () => "hewn `enqueueMany`, pg-boss `insert`, graphile-worker `WorkerUtils.addJobs`, BullMQ `addBulk`; calls awaited one after another.",
  S3: (sizes) => `${sizes.s3.toLocaleString("en-US")} jobs pre-loaded with the bulk API (untimed), then timed from the call that starts the workers to the start of the last job's handler. Each concurrency on a fresh schema/file/prefix. "PG queries/job": every query any pg client of the bench process sent during that window, divided by the jobs; "process CPU": the bench process's user+system CPU time over that window ÷ its wall time (1.00 = one core busy; the process is single-threaded JS plus libuv/driver threads). Both diagnostics, to see whether a system waits on its store or burns client CPU.`,
  S4: (sizes) => `Workers (concurrency ${sizes.s4Workers}) idle first; then ${sizes.s4PerSecond} enqueues/s for ${sizes.s4Ms / 1000} s, each fired on schedule without awaiting the previous. Latency = handler start − just before the enqueue call, both performance.now() in one process.`,
  S5: () => "Two `bench/worker-process.ts` processes open the system, then are told to start at once; timed from that message to the last handler start in either (epoch clocks of one machine). Runs are counted from per-process files.",
  S6: (sizes) => `S3 at concurrency 10 (${sizes.s3.toLocaleString("en-US")} jobs) on an empty table, then with ${sizes.s6Rows.toLocaleString("en-US")} completed rows (retention off), then with ${sizes.s6Rows.toLocaleString("en-US")} rows pending behind a one-day delay. Those rows, and the ${sizes.s6Drain.toLocaleString("en-US")} jobs the single worker process drains for the RSS figures, are inserted with raw SQL straight into hewn's table (PostgreSQL: INSERT … SELECT generate_series, then ANALYZE as autovacuum would; SQLite: a recursive CTE). RSS: process.memoryUsage().rss sampled every 25 ms in the worker process (also shown when a quarter, half and three quarters of the jobs had run, to tell a plateau from growth), and the kernel's VmHWM. Peers are not run in S6 (optional in the brief).`,
};

// ---------------------------------------------------------------------------------------------------
// Targets

interface TargetRow {
  scenario: ScenarioId;
  target: string;
  hewn: string;
  reference: string;
  ratio: string;
  verdict: "PASS" | "MISS" | "n/a";
}

function targets(data: RunData): TargetRow[] {
  const rows: TargetRow[] = [];
  const value = (scenario: ScenarioId, system: string, key: string): { v: number; partial: boolean } | undefined => {
    const cell = data.cells.find((c) => c.scenario === scenario && c.system === system);
    const v = cell?.metrics[key];
    return v === undefined || !Number.isFinite(v) ? undefined : { v, partial: cell!.partial.includes(key) };
  };
  const best = (scenario: ScenarioId, key: string, pick: (s: System) => boolean, lowerIsBetter = false) => {
    let found: { id: string; v: number } | undefined;
    for (const system of data.systems.filter(pick)) {
      const got = value(scenario, system.id, key);
      if (!got || got.partial) continue;
      if (!found || (lowerIsBetter ? got.v < found.v : got.v > found.v)) found = { id: system.id, v: got.v };
    }
    return found;
  };
  const isPeer = (s: System) => !s.hewn;
  const pgPeer = (s: System) => !s.hewn && s.store === "postgres";
  const bullRedis = (s: System) => s.family === "bullmq-redis";
  const has = (id: string) => data.systems.some((s) => s.id === id);
  const ran = (scenario: ScenarioId) => data.cells.some((c) => c.scenario === scenario);

  const ratioTarget = (scenario: ScenarioId, hewnId: string, key: string, label: string, pick: (s: System) => boolean, pickLabel: string, min: number) => {
    if (!has(hewnId) || !ran(scenario)) return;
    const h = value(scenario, hewnId, key);
    const ref = best(scenario, key, pick);
    const target = `${scenario} ${label}: ${hewnId} ≥ ${min}× ${pickLabel}`;
    if (!h || h.partial || !ref) {
      rows.push({ scenario, target, hewn: h ? fmtUnit(h.v, "jobs/s") : "—", reference: ref ? `${fmtUnit(ref.v, "jobs/s")} (${ref.id})` : "—", ratio: "—", verdict: "n/a" });
      return;
    }
    const ratio = h.v / ref.v;
    rows.push({
      scenario, target, hewn: fmtUnit(h.v, "jobs/s"), reference: `${fmtUnit(ref.v, "jobs/s")} (${ref.id})`,
      ratio: `${ratio.toFixed(2)}×`, verdict: ratio >= min ? "PASS" : "MISS",
    });
  };
  const absoluteTarget = (scenario: ScenarioId, hewnId: string, key: string, target: string, unit: Column["unit"], ok: (v: number) => boolean, reference: string) => {
    if (!has(hewnId) || !ran(scenario)) return;
    const h = value(scenario, hewnId, key);
    rows.push({
      scenario, target, hewn: h ? fmtUnit(h.v, unit) + (h.partial ? " (partial)" : "") : "—", reference, ratio: "—",
      verdict: !h || h.partial ? "n/a" : ok(h.v) ? "PASS" : "MISS",
    });
  };

  for (const c of data.sizes.concurrencies) {
    ratioTarget("S3", "hewn-pg", `c${c}`, `c${c}`, bullRedis, "BullMQ-Redis (best variant)", 1.0);
    ratioTarget("S3", "hewn-pg", `c${c}`, `c${c}`, pgPeer, "best PG peer", 1.5);
    ratioTarget("S3", "hewn-sqlite", `c${c}`, `c${c}`, bullRedis, "BullMQ-Redis (best variant)", 2.0);
  }
  ratioTarget("S1", "hewn-pg", "seq", "awaited", pgPeer, "best PG peer", 2.0);
  for (const id of ["hewn-pg", "hewn-sqlite"]) {
    absoluteTarget("S1", id, "burst.speedup", `S1 ${id}: ${data.sizes.burst.toLocaleString("en-US")} parallel enqueues ≥ 5× faster than sequential`, "×", (v) => v >= 5, "5×");
  }
  for (const id of ["hewn-pg", "hewn-sqlite"]) ratioTarget("S2", id, "bulk", "bulk", isPeer, "best peer", 1.5);
  if (has("hewn-pg") && ran("S4")) {
    const h = value("S4", "hewn-pg", "p50");
    const ref = best("S4", "p50", bullRedis, true);
    rows.push({
      scenario: "S4", target: "S4 hewn-pg p50 ≤ BullMQ-Redis p50 (best variant)",
      hewn: h ? fmtUnit(h.v, "ms") : "—", reference: ref ? `${fmtUnit(ref.v, "ms")} (${ref.id})` : "—",
      ratio: h && ref ? `${(h.v / ref.v).toFixed(2)}×` : "—",
      verdict: !h || h.partial || !ref ? "n/a" : h.v <= ref.v ? "PASS" : "MISS",
    });
    absoluteTarget("S4", "hewn-pg", "p99", "S4 hewn-pg p99 ≤ 10 ms", "ms", (v) => v <= 10, "10 ms");
  }
  for (const id of ["hewn-pg", "hewn-sqlite"]) {
    for (const kind of ["finished", "delayed"]) {
      absoluteTarget("S6", id, `${kind}.ratio`, `S6 ${id}: throughput with ${data.sizes.s6Rows.toLocaleString("en-US")} ${kind} rows ≥ 0.8× empty`, "×", (v) => v >= 0.8, "0.8×");
    }
    absoluteTarget("S6", id, "rss.peak", `S6 ${id}: worker peak RSS (sampled) < 150 MB`, "MB", (v) => v < 150, "150 MB");
    absoluteTarget("S6", id, "rss.hwm", `S6 ${id}: worker VmHWM < 150 MB`, "MB", (v) => v < 150, "150 MB");
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------------
// Formatting

function fmtUnit(value: number, unit: Column["unit"]): string {
  switch (unit) {
    case "jobs/s":
      return value >= 100 ? Math.round(value).toLocaleString("en-US") : value.toFixed(1);
    case "ms":
      return value >= 100 ? Math.round(value).toLocaleString("en-US") : value.toFixed(2);
    case "MB":
      return value.toFixed(1);
    case "×":
      return `${value.toFixed(2)}×`;
    case "q/job":
      return value.toFixed(2);
    case "n":
      return String(Math.round(value));
  }
}

/** hewn ÷ peer: two decimals, or two significant digits when tiny, no decimals when huge. */
function fmtRatio(ratio: number): string {
  if (ratio >= 100) return `${Math.round(ratio).toLocaleString("en-US")}×`;
  if (ratio >= 0.1) return `${ratio.toFixed(2)}×`;
  return `${ratio.toPrecision(2)}×`;
}

function escapeCell(text: string): string {
  return text.replaceAll("|", "\\|").replaceAll("\n", " ");
}

function table(header: string[], rows: string[][]): string {
  const lines = [`| ${header.join(" | ")} |`, `|${header.map(() => "---").join("|")}|`];
  for (const row of rows) lines.push(`| ${row.map(escapeCell).join(" | ")} |`);
  return lines.join("\n");
}

function scenarioSection(data: RunData, scenario: ScenarioId, targetRows: TargetRow[]): string | null {
  const cells = data.cells.filter((cell) => cell.scenario === scenario);
  if (cells.length === 0) return null;
  const cols = columns(scenario, data.sizes);
  const hewnIds = data.systems.filter((s) => s.hewn && cells.some((c) => c.system === s.id)).map((s) => s.id);
  const ratioCols = cols.filter((col) => col.ratio);
  const header = ["system", ...cols.map((col) => col.label)];
  for (const id of hewnIds) for (const col of ratioCols) header.push(`${id} ÷ this (${col.key})`);
  header.push("exactly-once", "errors / notes");

  const cellOf = (id: string) => cells.find((c) => c.system === id);
  const rows: string[][] = [];
  for (const system of data.systems) {
    const cell = cellOf(system.id);
    if (!cell) continue;
    const row = [`**${system.id}**`];
    for (const col of cols) {
      const v = cell.metrics[col.key];
      row.push(v === undefined || !Number.isFinite(v) ? "—" : cell.partial.includes(col.key) ? `≈${fmtUnit(v, col.unit)} (partial)` : fmtUnit(v, col.unit));
    }
    for (const id of hewnIds) {
      for (const col of ratioCols) {
        const h = cellOf(id);
        const hv = h?.metrics[col.key];
        const pv = cell.metrics[col.key];
        if (system.hewn || hv === undefined || pv === undefined || !h || h.partial.includes(col.key)) row.push("—");
        else row.push(`${fmtRatio(hv / pv)}${cell.partial.includes(col.key) ? " (vs partial)" : ""}`);
      }
    }
    const partialChecks = cell.checks.filter((check) => check.includes("before it was given up")).length;
    row.push(cell.violations.length > 0
      ? `**✗ VIOLATION: ${cell.violations.join("; ")}**`
      : cell.checks.length === 0
        ? "not checked"
        : `✓ (${cell.checks.length} check${cell.checks.length > 1 ? "s" : ""}${partialChecks > 0 ? `; ${partialChecks} only for duplicates, drain given up` : ""})`);
    row.push([cell.error ? `**${cell.error}**` : "", ...cell.notes].filter(Boolean).join("; "));
    rows.push(row);
  }

  const out = [`## ${SCENARIO_TITLES[scenario]}`, "", SCENARIO_NOTES[scenario](data.sizes), "", table(header, rows), ""];
  // Best peer per ratio column.
  for (const col of ratioCols) {
    const peers = cells.filter((c) => !data.systems.find((s) => s.id === c.system)?.hewn && c.metrics[col.key] !== undefined && !c.partial.includes(col.key));
    if (peers.length === 0) continue;
    const bestPeer = peers.reduce((a, b) => ((col.ratio === "lower" ? b.metrics[col.key]! < a.metrics[col.key]! : b.metrics[col.key]! > a.metrics[col.key]!) ? b : a));
    const parts = hewnIds.map((id) => {
      const hv = cellOf(id)?.metrics[col.key];
      return hv === undefined ? `${id}: —` : `${id} ÷ best = ${fmtRatio(hv / bestPeer.metrics[col.key]!)}`;
    });
    out.push(`Best peer for ${col.label}: **${bestPeer.system}** (${fmtUnit(bestPeer.metrics[col.key]!, col.unit)}); ${parts.join(", ")}${col.ratio === "lower" ? " (lower is better)" : ""}.`, "");
  }
  const mine = targetRows.filter((row) => row.scenario === scenario);
  if (mine.length > 0) {
    out.push("Targets:", "");
    for (const row of mine) out.push(`- ${row.verdict === "PASS" ? "✅ PASS" : row.verdict === "MISS" ? "❌ MISS" : "⚪ n/a"} — ${row.target}: ${row.hewn} vs ${row.reference} → ${row.ratio}`);
    out.push("");
  }
  return out.join("\n");
}

export function renderMarkdown(data: RunData): string {
  const { env } = data;
  const targetRows = targets(data);
  const violations = data.cells.filter((cell) => cell.violations.length > 0);
  const failures = data.cells.filter((cell) => cell.error);
  const out: string[] = [
    "# hewn benchmark results",
    "",
    `Generated by \`npm run bench${env.mode === "quick" ? " -- --quick" : ""}\` (bench/run.ts). Other processes share this machine, so absolute numbers are noisy; compare ratios measured in the same run.`,
    "",
    table(["", ""], [
      ["date", env.date],
      ["mode", `${env.mode}${env.filters ? ` (${env.filters})` : ""}; took ${Math.round(env.durationSeconds)} s`],
      ["machine", `${env.cpu}, ${env.cores} cores, ${env.memory} RAM; load average (1/5/15 min) at start ${env.loadAverage}, at end ${env.loadAverageEnd}`],
      ...env.versions.map(([name, version]): [string, string] => [name, version]),
      ...env.settings.map(([name, value]): [string, string] => [name, value]),
    ]),
    "",
  ];
  if (violations.length > 0) {
    out.push("## ✗ EXACTLY-ONCE VIOLATIONS", "");
    for (const cell of violations) out.push(`- **${cell.scenario} ${cell.system}**: ${cell.violations.join("; ")}`);
    out.push("");
  }
  out.push("## Targets", "", table(["", "target", "hewn", "reference", "ratio"], targetRows.map((row) => [
    row.verdict === "PASS" ? "✅ PASS" : row.verdict === "MISS" ? "❌ MISS" : "⚪ n/a", row.target, row.hewn, row.reference, row.ratio,
  ])), "");
  if (failures.length > 0) {
    out.push("## Cells that did not finish", "");
    for (const cell of failures) out.push(`- ${cell.scenario} ${cell.system}: ${cell.error}`);
    out.push("");
  }
  out.push("## Systems", "", "Each peer runs at its defaults and tuned as its documentation recommends for throughput. Durability stays as users get it: PostgreSQL with its server defaults (synchronous_commit on), hewn's SQLite file in WAL mode with synchronous = FULL, Redis as configured on this machine (see settings above).", "");
  const redis = env.settings.find(([name]) => name === "Redis persistence")?.[1];
  if (redis && /appendonly=no/.test(redis) && /save=""/.test(redis)) {
    out.push("**Caveat:** this machine's Redis runs with no persistence at all (appendonly=no, no save points; the bench does not change a shared server). BullMQ-Redis therefore keeps jobs in memory only here, unlike every PostgreSQL/SQLite system, which waits for the disk on each commit; BullMQ's production guide recommends AOF persistence.", "");
  }
  out.push("Peers' concurrency is set by each scenario, so the tuning left for BullMQ is its documented auto-removal of finished jobs (`drainDelay` only bounds an idle blocking wait and changes none of these scenarios). graphile-worker deletes completed jobs by design; pg-boss and hewn keep them (pg-boss for 7 days by default, hewn until `removeAfter`, off by default).", "");
  out.push(table(["system", "store", "configuration"], data.systems.map((s) => [s.id, s.store, s.config + (s.verifier ? ` (S1/S2 exactly-once check drained by ${s.verifier})` : "")])), "");
  for (const scenario of ["S1", "S2", "S3", "S4", "S5", "S6"] as const) {
    const section = scenarioSection(data, scenario, targetRows);
    if (section) out.push(section);
  }
  out.push("## Chart", "", "![throughput per scenario (log scale)](throughput.svg)", "");
  // Profiles are taken by hand (bench/profile/), not by this run; carried over so the results say where the time goes.
  const profile = new URL("PROFILE.md", import.meta.url);
  if (existsSync(profile)) out.push("## Where a drain's time goes (profiles)", "", readFileSync(profile, "utf8").trim(), "");
  return out.join("\n");
}

// ---------------------------------------------------------------------------------------------------
// The SVG chart

const PALETTE: Record<string, [string, string]> = {
  "hewn-pg": ["#1f4e9c", "#1f4e9c"],
  "hewn-sqlite": ["#1b8a7a", "#1b8a7a"],
  "pg-boss": ["#f4b183", "#c55a11"],
  "graphile-worker": ["#c9a0dc", "#7030a0"],
  "bullmq-redis": ["#f19c9c", "#c00000"],
  "bullmq-pg": ["#b4c7a2", "#548235"],
};

function escapeXml(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");
}

export function renderSvg(data: RunData): string {
  type Group = { label: string; scenario: ScenarioId; key: string };
  const groups = ([
    { label: "S1 awaited", scenario: "S1", key: "seq" },
    { label: `S1 ${data.sizes.burst} parallel`, scenario: "S1", key: "burst.par" },
    { label: "S2 bulk", scenario: "S2", key: "bulk" },
    ...data.sizes.concurrencies.map((c): Group => ({ label: `S3 drain c${c}`, scenario: "S3", key: `c${c}` })),
    { label: "S5 2 processes", scenario: "S5", key: "jobs/s" },
  ] satisfies Group[]).filter((group) => data.cells.some((cell) => cell.scenario === group.scenario));
  const systems = data.systems.filter((s) => data.cells.some((cell) => cell.system === s.id && groups.some((g) => g.scenario === cell.scenario)));
  const values = data.cells.flatMap((cell) => groups.filter((g) => g.scenario === cell.scenario).map((g) => cell.metrics[g.key] ?? 0));
  const maxValue = Math.max(10, ...values);
  const top = 10 ** Math.ceil(Math.log10(maxValue));
  const bottom = 1;

  const barWidth = 13;
  const barGap = 2;
  const groupGap = 28;
  const groupWidth = Math.max(1, systems.length) * (barWidth + barGap) - barGap;
  const left = 70;
  const plotTop = 50;
  const plotHeight = 360;
  const plotWidth = Math.max(1, groups.length) * (groupWidth + groupGap) + groupGap;
  const legendTop = plotTop + plotHeight + 70;
  const legendColumns = 4;
  const legendRows = Math.ceil(systems.length / legendColumns);
  const width = left + plotWidth + 20;
  const height = legendTop + legendRows * 20 + 30;
  const y = (value: number) => plotTop + plotHeight - ((Math.log10(Math.max(bottom, Math.min(top, value))) - Math.log10(bottom)) / (Math.log10(top) - Math.log10(bottom))) * plotHeight;
  const color = (system: System) => {
    const [light, dark] = PALETTE[system.family] ?? ["#999999", "#555555"];
    return system.variant === "tuned" ? dark : light;
  };

  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${left}" y="24" font-size="15" font-weight="bold">Throughput per scenario, jobs/s (log scale; higher is better)</text>`,
    `<text x="${left}" y="40" fill="#555555">${escapeXml(`${data.env.mode} run, ${data.env.date}; faded bars: partial runs; ✗: failed`)}</text>`,
  ];
  for (let decade = bottom; decade <= top; decade *= 10) {
    const gy = y(decade);
    parts.push(`<line x1="${left}" y1="${gy.toFixed(1)}" x2="${left + plotWidth}" y2="${gy.toFixed(1)}" stroke="#dddddd"/>`);
    parts.push(`<text x="${left - 6}" y="${(gy + 4).toFixed(1)}" text-anchor="end" fill="#333333">${decade.toLocaleString("en-US")}</text>`);
  }
  parts.push(`<line x1="${left}" y1="${plotTop}" x2="${left}" y2="${plotTop + plotHeight}" stroke="#333333"/>`);
  parts.push(`<line x1="${left}" y1="${plotTop + plotHeight}" x2="${left + plotWidth}" y2="${plotTop + plotHeight}" stroke="#333333"/>`);

  groups.forEach((group, g) => {
    const x0 = left + groupGap + g * (groupWidth + groupGap);
    systems.forEach((system, k) => {
      const x = x0 + k * (barWidth + barGap);
      const cell = data.cells.find((c) => c.scenario === group.scenario && c.system === system.id);
      const value = cell?.metrics[group.key];
      if (!cell) return;
      if (value === undefined || !Number.isFinite(value) || value <= 0) {
        parts.push(`<text x="${x + barWidth / 2}" y="${plotTop + plotHeight - 4}" text-anchor="middle" fill="#c00000">✗</text>`);
        return;
      }
      const partial = cell.partial.includes(group.key);
      const by = y(value);
      parts.push(`<rect x="${x}" y="${by.toFixed(1)}" width="${barWidth}" height="${(plotTop + plotHeight - by).toFixed(1)}" fill="${color(system)}"${partial ? ' fill-opacity="0.35" stroke="#555555" stroke-dasharray="2,2"' : ""}><title>${escapeXml(`${system.id} ${group.label}: ${fmt(value)} jobs/s${partial ? " (partial)" : ""}`)}</title></rect>`);
      const label = `${partial ? "≈" : ""}${value >= 1000 ? `${(value / 1000).toFixed(1)}k` : Math.round(value)}`;
      parts.push(`<text transform="translate(${(x + barWidth / 2 + 3).toFixed(1)},${(by - 3).toFixed(1)}) rotate(-90)" font-size="9" fill="#333333">${label}</text>`);
    });
    parts.push(`<text x="${x0 + groupWidth / 2}" y="${plotTop + plotHeight + 18}" text-anchor="middle" font-weight="bold">${escapeXml(group.label)}</text>`);
  });

  systems.forEach((system, k) => {
    const col = k % legendColumns;
    const row = Math.floor(k / legendColumns);
    const lx = left + col * 200;
    const ly = legendTop + row * 20;
    parts.push(`<rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="${color(system)}"/>`);
    parts.push(`<text x="${lx + 18}" y="${ly}">${escapeXml(system.id)}</text>`);
  });
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}

// ---------------------------------------------------------------------------------------------------

/** Writes RESULTS.md and throughput.svg; returns the markdown (also printed by the runner). */
export function writeReport(data: RunData, markdownPath: string, svgPath: string): string {
  const markdown = renderMarkdown(data);
  writeFileSync(markdownPath, markdown);
  writeFileSync(svgPath, renderSvg(data));
  return markdown;
}
