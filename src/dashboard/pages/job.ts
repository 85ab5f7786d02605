/**
 * One job: its fields, timeline, data, result, reason, error history, and the actions that apply to it.
 * @module
 */
import { formatTime } from "../../format.js";
import type { JobDependencies } from "../../flow/dependencies.js";
import type { Job } from "../../job.js";
import { actionForm, html, type PageContext, type Safe } from "../html.js";
import { dependencyGraph } from "./graph.js";

export function jobLive(ctx: PageContext, job: Job, graph: JobDependencies): Safe {
  const path = `/jobs/${encodeURIComponent(job.id)}`;
  const unfinished = job.status !== "completed" && job.status !== "cancelled";
  const waiting = job.status === "enqueued" || job.status === "failed";
  const steps: Array<[string, Date | null]> = [
    ["created", job.createdAt], ["available", job.status === "enqueued" || job.status === "failed" ? job.availableAt : null], ["started", job.startedAt],
    ["ended", job.endedAt], ["finished", job.finishedAt],
  ];
  return html`<p><span class="status ${job.status}">${job.status}</span> ${job.name}</p>
<div class="actions">${unfinished ? actionForm(ctx, `${path}/cancel`, "Cancel", `Cancel job ${job.id} (${job.name})?`) : ""}
${waiting ? actionForm(ctx, `${path}/run-now`, "Run now", `Make job ${job.id} available now?`) : ""}
${job.status === "cancelled" ? actionForm(ctx, `${path}/retry`, "Retry", `Run job ${job.id} (${job.name}) again?`) : ""}
${unfinished ? "" : actionForm(ctx, `${path}/delete`, "Delete", `Delete job ${job.id} (${job.name}) for good?`)}</div>
<h2>Timeline</h2><ol class="timeline">${steps.map(([step, at]) => html`<li class="${at ? "" : "unset"}"><span class="step">${step}</span>${formatTime(at)}</li>`)}</ol>
${dependencyGraph(ctx, job, graph)}
<h2>Fields</h2><dl class="fields">
<dt>id</dt><dd>${job.id}</dd><dt>task</dt><dd>${job.name}</dd><dt>attempts</dt><dd>${job.attempts}</dd><dt>crashes</dt><dd>${job.crashes}</dd>
<dt>priority</dt><dd>${job.priority}</dd><dt>label</dt><dd>${job.label ?? "—"}</dd><dt>progress</dt><dd>${job.progress ?? "—"}</dd>
${job.status === "dequeued" ? html`<dt>lease expires</dt><dd>${formatTime(job.availableAt)}</dd>` : ""}
<dt>reason</dt><dd class="reason">${job.reason ?? "—"}</dd></dl>
<h2>Data</h2><pre class="data">${JSON.stringify(job.data, null, 2)}</pre>
${job.result !== null ? html`<h2>Result</h2><pre class="result">${JSON.stringify(job.result, null, 2)}</pre>` : ""}
<h2>Errors</h2>${job.errors.length === 0 ? html`<p class="muted">None.</p>` : html`<table class="errors"><thead><tr><th class="num">Attempt</th><th>At</th><th>Message</th></tr></thead><tbody>
${job.errors.map((error) => html`<tr><td class="num">${error.attempt}</td><td>${error.at}</td><td>${error.message}${error.stack ? html`<details><summary>stack</summary><pre>${error.stack}</pre></details>` : ""}</td></tr>`)}
</tbody></table>`}`;
}
