/**
 * Typed tasks: the queue's API checked against a map of task names to their types, with no code
 * generation. `Queue.open<Tasks>(…)` returns the same queue, typed as {@link TypedQueue}: an unknown task
 * name or a wrong payload is a compile error, `define` types `ctx.job.data` and checks what the handler
 * returns, and `get`/`list` return jobs whose type follows from their `name`. The map can be written by
 * hand or derived from task definitions (`TasksOf<typeof sendEmail | typeof resize>`).
 * Types only: the object is the plain `Queue` at run time.
 * @module
 */
import type { ListOptions } from "./admin.js";
import type { Job, Json, JsonCompatible } from "./job.js";
import type { EnqueueItem, EnqueueOptions, EnqueueSyncOptions, Queue } from "./queue.js";
import type { WaitOptions } from "./flow/waiters.js";
import type { RetryFilter } from "./flow/dead-letters.js";
import type {
  AnyTaskDefinition, DataOfDefinition, InputOfDefinition, ResultOfDefinition,
} from "./schema/task-definition.js";
import type { TransactionHandle } from "./store/registry.js";
import type { Handler, TaskOptions } from "./task.js";

/**
 * The types of one task in a task map: `data`, what the handler receives; `result`, what it returns
 * (default `unknown`); `input`, what `enqueue` accepts when a schema transforms it (default: `data`).
 */
export interface TaskTypes {
  data?: unknown;
  result?: unknown;
  input?: unknown;
}

/** A task's names in a task map. */
export type TaskName<Tasks> = keyof Tasks & string;
/** What task `N`'s handler receives. */
export type TaskData<Tasks, N extends keyof Tasks> = Tasks[N] extends { data: infer D } ? D : Json;
/** What task `N`'s handler returns (and its jobs hold as `result`); `unknown` where the map declares none. */
export type TaskResult<Tasks, N extends keyof Tasks> = Tasks[N] extends { result: infer R } ? R : unknown;
/** What `enqueue` accepts for task `N` (and its jobs hold as `data`). */
export type TaskInput<Tasks, N extends keyof Tasks> = Tasks[N] extends { input: infer I } ? I : TaskData<Tasks, N>;

/** A job of task `N`. */
export type TaskJob<Tasks, N extends TaskName<Tasks>> = Omit<Job<TaskInput<Tasks, N>, TaskResult<Tasks, N>>, "name"> & { name: N };

/** What `enqueue` returns for task `N`: its job, and whether this call stored it (see `label`). */
export type EnqueuedTaskJob<Tasks, N extends TaskName<Tasks>> = TaskJob<Tasks, N> & { duplicate: boolean };

/** A job of any task of the map: check `job.name` and its `data` and `result` follow. */
export type AnyTaskJob<Tasks> = { [N in TaskName<Tasks>]: TaskJob<Tasks, N> }[TaskName<Tasks>];

/** One job of {@link TypedQueue.enqueueMany}: its name decides its data's type. */
export type TypedEnqueueItem<Tasks> = {
  [N in TaskName<Tasks>]: Omit<EnqueueItem, "name" | "data"> & { name: N; data: TaskInput<Tasks, N> };
}[TaskName<Tasks>];

/** The task map of some task definitions: `TasksOf<typeof sendEmail | typeof resize>`. */
export type TasksOf<Definitions extends AnyTaskDefinition> = {
  [N in Definitions["name"]]: {
    input: InputOfDefinition<Extract<Definitions, { name: N }>>;
    data: DataOfDefinition<Extract<Definitions, { name: N }>>;
    result: ResultOfDefinition<Extract<Definitions, { name: N }>>;
  };
};

/** What {@link Queue.open} returns: the plain `Queue` without a task map, a {@link TypedQueue} with one. */
export type QueueOf<Tasks> = [Tasks] extends [never] ? Queue : TypedQueue<Tasks>;

/** A handler of task `N`: its return value must be the task's result type (and JSON). */
export type TaskHandler<Tasks, N extends keyof Tasks> = Handler<TaskData<Tasks, N>, TaskResult<Tasks, N> & JsonCompatible<TaskResult<Tasks, N>>>;

/** A definition of a task of the map. */
type DefinitionIn<Tasks> = AnyTaskDefinition & { name: TaskName<Tasks> };

/**
 * The queue typed by a task map `Tasks` (see the module comment). Every other method is the `Queue`'s.
 * @example
 * interface Tasks {
 *   "send-email": { data: { to: string }; result: { id: string } };
 *   "resize": { data: { file: string } };
 * }
 * const queue = await Queue.open<Tasks>("sqlite:./jobs.db");
 * queue.define("send-email", async (ctx) => ({ id: await mailer.send(ctx.job.data.to) }));
 * await queue.enqueue("send-email", { to: "a@b.c" });
 */
export interface TypedQueue<Tasks>
  extends Omit<Queue, "define" | "enqueue" | "enqueueSync" | "enqueueMany" | "get" | "list" | "waitFor" | "retry"> {
  /** {@link Queue.define} for task `name` of the map: `ctx.job.data` is its data, and the handler must return its result. */
  define<N extends TaskName<Tasks>>(name: N, handler: TaskHandler<Tasks, N>, options?: TaskOptions<TaskData<Tasks, N>>): this;
  /** {@link Queue.define} from a task definition (its schema parses each payload for the handler). */
  define<D extends DefinitionIn<Tasks>>(
    task: D,
    handler: Handler<DataOfDefinition<D>, ResultOfDefinition<D> & JsonCompatible<ResultOfDefinition<D>>>,
    options?: TaskOptions<DataOfDefinition<D>>,
  ): this;
  /** {@link Queue.enqueue} for task `name` of the map, with its payload type. */
  enqueue<N extends TaskName<Tasks>>(name: N, data: TaskInput<Tasks, N>, options?: EnqueueOptions): Promise<EnqueuedTaskJob<Tasks, N>>;
  /** {@link Queue.enqueue} from a task definition: the payload is checked against its schema. */
  enqueue<D extends DefinitionIn<Tasks>>(task: D, data: InputOfDefinition<D>, options?: EnqueueOptions): Promise<EnqueuedTaskJob<Tasks, D["name"]>>;
  /** {@link Queue.enqueueSync} for task `name` of the map. */
  enqueueSync<N extends TaskName<Tasks>>(name: N, data: TaskInput<Tasks, N>, options: EnqueueSyncOptions): EnqueuedTaskJob<Tasks, N>;
  /** {@link Queue.enqueueMany}: each item's data typed by its name. */
  enqueueMany(items: ReadonlyArray<TypedEnqueueItem<Tasks>>, options?: { tx?: TransactionHandle }): Promise<Array<AnyTaskJob<Tasks> & { duplicate: boolean }>>;
  /** {@link Queue.get}: narrow on `job.name` for its data and result types. */
  get(id: string): Promise<AnyTaskJob<Tasks> | null>;
  /** {@link Queue.list}, typed as {@link TypedQueue.get}. */
  list(options?: ListOptions): Promise<Array<AnyTaskJob<Tasks>>>;
  /**
   * {@link Queue.waitFor}: the finished job, typed as {@link TypedQueue.get}; name its task to get that
   * task's job type directly: `waitFor<"send-email">(job.id)` (`job.result` is then the task's result).
   */
  waitFor<N extends TaskName<Tasks> = never>(id: string, options?: WaitOptions): Promise<TaskJobOrAny<Tasks, N>>;
  /** {@link Queue.retry}, typed as {@link TypedQueue.waitFor}. */
  retry<N extends TaskName<Tasks> = never>(id: string): Promise<TaskJobOrAny<Tasks, N>>;
  retry(filter: RetryFilter): Promise<number>;
}

/** Task `N`'s job, or (no `N`) a job of any task of the map. */
export type TaskJobOrAny<Tasks, N extends TaskName<Tasks>> = [N] extends [never] ? AnyTaskJob<Tasks> : TaskJob<Tasks, N>;
