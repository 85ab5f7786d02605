/**
 * Claims of tasks with flow limits on PostgreSQL (see docs/flow-control.md). One transaction for every
 * limited request of a round: for each task, in name order (so two processes claiming the same tasks can
 * never deadlock), `pg_advisory_xact_lock` on the task's key, then the counts, the candidates and the
 * claim, each its own statement so that each sees what was committed before the lock was granted.
 * The decisions are flow/plan.ts's, shared with the SQLite store.
 * @module
 */
import type pg from "pg";
import { CRASH_MESSAGE, MAX_KEPT_ERRORS } from "../../job.js";
import { flowRoom, holdOf, orderCandidates, pickCandidates, type FlowCounts } from "../../flow/plan.js";
import type { JobRow } from "../row.js";
import type { ClaimRequest, HeldBack } from "../store.js";
import * as sql from "./sql.js";

/** A statement as the store runs it (prepared under `name` when given). */
export interface FlowStatement {
  readonly text: string;
  readonly name?: string;
}

export interface FlowClaimDeps {
  readonly pool: pg.Pool;
  readonly schema: string;
  readonly statements: Record<"flowCounts" | "flowCandidates" | "flowClaim", FlowStatement>;
  /** Runs a statement on `client` the store's way (type parsers, error wrapping) and returns its rows. */
  rows<R>(operation: string, statement: FlowStatement, values: unknown[], client: pg.PoolClient): Promise<R[]>;
}

const LOCK: FlowStatement = { text: sql.lockFlow, name: "hewn_lock_flow" };

interface CountRow {
  kind: "r" | "s" | "p";
  group_key: string | null;
  n: number;
  frees_in_ms: number | null;
}

interface CandidateDbRow {
  id: string;
  group_key: string | null;
  priority: number;
  available_us: number;
  turn_us: number | null;
}

/** Claims what the limits of each request allow, in one transaction; the rows come in claim order per request. */
export async function claimWithLimits(deps: FlowClaimDeps, requests: ClaimRequest[]): Promise<{ rows: JobRow[]; heldBack: HeldBack[] }> {
  const byName = [...requests].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const client = await deps.pool.connect();
  let broken: Error | undefined;
  try {
    await client.query("BEGIN");
    try {
      const rows: JobRow[] = [];
      const heldBack: HeldBack[] = [];
      for (const request of byName) {
        const result = await claimOne(deps, client, request);
        rows.push(...result.rows);
        if (result.hold) heldBack.push({ name: request.name, ...result.hold });
      }
      await client.query("COMMIT");
      return { rows, heldBack };
    } catch (error) {
      await client.query("ROLLBACK").catch((rollbackError: Error) => (broken = rollbackError));
      throw error;
    }
  } finally {
    // A connection that could not roll back is in an unknown state: destroy it rather than pool it.
    client.release(broken);
  }
}

async function claimOne(deps: FlowClaimDeps, client: pg.PoolClient, request: ClaimRequest) {
  const limits = request.flow ?? {};
  const rate = limits.rateLimit;
  await deps.rows("jobClaim (flow lock)", LOCK, [sql.flowLockKey(deps.schema, request.name)], client);
  const counted = await deps.rows<CountRow>("jobClaim (flow counts)", deps.statements.flowCounts, [request.name, rate?.per ?? null], client);
  const counts: FlowCounts = { paused: false, running: new Map(), starts: new Map(), windowFreesInMs: null };
  for (const row of counted) {
    if (row.kind === "p") counts.paused = true;
    else if (row.kind === "r") (counts.running as Map<string | null, number>).set(row.group_key, row.n);
    else {
      (counts.starts as Map<string | null, number>).set(row.group_key, row.n);
      if (row.frees_in_ms !== null) counts.windowFreesInMs = Math.min(counts.windowFreesInMs ?? Infinity, row.frees_in_ms);
    }
  }
  const room = flowRoom(limits, request.limit, counts);
  let seen = 0;
  let claimed: JobRow[] = [];
  if (room > 0) {
    const candidates = await deps.rows<CandidateDbRow>("jobClaim (flow candidates)", deps.statements.flowCandidates, [request.name, room], client);
    seen = candidates.length;
    const ordered = orderCandidates(candidates.map((row) => ({
      id: row.id, group: row.group_key, priority: row.priority, availableAt: row.available_us, order: BigInt(row.id), turn: row.turn_us,
    })));
    const picked = pickCandidates(limits, room, counts, ordered);
    if (picked.length > 0) {
      const updated = await deps.rows<JobRow>("jobClaim (flow claim)", deps.statements.flowClaim,
        [picked, request.leaseMs, rate !== undefined, CRASH_MESSAGE, MAX_KEPT_ERRORS], client);
      const position = new Map(picked.map((id, index) => [id, index]));
      claimed = updated.sort((a, b) => (position.get(String(a.id)) ?? 0) - (position.get(String(b.id)) ?? 0));
    }
  }
  return { rows: claimed, hold: holdOf(limits, request.limit, counts, room, seen, claimed.length) };
}
