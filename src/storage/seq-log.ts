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
  #seqs: number[] = []
  #ids: Id[] = []
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
   * Records that one entry went stale; once stale entries outnumber current ones, keeps only the entries
   * `isCurrent` accepts.
   */
  noteStale(isCurrent: (seq: number, id: Id) => boolean): void {
    this.#stale += 1
    if (this.#stale < MIN_STALE_FOR_COMPACTION || this.#stale * 2 < this.#ids.length) return
    const seqs: number[] = []
    const ids: Id[] = []
    for (let i = 0; i < this.#ids.length; i++) {
      const seq = this.#seqs[i] as number
      const id = this.#ids[i] as Id
      if (isCurrent(seq, id)) {
        seqs.push(seq)
        ids.push(id)
      }
    }
    this.#seqs = seqs
    this.#ids = ids
    this.#stale = 0
  }
}
