/**
 * How the CLI prints: aligned tables for people, JSON for scripts (`--json`), colour only on a terminal
 * (and never with `NO_COLOR`), and a progress line on stderr that a pipe never sees.
 * @module
 */
import type { JobStatus } from "../job.js";

/** Where and how to print; one per run. */
export interface Output {
  readonly json: boolean;
  /** Prints a value as JSON (one document). */
  data(value: unknown): void;
  /** Prints a line for people. */
  line(text?: string): void;
  /** Prints rows as an aligned table with a header. */
  table(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): void;
  /** Colours a status (on a terminal). */
  status(status: JobStatus): string;
  /** Dims secondary text (on a terminal). */
  dim(text: string): string;
  /** Rewrites one progress line on stderr (on a terminal only); `done()` ends it. */
  progress(text: string): void;
  done(): void;
}

const STATUS_COLOURS: Record<JobStatus, number> = { enqueued: 34, dequeued: 36, completed: 32, failed: 33, cancelled: 31 };

export function createOutput(options: { json: boolean }, stdout: NodeJS.WriteStream = process.stdout, stderr: NodeJS.WriteStream = process.stderr): Output {
  const colour = stdout.isTTY === true && !process.env.NO_COLOR;
  const paint = (code: number, text: string) => (colour ? `\u001b[${code}m${text}\u001b[0m` : text);
  let progressShown = false;
  return {
    json: options.json,
    data: (value) => stdout.write(`${JSON.stringify(value, null, 2)}\n`),
    line: (text = "") => stdout.write(`${text}\n`),
    table(headers, rows) {
      const visible = (text: string) => text.replace(/\u001b\[[0-9;]*m/g, "").length;
      const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => visible(row[i] ?? ""))));
      const format = (cells: readonly string[]) =>
        cells.map((cell, i) => (i === cells.length - 1 ? cell : cell + " ".repeat((widths[i] ?? 0) - visible(cell)))).join("  ").trimEnd();
      stdout.write(`${paint(1, format(headers))}\n`);
      for (const row of rows) stdout.write(`${format(row)}\n`);
    },
    status: (status) => paint(STATUS_COLOURS[status], status),
    dim: (text) => paint(2, text),
    progress(text) {
      if (!stderr.isTTY) return;
      stderr.write(`\r\u001b[2K${text}`);
      progressShown = true;
    },
    done() {
      if (progressShown) stderr.write("\n");
      progressShown = false;
    },
  };
}

