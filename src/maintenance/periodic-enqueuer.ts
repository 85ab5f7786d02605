/**
 * The periodic enqueuer: a maintenance service that enqueues the jobs of the schedules this process
 * declared, one job per slot, in every process that started, with no leader.
 *
 * Each round reads the declared schedules and the store's now (the database clock on PostgreSQL, so the
 * processes' own clocks do not matter), works out the due slots (see periodic/catch-up.ts), and hands each
 * out with `Store.scheduleClaimSlot`: a compare-and-set on the schedule's last slot and the job's insert in
 * one transaction, so exactly one process enqueues each slot, and a process killed halfway enqueues
 * nothing (its transaction rolls back and another process takes the slot). Slots go out in ascending
 * order. The schedule as stored is what counts, so a newer declaration elsewhere applies here too.
 *
 * The next round comes just after the earliest next slot, and at least every {@link MAX_WAIT_MS} (to see
 * schedules changed by other processes); `wake()` brings it forward. After a failed round (reported with
 * source `schedule`) the next comes {@link RETRY_MS} later.
 * @module
 */
import { MAX_BATCH } from "../store/store.js";
import { checkCatchUp, dueSlots } from "../periodic/catch-up.js";
import { slotLabel } from "../periodic/label.js";
import { slotsOf, type Slots } from "../periodic/when.js";
import { PeriodicService, type ServiceDeps } from "./service.js";

/** What {@link enqueueDueSlots} did. */
export interface SlotRound {
  /** The store's now that the round went by. */
  now: number;
  /** The earliest slot after `now` of the schedules it saw; undefined when none has one. */
  next: number | undefined;
  /** Some schedule had more due slots than one round hands out: run another round at once. */
  more: boolean;
}

/**
 * One round of periodic enqueueing, shared by the enqueuer service and the test queue of `hewn/testing`
 * (which runs it on its own clock inside `drain`): reads the schedules (`keys`, or all when undefined) and
 * the store's now, and hands out each due slot (see periodic/catch-up.ts) with `Store.scheduleClaimSlot`.
 * `liveSince` gives, from the round's now, when the caller began taking part.
 */
export async function enqueueDueSlots(
  deps: Pick<ServiceDeps, "store" | "events">,
  params: { keys?: string[]; liveSince: (now: number) => number; parse?: (spec: string) => Slots; signal?: AbortSignal },
): Promise<SlotRound> {
  const { store, events } = deps;
  const { signal, parse = slotsOf } = params;
  const { now, schedules } = await store.scheduleList(params.keys === undefined ? {} : { keys: params.keys });
  const liveSince = params.liveSince(now);
  let next: number | undefined;
  let more = false;
  for (const schedule of schedules) {
    if (signal?.aborted) break;
    const slots = parse(schedule.spec);
    const catchUp = checkCatchUp(JSON.parse(schedule.catchUp) as unknown, "catchUp");
    const due = dueSlots(slots, { lastSlot: schedule.lastSlot, now, liveSince, catchUp, limit: MAX_BATCH });
    for (const slot of due) {
      if (signal?.aborted) break;
      const job = await store.scheduleClaimSlot({ key: schedule.key, spec: schedule.spec, slot, label: slotLabel(schedule.key, slot) });
      if (job) events.emit("job:enqueue", { jobs: [job] });
    }
    if (due.length === MAX_BATCH) more = true;
    const after = slots.after(now);
    if (after !== null) next = next === undefined ? after : Math.min(next, after);
  }
  return { now, next, more };
}

/** Longest wait between rounds, in ms. */
export const MAX_WAIT_MS = 5_000;
/** After a failed round, the next one comes this much later. */
const RETRY_MS = 1_000;

export class PeriodicEnqueuer extends PeriodicService {
  /** The keys of the schedules this process declared. */
  readonly #keys: () => string[];
  /** Parsed specs, by spec text. */
  readonly #slots = new Map<string, Slots>();
  /** When this process began taking part, on the store's clock (set by the first round). */
  #liveSince: number | undefined;

  constructor(deps: ServiceDeps, keys: () => string[]) {
    super(deps, { source: "schedule", firstRunMs: 0, everyMs: RETRY_MS });
    this.#keys = keys;
  }

  /** One round: enqueues every due slot of the declared schedules; returns the ms until the next slot. */
  protected async run(signal: AbortSignal): Promise<number> {
    const keys = this.#keys();
    if (keys.length === 0) return MAX_WAIT_MS;
    const round = await enqueueDueSlots(this.deps, {
      keys, liveSince: (now) => (this.#liveSince ??= now), parse: (spec) => this.#parse(spec), signal,
    });
    // A full batch means more are due at once: come back right away.
    const next = round.more ? round.now : Math.min(round.now + MAX_WAIT_MS, round.next ?? Number.POSITIVE_INFINITY);
    // Just past the slot: the store's now must have reached it.
    return Math.max(0, next - round.now + 1);
  }

  #parse(spec: string): Slots {
    let slots = this.#slots.get(spec);
    if (slots === undefined) {
      slots = slotsOf(spec);
      this.#slots.set(spec, slots);
    }
    return slots;
  }
}
