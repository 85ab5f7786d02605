/**
 * The claim plan of a task with flow limits: given what the store counted under its claim lock (live
 * leases and recent starts, per group) and the due jobs in claim order, which jobs to claim now. Both
 * stores call this inside their claim transaction, so the limits mean the same on each; the store only
 * counts, reads and writes.
 *
 * Claim order among the candidates ({@link orderCandidates}): priority (higher first), then the job's
 * rank within its group and priority (its group's oldest due job first), then the group's last turn (the
 * group served longest ago first, one never served before all), then availableAt, then id. Ranking by
 * group before age is the fairness rule: among jobs of equal priority, claims go round-robin across
 * groups, so a group with 100 000 ready jobs takes one turn like a group with 10; the turns, stored by the
 * store at each claim, carry the rotation across claims that take one job each. Jobs without a group
 * form one group of their own.
 * @module
 */
import type { FlowLimits } from "./limits.js";

/** What the store counted for one task, inside the claim transaction. Keys: the group, or null for no group. */
export interface FlowCounts {
  /** Whether the task is paused: nothing is claimed. */
  paused: boolean;
  /** Jobs of the task holding a live lease (dequeued, lease not expired), per group. */
  running: ReadonlyMap<string | null, number>;
  /** Starts (claims) of the task within the rate window, per group; empty without a rate limit. */
  starts: ReadonlyMap<string | null, number>;
  /** Ms until the oldest start in the window leaves it; null when the window is empty. */
  windowFreesInMs: number | null;
}

/** A due job, as the store's candidate query returns it (in claim order). */
export interface Candidate<Id> {
  id: Id;
  group: string | null;
}

/** Why a request got fewer jobs than it asked for although jobs may be due: its limits held them back. */
export interface Hold {
  /** The task is paused. */
  paused: boolean;
  /** When a rate limit holds the jobs back: ms until its window admits another start. Otherwise null (unknown). */
  retryInMs: number | null;
}

function total(counts: ReadonlyMap<string | null, number>): number {
  let sum = 0;
  for (const n of counts.values()) sum += n;
  return sum;
}

/**
 * How many jobs the task may start now, at most `want`, by its task-wide limits (pause, `concurrency`,
 * a rate limit not `byGroup`). The store skips reading candidates when this is 0.
 */
export function flowRoom(limits: FlowLimits, want: number, counts: FlowCounts): number {
  if (counts.paused) return 0;
  let room = want;
  if (limits.concurrency !== undefined) room = Math.min(room, limits.concurrency - total(counts.running));
  if (limits.rateLimit && !limits.rateLimit.byGroup) room = Math.min(room, limits.rateLimit.limit - total(counts.starts));
  return Math.max(0, room);
}

/** Picks up to `room` candidates (in their order), skipping groups whose own limits are reached. */
export function pickCandidates<Id>(limits: FlowLimits, room: number, counts: FlowCounts, candidates: ReadonlyArray<Candidate<Id>>): Id[] {
  const picked: Id[] = [];
  const taken = new Map<string | null, number>();
  const rateByGroup = limits.rateLimit?.byGroup ? limits.rateLimit.limit : undefined;
  for (const { id, group } of candidates) {
    if (picked.length >= room) break;
    const more = (taken.get(group) ?? 0) + 1;
    if (limits.groupConcurrency !== undefined && (counts.running.get(group) ?? 0) + more > limits.groupConcurrency) continue;
    if (rateByGroup !== undefined && (counts.starts.get(group) ?? 0) + more > rateByGroup) continue;
    taken.set(group, more);
    picked.push(id);
  }
  return picked;
}

/**
 * Whether the limits held jobs back from this claim (so the worker should not ask again at once), and
 * for how long a rate limit will keep doing so. `seen` is how many candidates were read (0 when `room` was 0).
 */
export function holdOf(limits: FlowLimits, want: number, counts: FlowCounts, room: number, seen: number, picked: number): Hold | undefined {
  if (picked >= want) return undefined;
  if (counts.paused) return { paused: true, retryInMs: null };
  // A limit held jobs back when it left due jobs unpicked, or when the task-wide room was smaller than
  // asked and may have left some unread (fewer read than the room means every due job was read).
  const held = room === 0 || seen > picked || (room < want && seen >= room);
  if (!held) return undefined;
  const rate = limits.rateLimit;
  const rateFull = rate !== undefined && (rate.byGroup ? seen > picked : total(counts.starts) >= rate.limit);
  return { paused: false, retryInMs: rateFull && counts.windowFreesInMs !== null ? Math.max(1, counts.windowFreesInMs) : null };
}

/** A due job as a store reads it for {@link orderCandidates}: its group's jobs come in claim order. */
export interface CandidateRow<Id> extends Candidate<Id> {
  priority: number;
  /** availableAt in any unit finer than or equal to the store's (ms on SQLite, µs on PostgreSQL). */
  availableAt: number;
  /** The id as a number for ordering (ids grow with insertion). */
  order: bigint;
  /** When the group last had a job claimed (same unit as availableAt); null if never (or long ago). */
  turn: number | null;
}

/**
 * Puts candidates in fair claim order: priority (higher first), then rank within the job's group and
 * priority (1 for its oldest due job), then the group's last turn (never first), then availableAt, then
 * id. Each group's rows must arrive in that group's claim order (priority, availableAt, id), as the
 * stores' queries return them.
 */
export function orderCandidates<Id>(rows: ReadonlyArray<CandidateRow<Id>>): Array<Candidate<Id>> {
  const seen = new Map<string, number>();
  const ranked = rows.map((row) => {
    const key = `${row.priority}\u0000${row.group ?? "\u0000"}`;
    const rank = (seen.get(key) ?? 0) + 1;
    seen.set(key, rank);
    return { row, rank };
  });
  ranked.sort((a, b) =>
    b.row.priority - a.row.priority || a.rank - b.rank || (a.row.turn ?? -Infinity) - (b.row.turn ?? -Infinity)
    || a.row.availableAt - b.row.availableAt
    || (a.row.order < b.row.order ? -1 : a.row.order > b.row.order ? 1 : 0));
  return ranked.map(({ row }) => ({ id: row.id, group: row.group }));
}
