/**
 * Pausing a task: a row in the store that every claim reads (see `Store.taskSetPaused`), so it holds in
 * every process and across restarts. Any valid task name may be paused, defined here or not: the task
 * may be defined in another process, or later.
 * @module
 */
import type { Store } from "../store/store.js";
import { checkName } from "../validate.js";

/** Pauses or resumes task `name`; true if that changed anything. @throws ValidationError for a bad name. */
export function setPaused(store: Store, name: string, paused: boolean): Promise<boolean> {
  return store.taskSetPaused({ name: checkName(name), paused });
}
