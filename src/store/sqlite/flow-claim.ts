/**
 * Claims of tasks with flow limits on SQLite (see docs/flow-control.md). They run inside the claim
 * round's BEGIN IMMEDIATE transaction: SQLite has a single writer per file, so no other process can claim
 * (or change what is counted here) until it commits, and no lock of hewn's own is needed. The decisions
 * are flow/plan.ts's, shared with the PostgreSQL store.
 * @module
 */
import type Database from "better-sqlite3";
import { flowRoom, holdOf, orderCandidates, pickCandidates, type FlowCounts, type Hold } from "../../flow/plan.js";
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
  const room = flowRoom(limits, request.limit, counts);
  let ids: number[] = [];
  let seen = 0;
  if (room > 0) {
    const candidates: CandidateDbRow[] = [];
    const nextGroup = statement(sql.FLOW_NEXT_GROUP).pluck();
    const ofGroup = statement(sql.FLOW_GROUP_CANDIDATES);
    // Group keys are non-empty, so every one sorts after "".
    for (let group = nextGroup.get({ name, after: "" }) as string | null; group !== null; group = nextGroup.get({ name, after: group }) as string | null) {
      candidates.push(...(ofGroup.all({ name, group, now, limit: room }) as CandidateDbRow[]));
    }
    candidates.push(...(statement(sql.FLOW_UNGROUPED_CANDIDATES).all({ name, now, limit: room }) as CandidateDbRow[]));
    seen = candidates.length;
    const turns = new Map((statement(sql.FLOW_TURNS).all({ name }) as Array<{ group_key: string; turn_at: number }>)
      .map((row) => [row.group_key, row.turn_at]));
    const ordered = orderCandidates(candidates.map((row) => ({
      id: row.id, group: row.group_key, priority: row.priority, availableAt: row.available_at, order: BigInt(row.id),
      turn: turns.get(row.group_key ?? "") ?? null,
    })));
    ids = pickCandidates(limits, room, counts, ordered);
  }
  return { ids, hold: holdOf(limits, request.limit, counts, room, seen, ids.length) };
}

/** After claiming a job of a limited task: its group's turn, and its start in the rate window if the task has one. */
export function recordStart(statement: (text: string) => Statement, request: ClaimRequest, group: string | null, now: number): void {
  const { name } = request;
  statement(sql.FLOW_TAKE_TURN).run({ name, group, now });
  if (request.flow?.rateLimit) statement(sql.FLOW_LOG_START).run({ name, group, now });
}
