/**
 * An append-only log of ids in insertion order, for MemoryStorage's listings: each id is appended with a number
 * that only grows, so a listing resumes after the last number it saw (a binary search), and tokens created or
 * deleted meanwhile cannot shift it. Deleted ids are dropped lazily: entries whose id was deleted (or inserted
 * again, with a new number) are stale, skipped when read and removed by a compaction once they are the majority.
 *
 * @packageDocumentation
 */

/** Stale entries tolerated before a compaction is considered. */
const MIN_STALE_FOR_COMPACTION = 1024

export class SeqLog<Id> {
  readonly #seqs: number[] = []
  readonly #ids: Id[] = []
  #stale = 0

  /** Entries, stale ones included. */
  get length(): number {
    return this.#ids.length
  }

  /** Appends an id with its number, which must exceed every number appended before. */
  push(seq: number, id: Id): void {
    this.#seqs.push(seq)
    this.#ids.push(id)
  }

  /** Index of the first entry whose number is above `seq`. */
  indexAfter(seq: number): number {
    let low = 0
    let high = this.#seqs.length
    while (low < high) {
      const mid = (low + high) >>> 1
      if ((this.#seqs[mid] as number) <= seq) low = mid + 1
      else high = mid
    }
    return low
  }

  /** The entry at `index`. */
  at(index: number): { seq: number; id: Id } | undefined {
    const id = this.#ids[index]
    const seq = this.#seqs[index]
    return id === undefined || seq === undefined ? undefined : { seq, id }
  }

  /**
   * Records that one entry went stale. Returns whether stale entries now outnumber current ones: the caller then
   * calls {@link SeqLog.compact}. Split in two so that the caller builds its `isCurrent` test only for the rare
   * compaction, not for every deletion (a million deletions would allocate a million closures).
   */
  noteStale(): boolean {
    this.#stale += 1
    return this.#stale >= MIN_STALE_FOR_COMPACTION && this.#stale * 2 >= this.#ids.length
  }

  /** Keeps only the entries `isCurrent` accepts, in place (no second pair of arrays as large as the log). */
  compact(isCurrent: (seq: number, id: Id) => boolean): void {
    const seqs = this.#seqs
    const ids = this.#ids
    let kept = 0
    for (let i = 0; i < ids.length; i++) {
      const seq = seqs[i] as number
      const id = ids[i] as Id
      if (isCurrent(seq, id)) {
        seqs[kept] = seq
        ids[kept] = id
        kept += 1
      }
    }
    seqs.length = kept
    ids.length = kept
    this.#stale = 0
  }
}
