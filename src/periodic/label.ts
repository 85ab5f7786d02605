/**
 * The label of a periodic job: unique to (schedule, slot), so the slot's job deduplicates through the
 * unique index of unique jobs, and `list({ name, label })` finds it.
 * @module
 */

/** Longest schedule key accepted: the key, "@" and an ISO 8601 time must fit a label (255). */
export const MAX_KEY_LENGTH = 200;

/** `<key>@<slot as ISO 8601 UTC>`, e.g. `report@2026-01-01T00:05:00.000Z`. */
export function slotLabel(key: string, slot: number): string {
  return `${key}@${new Date(slot).toISOString()}`;
}
