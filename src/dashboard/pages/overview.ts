/**
 * The overview: totals, throughput and failures over time, and every task with its jobs per status.
 * @module
 */
import { formatDuration } from "../../format.js";
import { JOB_STATUSES } from "../../job.js";
import type { QueueStats } from "../../stats.js";
import { actionForm, html, type PageContext, type Safe } from "../html.js";
import type { Sample } from "../stats-cache.js";

export function overviewLive(ctx: PageContext, stats: QueueStats, samples: readonly Sample[]): Safe {
  const card = (label: string, value: string) => html`<div class="card"><div class="value">${value}</div><div class="label">${label}</div></div>`;
  const link = (query: string) => `${ctx.base}/jobs?${query}`;
  return html`<div class="cards">
${card("running", String(stats.running))}${card("enqueued", String(stats.totals.enqueued))}${card("failed, awaiting retry", String(stats.totals.failed))}
${card("completed", String(stats.totals.completed))}${card("cancelled", String(stats.totals.cancelled))}${card("oldest ready job waiting", formatDuration(stats.oldestReadyAgeMs))}
</div>
<h2>Throughput and failures</h2>${chart(samples)}
<h2>Tasks</h2>
${stats.tasks.length === 0 ? html`<p class="muted">No jobs yet.</p>` : html`<table class="tasks"><thead><tr><th>Task</th>
${JOB_STATUSES.map((s) => html`<th class="num">${s}</th>`)}<th class="num">oldest ready</th><th></th></tr></thead><tbody>
${stats.tasks.map((task) => html`<tr><td><a href="${link(`name=${encodeURIComponent(task.name)}`)}">${task.name}</a>${task.paused ? html` <span class="status paused">paused</span>` : ""}</td>
${JOB_STATUSES.map((s) => html`<td class="num"><a href="${link(`name=${encodeURIComponent(task.name)}&status=${s}`)}">${task.counts[s]}</a></td>`)}
<td class="num">${formatDuration(task.oldestReadyAgeMs)}</td><td>${toggle(ctx, task.name, task.paused)}</td></tr>`)}
</tbody></table>`}
${idlePaused(ctx, stats)}<p class="muted">Figures as of ${stats.at.toISOString()}.</p>`;
}

function toggle(ctx: PageContext, name: string, paused: boolean): Safe {
  const path = `/tasks/${encodeURIComponent(name)}/${paused ? "resume" : "pause"}`;
  return paused
    ? actionForm(ctx, path, "Resume", `Resume task ${name}?`)
    : actionForm(ctx, path, "Pause", `Pause task ${name} in every process? Running jobs finish; no new one starts.`);
}

/** Paused tasks that have no jobs do not appear in the table, but are paused all the same. */
function idlePaused(ctx: PageContext, stats: QueueStats): Safe {
  const idle = stats.paused.filter((name) => !stats.tasks.some((task) => task.name === name));
  if (idle.length === 0) return html``;
  return html`<p>Paused, with no jobs: ${idle.map((name) => html`<span class="status paused">${name}</span> ${toggle(ctx, name, true)}`)}</p>`;
}

/** Completed and cancelled jobs per minute between consecutive readings, as two lines. */
function chart(samples: readonly Sample[]): Safe {
  const rates: Array<{ at: number; ok: number; bad: number }> = [];
  for (let i = 1; i < samples.length; i++) {
    const [a, b] = [samples[i - 1], samples[i]];
    if (!a || !b || b.at <= a.at) continue;
    const perMinute = 60_000 / (b.at - a.at);
    // Retention deletes finished jobs, which can make a total shrink: that is no negative throughput.
    rates.push({ at: b.at, ok: Math.max(0, b.completed - a.completed) * perMinute, bad: Math.max(0, b.cancelled - a.cancelled) * perMinute });
  }
  if (rates.length < 2) return html`<p class="muted">Collecting: the chart fills in while this dashboard runs.</p>`;
  const width = 800;
  const height = 120;
  const max = Math.max(1, ...rates.map((r) => Math.max(r.ok, r.bad)));
  const first = rates[0]?.at ?? 0;
  const span = Math.max(1, (rates.at(-1)?.at ?? 1) - first);
  const points = (pick: (r: { ok: number; bad: number }) => number) =>
    rates.map((r) => `${(((r.at - first) / span) * width).toFixed(1)},${(height - (pick(r) / max) * (height - 10)).toFixed(1)}`).join(" ");
  return html`<svg class="chart" viewBox="0 0 ${width} ${height}" preserveAspectRatio="none" role="img" aria-label="jobs per minute">
<polyline fill="none" stroke="#1a7f37" stroke-width="2" points="${points((r) => r.ok)}"/>
<polyline fill="none" stroke="#c0362c" stroke-width="2" points="${points((r) => r.bad)}"/></svg>
<div class="legend"><span class="ok">■ completed/min (now ${Math.round(rates.at(-1)?.ok ?? 0)})</span><span class="bad">■ cancelled/min (now ${Math.round(rates.at(-1)?.bad ?? 0)})</span><span class="muted">peak ${Math.round(max)}/min</span></div>`;
}
