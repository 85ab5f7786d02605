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
export function pickCandidates<C extends Candidate<unknown>>(limits: FlowLimits, room: number, counts: FlowCounts, candidates: ReadonlyArray<C>): C[] {
  const picked: C[] = [];
  const taken = new Map<string | null, number>();
  const rateByGroup = limits.rateLimit?.byGroup ? limits.rateLimit.limit : undefined;
  for (const candidate of candidates) {
    if (picked.length >= room) break;
    const { group } = candidate;
    const more = (taken.get(group) ?? 0) + 1;
    if (limits.groupConcurrency !== undefined && (counts.running.get(group) ?? 0) + more > limits.groupConcurrency) continue;
    if (rateByGroup !== undefined && (counts.starts.get(group) ?? 0) + more > rateByGroup) continue;
    taken.set(group, more);
    picked.push(candidate);
  }
  return picked;
}

/**
 * Whether the task's ungrouped jobs of priority 0 must be read for this claim. The stores read them
 * apart, and only when needed: no index holds them apart from every other task's jobs, so finding them
 * means reading past every grouped due job of the task. They are needed unless the picks made without
 * them fill the room and all come before the ungrouped group's first job would: a higher priority, or
 * priority 0 as their group's first job, of a group whose turn came no later than the ungrouped group's
 * (`ungroupedTurn`; null if it never had one, and then it comes first). The stores give the ungrouped
 * group its turn when they read it and find nothing, so it is read about once per round of the groups.
 */
export function needsUngrouped(room: number, picked: ReadonlyArray<RankedCandidate<unknown>>, ungroupedTurn: number | null): boolean {
  const last = picked.at(-1);
  if (last === undefined || picked.length < room) return true;
  if (last.priority !== 0) return last.priority < 0;
  if (last.rank > 1 || ungroupedTurn === null) return true;
  return last.turn !== null && last.turn > ungroupedTurn;
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
export function orderCandidates<Id>(rows: ReadonlyArray<CandidateRow<Id>>): Array<RankedCandidate<Id>> {
  const seen = new Map<string, number>();
  const ranked = rows.map((row) => {
    const key = `${row.priority}\u0000${row.group ?? "\u0000"}`;
    const rank = (seen.get(key) ?? 0) + 1;
    seen.set(key, rank);
    return { ...row, rank };
  });
  return ranked.sort((a, b) =>
    b.priority - a.priority || a.rank - b.rank || (a.turn ?? -Infinity) - (b.turn ?? -Infinity)
    || a.availableAt - b.availableAt
    || (a.order < b.order ? -1 : a.order > b.order ? 1 : 0));
}

/** A candidate with its rank within its group and priority (1 for the group's first). */
export interface RankedCandidate<Id> extends CandidateRow<Id> {
  rank: number;
}

/**
 * The whole decision of one limited claim, fed by the store's reads in this order: `counted` (returns the
 * room; the store reads nothing more when it is 0), `read` with the candidates (grouped ones, and
 * ungrouped ones of non-zero priority, up to `room` per group; returns whether the ungrouped ones of
 * priority 0 are needed, see {@link needsUngrouped}), then, if so, `read` again with those. The store
 * then claims `picked` (in that order) and, when `passTurn`, records the ungrouped group's turn as taken
 * (it was read and had nothing due).
 */
export class ClaimPlanner<Id> {
  readonly #limits: FlowLimits;
  readonly #want: number;
  #counts: FlowCounts = { paused: false, running: new Map(), starts: new Map(), windowFreesInMs: null };
  #ungroupedTurn: number | null = null;
  #room = 0;
  #rows: Array<CandidateRow<Id>> = [];
  #picked: Array<RankedCandidate<Id>> = [];
  #readUngrouped = false;
  passTurn = false;

  constructor(limits: FlowLimits, want: number) {
    this.#limits = limits;
    this.#want = want;
  }

  /** What the store counted; returns the room (how many jobs the task-wide limits allow now). */
  counted(counts: FlowCounts, ungroupedTurn: number | null): number {
    this.#counts = counts;
    this.#ungroupedTurn = ungroupedTurn;
    this.#room = flowRoom(this.#limits, this.#want, counts);
    return this.#room;
  }

  /** Candidates read; returns true if the ungrouped ones of priority 0 must be read too (then pass them here). */
  read(rows: ReadonlyArray<CandidateRow<Id>>): boolean {
    const ungrouped = this.#readUngrouped;
    this.#readUngrouped = true;
    if (ungrouped && rows.length === 0) this.passTurn = true;
    this.#rows.push(...rows);
    this.#picked = pickCandidates(this.#limits, this.#room, this.#counts, orderCandidates(this.#rows));
    return !ungrouped && needsUngrouped(this.#room, this.#picked, this.#ungroupedTurn);
  }

  /** The jobs to claim, in claim order. */
  get picked(): Id[] {
    return this.#picked.map((row) => row.id);
  }

  /** Whether the limits held due jobs back, once the reads are done. */
  get hold(): Hold | undefined {
    return holdOf(this.#limits, this.#want, this.#counts, this.#room, this.#rows.length, this.#picked.length);
  }
}
