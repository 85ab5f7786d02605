/**
 * Loads one system from its own adapter file only, so a worker process does not load (and count in
 * its RSS) every other library.
 * @module
 */
import type { System } from "../adapter.js";

export async function loadSystem(family: string, id: string): Promise<System> {
  if (!/^[a-z0-9-]+$/.test(family)) throw new Error(`bad adapter family "${family}"`);
  const module = (await import(`./${family}.js`)) as { systems?: readonly System[] };
  const system = module.systems?.find((candidate) => candidate.id === id);
  if (!system) throw new Error(`adapters/${family}.ts has no system "${id}"`);
  return system;
}
