/**
 * The real `hewn` binary, as `npm run build` makes it: compiled once per test process into a scratch
 * folder (its node_modules linked to ours), then run as a child process like an operator would.
 */
import { execFile, execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { TestContext } from "node:test";

const root = fileURLToPath(new URL("../..", import.meta.url));

let built: string | undefined;

/** The path of the compiled `bin` (package.json's `bin.hewn`), building it on first use. */
export function hewnBinary(): string {
  if (built) return built;
  const app = fs.mkdtempSync(path.join(os.tmpdir(), "hewn-cli-"));
  process.on("exit", () => fs.rmSync(app, { recursive: true, force: true }));
  execFileSync(process.execPath, [path.join(root, "node_modules/typescript/bin/tsc"), "-p", path.join(root, "tsconfig.build.json"),
    "--outDir", path.join(app, "dist"), "--sourceMap", "false", "--declaration", "false"]);
  fs.symlinkSync(path.join(root, "node_modules"), path.join(app, "node_modules"), "dir");
  const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { bin: { hewn: string } };
  fs.copyFileSync(path.join(root, "package.json"), path.join(app, "package.json"));
  built = path.join(app, pkg.bin.hewn);
  return built;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `hewn …args` to completion (no TTY: no colour, no progress line). */
export function hewn(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [hewnBinary(), ...args], {
      cwd: options.cwd ?? os.tmpdir(),
      env: { ...process.env, HEWN_DATABASE_URL: "", ...options.env },
      timeout: 60_000,
    }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Starts a long-running `hewn …args` (e.g. `work`), killed after the test if still running. */
export function hewnProcess(t: TestContext, args: string[], options: { cwd?: string } = {}) {
  const child = spawn(process.execPath, [hewnBinary(), ...args], { cwd: options.cwd ?? os.tmpdir(), stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  const waiters: Array<{ pattern: RegExp; resolve: () => void }> = [];
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
    for (const waiter of waiters.filter((w) => w.pattern.test(stderr))) {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve();
    }
  });
  child.stdout.resume();
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    return exited.then(() => undefined);
  });
  return {
    child,
    exited,
    stderr: () => stderr,
    /** Resolves once stderr matches `pattern`. */
    waitFor(pattern: RegExp): Promise<void> {
      if (pattern.test(stderr)) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ pattern, resolve }));
    },
  };
}
