/**
 * hewn: a durable background-job queue for Node.js on SQLite or PostgreSQL.
 * @packageDocumentation
 */
export { Queue } from "./queue.js";
export type {
  TypedQueue, QueueOf, TaskTypes, TaskName, TaskData, TaskResult, TaskInput, TaskJob, EnqueuedTaskJob, AnyTaskJob, TypedEnqueueItem, TasksOf, TaskHandler,
} from "./typed.js";
export {
  task, type TaskDefinition, type AnyTaskDefinition, type InputOfDefinition, type DataOfDefinition, type ResultOfDefinition,
} from "./schema/task-definition.js";
export type { StandardSchemaV1 } from "./schema/standard-schema.js";
export type { QueueOptions, EnqueueOptions, EnqueueSyncOptions, EnqueueItem, CloseOptions } from "./queue.js";
export type { WaitOptions } from "./flow/waiters.js";
export type { RetryFilter, DeleteFilter } from "./flow/dead-letters.js";
export type { JobDependencies } from "./flow/dependencies.js";
export type { ListOptions, RescheduleOptions, BulkOptions } from "./admin.js";
export type { JobFilter } from "./filter.js";
export type { QueueStats, TaskStats } from "./stats.js";
export type { StoreSettings, TransactionHandle, PostgresTransaction, SqliteTransaction } from "./store/registry.js";
export type { SqliteOptions } from "./store/sqlite/open.js";
export { SqlTransaction, type SqlExecutor } from "./tx/sql-transaction.js";
export { fromKnex, type KnexTransactionLike } from "./tx/knex.js";
export { fromKysely, type KyselyTransactionLike, type KyselyRawQuery } from "./tx/kysely.js";
export { fromDrizzle, type DrizzleTransactionLike } from "./tx/drizzle.js";
export { fromPrisma, type PrismaTransactionLike } from "./tx/prisma.js";
export type { PostgresOptions, PostgresPool } from "./store/postgres/open.js";
export {
  JobError, HewnError, ValidationError, LeaseLostError, JobCancelledError, LifetimeExceededError, ShutdownError, StoreError,
  QueueClosedError, JobNotFoundError, JobStateError, WaitTimeoutError, type HewnErrorCode,
} from "./errors.js";
export type { Job, JobStatus, Json, JsonCompatible, JobAttemptError, EnqueuedJob } from "./job.js";
export type { OnDuplicate } from "./unique/options.js";
export type { ScheduleInfo, ScheduleOptions } from "./periodic/schedules.js";
export type { When, EveryWhen, CronWhen } from "./periodic/when.js";
export type { CatchUp } from "./periodic/catch-up.js";
export { JOB_STATUSES } from "./job.js";
export type { Handler, JobContext, RunningJob, TaskOptions } from "./task.js";
export type { RateLimit } from "./flow/limits.js";
export { TASK_DEFAULTS } from "./task.js";
export { threaded, type ThreadContext, type ThreadedHandler, type ThreadedOptions } from "./worker/threads/threaded.js";
export type { QueueEvents } from "./events.js";
export type { ErrorContext, ErrorSource } from "./report.js";
export { backoffDelay, type BackoffPolicy } from "./backoff.js";
