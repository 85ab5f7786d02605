/**
 * The dependency graph on a job's page: its parents, the job itself, and its children, as three columns
 * of linked nodes with their status (server-rendered HTML and CSS, nothing for the strict CSP to block).
 * @module
 */
import type { JobDependencies } from "../../flow/dependencies.js";
import type { Job } from "../../job.js";
import { html, type PageContext, type Safe } from "../html.js";

/** Empty for a job outside any graph (no parents, no children). */
export function dependencyGraph(ctx: PageContext, job: Job, graph: JobDependencies): Safe | "" {
  if (graph.parents.length === 0 && graph.children.length === 0) return "";
  const node = (other: Job, role: string) =>
    html`<li><a class="node ${role}" href="${ctx.base}/jobs/${encodeURIComponent(other.id)}"><span class="status ${other.status}">${other.status}</span> ${other.name} <span class="muted">#${other.id}</span></a></li>`;
  const column = (title: string, role: string, jobs: Job[]) =>
    html`<div class="column ${role}"><h3>${title}</h3>${jobs.length === 0 ? html`<p class="muted">None.</p>` : html`<ul>${jobs.map((other) => node(other, role))}</ul>`}</div>`;
  return html`<h2>Dependencies</h2><div class="graph">${column(`Runs after (${graph.parents.length})`, "parent", graph.parents)}
<div class="column self"><h3>This job</h3><ul><li><span class="node self"><span class="status ${job.status}">${job.status}</span> ${job.name} <span class="muted">#${job.id}</span></span></li></ul></div>
${column(`Runs before (${graph.children.length})`, "child", graph.children)}</div>`;
}
