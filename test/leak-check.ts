/**
 * The leak check. Every test file imports this module first; it then fails any test that leaves a
 * resource behind once its own cleanups (`t.after`) have run, as graphile-worker's suite does.
 *
 * A resource is either a libuv handle or request that keeps the event loop alive (what
 * `process.getActiveResourcesInfo()` lists: sockets, timers, child processes, pending file system
 * requests, …) or, on Linux, a file this process holds open (/proc/self/fd): an unclosed SQLite
 * connection keeps its database files open but owns no libuv handle. Unref'd timers and handles do not
 * keep the process alive and are not listed.
 *
 * Tests within a file run one after another (node:test runs files in parallel processes), so what a
 * test added is the difference between a snapshot taken before it and one taken after it. Nothing is
 * whitelisted: what is legitimately process-wide (the runner's pipes to its parent process, tsx's
 * module loader) exists before the first test's snapshot, so it never shows up as a difference.
 *
 * `npm test` runs with --test-force-exit, so a leaked handle fails its test here instead of keeping its
 * file's process, and with it the whole run, alive.
 */
import { afterEach, beforeEach } from "node:test";
import { readdirSync, readlinkSync } from "node:fs";
import { access } from "node:fs/promises";
import { Socket } from "node:net";

/** Counts of resources by kind (`TCPSocketWrap`, `Timeout`, `file /tmp/x.db`, …). */
export type Resources = ReadonlyMap<string, number>;

/** Loop turns a closing handle (a socket being destroyed, an exited child's pipes) gets to finish. */
const SETTLE_TURNS = 10;
/** Thread-pool round trips a file-system request in flight may take to finish (see leakedSince). */
const FS_ROUND_TRIPS = 100;
/** A file-system request in flight, or a file (that one may hold). */
const inFlightFs = (kind: string) => kind === "FSReqCallback" || kind === "FSReqPromise" || kind.startsWith("file ");
/** How long a socket this process has ended may wait for its peer to close it (PostgreSQL answers at once). */
const CLOSE_WAIT_MS = 5_000;

/** The resources this process holds now. */
export function resources(): Resources {
  const counts = new Map<string, number>();
  const add = (kind: string) => counts.set(kind, (counts.get(kind) ?? 0) + 1);
  for (const kind of process.getActiveResourcesInfo()) add(kind);
  for (const file of openFiles()) add(`file ${file}`);
  return counts;
}

/** What `now` holds beyond `before`, one entry per resource, e.g. `["TCPSocketWrap", "Timeout", "Timeout"]`. */
export function added(before: Resources, now: Resources): string[] {
  const extra: string[] = [];
  for (const [kind, count] of now) {
    for (let i = before.get(kind) ?? 0; i < count; i++) extra.push(kind);
  }
  return extra.sort();
}

/**
 * The resources added since `before` that are still there once closing ones have finished: a handle
 * being closed is released within a few turns of the event loop, and a socket this process has ended
 * (`pool.end()` resolves before its connections are closed) once its peer closes it. Nothing here
 * waits for time to pass: a leaked resource stays whatever the wait, a closing one only needs events.
 */
export async function leakedSince(before: Resources): Promise<string[]> {
  const awaited = new WeakSet<Socket>();
  for (let turn = 0; ; turn++) {
    const leaked = added(before, resources());
    if (leaked.length === 0) return leaked;
    const closing = endedSockets().filter((socket) => !awaited.has(socket));
    if (closing.length > 0) {
      for (const socket of closing) awaited.add(socket);
      await Promise.all(closing.map(closed));
      continue;
    }
    if (turn >= SETTLE_TURNS) {
      // A file-system request in flight finishes by itself: tsx's loader, for one, writes its cache file
      // of a module first imported during the test after the import resolved. Such requests (and the
      // files they hold) get up to FS_ROUND_TRIPS trips through libuv's thread pool, where they run; a
      // file left open stays, however long this waits.
      if (turn >= SETTLE_TURNS + FS_ROUND_TRIPS || !leaked.every(inFlightFs)) return leaked;
      await access(".").catch(() => undefined);
      continue;
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * Sockets whose writable side this process has ended and that are not closed yet. Node lists handles
 * only through the undocumented `process._getActiveHandles()`; without it, none are listed.
 */
function endedSockets(): Socket[] {
  const handles = (process as { _getActiveHandles?: () => unknown[] })._getActiveHandles?.() ?? [];
  return handles.filter((handle): handle is Socket => handle instanceof Socket && handle.writableEnded && !handle.closed);
}

/** Resolves when `socket` closes, or after CLOSE_WAIT_MS (it then counts as leaked). */
function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, CLOSE_WAIT_MS);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Paths of the regular files this process has open (Linux; elsewhere none are listed). */
function openFiles(): string[] {
  let fds: string[];
  try {
    fds = readdirSync("/proc/self/fd");
  } catch {
    return [];
  }
  const files: string[] = [];
  for (const fd of fds) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // closed meanwhile (the directory listing itself was one of them)
    }
    // Sockets, pipes and anon inodes (epoll, eventfd, io_uring) show as "type:[inode]": libuv's own, or
    // sockets that getActiveResourcesInfo() already lists as handles.
    if (target.startsWith("/") && !target.startsWith("/dev/") && !target.startsWith("/proc/")) files.push(target);
  }
  return files;
}

let baseline: Resources = new Map();
/** Set by the first of the running test's t.after hooks. */
let cleanupsStarted = false;

beforeEach((context) => {
  baseline = resources();
  cleanupsStarted = false;
  if ("after" in context) context.after(() => void (cleanupsStarted = true));
});

afterEach((context) => {
  if (!("after" in context)) return;
  // node:test runs afterEach before the test's own t.after cleanups: an after hook added now runs after
  // all of them (unless one of them throws, which fails the test anyway).
  if (cleanupsStarted) throw new Error("node:test now runs t.after hooks before afterEach: test/leak-check.ts must check elsewhere");
  const before = baseline;
  context.after(async () => {
    const leaked = await leakedSince(before);
    if (leaked.length > 0) throw new Error(`the test left resources behind: ${leaked.join(", ")}`);
  });
});
