/**
 * A fast reader of `timestamptz` text. Every claimed row carries several timestamps, and the general
 * parser pg uses (a regular expression per value, then Date arithmetic) cost about a tenth of a busy
 * worker's CPU. PostgreSQL's output for ISO DateStyle is fixed-width up to the seconds
 * (`2026-11-29 11:12:13.123456+00`, offset `+HH`, `+HH:MM` or `+HH:MM:SS`), so this reads it by
 * position; anything else (BC dates, five-digit years, `infinity`, another DateStyle) goes to the
 * general parser, so every value still reads exactly as before.
 * @module
 */

/** Reads `text` as a `Date`, or hands it to `fallback` when it is not in the common ISO shape. */
export function parseTimestamptz(text: string, fallback: (text: string) => unknown): unknown {
  const n = text.length;
  if (n < 22 || text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45 || text.charCodeAt(10) !== 32
    || text.charCodeAt(13) !== 58 || text.charCodeAt(16) !== 58) return fallback(text);
  const year = digits(text, 0, 4);
  const month = digits(text, 5, 2);
  const day = digits(text, 8, 2);
  const hour = digits(text, 11, 2);
  const minute = digits(text, 14, 2);
  const second = digits(text, 17, 2);
  let i = 19;
  let ms = 0;
  if (text.charCodeAt(i) === 46) {
    // Fraction: up to 6 digits; milliseconds are its first three (Date keeps no more, and truncates).
    let scale = 100;
    for (i++; i < n; i++) {
      const d = text.charCodeAt(i) - 48;
      if (d < 0 || d > 9) break;
      ms += d * scale;
      scale /= 10;
    }
    ms = Math.trunc(ms);
  }
  const sign = text.charCodeAt(i);
  if (sign !== 43 && sign !== 45) return fallback(text);
  let offset = digits(text, i + 1, 2) * 3600;
  i += 3;
  if (i < n && text.charCodeAt(i) === 58) {
    offset += digits(text, i + 1, 2) * 60;
    i += 3;
    if (i < n && text.charCodeAt(i) === 58) {
      offset += digits(text, i + 1, 2);
      i += 3;
    }
  }
  if (i !== n || Number.isNaN(year + month + day + hour + minute + second + offset) || year < 1000) return fallback(text);
  const utc = Date.UTC(year, month - 1, day, hour, minute, second, ms) - (sign === 43 ? offset : -offset) * 1000;
  return new Date(utc);
}

/** The decimal number of `length` digits at `start`, or NaN if any is not a digit. */
function digits(text: string, start: number, length: number): number {
  let value = 0;
  for (let i = start; i < start + length; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return NaN;
    value = value * 10 + d;
  }
  return value;
}
