/**
 * Where background errors go. Every loop and every attempt reports through one function, so none is swallowed.
 * @module
 */
import type { Job } from "./job.js";

/** Which part of hewn met the error. */
export type ErrorSource =
  | "handler" // a handler threw something other than JobError
  | "payload" // a job's payload could not be decoded or failed validation; the job was cancelled
  | "quarantine" // a job's worker died or stalled on it maxCrashes times; the job was cancelled
  | "lease" // a lease was lost while the job ran; its outcome was not written
  | "outcome" // writing an outcome failed (it is retried)
  | "claim" // the fetch loop could not claim jobs (it retries with backoff)
  | "heartbeat" // renewing leases failed (it retries)
  | "listen" // the wake-up listener lost its connection (it reconnects)
  | "release" // handing jobs back (at shutdown, or to let a suspect run alone) failed; their leases will expire instead
  | "retention" // deleting finished jobs failed (it tries again next round)
  | "schedule" // enqueueing a periodic job's slot failed (it tries again next round)
  | "store" // the store's connection pool reported an error
  | "wait" // waitFor could not read the jobs it waits for (it reads again at its next poll)
  | "listener"; // an event listener threw

/** Context handed to `onError` with each error. */
export interface ErrorContext {
  source: ErrorSource;
  /** The job concerned, if any. */
  job?: Job;
}

export type ErrorReporter = (error: Error, context: ErrorContext) => void;
