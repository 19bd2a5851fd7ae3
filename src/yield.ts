/**
 * Yielding to the event loop between the batches of a long job (revoking a large subtree, an expiry storm).
 *
 * A storage that answers from memory resolves its promises at once, so a loop of `await storage.call()` would run
 * as one chain of microtasks and keep every request of the process waiting until it ends. `setImmediate` lets the
 * event loop handle pending I/O (the requests) before the next batch.
 */

/** Resolves on a later turn of the event loop, once pending I/O callbacks have run. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => {
    setImmediate(resolve)
  })
}
