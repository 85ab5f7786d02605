/**
 * Reading what the fault-worker fixture records: handler starts and completion side-effects (one file per
 * process incarnation, appended synchronously so they survive SIGKILL) and onError reports.
 */
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";

export interface EffectRecord {
  /**
   * S: handler started; C: completion side-effect; A: finished after its signal aborted (no side-effect);
   * J: the worker began the attempt (job:start), before any handler ran; R: the worker released the job
   * at shutdown (job:release); U: the worker handed the job back unstarted to isolate a suspect (job:unclaim).
   */
  kind: "S" | "C" | "A" | "J" | "R" | "U";
  id: string;
  attempt: number;
  pid: number;
  /** Epoch ms, the child's clock. */
  at: number;
}

export interface ErrorRecord {
  pid: number;
  tag: string;
  at: number;
  source: string;
  /** The error's class name. */
  error: string;
  code: string | null;
  message: string;
  job: string | null;
  attempt: number | null;
}

export function parseEffects(text: string, into: EffectRecord[] = []): { records: EffectRecord[]; malformed: number } {
  let malformed = 0;
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const [kind, id, attempt, pid, at, ...rest] = line.split(" ");
    if (!isKind(kind) || !id || rest.length > 0 || at === undefined || !/^\d+$/.test(at)) {
      malformed++; // a line cut short by SIGKILL
      continue;
    }
    into.push({ kind, id, attempt: Number(attempt), pid: Number(pid), at: Number(at) });
  }
  return { records: into, malformed };
}

const KINDS: ReadonlySet<string> = new Set(["S", "C", "A", "J", "R", "U"]);

function isKind(kind: string | undefined): kind is EffectRecord["kind"] {
  return kind !== undefined && KINDS.has(kind);
}

export function readEffectsFile(file: string): EffectRecord[] {
  try {
    return parseEffects(readFileSync(file, "utf8")).records;
  } catch {
    return [];
  }
}

/** Every record in `dir`'s effects-*.txt files. */
export function readEffects(dir: string): { records: EffectRecord[]; malformed: number } {
  const records: EffectRecord[] = [];
  let malformed = 0;
  for (const file of readdirSync(dir).filter((f) => f.startsWith("effects-"))) {
    malformed += parseEffects(readFileSync(path.join(dir, file), "utf8"), records).malformed;
  }
  return { records, malformed };
}

/** Every onError report in `dir`'s errors-*.jsonl files. */
export function readErrors(dir: string): ErrorRecord[] {
  const errors: ErrorRecord[] = [];
  for (const file of readdirSync(dir).filter((f) => f.startsWith("errors-"))) {
    for (const line of readFileSync(path.join(dir, file), "utf8").split("\n")) {
      if (line === "") continue;
      try {
        errors.push(JSON.parse(line) as ErrorRecord);
      } catch {
        // cut short by SIGKILL
      }
    }
  }
  return errors;
}

/** Counts of errors by source, e.g. "claim 3, heartbeat 2". */
export function errorSummary(errors: ErrorRecord[]): string {
  const counts = new Map<string, number>();
  for (const error of errors) counts.set(error.source, (counts.get(error.source) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1]).map(([source, n]) => `${source} ${n}`).join(", ") || "none";
}
