/**
 * An append-only log of ids in insertion order, for MemoryStorage's listings: each id is appended with a number
 * that only grows, so a listing resumes after the last number it saw (a binary search), and tokens created or
 * deleted meanwhile cannot shift it. Deleted ids are dropped lazily: entries whose id was deleted (or inserted
 * again, with a new number) are stale, skipped when read and removed by a compaction once they are the majority.
 * An owner that knows an entry's index may instead clear it ({@link SeqLog.clearAt}): a compaction then drops it
 * without asking about it.
 *
 * @packageDocumentation
 */

/** Stale entries tolerated before a compaction is considered. */
const MIN_STALE_FOR_COMPACTION = 1024

export class SeqLog<Id> {
  readonly #seqs: number[] = []
  /** `undefined` for an entry cleared by {@link SeqLog.clearAt}. */
  readonly #ids: Array<Id | undefined> = []
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

  /** The entry at `index` (`undefined` past the end, or when cleared). */
  at(index: number): { seq: number; id: Id } | undefined {
    const id = this.#ids[index]
    const seq = this.#seqs[index]
    return id === undefined || seq === undefined ? undefined : { seq, id }
  }

  /** The number of the entry at `index` (cleared or not), without allocating. */
  seqAt(index: number): number | undefined {
    return this.#seqs[index]
  }

  /** The id of the entry at `index`, or `undefined` when cleared or past the end, without allocating. */
  idAt(index: number): Id | undefined {
    return this.#ids[index]
  }

  /**
   * Clears the entry at `index`, which counts as stale from now on (as {@link SeqLog.noteStale} would count it)
   * and is skipped by a compaction without a question. Its number stays until then, so cursors still resume.
   */
  clearAt(index: number): void {
    if (this.#ids[index] === undefined) return
    this.#ids[index] = undefined
    this.#stale += 1
  }

  /** Entries counted as stale since the last compaction. */
  get stale(): number {
    return this.#stale
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

  /**
   * Keeps only the entries `isCurrent` accepts (cleared ones go unasked), in place (no second pair of arrays as
   * large as the log). `kept`, when given, is told each kept entry's new index, in order.
   */
  compact(
    isCurrent: (seq: number, id: Id) => boolean,
    kept?: (id: Id, index: number) => void,
  ): void {
    const seqs = this.#seqs
    const ids = this.#ids
    let count = 0
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]
      if (id === undefined) continue
      const seq = seqs[i] as number
      if (isCurrent(seq, id)) {
        seqs[count] = seq
        ids[count] = id
        kept?.(id, count)
        count += 1
      }
    }
    seqs.length = count
    ids.length = count
    this.#stale = 0
  }
}
