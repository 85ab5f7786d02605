/**
 * Summarises a V8 CPU profile (`node --cpu-prof`): the functions with the most self time, and the
 * share of time by package (hewn's own source, pg, pg-types, better-sqlite3, node internals, GC).
 *
 *   node --import tsx bench/profile/top-frames.ts /tmp/prof/CPU.*.cpuprofile [count]
 * @module
 */
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }

const [file, countArg = "25"] = process.argv.slice(2);
if (!file) throw new Error("usage: top-frames.ts <file.cpuprofile> [count]");
const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const self = new Map<number, number>();
profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));

const total = [...self.values()].reduce((a, b) => a + b, 0);
const idle = [...self].filter(([id]) => byId.get(id)?.callFrame.functionName === "(idle)").reduce((a, [, t]) => a + t, 0);
const busy = total - idle;

function where(url: string): string {
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (match) return match[1]!;
  if (url.includes("/src/")) return "hewn";
  if (url.startsWith("node:") || url === "") return "node";
  return "other";
}

const frames = new Map<string, number>();
const packages = new Map<string, number>();
for (const [id, time] of self) {
  const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
  if (functionName === "(idle)") continue;
  const key = `${functionName || "(anonymous)"} ${url.replace(/^.*\/(node_modules|src)\//, "$1/")}:${lineNumber + 1}`;
  frames.set(key, (frames.get(key) ?? 0) + time);
  const group = functionName === "(garbage collector)" ? "GC" : functionName === "(program)" ? "program" : where(url);
  packages.set(group, (packages.get(group) ?? 0) + time);
}
const pct = (t: number) => `${((100 * t) / busy).toFixed(1)}%`;
console.log(`busy ${(busy / 1000).toFixed(0)} ms of ${(total / 1000).toFixed(0)} ms sampled`);
console.log("\nby package (self time, % of busy):");
for (const [name, t] of [...packages].sort((a, b) => b[1] - a[1])) console.log(`  ${pct(t).padStart(6)}  ${name}`);
console.log("\ntop frames (self time, % of busy):");
for (const [name, t] of [...frames].sort((a, b) => b[1] - a[1]).slice(0, Number(countArg))) console.log(`  ${pct(t).padStart(6)}  ${name}`);
