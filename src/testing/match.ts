/**
 * Partial deep matching for `expectEnqueued`: what the test names must be there; the rest may differ.
 * @module
 */

/**
 * A partial description of a value: objects match when every key given matches (others are ignored),
 * arrays when they have the same length and every element matches, anything else by `Object.is`.
 */
export type DeepPartial<T> = T extends ReadonlyArray<infer E>
  ? ReadonlyArray<DeepPartial<E>>
  : T extends object
    ? { readonly [K in keyof T]?: DeepPartial<T[K]> }
    : T;

/** Whether `actual` matches the partial description `expected` (see {@link DeepPartial}). */
export function matches(actual: unknown, expected: unknown): boolean {
  if (Array.isArray(expected)) {
    return Array.isArray(actual) && actual.length === expected.length && expected.every((item, i) => matches(actual[i], item));
  }
  if (typeof expected === "object" && expected !== null) {
    if (typeof actual !== "object" || actual === null || Array.isArray(actual)) return false;
    return Object.entries(expected).every(([key, value]) => matches((actual as Record<string, unknown>)[key], value));
  }
  return Object.is(actual, expected);
}
