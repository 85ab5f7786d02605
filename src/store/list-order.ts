/**
 * Keyset paging in both directions, the same on every store.
 * @module
 */
import type { ListParams } from "./store.js";

/**
 * Which way a listing reads the id index. A page is the `limit` jobs nearest its cursor: after `afterId`
 * alone that means reading upwards from it, before `beforeId` alone downwards, whatever order the page
 * comes back in; with both cursors or none, the requested order decides. The store reverses the rows
 * when the read went the other way from `order`.
 */
export function scanDescending(params: Pick<ListParams, "afterId" | "beforeId" | "order">): boolean {
  if (params.afterId !== undefined && params.beforeId === undefined) return false;
  if (params.beforeId !== undefined && params.afterId === undefined) return true;
  return params.order === "desc";
}
