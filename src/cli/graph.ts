/**
 * `hewn show`'s dependency lines: a job's parents and children as id, task and status.
 * @module
 */
import type { JobDependencies } from "../flow/dependencies.js";
import type { Job, JobStatus } from "../job.js";
import type { Output } from "./output.js";

/** One neighbour in the graph, as `hewn show --json` prints it. */
export interface GraphNode {
  id: string;
  name: string;
  status: JobStatus;
}

/** The `parents` and `children` that `hewn show --json` adds to the job. */
export function graphSummary(graph: JobDependencies): { parents: GraphNode[]; children: GraphNode[] } {
  const node = ({ id, name, status }: Job): GraphNode => ({ id, name, status });
  return { parents: graph.parents.map(node), children: graph.children.map(node) };
}

/** One line per neighbour, under the job's fields; nothing for a job outside any graph. */
export function showGraph(graph: { parents: GraphNode[]; children: GraphNode[] }, out: Output): void {
  const width = "available".length; // the longest key of the job's own lines above, so the columns line up
  for (const [key, nodes] of [["parent", graph.parents], ["child", graph.children]] as const) {
    for (const node of nodes) out.line(`${out.dim(key.padEnd(width))}  ${node.id}  ${node.name}  ${out.status(node.status)}`);
  }
}
