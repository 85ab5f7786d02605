/**
 * Prisma (PostgreSQL): `enqueue(…, { tx: fromPrisma(tx) })` inside an interactive transaction.
 * @module
 */
import { ValidationError } from "../errors.js";
import { describe } from "../validate.js";
import { SqlTransaction } from "./sql-transaction.js";

/** What hewn uses of a Prisma interactive transaction's client: `$queryRawUnsafe`. */
export interface PrismaTransactionLike {
  $queryRawUnsafe(query: string, ...values: unknown[]): PromiseLike<unknown>;
}

/**
 * Enqueue inside a Prisma interactive transaction: the `tx` of `prisma.$transaction(async (tx) => …)`.
 * The job commits or rolls back with it.
 * @throws ValidationError if `tx` is not a transaction's client (the `PrismaClient` itself is refused:
 *   its queries would run outside your transaction).
 */
export function fromPrisma(tx: PrismaTransactionLike): SqlTransaction {
  if (typeof tx !== "object" || tx === null || typeof tx.$queryRawUnsafe !== "function") {
    throw new ValidationError("options.tx", `fromPrisma: must be the client of a Prisma interactive transaction, got ${describe(tx)}`);
  }
  // A transaction's client is the PrismaClient without $connect/$disconnect (Prisma leaves them out there).
  if (typeof (tx as { $disconnect?: unknown }).$disconnect === "function") {
    throw new ValidationError("options.tx", "fromPrisma: is the PrismaClient, not a transaction: pass the tx of prisma.$transaction(async (tx) => …)");
  }
  return new SqlTransaction({
    query: async (text, values) => {
      const rows = await tx.$queryRawUnsafe(text, ...values);
      if (!Array.isArray(rows)) throw new TypeError(`fromPrisma: unexpected raw result: ${describe(rows)}`);
      return rows as Array<Record<string, unknown>>;
    },
  }, "fromPrisma");
}
