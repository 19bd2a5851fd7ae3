/**
 * The notice numbers of the stream entries a `RedisStorage` wrote itself with its batch deletions, so that its own
 * subscription passes over them instead of reading them back. Internal.
 *
 * A batch deletion's entry lists every token it deleted (about 60 bytes each); its writer skips it on reading (the
 * entry names its origin), but reading it still moved it from Redis to the process: during a million-token
 * revocation, one subscribed instance read back every accessor and path it had just deleted.
 *
 * @packageDocumentation
 */

/** Ranges kept per stream: the oldest go first. A subscription further behind reads its own entries, as before. */
export const OWN_RANGES_KEPT = 1024

/** A range of notice numbers, both ends included. */
export interface NoticeRange {
  readonly first: number
  readonly last: number
}

/**
 * The ranges of notice numbers this instance's own batch entries hold, per stream, in increasing order. Only
 * what a script's reply said it wrote is kept, so a range here is never another instance's: numbers are handed
 * out by one `INCRBY` in the script that writes the entry.
 */
export class OwnNoticeRanges {
  /** Per stream (its key space): first and last of each range, flat, from `#start[space]` on. */
  readonly #ranges = new Map<string, number[]>()
  readonly #start = new Map<string, number>()

  /**
   * Records that this instance's entry in `space`'s stream holds notices `first` to `last`. A range that does not
   * come after the last one recorded is ignored (its entry is then read and skipped by origin, as without this).
   */
  add(space: string, first: number, last: number): void {
    if (!Number.isSafeInteger(first) || !Number.isSafeInteger(last) || first < 1 || last < first)
      return
    let ranges = this.#ranges.get(space)
    if (ranges === undefined) {
      ranges = []
      this.#ranges.set(space, ranges)
      this.#start.set(space, 0)
    }
    if (ranges.length > 0 && first <= (ranges[ranges.length - 1] as number)) return
    ranges.push(first, last)
    let start = this.#start.get(space) as number
    if ((ranges.length - start) / 2 > OWN_RANGES_KEPT) start += 2
    // Compacted once the dropped part is as long as the kept one, so that dropping is cheap on average.
    if (start >= OWN_RANGES_KEPT * 2) {
      ranges.splice(0, start)
      start = 0
    }
    this.#start.set(space, start)
  }

  /** Forgets the ranges of `space`: its stream started over, and the numbers they name are new ones now. */
  forget(space: string): void {
    this.#ranges.delete(space)
    this.#start.delete(space)
  }

  /** The first range of `space` that ends after notice `after`, if one is kept. */
  next(space: string, after: number): NoticeRange | undefined {
    const ranges = this.#ranges.get(space)
    if (ranges === undefined) return undefined
    // Binary search over the pairs for the first whose last is past `after`.
    let low = (this.#start.get(space) as number) / 2
    let high = ranges.length / 2
    while (low < high) {
      const mid = (low + high) >>> 1
      if ((ranges[mid * 2 + 1] as number) > after) high = mid
      else low = mid + 1
    }
    if (low === ranges.length / 2) return undefined
    return { first: ranges[low * 2] as number, last: ranges[low * 2 + 1] as number }
  }
}
