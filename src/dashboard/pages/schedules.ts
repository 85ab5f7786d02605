/**
 * The schedules: every periodic job declared with `queue.schedule`, with its next slot.
 * @module
 */
import { formatDuration, formatTime } from "../../format.js";
import type { ScheduleInfo } from "../../periodic/schedules.js";
import { html, type PageContext, type Safe } from "../html.js";

/** A schedule's `when`, for people: "every 30 s", or the cron expression and its time zone. */
export function describeWhen(when: ScheduleInfo["when"]): string {
  return "every" in when ? `every ${formatDuration(when.every)}` : `cron ${when.cron}${when.tz ? ` (${when.tz})` : ""}`;
}

export function schedulesLive(ctx: PageContext, schedules: readonly ScheduleInfo[], now: number): Safe {
  if (schedules.length === 0) return html`<p class="muted">No schedules. Declare one with <code>queue.schedule(key, task, when)</code>.</p>`;
  return html`<table class="schedules"><thead><tr><th>Key</th><th>Task</th><th>When</th><th>Next slot</th><th>Last slot</th><th>Catch-up</th></tr></thead><tbody>
${schedules.map((s) => html`<tr><td>${s.key}</td><td><a href="${ctx.base}/jobs?name=${encodeURIComponent(s.name)}">${s.name}</a></td><td>${describeWhen(s.when)}</td>
<td>${formatTime(s.nextAt)} <span class="muted">(in ${formatDuration(Math.max(0, s.nextAt.getTime() - now))})</span></td>
<td>${formatTime(s.lastSlotAt)}</td><td>${String(s.catchUp)}</td></tr>`)}
</tbody></table>`;
}
