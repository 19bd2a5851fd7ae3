/**
 * A binary min-heap of (time, id) pairs: the in-memory expiry index.
 *
 * Finding what expires next costs O(log n) per expiring token, not a scan of everything stored. Entries are never
 * removed in place: a renewal pushes a new entry and the old one is recognised as stale (its time no longer matches
 * the record) and dropped when it reaches the top. Times and ids are kept in two parallel arrays rather than an
 * array of objects to save an allocation per entry.
 */
export class ExpiryHeap<Id> {
  readonly #times: number[] = []
  readonly #ids: Id[] = []

  get size(): number {
    return this.#times.length
  }

  push(time: number, id: Id): void {
    this.#times.push(time)
    this.#ids.push(id)
    this.#siftUp(this.#times.length - 1)
  }

  /** The earliest time, or `undefined` when empty. */
  peekTime(): number | undefined {
    return this.#times[0]
  }

  /** The id with the earliest time, or `undefined` when empty. */
  peekId(): Id | undefined {
    return this.#ids[0]
  }

  /** Removes the earliest entry. */
  pop(): void {
    const last = this.#times.length - 1
    if (last < 0) return
    this.#swap(0, last)
    this.#times.pop()
    this.#ids.pop()
    if (last > 0) this.#siftDown(0)
  }

  #siftUp(start: number): void {
    let child = start
    while (child > 0) {
      const parent = (child - 1) >> 1
      if (this.#time(parent) <= this.#time(child)) return
      this.#swap(parent, child)
      child = parent
    }
  }

  #siftDown(start: number): void {
    const length = this.#times.length
    let parent = start
    for (;;) {
      const left = parent * 2 + 1
      const right = left + 1
      let smallest = parent
      if (left < length && this.#time(left) < this.#time(smallest)) smallest = left
      if (right < length && this.#time(right) < this.#time(smallest)) smallest = right
      if (smallest === parent) return
      this.#swap(parent, smallest)
      parent = smallest
    }
  }

  #time(index: number): number {
    return this.#times[index] as number
  }

  #swap(a: number, b: number): void {
    const times = this.#times
    const ids = this.#ids
    const time = times[a] as number
    times[a] = times[b] as number
    times[b] = time
    const id = ids[a] as Id
    ids[a] = ids[b] as Id
    ids[b] = id
  }
}
