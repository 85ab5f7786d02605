/**
 * Task definitions: a task's name and types (and optionally its payload schema) as one value that the
 * processes that enqueue and the processes that run it both import. `queue.define(sendEmail, handler)`
 * types the handler; `queue.enqueue(sendEmail, data)` checks the payload, at compile time against its
 * type and at run time against its schema.
 * @module
 */
import { JobError, ValidationError } from "../errors.js";
import type { Json } from "../job.js";
import type { Handler } from "../task.js";
import { checkName, describe } from "../validate.js";
import { isStandardSchema, validateWith, type StandardSchemaV1 } from "./standard-schema.js";

/**
 * A task's name and types: `Input` is what `enqueue` accepts, `Data` what the handler receives (they
 * differ only when a schema transforms), `Result` what the handler returns (`unknown`, anything JSON, until
 * declared with `returns`). Made by {@link task}.
 */
export interface TaskDefinition<Name extends string = string, Input = unknown, Data = unknown, Result = unknown> {
  readonly name: Name;
  /** Checks payloads at enqueue and parses them for the handler; absent for a types-only definition. */
  readonly schema: StandardSchemaV1<Input, Data> | undefined;
  /** Types only (never set): lets `TasksOf` and the queue's methods read this task's types. */
  readonly "~types"?: { readonly input: Input; readonly data: Data; readonly result: Result };
  /** The same definition, with the payload type `D` (for a definition without a schema). */
  data<D>(): TaskDefinition<Name, D, D, Result>;
  /** The same definition, with the handler's result type `R`. */
  returns<R>(): TaskDefinition<Name, Input, Data, R>;
}

/** Any task definition. */
export type AnyTaskDefinition = TaskDefinition<string, unknown, unknown, unknown>;

/** What `enqueue` accepts for a definition. */
export type InputOfDefinition<D> = D extends TaskDefinition<string, infer I, unknown, unknown> ? I : never;
/** What a definition's handler receives. */
export type DataOfDefinition<D> = D extends TaskDefinition<string, unknown, infer T, unknown> ? T : never;
/** What a definition's handler returns. */
export type ResultOfDefinition<D> = D extends TaskDefinition<string, unknown, unknown, infer R> ? R : never;

/**
 * Defines a task as a value: `task("send-email", z.object({ to: z.email() })).returns<{ id: string }>()`,
 * or without a schema, `task("resize").data<{ file: string }>()`. A schema is any Standard Schema (zod,
 * valibot, arktype, …): `enqueue` validates payloads against it (a `ValidationError` naming the path, e.g.
 * `data.to`) and stores them as given; the handler receives what the schema makes of them.
 * @throws ValidationError for a bad name or something that is not a Standard Schema.
 */
export function task<const Name extends string>(name: Name): TaskDefinition<Name, Json, Json, unknown>;
export function task<const Name extends string, Schema extends StandardSchemaV1>(
  name: Name,
  schema: Schema,
): TaskDefinition<Name, StandardSchemaV1.InferInput<Schema>, StandardSchemaV1.InferOutput<Schema>, unknown>;
export function task(name: string, schema?: unknown): TaskDefinition<string, unknown, unknown, unknown> {
  checkName(name);
  if (schema !== undefined && !isStandardSchema(schema)) {
    throw new ValidationError("schema", `must be a Standard Schema (zod, valibot, arktype, … with a "~standard" member), got ${describe(schema)}`);
  }
  const definition: TaskDefinition<string, unknown, unknown, unknown> = {
    name,
    schema,
    data: () => definition as never,
    returns: () => definition as never,
  };
  return Object.freeze(definition);
}

/** Whether `value` is a task definition made by {@link task}. */
export function isTaskDefinition(value: unknown): value is TaskDefinition<string, unknown, unknown, unknown> {
  return typeof value === "object" && value !== null && typeof (value as { name?: unknown }).name === "string"
    && "schema" in value && typeof (value as { returns?: unknown }).returns === "function";
}

/** The name and schema a call refers to: a definition's own, or a name's (with the schema of a definition this queue defined under it). */
export function resolveTaskRef(ref: unknown, schemas: ReadonlyMap<string, StandardSchemaV1>): { name: unknown; schema: StandardSchemaV1 | undefined } {
  if (isTaskDefinition(ref)) return { name: ref.name, schema: ref.schema };
  return { name: ref, schema: typeof ref === "string" ? schemas.get(ref) : undefined };
}

/**
 * The handler that receives the payload as the schema parses it. A stored payload the schema rejects
 * (enqueued by a process that did not use the definition, or before the schema changed) would be
 * rejected on every retry: the job is cancelled at once with the reason `invalid payload: …`.
 */
export function parsingHandler(schema: StandardSchemaV1, handler: Handler<unknown, unknown>): Handler<unknown, unknown> {
  return async (ctx) => {
    let data: unknown;
    try {
      data = await validateWith(schema, ctx.job.data, "data");
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new JobError(`invalid payload: ${message}`, { retry: false, cause: error });
    }
    return handler({ ...ctx, job: { ...ctx.job, data } });
  };
}

/**
 * The name a call refers to, once `data` passed the schema if there is one (see {@link resolveTaskRef}).
 * Throws `ValidationError` naming the path under `field` (default `data`). A promise unless `sync`; with
 * `sync`, a schema that can only validate asynchronously is refused.
 */
export function payloadChecked(ref: unknown, data: unknown, schemas: ReadonlyMap<string, StandardSchemaV1>, options: { sync: true; field?: string }): unknown;
export function payloadChecked(ref: unknown, data: unknown, schemas: ReadonlyMap<string, StandardSchemaV1>, options?: { field?: string }): Promise<unknown>;
export function payloadChecked(
  ref: unknown, data: unknown, schemas: ReadonlyMap<string, StandardSchemaV1>, options: { sync?: boolean; field?: string } = {},
): unknown {
  const { name, schema } = resolveTaskRef(ref, schemas);
  const field = options.field ?? "data";
  if (schema === undefined) return options.sync ? name : Promise.resolve(name);
  if (!options.sync) {
    try {
      return Promise.resolve(validateWith(schema, data === undefined ? {} : data, field)).then(() => name);
    } catch (error) {
      return Promise.reject(error);
    }
  }
  const checked = validateWith(schema, data === undefined ? {} : data, field);
  if (checked instanceof Promise) {
    checked.catch(() => undefined);
    throw new ValidationError(field, "the task's schema validates asynchronously, which enqueueSync cannot wait for: use enqueue()");
  }
  return name;
}
