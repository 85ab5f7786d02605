/**
 * Claims of tasks with flow limits on SQLite (see docs/flow-control.md). They run inside the claim
 * round's BEGIN IMMEDIATE transaction: SQLite has a single writer per file, so no other process can claim
 * (or change what is counted here) until it commits, and no lock of hewn's own is needed. The decisions
 * are flow/plan.ts's, shared with the PostgreSQL store.
 * @module
 */
import type Database from "better-sqlite3";
import { ClaimPlanner, type FlowCounts, type Hold } from "../../flow/plan.js";
import type { ClaimRequest } from "../store.js";
import * as sql from "./sql.js";

type Statement = Database.Statement<unknown[], unknown>;

interface CandidateDbRow {
  id: number;
  group_key: string | null;
  priority: number;
  available_at: number;
}

/**
 * Ids to claim for `request` (in claim order) and whether its limits held jobs back. The caller claims
 * them and records each with {@link recordStart}.
 */
export function planLimitedClaim(statement: (text: string) => Statement, request: ClaimRequest, now: number): { ids: number[]; hold: Hold | undefined } {
  const limits = request.flow ?? {};
  const { name } = request;
  const rate = limits.rateLimit;
  const counts: FlowCounts = { paused: statement(sql.IS_PAUSED).get(name) !== undefined, running: new Map(), starts: new Map(), windowFreesInMs: null };
  for (const row of statement(sql.FLOW_RUNNING).all({ name, now }) as Array<{ group_key: string | null; n: number }>) {
    (counts.running as Map<string | null, number>).set(row.group_key, row.n);
  }
  if (rate) {
    statement(sql.FLOW_PRUNE_STARTS).run({ name, now, per: rate.per });
    for (const row of statement(sql.FLOW_STARTS).all({ name, now, per: rate.per }) as Array<{ group_key: string | null; n: number; frees_in_ms: number }>) {
      (counts.starts as Map<string | null, number>).set(row.group_key, row.n);
      counts.windowFreesInMs = Math.min(counts.windowFreesInMs ?? Infinity, row.frees_in_ms);
    }
  }
  const turns = new Map((statement(sql.FLOW_TURNS).all({ name }) as Array<{ group_key: string; turn_at: number }>)
    .map((row) => [row.group_key, row.turn_at]));
  const plan = new ClaimPlanner<number>(limits, request.limit);
  const room = plan.counted(counts, turns.get("") ?? null);
  const candidates = (rows: CandidateDbRow[]) => rows.map((row) => ({
    id: row.id, group: row.group_key, priority: row.priority, availableAt: row.available_at, order: BigInt(row.id),
    turn: turns.get(row.group_key ?? "") ?? null,
  }));
  if (room > 0) {
    const rows: CandidateDbRow[] = [];
    const nextGroup = statement(sql.FLOW_NEXT_GROUP).pluck();
    const ofGroup = statement(sql.FLOW_GROUP_CANDIDATES);
    // Group keys are non-empty, so every one sorts after "".
    for (let group = nextGroup.get({ name, after: "" }) as string | null; group !== null; group = nextGroup.get({ name, after: group }) as string | null) {
      rows.push(...(ofGroup.all({ name, group, now, limit: room }) as CandidateDbRow[]));
    }
    rows.push(...(statement(sql.FLOW_UNGROUPED_PRIORITISED).all({ name, now, limit: room }) as CandidateDbRow[]));
    if (plan.read(candidates(rows))) plan.read(candidates(statement(sql.FLOW_UNGROUPED).all({ name, now, limit: room }) as CandidateDbRow[]));
  }
  // Read and found empty: the ungrouped jobs' turn is taken.
  if (plan.passTurn) statement(sql.FLOW_TAKE_TURN).run({ name, group: null });
  return { ids: plan.picked, hold: plan.hold };
}

/** After claiming a job of a limited task: its group's turn, and its start in the rate window if the task has one. */
export function recordStart(statement: (text: string) => Statement, request: ClaimRequest, group: string | null, now: number): void {
  const { name } = request;
  statement(sql.FLOW_TAKE_TURN).run({ name, group });
  if (request.flow?.rateLimit) statement(sql.FLOW_LOG_START).run({ name, group, now });
}
