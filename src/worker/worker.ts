/**
 * The worker side of a queue in one process: the fetch loop, the attempts it runs, the heartbeat that
 * keeps their leases, the completer that batches their outcomes, and the wake-up listener.
 *
 * Slots and the local buffer. A task runs at most `workers` handlers at once. For tasks whose handlers
 * are fast, the worker also claims more jobs than it has free slots and holds them (leased, leases
 * renewed) in a local buffer: at least `workers` more for each claim round the store keeps in flight,
 * and at least FAST_BUFFER_MIN, so that while rounds travel there are always jobs to run, a freed slot
 * starts its next job at once instead of after a round trip, and each commit moves many jobs. Slow
 * tasks get no buffer: jobs held here while other processes sit idle would only delay them.
 *
 * Suspects run alone. A job whose previous attempt crashed (`crashes` > 0) may be a poison job that
 * kills its process. When its process dies, every job it held has its lease expire with no outcome and
 * gets a crash counted, so innocent neighbours would be quarantined with it. So a suspect runs in
 * isolation: the worker stops claiming, hands its buffered jobs (and any other suspects) back, lets
 * running handlers finish, and only then runs the suspect, with nothing else, until it ends. A crash
 * then counts against it alone.
 * @module
 */
import { coerceError } from "../errors.js";
import type { QueueEvents, TypedEmitter } from "../events.js";
import type { ClaimRequest, Store, StoredJob } from "../store/store.js";
import type { Task } from "../task.js";
import { Completer } from "./completer.js";
import { Attempt, type ExecutorDeps } from "./executor.js";
import { FetchLoop } from "./fetch-loop.js";
import { Heartbeat } from "./heartbeat.js";
import type { ErrorReporter } from "../report.js";

export interface WorkerDeps {
  readonly store: Store;
  /** The queue's tasks; read on every round, so tasks defined after start are served too. */
  readonly tasks: ReadonlyMap<string, Task>;
  readonly events: TypedEmitter<QueueEvents>;
  readonly report: ErrorReporter;
  readonly maxPayloadBytes: number;
}

/** A task's handlers count as fast (and get a local buffer) while their average run is under this. */
const FAST_HANDLER_MS = 5;
/**
 * The local buffer of a fast task holds at least this many jobs. Each round's commit waits for the
 * disk, so the jobs a round moves share that wait: bigger rounds, fewer waits. 200 jobs of a fast task
 * drain within milliseconds, so other processes are not kept waiting.
 */
const FAST_BUFFER_MIN = 200;
const SHUTDOWN_REASON = "released: the worker shut down before the handler finished";
const ISOLATION_REASON = "released: a job that crashed before runs alone in this process";
/** Weight of the newest handler duration in the running average. */
const AVERAGE_WEIGHT = 0.1;

/** A free slot held for a job this process is enqueueing now, to be stored already claimed. */
export interface DirectClaim {
  /** The lease to store the job with. */
  readonly leaseMs: number;
  /** Runs the job, stored claimed as asked. */
  adopt(job: StoredJob): void;
  /** The insert failed: gives the slot back. */
  cancel(): void;
}

/** What the worker tracks per task. */
interface TaskState {
  /** Handlers running now. */
  running: number;
  /** Slots held for direct claims whose insert is on its way. */
  direct: number;
  /** Claimed jobs waiting for a slot. */
  buffer: Attempt[];
  /** Exponentially weighted average handler duration in ms; undefined until one has run. */
  averageMs: number | undefined;
}

export class Worker {
  readonly #deps: WorkerDeps;
  readonly #heartbeat: Heartbeat;
  readonly #completer: Completer;
  readonly #loop: FetchLoop;
  /** What every attempt gets; built once, not per claimed job. */
  readonly #executorDeps: ExecutorDeps;
  /** Attempts not yet over (buffered, running, or writing their outcome), by job id. */
  readonly #attempts = new Map<string, Attempt>();
  readonly #states = new Map<string, TaskState>();
  #stopListening: (() => Promise<void>) | undefined;
  #idle: (() => void) | undefined;
  #closing = false;
  readonly #maxRounds: number;
  /** Suspects (see above) waiting to run alone, and the one running alone now. */
  readonly #suspects: Attempt[] = [];
  #isolated: Attempt | undefined;
  /** Releases on their way to the store: a suspect waits for them, or a crash would count against those jobs too. */
  #releasing = 0;

  constructor(deps: WorkerDeps) {
    this.#deps = deps;
    this.#maxRounds = deps.store.capabilities.maxConcurrentRounds;
    this.#heartbeat = new Heartbeat(deps.store, (error) => deps.report(error, { source: "heartbeat" }));
    this.#completer = new Completer(deps.store);
    this.#loop = new FetchLoop({
      store: deps.store,
      completer: this.#completer,
      requests: (reserved) => this.#requests(reserved),
      onClaimed: (jobs, grantedAt) => this.#claimed(jobs, grantedAt),
      pollInterval: () => this.#pollInterval(),
      onRoundsSettled: () => this.#isolate(),
      report: deps.report,
    }, this.#maxRounds);
    this.#completer.attach(this.#loop);
    this.#executorDeps = {
      ...deps,
      heartbeat: this.#heartbeat,
      completer: this.#completer,
      onHandlerDone: (attempt, handlerMs) => this.#handlerDone(attempt, handlerMs),
    };
  }

  /** Starts listening for wake-ups (resolves once listening) and claiming. */
  async start(): Promise<void> {
    const { store, tasks, report } = this.#deps;
    if (store.capabilities.crossProcessWakeups) {
      this.#stopListening = await store.listen({ names: [...tasks.keys()], onWake: () => this.wake(), onError: (error) => report(error, { source: "listen" }) });
    }
    this.#loop.start();
  }

  /** Jobs may be available: claim now rather than at the next poll. */
  wake(): void {
    this.#loop.wake();
  }

  /**
   * Holds a free slot of task `name` for a job this process is enqueueing now, so the job can be stored
   * already claimed and start without a claim round trip (one commit instead of two from enqueue to
   * handler). Only when a slot is free and no claim is on its way to fill it; otherwise undefined, and
   * the job is enqueued as usual. A free slot means the worker found no backlog last time it looked, so
   * a job taken this way overtakes at most what became due since.
   */
  reserveDirect(name: string): DirectClaim | undefined {
    const task = this.#deps.tasks.get(name);
    if (!task || this.#closing || this.#isolating) return undefined;
    const state = this.#state(name);
    const taken = state.running + state.direct + state.buffer.length + this.#loop.reservedFor(name);
    if (taken >= task.workers) return undefined;
    state.direct++;
    const grantedAt = performance.now();
    let settled = false;
    const settle = () => {
      if (settled) return false;
      settled = true;
      state.direct--;
      return true;
    };
    return {
      leaseMs: task.timeout,
      adopt: (job) => {
        if (!settle()) return;
        if (job.status === "dequeued") this.#claimed([job], grantedAt);
        else this.#loop.wake();
      },
      cancel: () => {
        if (settle()) this.#loop.wake();
      },
    };
  }

  /** The attempt of job `id` in this process, if any. */
  attemptOf(id: string): Attempt | undefined {
    return this.#attempts.get(id);
  }

  /**
   * Stops claiming, hands buffered jobs back at once, waits up to `graceMs` for running attempts to
   * finish, then releases the rest so another worker can take them at once, and aborts their handlers.
   */
  async close(graceMs: number): Promise<void> {
    this.#closing = true;
    await this.#loop.stop();
    this.#completer.detach();
    await this.#stopListening?.().catch((error: unknown) => this.#deps.report(coerceError(error), { source: "listen" }));
    const buffered = [...this.#states.values()].flatMap((state) => state.buffer.splice(0));
    await this.#release([...buffered, ...this.#suspects.splice(0)], SHUTDOWN_REASON);
    if (this.#attempts.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      const idle = new Promise<void>((resolve) => (this.#idle = resolve));
      const graceOver = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
      await Promise.race([idle, graceOver]);
      clearTimeout(timer);
      await this.#release([...this.#attempts.values()], SHUTDOWN_REASON);
    }
    this.#heartbeat.stop();
  }

  /** Hands jobs back for another worker to take at once (fenced), and aborts their handlers if running. */
  async #release(attempts: Attempt[], reason: string): Promise<void> {
    // Held but never started (buffered, or a suspect waiting its turn): the claim itself is undone.
    const unstarted = attempts.filter((attempt) => !attempt.started);
    this.#releasing++;
    try {
      await Promise.all([
        this.#releaseSome(unstarted, reason, true),
        this.#releaseSome(attempts.filter((attempt) => attempt.started), reason, false),
      ]);
    } finally {
      this.#releasing--;
      this.#isolate();
    }
  }

  async #releaseSome(attempts: Attempt[], reason: string, unstarted: boolean): Promise<void> {
    const released = attempts.filter((attempt) => attempt.release());
    if (released.length === 0) return;
    try {
      const ids = await this.#deps.store.jobRelease({
        items: released.map((attempt) => ({ id: attempt.job.id, attempt: attempt.attempt })),
        reason,
        unstarted,
      });
      for (const attempt of released) {
        if (ids.has(attempt.job.id)) this.#deps.events.emit("job:release", { job: attempt.job });
      }
    } catch (thrown) {
      // Not fatal: these jobs become claimable anyway once their leases expire.
      this.#deps.report(coerceError(thrown), { source: "release" });
    }
    for (const attempt of released) this.#forget(attempt);
  }

  #state(name: string): TaskState {
    let state = this.#states.get(name);
    if (!state) {
      state = { running: 0, direct: 0, buffer: [], averageMs: undefined };
      this.#states.set(name, state);
    }
    return state;
  }

  #requests(reserved: ReadonlyMap<string, number>): ClaimRequest[] {
    const requests: ClaimRequest[] = [];
    if (this.#isolating) return requests;
    for (const task of this.#deps.tasks.values()) {
      const state = this.#state(task.name);
      const fast = state.averageMs !== undefined && state.averageMs < FAST_HANDLER_MS;
      const capacity = fast ? task.workers + Math.max(task.workers * this.#maxRounds, FAST_BUFFER_MIN) : task.workers;
      const room = capacity - state.running - state.direct - state.buffer.length - (reserved.get(task.name) ?? 0);
      // Leave room for the other rounds that may go out while this one is in flight.
      const want = Math.min(room, Math.ceil(capacity / this.#maxRounds));
      if (want > 0) requests.push({ name: task.name, limit: want, leaseMs: task.timeout });
    }
    return requests;
  }

  #pollInterval(): number {
    let interval = Infinity;
    for (const task of this.#deps.tasks.values()) interval = Math.min(interval, task.interval ?? Infinity);
    return Number.isFinite(interval) ? interval : this.#deps.store.capabilities.defaultPollInterval;
  }

  #claimed(jobs: StoredJob[], grantedAt: number): void {
    const deps = this.#executorDeps;
    for (const job of jobs) {
      const task = this.#deps.tasks.get(job.name);
      if (!task) continue; // cannot happen: we only claim names we have tasks for
      const attempt = new Attempt(deps, job, task, grantedAt);
      this.#attempts.set(job.id, attempt);
      const state = this.#state(task.name);
      // At maxCrashes it is not run at all (quarantined at start), so it needs no isolation.
      const suspect = task.maxCrashes > 0 && job.crashes > 0 && job.crashes < task.maxCrashes;
      if (suspect) this.#suspects.push(attempt);
      else if (state.running < task.workers && !this.#isolating) this.#run(attempt, state);
      else state.buffer.push(attempt);
    }
    this.#isolate();
  }

  /** Suspects are waiting or one runs alone: no claims, no other starts. */
  get #isolating(): boolean {
    return this.#isolated !== undefined || this.#suspects.length > 0;
  }

  /**
   * Moves suspects towards running alone: hands buffered jobs back, and once nothing else runs and no
   * claim is in flight, starts the next suspect.
   */
  #isolate(): void {
    if (!this.#isolating || this.#closing) return;
    // Jobs held here would share a suspect's crash: give them back (also any a late round brings).
    const buffered = [...this.#states.values()].flatMap((state) => state.buffer.splice(0));
    if (buffered.length > 0) void this.#release(buffered, ISOLATION_REASON);
    if (this.#isolated) return;
    const running = [...this.#states.values()].reduce((sum, state) => sum + state.running + state.direct, 0);
    // Called again as each handler ends, each release lands and the last round returns.
    if (running > 0 || this.#releasing > 0 || this.#loop.roundsInFlight > 0) return;
    const [suspect, ...others] = this.#suspects;
    if (!suspect) return;
    if (others.length > 0) {
      // The other suspects would share its crash too: back they go, to be claimed (and isolated) again.
      // The suspect starts once that release has landed (#release calls back here).
      this.#suspects.splice(1);
      void this.#release(others, ISOLATION_REASON);
      return;
    }
    this.#suspects.shift();
    this.#isolated = suspect;
    this.#run(suspect, this.#state(suspect.task.name));
  }

  #run(attempt: Attempt, state: TaskState): void {
    state.running++;
    void attempt.start().then(
      () => this.#forget(attempt),
      (error: unknown) => {
        this.#deps.report(coerceError(error), { source: "outcome", job: attempt.job });
        this.#forget(attempt);
      },
    );
  }

  /**
   * The handler is done (its outcome may still be on its way to the store): its slot takes the next
   * buffered job, or the loop is woken to claim one. Writing the outcome does not hold the slot, so the
   * next claim and this completion go out in the same round trip.
   */
  #handlerDone(attempt: Attempt, handlerMs: number | undefined): void {
    const state = this.#state(attempt.task.name);
    state.running--;
    if (handlerMs !== undefined) {
      state.averageMs = state.averageMs === undefined ? handlerMs : state.averageMs + AVERAGE_WEIGHT * (handlerMs - state.averageMs);
    }
    if (attempt === this.#isolated) this.#isolated = undefined;
    const next = this.#closing || this.#isolating ? undefined : state.buffer.shift();
    if (next) this.#run(next, state);
    this.#isolate();
    this.#loop.wake();
  }

  /** The attempt is over: outcome written, dropped or released. */
  #forget(attempt: Attempt): void {
    if (this.#attempts.get(attempt.job.id) !== attempt) return;
    this.#attempts.delete(attempt.job.id);
    if (this.#attempts.size === 0) this.#idle?.();
  }
}
