/**
 * The job list: filters (status, task, label, search by id or label), newest first, keyset paging both ways.
 * @module
 */
import { formatTime } from "../../format.js";
import { JOB_STATUSES, type Job } from "../../job.js";
import { html, type PageContext, type Safe } from "../html.js";

/** The query of the job list, as read from the URL. */
export interface JobsQuery {
  status?: string;
  name?: string;
  label?: string;
  group?: string;
  q?: string;
  before?: string;
  after?: string;
}

export const PAGE_SIZE = 50;

export function jobsControls(ctx: PageContext, query: JobsQuery): Safe {
  return html`<form class="filters" method="get" action="${ctx.base}/jobs">
<label>Status<select name="status"><option value="">any</option>${JOB_STATUSES.map((s) => html`<option value="${s}"${query.status === s ? html` selected` : ""}>${s}</option>`)}</select></label>
<label>Task<input name="name" value="${query.name ?? ""}" placeholder="task name"></label>
<label>Label<input name="label" value="${query.label ?? ""}" placeholder="label"></label>
<label>Group<input name="group" value="${query.group ?? ""}" placeholder="group"></label>
<label>Search<input name="q" value="${query.q ?? ""}" placeholder="job id or label"></label>
<button type="submit">Filter</button></form>`;
}

export function jobsLive(ctx: PageContext, query: JobsQuery, jobs: readonly Job[]): Safe {
  const keep = new URLSearchParams();
  for (const key of ["status", "name", "label", "group"] as const) if (query[key]) keep.set(key, query[key]);
  const page = (cursor: "before" | "after", id: string) => {
    const params = new URLSearchParams(keep);
    params.set(cursor, id);
    return `${ctx.base}/jobs?${params.toString()}`;
  };
  const first = jobs[0];
  const last = jobs.at(-1);
  // A full page may have more beyond it; a page reached by a cursor always has the way back.
  const newer = first && (query.before !== undefined || (query.after !== undefined && jobs.length === PAGE_SIZE));
  const older = last && (query.after !== undefined || jobs.length === PAGE_SIZE);
  return html`${jobs.length === 0 ? html`<p class="muted">No jobs match.</p>` : html`<table class="jobs"><thead><tr>
<th>Id</th><th>Task</th><th>Status</th><th class="num">Attempts</th><th>Created</th><th>Available</th><th>Label</th><th>Reason</th></tr></thead><tbody>
${jobs.map((job) => html`<tr><td><a href="${ctx.base}/jobs/${encodeURIComponent(job.id)}">${job.id}</a></td><td>${job.name}</td>
<td><span class="status ${job.status}">${job.status}</span></td><td class="num">${job.attempts}</td><td>${formatTime(job.createdAt)}</td>
<td>${finished(job) ? "—" : formatTime(job.availableAt)}</td><td>${job.label ?? ""}</td><td class="reason">${truncate(job.reason ?? "", 80)}</td></tr>`)}
</tbody></table>`}
<div class="pager">${newer && first ? html`<a rel="prev" href="${page("after", first.id)}">← newer</a>` : ""}${older && last ? html`<a rel="next" href="${page("before", last.id)}">older →</a>` : ""}</div>`;
}

/** A finished job's availableAt is history (its last lease or retry time), not when it will run. */
function finished(job: Job): boolean {
  return job.status === "completed" || job.status === "cancelled";
}

function truncate(text: string, length: number): string {
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}
