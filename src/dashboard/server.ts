/**
 * A stand-alone dashboard server (what `hewn dashboard` runs): the handler on a plain `http` server.
 * @module
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Queue } from "../queue.js";
import { dashboardHandler, type DashboardOptions } from "./handler.js";

/** Options of {@link serveDashboard}. */
export interface ServeOptions extends DashboardOptions {
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Default `127.0.0.1` (only this machine); `0.0.0.0` to listen on every interface. */
  host?: string;
}

/** A running dashboard server. */
export interface DashboardServer {
  /** Where it listens, e.g. `http://127.0.0.1:8080`. */
  readonly url: string;
  /** Stops accepting connections and closes open ones. */
  close(): Promise<void>;
}

/** Serves the dashboard of `queue`; resolves once it listens. The queue stays the caller's to close. */
export async function serveDashboard(queue: Queue, options: ServeOptions = {}): Promise<DashboardServer> {
  const { port = 8080, host = "127.0.0.1", ...dashboard } = options;
  const server = http.createServer(dashboardHandler(queue, dashboard));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    url: `http://${shown}:${address.port}${dashboard.basePath ?? ""}`,
    close: () => new Promise<void>((resolve, reject) => {
      server.close((error) => (error ? reject(error) : resolve()));
      server.closeAllConnections();
    }),
  };
}
