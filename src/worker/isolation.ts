/**
 * Suspects run alone.
 *
 * A job whose attempts keep ending with no outcome may be a poison job that kills its process. When its
 * process dies, every job the process held (running, or waiting in the local buffer) has its lease expire
 * with no outcome and gets a crash counted too. Were the poison job run beside others every time, innocent
 * neighbours would reach `maxCrashes` with it and be quarantined. So a *suspect* runs alone in its process,
 * and its crashes then count against it alone.
 *
 * Who is a suspect ({@link isSuspect}). A first crash is most often collateral damage: a deploy, an OOM
 * kill, a lost machine takes down every job of a process at once, and isolating all of those would
 * serialise the surviving processes exactly when they have the most to do. So a job that crashed once
 * runs as usual. A job that crashed twice is a suspect, and so is one whose next crash would quarantine
 * it (with `maxCrashes` 2, after its first crash). Both guarantees hold:
 * - a poison job still reaches `maxCrashes` and is quarantined: each of its runs costs it one crash;
 * - an innocent job is never quarantined for another's crashes: below the suspect threshold (at most
 *   `maxCrashes` − 1) it may share a neighbour's crash, but from there on it is only ever held alone, so
 *   only its own crashes (or an outside kill of the process while it runs) can count.
 * With `maxCrashes` 0 nothing is quarantined, so nobody needs protecting: no job is a suspect.
 *
 * States:
 *
 *   open ──(a claim brings a suspect and nothing else runs)──────────────► alone
 *   open ──(a claim brings a suspect while handlers run)─────────────────► draining
 *   draining ──(no handler runs, no claim nor hand-back in flight)───────► probing
 *   probing ──(the probe brings a suspect)───────────────────────────────► alone
 *   probing ──(the probe brings none)────────────────────────────────────► open
 *   alone ──(the suspect's handler is done)──────────────────────────────► probing
 *   any ──(close)────────────────────────────────────────────────────────► closed
 *
 * - open: jobs are claimed and run as usual.
 * - draining: a suspect must not wait here while other handlers run (their crash would be its crash), so
 *   it went back at once; nothing is claimed or started until the running handlers are done.
 * - probing: the process is quiet; one cautious claim asks for one job per task, so that the next suspect
 *   (first in line, since a hand-back keeps a job's place) comes without a batch to hand back beside it.
 * - alone: the suspect runs as the only job of the process. It starts once no handler runs, no claim is
 *   in flight and every hand-back has landed, so that nothing else is held when it starts.
 * Outside `open` the process holds no job but that one suspect: whatever else a claim brings (a round
 * already in flight, a direct claim, other suspects) and the local buffer are handed back with their
 * claims undone, keeping their place in line (`job:unclaim`).
 * @module
 */
import type { ClaimRequest, StoredJob } from "../store/store.js";
import type { Task } from "../task.js";
import type { Attempt } from "./attempt.js";
import type { Slots } from "./slots.js";

/** The most crashes a job may have and still run beside others (below `maxCrashes` − 1). */
const SHARED_CRASHES_MAX = 1;

/** Whether `job` must run alone: it crashed more than once, or its next crash would quarantine it. */
export function isSuspect(job: Pick<StoredJob, "crashes">, task: Pick<Task, "maxCrashes">): boolean {
  if (task.maxCrashes === 0 || job.crashes >= task.maxCrashes) return false; // never quarantined, or quarantined at start
  return job.crashes > SHARED_CRASHES_MAX || job.crashes === task.maxCrashes - 1;
}

export interface IsolationDeps {
  readonly slots: Slots;
  /** Hands attempts that never started back, their claims undone. */
  readonly handBack: (attempts: Attempt[]) => void;
  /** Whether hand-backs are on their way to the store. */
  readonly handingBack: () => boolean;
  /** The probe may go out: wake the fetch loop. */
  readonly wake: () => void;
}

type State =
  | { readonly name: "open" | "draining" | "closed" }
  | { readonly name: "probing"; sent: boolean }
  | { readonly name: "alone"; readonly suspect: Attempt; started: boolean };

export class Isolation {
  readonly #deps: IsolationDeps;
  #state: State = { name: "open" };

  constructor(deps: IsolationDeps) {
    this.#deps = deps;
  }

  /** Whether jobs are claimed and run as usual. */
  get open(): boolean {
    return this.#state.name === "open";
  }

  /** What the fetch loop should claim now. */
  requests(): ClaimRequest[] {
    const state = this.#state;
    if (state.name === "open") return this.#deps.slots.requests();
    if (state.name !== "probing" || state.sent || !this.#quiet()) return [];
    state.sent = true;
    return this.#deps.slots.requests(1);
  }

  /** Jobs claimed by a round (its places already unreserved) or directly. */
  admit(attempts: Attempt[]): void {
    const { slots, handBack } = this.#deps;
    const state = this.#state;
    // The probe is back: the process is quiet, so a suspect it brought can run alone at once.
    if (state.name === "probing" && state.sent && !slots.claiming) this.#state = { name: "open" };
    if (this.#state.name !== "open") return handBack(attempts);
    const suspect = attempts.find((attempt) => isSuspect(attempt.job, attempt.task));
    if (!suspect) {
      for (const attempt of attempts) slots.place(attempt);
      return;
    }
    const rest = [...attempts.filter((attempt) => attempt !== suspect), ...slots.takeBuffered()];
    if (slots.busy) {
      this.#state = { name: "draining" };
      handBack([suspect, ...rest]);
    } else {
      this.#state = { name: "alone", suspect, started: false };
      handBack(rest);
    }
    this.check();
  }

  /** A handler is done: when it was the suspect's, the process looks for the next one. */
  handlerDone(attempt: Attempt): void {
    const state = this.#state;
    if (state.name !== "alone" || state.suspect !== attempt) return;
    this.#state = { name: "probing", sent: false };
    this.#deps.wake();
  }

  /** A claim round failed: if it was the probe, it goes out again. */
  claimFailed(): void {
    const state = this.#state;
    if (state.name === "probing" && state.sent && !this.#deps.slots.claiming) state.sent = false;
  }

  /** Moves on once the process is quiet (called whenever a handler ends, a round returns or a hand-back lands). */
  check(): void {
    const state = this.#state;
    if (!this.#quiet()) return;
    if (state.name === "draining") {
      this.#state = { name: "probing", sent: false };
      this.#deps.wake();
    } else if (state.name === "alone" && !state.started) {
      state.started = true;
      this.#deps.slots.startAlone(state.suspect);
    }
  }

  /** The worker is closing: nothing is started or claimed from here on. */
  close(): void {
    this.#state = { name: "closed" };
  }

  /** No handler runs, no direct claim nor claim round is in flight, no hand-back is on its way. */
  #quiet(): boolean {
    const { slots, handingBack } = this.#deps;
    return !slots.busy && !slots.claiming && !handingBack();
  }
}
