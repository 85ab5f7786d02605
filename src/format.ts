/**
 * Times and durations for people, shared by the CLI and the dashboard.
 * @module
 */

/** A duration: 850 ms, 12.3 s, 4 min, 2.5 h, 3.0 d; "—" for null. */
export function formatDuration(ms: number | null): string {
  if (ms === null) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`;
  if (ms < 86_400_000) return `${(ms / 3_600_000).toFixed(1)} h`;
  return `${(ms / 86_400_000).toFixed(1)} d`;
}

/** A time: ISO 8601 in UTC without milliseconds; "—" for null. */
export function formatTime(date: Date | null): string {
  return date === null ? "—" : date.toISOString().replace(/\.\d{3}Z$/, "Z");
}
