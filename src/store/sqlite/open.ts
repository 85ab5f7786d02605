/**
 * `sqlite:` URLs and the SQLite section of the queue's options, turned into a store.
 *
 * - `sqlite:./jobs.db`, `sqlite:jobs.db`, `sqlite:/abs/jobs.db` and `sqlite:///abs/jobs.db` name a file
 *   (relative to the working directory). Percent-escapes are decoded (`my%20jobs.db`), so a file name
 *   holding `?` or `#` is written `%3F` or `%23`.
 * - `sqlite::memory:` is a private in-memory database: same semantics, gone when the queue closes, and
 *   not shared with any other queue (or process).
 * - Query parameters: `mode=ro` (read-only: the file must exist and be migrated), `mode=rw` (the file
 *   must exist), `mode=rwc` (the default: created if missing). Anything else is a `ValidationError`.
 * @module
 */
import path from "node:path";
import { ValidationError } from "../../errors.js";
import { checkInteger, checkKnownKeys, checkOptionsObject, describe } from "../../validate.js";
import type { OpenStoreParams } from "../registry.js";
import type { Store } from "../store.js";

/** Options of the SQLite store: `Queue.open(url, { sqlite: { … } })`. */
export interface SqliteOptions {
  /**
   * The clock every stored time comes from, in epoch ms (creation, availability, leases, retention).
   * Default `Date.now`. Tests use it to move time without waiting.
   */
  clock?: () => number;
  /** How long a write waits for another connection's write lock before failing, in ms. Default 5 000. */
  busyTimeout?: number;
}

/** What a `sqlite:` URL names. */
export interface SqliteLocation {
  /** An absolute path, or `":memory:"`. */
  filename: string;
  readonly: boolean;
  mustExist: boolean;
}

const MEMORY = ":memory:";
const MODES = ["ro", "rw", "rwc"] as const;

export async function openSqliteStore({ url, settings, durability, create, onError }: OpenStoreParams): Promise<Store> {
  const location = parseSqliteUrl(url);
  const options = checkOptionsObject(settings as SqliteOptions | undefined, "options.sqlite");
  checkKnownKeys(options, ["clock", "busyTimeout"], "options.sqlite");
  if (options.clock !== undefined && typeof options.clock !== "function") {
    throw new ValidationError("options.sqlite.clock", `must be a function returning epoch ms, got ${describe(options.clock)}`);
  }
  const busyTimeoutMs = checkInteger(options.busyTimeout ?? 5000, "options.sqlite.busyTimeout", 0, 0x7fffffff);
  if ((location.mustExist || create === false) && location.filename !== MEMORY) {
    const { existsSync } = await import("node:fs");
    const why = location.mustExist ? `mode=${location.readonly ? "ro" : "rw"}` : "migrate: false (which creates nothing)";
    if (!existsSync(location.filename)) throw new ValidationError("url", `${why}: ${location.filename} does not exist`);
  }
  const { SqliteStore } = await import("./sqlite-store.js");
  return new SqliteStore({
    filename: location.filename, readonly: location.readonly, clock: options.clock, busyTimeoutMs, durability, onError,
  });
}

/** Parses a `sqlite:` URL (see the module comment). */
export function parseSqliteUrl(url: string): SqliteLocation {
  if (!url.startsWith("sqlite:")) throw new ValidationError("url", `"${url.slice(0, 100)}" is not a sqlite: URL`);
  let rest = url.slice("sqlite:".length);
  if (rest.includes("#")) throw new ValidationError("url", "must not contain a fragment (#); write a # in a file name as %23");
  const queryAt = rest.indexOf("?");
  const query = new URLSearchParams(queryAt === -1 ? "" : rest.slice(queryAt + 1));
  if (queryAt !== -1) rest = rest.slice(0, queryAt);
  let mode: (typeof MODES)[number] = "rwc";
  for (const [key, value] of query) {
    if (key !== "mode") throw new ValidationError("url", `unknown parameter "${key}" (known: mode=ro|rw|rwc)`);
    if (!(MODES as readonly string[]).includes(value)) throw new ValidationError("url", `mode must be ro, rw or rwc, got "${value}"`);
    mode = value as (typeof MODES)[number];
  }
  if (rest.startsWith("//")) rest = rest.slice(2);
  let file: string;
  try {
    file = decodeURIComponent(rest);
  } catch {
    throw new ValidationError("url", `"${url.slice(0, 100)}" has a malformed percent-escape`);
  }
  if (file === MEMORY) {
    if (mode === "ro") throw new ValidationError("url", "an in-memory database cannot be read-only: it starts empty");
    return { filename: MEMORY, readonly: false, mustExist: false };
  }
  if (file === "" || file.startsWith("file:")) {
    throw new ValidationError("url", `"${url.slice(0, 100)}" does not name a file; e.g. "sqlite:./jobs.db", or "sqlite::memory:"`);
  }
  if (file.includes("\0")) throw new ValidationError("url", "the file name must not contain NUL");
  return { filename: path.resolve(file), readonly: mode === "ro", mustExist: mode !== "rwc" };
}
