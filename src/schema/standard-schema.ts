/**
 * Standard Schema (standardschema.dev): the one interface zod, valibot, arktype and others implement
 * under the `~standard` key, so hewn accepts any of them without depending on one. The interface is
 * declared here, as the spec intends (it is types only), with the members hewn uses.
 * @module
 */
import { ValidationError } from "../errors.js";

/** A validator that implements Standard Schema v1 (zod ≥ 3.24, valibot ≥ 1, arktype ≥ 2, …). */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly "~standard": StandardSchemaV1.Props<Input, Output>;
}

export declare namespace StandardSchemaV1 {
  /** The `~standard` member. */
  interface Props<Input = unknown, Output = Input> {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (value: unknown) => Result<Output> | Promise<Result<Output>>;
    readonly types?: Types<Input, Output> | undefined;
  }
  type Result<Output> = SuccessResult<Output> | FailureResult;
  interface SuccessResult<Output> {
    readonly value: Output;
    readonly issues?: undefined;
  }
  interface FailureResult {
    readonly issues: ReadonlyArray<Issue>;
  }
  interface Issue {
    readonly message: string;
    readonly path?: ReadonlyArray<PropertyKey | PathSegment> | undefined;
  }
  interface PathSegment {
    readonly key: PropertyKey;
  }
  /** Types only: what the schema accepts and what it produces. */
  interface Types<Input = unknown, Output = Input> {
    readonly input: Input;
    readonly output: Output;
  }
  /** What the schema accepts (what producers pass to `enqueue`). */
  type InferInput<Schema extends StandardSchemaV1> = NonNullable<Schema["~standard"]["types"]>["input"];
  /** What the schema produces (what the handler receives). */
  type InferOutput<Schema extends StandardSchemaV1> = NonNullable<Schema["~standard"]["types"]>["output"];
}

/** Whether `value` looks like a Standard Schema. */
export function isStandardSchema(value: unknown): value is StandardSchemaV1 {
  const props = (value as { "~standard"?: { version?: unknown; validate?: unknown } } | null)?.["~standard"];
  return (typeof value === "object" || typeof value === "function") && value !== null
    && typeof props === "object" && props !== null && props.version === 1 && typeof props.validate === "function";
}

/**
 * The value `schema` makes of `value`, or a `ValidationError` whose field is the first issue's path under
 * `field` (`data.to`, `data.items[2].sku`). A promise only when the schema validates asynchronously.
 */
export function validateWith<Output>(schema: StandardSchemaV1<unknown, Output>, value: unknown, field: string): Output | Promise<Output> {
  const result = schema["~standard"].validate(value);
  return result instanceof Promise ? result.then((settled) => outcome(settled, field)) : outcome(result, field);
}

function outcome<Output>(result: StandardSchemaV1.Result<Output>, field: string): Output {
  if (result.issues === undefined) return result.value;
  const [first] = result.issues;
  const more = result.issues.length > 1 ? ` (and ${result.issues.length - 1} more issue${result.issues.length > 2 ? "s" : ""})` : "";
  throw new ValidationError(pathOf(field, first?.path), `${first?.message ?? "is invalid"}${more}`);
}

/** `data` + `["items", 2, "sku"]` → `data.items[2].sku`. */
function pathOf(field: string, path: StandardSchemaV1.Issue["path"]): string {
  let text = field;
  for (const segment of path ?? []) {
    const key = typeof segment === "object" && segment !== null ? segment.key : segment;
    text += typeof key === "number" ? `[${key}]` : typeof key === "string" && /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(String(key))}]`;
  }
  return text;
}
