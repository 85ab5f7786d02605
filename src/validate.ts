/**
 * Checks of everything that crosses the public boundary, so bad input fails with a `ValidationError`
 * before anything is stored.
 * @module
 */
import { ValidationError } from "./errors.js";

/** Longest task name accepted, in UTF-16 code units. */
export const MAX_NAME_LENGTH = 255;

/** Default limit on a payload's serialised size: 1 MiB. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;

/** Nesting deeper than this is rejected: it would overflow the stack of whoever parses it. */
export const MAX_PAYLOAD_DEPTH = 256;

/** Longest delay accepted: 100 years, far beyond any real schedule, still far from date overflow. */
export const MAX_DELAY_MS = 100 * 365 * 24 * 3600 * 1000;

// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

/** A task name: non-empty, at most 255 characters, well-formed Unicode, no control characters. */
export function checkName(name: unknown, field = "name"): string {
  if (typeof name !== "string") throw new ValidationError(field, `must be a string, got ${describe(name)}`);
  if (name.length === 0) throw new ValidationError(field, "must not be empty");
  if (name.length > MAX_NAME_LENGTH) throw new ValidationError(field, `must be at most ${MAX_NAME_LENGTH} characters`);
  if (!name.isWellFormed()) throw new ValidationError(field, "must be well-formed Unicode (it has a lone surrogate)");
  if (CONTROL_CHARACTERS.test(name)) throw new ValidationError(field, "must not contain control characters");
  return name;
}

/**
 * Serialises a payload or result to JSON text, rejecting anything that would not come back unchanged:
 * BigInt, functions, symbols, `undefined` in arrays (or as the whole value), non-finite numbers, cycles,
 * class instances (Date, Map, Buffer, …: JSON would turn them into something else), lone surrogates,
 * and nesting deeper than {@link MAX_PAYLOAD_DEPTH}. Object properties that are `undefined` are left out,
 * as JSON does (`{ imageUrl: body.imageUrl }` with no image is `{}`). Then enforces `maxBytes` on the
 * UTF-8 size.
 */
export function serializeJson(value: unknown, field: string, maxBytes: number): string {
  checkJsonValue(value, field, new Set(), 0);
  const text = JSON.stringify(value);
  const bytes = Buffer.byteLength(text, "utf8");
  if (bytes > maxBytes) throw new ValidationError(field, `is ${bytes} bytes as JSON, more than the limit of ${maxBytes}`);
  return text;
}

function checkJsonValue(value: unknown, path: string, ancestors: Set<object>, depth: number): void {
  switch (typeof value) {
    case "string":
      if (!value.isWellFormed()) throw new ValidationError(path, "is not well-formed Unicode (lone surrogate)");
      return;
    case "boolean":
      return;
    case "number":
      if (!Number.isFinite(value)) throw new ValidationError(path, `${value} is not representable in JSON`);
      return;
    case "object":
      break;
    default:
      throw new ValidationError(path, `${describe(value)} is not representable in JSON`);
  }
  if (value === null) return;
  if (depth >= MAX_PAYLOAD_DEPTH) throw new ValidationError(path, `is nested deeper than ${MAX_PAYLOAD_DEPTH} levels`);
  if (ancestors.has(value)) throw new ValidationError(path, "is circular");
  ancestors.add(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) checkJsonValue(value[i], `${path}[${i}]`, ancestors, depth + 1);
  } else {
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      throw new ValidationError(path, `${describe(value)} is not a plain object; convert it to JSON-compatible data first`);
    }
    for (const key of Object.keys(value)) {
      const property = (value as Record<string, unknown>)[key];
      if (property === undefined) continue; // JSON.stringify leaves it out
      if (!key.isWellFormed()) throw new ValidationError(path, "has a key that is not well-formed Unicode");
      checkJsonValue(property, `${path}.${key}`, ancestors, depth + 1);
    }
  }
  ancestors.delete(value);
}

/** A whole number of milliseconds in [min, max], or the default when undefined. */
export function checkDuration(value: unknown, field: string, options: { min: number; max?: number }): number {
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new ValidationError(field, `must be a finite number of milliseconds, got ${describe(value)}`);
  }
  const max = options.max ?? MAX_DELAY_MS;
  if (value < options.min || value > max) throw new ValidationError(field, `must be between ${options.min} and ${max}, got ${value}`);
  return value;
}

/** An integer in [min, max]. */
export function checkInteger(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value)) throw new ValidationError(field, `must be an integer, got ${describe(value)}`);
  if (value < min || value > max) throw new ValidationError(field, `must be between ${min} and ${max}, got ${value}`);
  return value;
}

/** Rejects keys an options object does not know, so a typo (`maxAttempt`) is not silently ignored. */
export function checkKnownKeys(options: object, known: readonly string[], field: string): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) throw new ValidationError(`${field}.${key}`, `is not a known option (known: ${known.join(", ")})`);
  }
}

/** An options argument: undefined (→ {}) or a plain object. */
export function checkOptionsObject<T extends object>(value: T | undefined, field: string): Partial<T> {
  if (value === undefined) return {};
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ValidationError(field, `must be an object, got ${describe(value)}`);
  }
  return value;
}

/** A short description of a value's type for error messages (never its content, which may be large or secret). */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") {
    const name = (Object.getPrototypeOf(value) as { constructor?: { name?: string } } | null)?.constructor?.name;
    return name && name !== "Object" ? `a ${name}` : "an object";
  }
  if (typeof value === "number") return `the number ${value}`;
  return `a ${typeof value}`;
}
