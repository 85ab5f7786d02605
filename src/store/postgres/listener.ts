/**
 * The LISTEN side of cross-process wake-ups. LISTEN is per session, so it needs its own long-lived
 * connection, outside the pool (a pooled client would be handed to other queries and recycled).
 * @module
 */
import pg from "pg";
import { RetryBackoff } from "../../retry-backoff.js";
import * as sql from "./sql.js";

/** Set on the listening session, so operators (and tests) can find it in pg_stat_activity. */
export const LISTENER_APPLICATION_NAME = "hewn-listener";

export interface ListenerOptions {
  /** Connection options, usually the pool's (`pool.options`). */
  connection: pg.ClientConfig;
  channel: string;
  /**
   * The task names this process serves: after a reconnect every one is woken, since notifications sent
   * meanwhile were lost. Notifications themselves are passed on whatever their payload (a task name):
   * the worker ignores names it has no task for.
   */
  names: readonly string[];
  onWake: (name: string) => void;
  onError: (error: Error) => void;
}

export class Listener {
  private readonly names: ReadonlySet<string>;
  private client: pg.Client | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** A reconnect attempt in flight, so stop() can wait for it and close what it opened. */
  private connecting: Promise<void> | null = null;
  private readonly backoff = new RetryBackoff();
  private stopping: Promise<void> | null = null;

  constructor(private readonly options: ListenerOptions) {
    this.names = new Set(options.names);
  }

  /** Connects and LISTENs; rejects if the first connection fails (nothing is retried then). */
  start(): Promise<void> {
    const attempt = this.connect().then(async (client) => {
      if (this.stopping) await endQuietly(client);
      else this.client = client;
    });
    this.track(attempt);
    return attempt;
  }

  /** Idempotent. After it resolves no connection is open and no reconnect is pending. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      await this.connecting;
      const client = this.client;
      this.client = null;
      if (client) await endQuietly(client);
    })();
    return this.stopping;
  }

  private async connect(): Promise<pg.Client> {
    const client = new pg.Client({ ...this.options.connection, application_name: LISTENER_APPLICATION_NAME, keepAlive: true });
    // Until LISTEN succeeds, failures surface through the awaited promises below; 'error'/'end' then
    // only need a handler so they cannot crash the process.
    let live = false;
    const lost = (error: Error) => {
      if (!live) return;
      live = false;
      if (this.client === client) this.client = null;
      void endQuietly(client);
      if (this.stopping) return;
      this.report(error);
      this.scheduleReconnect();
    };
    client.on("error", lost);
    client.on("end", () => lost(new Error("listener connection ended")));
    client.on("notification", (message) => {
      if (message.payload !== undefined) this.wake(message.payload);
    });
    try {
      await client.connect();
      await client.query(sql.listen(this.options.channel));
    } catch (error) {
      await endQuietly(client);
      throw error;
    }
    live = true;
    return client;
  }

  private track(attempt: Promise<void>): void {
    const settled: Promise<void> = attempt.then(
      () => undefined,
      () => undefined,
    ).finally(() => {
      if (this.connecting === settled) this.connecting = null;
    });
    this.connecting = settled;
  }

  private scheduleReconnect(): void {
    const delay = this.backoff.next();
    this.timer = setTimeout(() => {
      this.timer = null;
      this.track(this.reconnect());
    }, delay);
  }

  private async reconnect(): Promise<void> {
    let client: pg.Client;
    try {
      client = await this.connect();
    } catch (error) {
      if (this.stopping) return;
      this.report(error);
      return this.scheduleReconnect();
    }
    if (this.stopping) return void (await endQuietly(client));
    this.client = client;
    this.backoff.reset();
    // Notifications sent while we were disconnected are lost: wake everything once.
    for (const name of this.names) this.wake(name);
  }

  private wake(name: string): void {
    try {
      this.options.onWake(name);
    } catch (error) {
      this.report(error);
    }
  }

  private report(error: unknown): void {
    try {
      this.options.onError(error instanceof Error ? error : new Error(String(error)));
    } catch {
      // An onError that throws must not take the listener (or the process) down with it.
    }
  }
}

async function endQuietly(client: pg.Client): Promise<void> {
  await client.end().catch(() => undefined);
}
