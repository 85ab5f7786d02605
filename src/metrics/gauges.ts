/**
 * The gauges both metric surfaces share, computed from `queue.stats()`: what the database holds, the same
 * whichever process is scraped. Counters and histograms (what this process did) are in `collectors.ts`.
 * @module
 */
import { JOB_STATUSES } from "../job.js";
import type { QueueStats } from "../stats.js";

/** One gauge: its name (without prefix), help, and labelled values. */
export interface GaugeFamily {
  name: string;
  help: string;
  samples: Array<{ labels: Record<string, string>; value: number }>;
}

export function gaugeFamilies(stats: QueueStats): GaugeFamily[] {
  return [
    {
      name: "jobs", help: "Jobs in the database by task and status.",
      samples: stats.tasks.flatMap((task) => JOB_STATUSES.map((status) => ({ labels: { task: task.name, status }, value: task.counts[status] }))),
    },
    {
      name: "oldest_ready_seconds", help: "How long the oldest job that is due and not running has waited, per task (0: none waiting).",
      samples: stats.tasks.map((task) => ({ labels: { task: task.name }, value: (task.oldestReadyAgeMs ?? 0) / 1000 })),
    },
    { name: "running_jobs", help: "Jobs running now (dequeued), all tasks.", samples: [{ labels: {}, value: stats.running }] },
    {
      name: "task_paused", help: "1 for a paused task.",
      samples: stats.paused.map((name) => ({ labels: { task: name }, value: 1 })),
    },
  ];
}

/** The Prometheus text exposition (version 0.0.4) of gauge families. */
export function exposition(families: readonly GaugeFamily[], prefix: string): string {
  const lines: string[] = [];
  for (const family of families) {
    const name = `${prefix}${family.name}`;
    lines.push(`# HELP ${name} ${family.help}`, `# TYPE ${name} gauge`);
    for (const { labels, value } of family.samples) {
      const text = Object.entries(labels).map(([key, v]) => `${key}="${escapeLabel(v)}"`).join(",");
      lines.push(`${name}${text ? `{${text}}` : ""} ${value}`);
    }
  }
  return `${lines.join("\n")}\n`;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}
