/**
 * Starting worker processes for process-level tests, and reading what they print.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { within } from "../helpers.js";

const FIXTURE = fileURLToPath(new URL("../fixtures/worker-process.ts", import.meta.url));

/** How a worker process ended. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface StartOptions {
  /** The script to run (a .ts file, run through tsx). Default: test/fixtures/worker-process.ts. */
  fixture?: string;
  /** Extra node flags, e.g. `--expose-gc`. */
  nodeArgs?: string[];
  /** Called with every stdout line as it arrives. */
  onLine?: (line: string) => void;
  /** Give the child a stdin pipe (see {@link WorkerProcess.closeStdin}); otherwise its stdin is ignored. */
  stdin?: boolean;
  /** Variables added to the child's environment. */
  env?: Record<string, string>;
}

export interface WorkerProcess {
  child: ChildProcess;
  /** Resolves with the first stdout line matching `pattern` (one already printed counts). */
  line(pattern: RegExp, what: string, timeoutMs?: number): Promise<string>;
  /** Ends the child's stdin (started with `stdin: true`): a signal the child can wait for. */
  closeStdin(): void;
  /** Every stdout line printed so far. */
  lines(): readonly string[];
  /** Sends SIGTERM and resolves with the exit code. */
  stop(): Promise<number | null>;
  /** Sends SIGKILL (if still running) and resolves once the process has exited. */
  kill(): Promise<Exit>;
  /** Resolves when the process has exited, however. */
  readonly exited: Promise<Exit>;
  stderr(): string;
}

export function startWorker(config: Record<string, unknown>, options: StartOptions = {}): WorkerProcess {
  const fixture = options.fixture ?? FIXTURE;
  const args = [...(options.nodeArgs ?? []), "--import", "tsx", fixture, JSON.stringify(config)];
  const child = spawn(process.execPath, args, {
    stdio: [options.stdin ? "pipe" : "ignore", "pipe", "pipe"],
    ...(options.env && { env: { ...process.env, ...options.env } }),
  });
  // Closing the stdin of a child that already exited fails with EPIPE: nothing is waiting for it then.
  child.stdin?.on("error", () => undefined);
  const lines: string[] = [];
  const waiters: Array<{ pattern: RegExp; resolve: (line: string) => void }> = [];
  let buffer = "";
  let errors = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    buffer += chunk;
    let newline: number;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      lines.push(line);
      options.onLine?.(line);
      for (const waiter of waiters.filter((w) => w.pattern.test(line))) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  });
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (errors += chunk));
  const exited = new Promise<Exit>((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  return {
    child,
    line(pattern, what, timeoutMs = 60_000) {
      const seen = lines.find((line) => pattern.test(line));
      if (seen) return Promise.resolve(seen);
      return within(new Promise<string>((resolve) => waiters.push({ pattern, resolve })), `${what} (stderr: ${errors.slice(-500)})`, timeoutMs);
    },
    closeStdin() {
      if (!child.stdin) throw new Error("closeStdin() needs startWorker(…, { stdin: true })");
      child.stdin.end();
    },
    lines: () => lines,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      return (await within(exited, "worker exit", 30_000)).code;
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      return within(exited, "worker exit after SIGKILL", 30_000);
    },
    exited,
    stderr: () => errors,
  };
}

/**
 * Starts one `fixture` process per config, waits until every one has printed "ready", then releases them
 * all at once (closes their stdin) and resolves with how each exited and its stderr. For races between
 * processes: none starts its part before all are ready.
 */
export async function runReleasedTogether(fixture: string, configs: Array<Record<string, unknown>>): Promise<Array<Exit & { stderr: string }>> {
  const children = configs.map((config) => startWorker(config, { fixture, stdin: true }));
  try {
    await Promise.all(children.map((child) => child.line(/^ready$/, "ready")));
  } finally {
    for (const child of children) child.closeStdin();
  }
  return Promise.all(children.map(async (child) => ({ ...(await within(child.exited, "exit", 60_000)), stderr: child.stderr() })));
}
