/**
 * The loop behind batched revocation and sweeping: asks a storage for one batch after another until one is done,
 * keeping up to `depth` calls in flight, and hands each batch over in the order it was asked for.
 *
 * With one call in flight the next is asked for as soon as a batch arrives, before it is reported: a storage across
 * the network works on it while the process emits events and serves its requests. A storage whose calls run one
 * after another (a Redis connection runs its scripts in order) can take a second in flight, so that it never
 * waits while the process decodes a reply.
 */
import { yieldToEventLoop } from './yield.js'

/** What each batch tells: whether nothing is left to ask for. */
interface Batch {
  readonly done: boolean
}

/**
 * Calls `ask` until a batch is done, `take`s every batch in order (those asked for ahead of a done one too), and
 * yields to the event loop between batches. A batch is asked for ahead of `take` only when `ahead(batch)` allows
 * (else once `take` has finished). When a call fails, the calls still in flight are awaited and their batches
 * taken (what they deleted is reported), then the failure is thrown.
 *
 * @param depth - The most calls in flight at once; at least 1.
 */
export async function pipelineBatches<B extends Batch>(
  depth: number,
  ask: () => Promise<B>,
  take: (batch: B) => void | Promise<void>,
  ahead: (batch: B) => boolean = () => true,
): Promise<void> {
  const most = Math.max(1, Math.floor(depth))
  // Async, so that a storage that throws rather than rejects still fails the batch it was asked for; marked as
  // handled, since a call asked for ahead may fail before anything awaits it.
  const call = (): Promise<B> => {
    const promise = (async () => ask())()
    promise.catch(() => undefined)
    return promise
  }
  const inFlight: Array<Promise<B>> = [call()]
  for (let next = inFlight.shift(); next !== undefined; next = inFlight.shift()) {
    let batch: B
    try {
      batch = await next
    } catch (error) {
      await drain(inFlight, take)
      throw error
    }
    const more = !batch.done
    if (more && ahead(batch)) while (inFlight.length < most) inFlight.push(call())
    try {
      await take(batch)
    } catch (error) {
      await drain(inFlight, take)
      throw error
    }
    if (!more && inFlight.length === 0) return
    // Requests of the process get their turn between batches, however fast the storage answers.
    await yieldToEventLoop()
    if (more && inFlight.length === 0) inFlight.push(call())
  }
}

/** Takes the batches of the calls still in flight after a failure, ignoring their own failures. */
async function drain<B>(
  inFlight: ReadonlyArray<Promise<B>>,
  take: (batch: B) => void | Promise<void>,
): Promise<void> {
  for (const outcome of await Promise.allSettled(inFlight)) {
    if (outcome.status === 'fulfilled')
      await Promise.resolve(take(outcome.value)).catch(() => undefined)
  }
}
