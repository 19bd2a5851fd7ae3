/**
 * The deferred removal of listing entries: a batch deletion leaves the `ls` (listing) entries of the tokens it
 * deletes in place and queues them (`lsg`), because removing one from a listing of a million tokens is a skiplist
 * walk to a random member that misses the CPU cache at each level, about a quarter of a batch's time. This runs
 * the removal afterwards, a step at a time, while no deletion is under way: it never competes with a revocation or
 * a sweep for the Redis server, and it yields to the event loop between steps, as a revocation does.
 *
 * Listings skip entries whose token is gone, so the queued entries change no listing, only its memory until they
 * go. The queue is in Redis, not in this process: whichever instance finishes a deletion next drains it, including
 * what an instance that died left, and `tidy()` drains it whole.
 *
 * @packageDocumentation
 */
import { yieldToEventLoop } from '../../yield.js'

/**
 * One step of the cleanup in one key space: removes up to a step's worth of queued entries and resolves to how
 * many are left in that space's queue.
 */
export type ListingCleanupStep = (space: string) => Promise<number>

/** Runs the listing cleanup of one `RedisStorage` (see the module's comment). */
export class ListingCleanup {
  readonly #step: ListingCleanupStep
  /** The key spaces whose queue may hold entries. */
  readonly #pending = new Set<string>()
  /** The deletions (`deleteSubtree`, `sweepExpired` scripts) of this instance in flight: the cleanup waits for none. */
  #deletions = 0
  #running: Promise<void> | null = null
  #closed = false

  constructor(step: ListingCleanupStep) {
    this.#step = step
  }

  /** A deletion script is sent: the cleanup pauses before its next step until none is in flight. */
  deletionStarted(): void {
    this.#deletions += 1
  }

  /**
   * A deletion script settled. `queued`: it deleted tokens, whose listing entries wait in the space's queue;
   * `finished`: it reported its whole job done, so the cleanup may begin (not between the batches of a job).
   */
  deletionSettled(space: string, queued: boolean, finished: boolean): void {
    this.#deletions -= 1
    if (queued) this.#pending.add(space)
    if (finished) this.#start()
  }

  /** Drains `space`'s queue whole, now (as `tidy()` does), whether or not deletions run. */
  async drain(space: string): Promise<void> {
    while ((await this.#step(space)) > 0);
    this.#pending.delete(space)
  }

  /**
   * Resolves once the cleanup has stopped: its queues drained, or paused because a deletion is under way (then a
   * later finished deletion resumes it).
   */
  async settled(): Promise<void> {
    while (this.#running !== null) await this.#running
  }

  /** Stops the cleanup after the step under way; what is left stays queued in Redis for another instance. */
  async close(): Promise<void> {
    this.#closed = true
    await this.settled()
  }

  #start(): void {
    if (this.#running !== null || this.#closed || this.#deletions > 0 || this.#pending.size === 0)
      return
    this.#running = this.#run().then((failed) => {
      this.#running = null
      // A deletion may have finished while the last step ran, when #start found the cleanup still running.
      if (!failed) this.#start()
    })
  }

  /** Steps until every queue is empty or a deletion starts. Resolves to whether a step failed. */
  async #run(): Promise<boolean> {
    await yieldToEventLoop()
    for (const space of this.#pending) {
      while (!this.#closed && this.#deletions === 0) {
        let left: number
        try {
          left = await this.#step(space)
        } catch {
          // Redis unavailable: the entries stay queued in Redis; the next finished deletion, or tidy(), retries.
          return true
        }
        if (left === 0) {
          this.#pending.delete(space)
          break
        }
        await yieldToEventLoop()
      }
      if (this.#closed || this.#deletions > 0) break
    }
    return false
  }
}
