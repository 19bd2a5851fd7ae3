/**
 * The in-memory token expiry index: entries grouped by expiry time, with a min-heap of the distinct times.
 *
 * Why not one heap entry per token: an expiry storm (a million tokens expiring in the same millisecond) would pay
 * a sift of some twenty comparisons and swaps per pop. Here the heap holds one entry per distinct time, and taking
 * the next entry is reading the next slot of that time's bucket. It has {@link ExpiryHeap}'s interface, and its
 * laziness: entries are never removed in place; a renewal pushes a new entry and the old one is recognised as
 * stale by the caller (its time no longer matches the record) and dropped when it comes up.
 *
 * @packageDocumentation
 */
import { ExpiryHeap } from './expiry-heap.js'

/**
 * Taken entries a bucket tolerates at its front before it drops them: a bucket that is taken from and pushed to in
 * turn (a listing puts back what it read) would otherwise only grow.
 */
const MIN_TAKEN_FOR_SHIFT = 1024

/** The entries of one expiry time, in the order pushed; those before `head` were taken. */
interface Bucket<Id> {
  readonly time: number
  ids: Array<Id | undefined>
  head: number
}

export class ExpiryBuckets<Id> {
  readonly #byTime = new Map<number, Bucket<Id>>()
  readonly #times = new ExpiryHeap<Bucket<Id>>()
  #size = 0

  /** Entries held, stale ones included. */
  get size(): number {
    return this.#size
  }

  /** Distinct times held. */
  get times(): number {
    return this.#byTime.size
  }

  push(time: number, id: Id): void {
    let bucket = this.#byTime.get(time)
    if (bucket === undefined) {
      bucket = { time, ids: [], head: 0 }
      this.#byTime.set(time, bucket)
      this.#times.push(time, bucket)
    }
    bucket.ids.push(id)
    this.#size += 1
  }

  /** The earliest time, or `undefined` when empty. */
  peekTime(): number | undefined {
    return this.#times.peekTime()
  }

  /** The first id pushed with the earliest time, or `undefined` when empty. */
  peekId(): Id | undefined {
    const bucket = this.#times.peekId()
    return bucket === undefined ? undefined : bucket.ids[bucket.head]
  }

  /** Removes the entry {@link ExpiryBuckets.peekId} names. */
  pop(): void {
    const bucket = this.#times.peekId()
    if (bucket === undefined) return
    // Released at once, so that a long storm does not keep what it already took reachable.
    bucket.ids[bucket.head] = undefined
    bucket.head += 1
    this.#size -= 1
    if (bucket.head === bucket.ids.length) {
      this.#byTime.delete(bucket.time)
      this.#times.pop()
    } else if (bucket.head >= MIN_TAKEN_FOR_SHIFT && bucket.head * 2 >= bucket.ids.length) {
      bucket.ids = bucket.ids.slice(bucket.head)
      bucket.head = 0
    }
  }
}
