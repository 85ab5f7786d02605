/**
 * Periodic jobs as the queue offers them: `schedule`, `unschedule`, `schedules`. Declaring stores the
 * schedule (the newest declaration of a key wins, for every process); the periodic enqueuer of each
 * started process that declared it enqueues its slots (see maintenance/periodic-enqueuer.ts).
 * @module
 */
import { ValidationError } from "../errors.js";
import type { Json } from "../job.js";
import { PeriodicEnqueuer } from "../maintenance/periodic-enqueuer.js";
import type { ServiceDeps } from "../maintenance/service.js";
import type { Store } from "../store/store.js";
import { checkInteger, checkKnownKeys, checkName, checkOptionsObject, serializeJson } from "../validate.js";
import { checkCatchUp, type CatchUp } from "./catch-up.js";
import { MAX_KEY_LENGTH } from "./label.js";
import { checkWhen, slotsOf, type When } from "./when.js";

/** Options of `Queue.schedule`. */
export interface ScheduleOptions<Data = Json> {
  /** The data of every slot's job. Default `{}`. */
  data?: Data;
  /** The priority of every slot's job. Default 0. */
  priority?: number;
  /** What happens to slots missed while no process ran: `"none"` (default), `"latest"`, or a bound in ms. */
  catchUp?: CatchUp;
}

/** A stored schedule, as `Queue.schedules()` lists it. */
export interface ScheduleInfo {
  key: string;
  /** The task its jobs run. */
  name: string;
  when: When;
  /** The next slot after now (the store's now). */
  nextAt: Date;
  /** The latest slot handed out, or when the schedule was declared or its `when` changed. */
  lastSlotAt: Date;
  data: Json;
  priority: number;
  catchUp: CatchUp;
}

export interface SchedulesDeps {
  readonly store: Store;
  readonly maxPayloadBytes: number;
}

export class Schedules {
  readonly #deps: SchedulesDeps;
  /** Declared in this process: key → task name. */
  readonly #declared = new Map<string, string>();
  #enqueuer: PeriodicEnqueuer | undefined;

  constructor(deps: SchedulesDeps) {
    this.#deps = deps;
  }

  /**
   * Checks and stores a schedule. `tasks` are the tasks this process defines, given once it runs workers:
   * a schedule for a task it does not define is then a mistake.
   */
  async schedule(key: unknown, name: unknown, when: unknown, options: unknown, tasks: ReadonlyMap<string, unknown> | undefined): Promise<void> {
    const checkedKey = checkName(key, "key");
    if (checkedKey.length > MAX_KEY_LENGTH) throw new ValidationError("key", `must be at most ${MAX_KEY_LENGTH} characters`);
    const checkedName = checkName(name, "name");
    const slots = checkWhen(when);
    const given = checkOptionsObject(options as ScheduleOptions | undefined, "options");
    checkKnownKeys(given, ["data", "priority", "catchUp"], "options");
    const data = serializeJson(given.data === undefined ? {} : given.data, "options.data", this.#deps.maxPayloadBytes);
    const priority = given.priority === undefined ? 0 : checkInteger(given.priority, "options.priority", -1_000_000, 1_000_000);
    const catchUp = checkCatchUp(given.catchUp, "options.catchUp");
    if (tasks !== undefined) this.#checkTask(checkedName, tasks);
    await this.#deps.store.scheduleUpsert({
      schedule: { key: checkedKey, name: checkedName, spec: slots.spec, data, priority, catchUp: JSON.stringify(catchUp) },
    });
    this.#declared.set(checkedKey, checkedName);
    this.#enqueuer?.wake();
  }

  /** Removes a schedule for every process. True if there was one. */
  async unschedule(key: unknown): Promise<boolean> {
    const checkedKey = checkName(key, "key");
    this.#declared.delete(checkedKey);
    return this.#deps.store.scheduleDelete({ key: checkedKey });
  }

  /** Every stored schedule, by key, with its next slot. */
  async list(): Promise<ScheduleInfo[]> {
    const { now, schedules } = await this.#deps.store.scheduleList({});
    return schedules.map((schedule) => {
      const slots = slotsOf(schedule.spec);
      return {
        key: schedule.key,
        name: schedule.name,
        when: slots.when,
        nextAt: new Date(slots.after(now) ?? Number.NaN),
        lastSlotAt: new Date(schedule.lastSlot),
        data: JSON.parse(schedule.data) as Json,
        priority: schedule.priority,
        catchUp: JSON.parse(schedule.catchUp) as CatchUp,
      };
    });
  }

  /** Before workers start: every schedule declared here must be for a task defined here. */
  checkTasks(tasks: ReadonlyMap<string, unknown>): void {
    for (const name of this.#declared.values()) this.#checkTask(name, tasks);
  }

  /** The periodic enqueuer of this process (a maintenance service), for the declared schedules. */
  service(deps: ServiceDeps): PeriodicEnqueuer {
    this.#enqueuer = new PeriodicEnqueuer(deps, () => [...this.#declared.keys()]);
    return this.#enqueuer;
  }

  #checkTask(name: string, tasks: ReadonlyMap<string, unknown>): void {
    if (!tasks.has(name)) {
      throw new ValidationError("name", `task "${name}" is not defined in this process, which runs workers: define it before scheduling it`);
    }
  }
}
