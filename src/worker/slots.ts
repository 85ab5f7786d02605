/**
 * Slots: how many jobs of each task this process runs and holds, and what to claim next.
 *
 * - Capacity. A task runs at most `workers` handlers at once.
 * - The local buffer. For tasks whose handlers are fast, the worker also claims more jobs than it has
 *   free slots and holds them (leased, leases renewed) in a local buffer: at least `workers` more for
 *   each claim round the store keeps in flight, and at least FAST_BUFFER_MIN, so that while rounds
 *   travel there are always jobs to run, a freed slot starts its next job at once instead of after a
 *   round trip, and each commit moves many jobs. Slow tasks get no buffer: jobs held here while other
 *   processes sit idle would only delay them.
 * - Direct claims. A free slot may be held for a job this process is enqueueing now, so the job is
 *   stored already claimed and starts without a claim round trip (see enqueue/direct-claim.ts).
 * - Requests. What the fetch loop should claim now: per task, the room that running, buffered and
 *   directly claimed jobs leave, minus the places of rounds in flight, which stay reserved until the
 *   round reports back (`unreserve`).
 *
 * Slots count; they do not decide whether a job may run. `gate()` says whether jobs may start and be
 * taken directly now: not while the worker closes, nor while a suspect needs the process to itself
 * (isolation.ts), which also decides when to ask for `requests`.
 * @module
 */
import type { DirectClaim, DirectClaimSource } from "../enqueue/direct-claim.js";
import type { ClaimRequest, StoredJob } from "../store/store.js";
import type { Task } from "../task.js";
import type { Attempt } from "./attempt.js";

export interface SlotsDeps {
  /** The queue's tasks; read on every request, so tasks defined after start are served too. */
  readonly tasks: ReadonlyMap<string, Task>;
  /** Rounds the fetch loop keeps in flight at most. */
  readonly maxRounds: number;
  /** Whether jobs may start, and be taken directly, now. */
  readonly gate: () => boolean;
  /** Runs an attempt in the slot just taken for it. */
  readonly run: (attempt: Attempt) => void;
  /** A directly claimed job was stored: hand it over as a claim round would. `grantedAt`: see FetchLoopDeps.claimed. */
  readonly adopt: (job: StoredJob, grantedAt: number) => void;
  /** Places came free: the fetch loop may claim again. */
  readonly wake: () => void;
}

/** A task's handlers count as fast (and get a local buffer) while their average run is under this. */
const FAST_HANDLER_MS = 5;
/**
 * The local buffer of a fast task holds at least this many jobs. Each round's commit waits for the
 * disk, so the jobs a round moves share that wait: bigger rounds, fewer waits. 200 jobs of a fast task
 * drain within milliseconds, so other processes are not kept waiting.
 */
const FAST_BUFFER_MIN = 200;
/** Weight of the newest handler duration in the running average. */
const AVERAGE_WEIGHT = 0.1;

/** What is counted per task. */
interface TaskSlots {
  /** Handlers running now. */
  running: number;
  /** Slots held for direct claims whose insert is on its way. */
  direct: number;
  /** Places asked for by claim rounds in flight. */
  reserved: number;
  /** Claimed jobs waiting for a slot. */
  buffer: Attempt[];
  /** Exponentially weighted average handler duration in ms; undefined until one has run. */
  averageMs: number | undefined;
}

export class Slots implements DirectClaimSource {
  readonly #deps: SlotsDeps;
  readonly #byTask = new Map<string, TaskSlots>();

  constructor(deps: SlotsDeps) {
    this.#deps = deps;
  }

  /** Whether a handler runs or a direct claim is on its way. */
  get busy(): boolean {
    for (const slots of this.#byTask.values()) if (slots.running > 0 || slots.direct > 0) return true;
    return false;
  }

  /** Whether a claim round is in flight (places are reserved). */
  get claiming(): boolean {
    for (const slots of this.#byTask.values()) if (slots.reserved > 0) return true;
    return false;
  }

  /**
   * What to claim now, at most `limitEach` jobs per task; the places asked for are reserved until
   * `unreserve`. Each round asks for its share only, leaving room for the other rounds that may go out
   * while it is in flight.
   */
  requests(limitEach = Infinity): ClaimRequest[] {
    const requests: ClaimRequest[] = [];
    const { maxRounds } = this.#deps;
    for (const task of this.#deps.tasks.values()) {
      const slots = this.#slots(task.name);
      // A task with flow limits gets no buffer: a job it holds counts against its limits without running.
      const fast = task.flow === undefined && slots.averageMs !== undefined && slots.averageMs < FAST_HANDLER_MS;
      const capacity = fast ? task.workers + Math.max(task.workers * maxRounds, FAST_BUFFER_MIN) : task.workers;
      const room = capacity - slots.running - slots.direct - slots.buffer.length - slots.reserved;
      // A limited task's rounds queue on its store lock anyway: one round may ask for all its room.
      const share = task.flow === undefined ? Math.ceil(capacity / maxRounds) : capacity;
      const want = Math.min(room, share, limitEach);
      if (want <= 0) continue;
      slots.reserved += want;
      requests.push({ name: task.name, limit: want, leaseMs: task.timeout, ...(task.flow && { flow: task.flow }) });
    }
    return requests;
  }

  /** A round asking for `requests` has reported back: its places are no longer reserved. */
  unreserve(requests: ClaimRequest[]): void {
    for (const { name, limit } of requests) this.#slots(name).reserved -= limit;
  }

  /** A claimed job: runs at once if its task has a free slot and the gate is open, else waits in the buffer. */
  place(attempt: Attempt): void {
    const slots = this.#slots(attempt.task.name);
    if (this.#deps.gate() && slots.running < attempt.task.workers) this.#start(attempt, slots);
    else slots.buffer.push(attempt);
  }

  /** Runs `attempt` now, whatever the gate says (a suspect, in a process that holds nothing else). */
  startAlone(attempt: Attempt): void {
    this.#start(attempt, this.#slots(attempt.task.name));
  }

  /**
   * The attempt's handler is done (its outcome may still be on its way to the store): its slot takes the
   * next buffered job, or the fetch loop is woken to claim one. Writing the outcome does not hold the
   * slot, so the next claim and this completion go out in the same round trip.
   */
  handlerDone(attempt: Attempt, handlerMs: number | undefined): void {
    const slots = this.#slots(attempt.task.name);
    slots.running--;
    if (handlerMs !== undefined) {
      slots.averageMs = slots.averageMs === undefined ? handlerMs : slots.averageMs + AVERAGE_WEIGHT * (handlerMs - slots.averageMs);
    }
    const next = this.#deps.gate() ? slots.buffer.shift() : undefined;
    if (next) this.#start(next, slots);
    this.#deps.wake();
  }

  /** Empties the local buffer of task `name` (paused meanwhile), for the caller to hand its jobs back. */
  takeBufferedOf(name: string): Attempt[] {
    return this.#byTask.get(name)?.buffer.splice(0) ?? [];
  }

  /** Empties the local buffer, for the caller to hand its jobs back. */
  takeBuffered(): Attempt[] {
    return [...this.#byTask.values()].flatMap((slots) => slots.buffer.splice(0));
  }

  /**
   * Holds a free slot of task `name` for a job this process is enqueueing now. Only when the gate is open,
   * a slot is free and no claim is on its way to fill it; otherwise undefined, and the job is enqueued as
   * usual. A free slot means the worker found no backlog last time it looked, so a job taken this way
   * overtakes at most what became due since.
   */
  reserveDirect(name: string): DirectClaim | undefined {
    const task = this.#deps.tasks.get(name);
    // Never for a task with flow limits: only the store's limited claim may start its jobs.
    if (!task || task.flow || !this.#deps.gate()) return undefined;
    const slots = this.#slots(name);
    if (slots.running + slots.direct + slots.buffer.length + slots.reserved >= task.workers) return undefined;
    slots.direct++;
    const grantedAt = performance.now();
    let settled = false;
    const settle = () => {
      if (settled) return false;
      settled = true;
      slots.direct--;
      return true;
    };
    return {
      leaseMs: task.timeout,
      adopt: (job) => {
        if (!settle()) return;
        if (job.status === "dequeued") this.#deps.adopt(job, grantedAt);
        else this.#deps.wake();
      },
      cancel: () => {
        if (settle()) this.#deps.wake();
      },
    };
  }

  #start(attempt: Attempt, slots: TaskSlots): void {
    slots.running++;
    this.#deps.run(attempt);
  }

  #slots(name: string): TaskSlots {
    let slots = this.#byTask.get(name);
    if (!slots) {
      slots = { running: 0, direct: 0, reserved: 0, buffer: [], averageMs: undefined };
      this.#byTask.set(name, slots);
    }
    return slots;
  }
}
