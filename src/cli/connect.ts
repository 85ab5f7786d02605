/**
 * The CLI's connection to a queue: `--url` or `HEWN_DATABASE_URL`, default the embedded SQLite file.
 * Only `hewn migrate` (and `hewn work`, which runs an application's tasks) may change the schema; every
 * other command opens with `migrate: false`, so pointing the CLI at a production database never alters it.
 * @module
 */
import { Queue } from "../queue.js";
import { DEFAULT_URL } from "../store/registry.js";

/** The global options every command receives. */
export interface GlobalOptions {
  url?: string;
  schema?: string;
  json?: boolean;
}

/** The URL a command uses, and where it came from (for messages). */
export function resolveUrl(options: GlobalOptions): string {
  return options.url ?? (process.env.HEWN_DATABASE_URL || DEFAULT_URL);
}

/**
 * Opens the queue the options name. Errors met in the background are printed as one line each
 * (a CLI has no better place for them).
 */
export function connect(options: GlobalOptions, migrate = false): Promise<Queue> {
  const url = resolveUrl(options);
  const schema = options.schema ?? (process.env.HEWN_SCHEMA || undefined);
  const isPostgres = /^postgres(ql)?:/i.test(url);
  return Queue.open(url, {
    migrate,
    ...(isPostgres && schema !== undefined && { postgres: { schema } }),
    onError: (error, context) => process.stderr.write(`hewn: ${context.source}${context.job ? ` (job ${context.job.id})` : ""}: ${error.message}\n`),
  });
}
