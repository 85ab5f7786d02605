/**
 * Starting worker processes for process-level tests, and reading what they print.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { within } from "../helpers.js";

const FIXTURE = fileURLToPath(new URL("../fixtures/worker-process.ts", import.meta.url));

export interface WorkerProcess {
  child: ChildProcess;
  /** Resolves with the first stdout line matching `pattern`. */
  line(pattern: RegExp, what: string): Promise<string>;
  /** Sends SIGTERM and resolves with the exit code. */
  stop(): Promise<number | null>;
  stderr(): string;
}

export function startWorker(config: Record<string, unknown>): WorkerProcess {
  const child = spawn(process.execPath, ["--import", "tsx", FIXTURE, JSON.stringify(config)], { stdio: ["ignore", "pipe", "pipe"] });
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
      for (const waiter of waiters.filter((w) => w.pattern.test(line))) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  });
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (errors += chunk));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return {
    child,
    line(pattern, what) {
      const seen = lines.find((line) => pattern.test(line));
      if (seen) return Promise.resolve(seen);
      return within(new Promise<string>((resolve) => waiters.push({ pattern, resolve })), `${what} (stderr: ${errors.slice(-500)})`, 60_000);
    },
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      return within(exited, "worker exit", 30_000);
    },
    stderr: () => errors,
  };
}
