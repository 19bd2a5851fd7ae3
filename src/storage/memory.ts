/**
 * MemoryStorage: the default storage, and the reference implementation of the {@link Storage} contract.
 *
 * Every method runs synchronously inside its promise, so each is atomic by construction: no other call can run
 * between its read and its write.
 */
/* eslint-disable @typescript-eslint/require-await -- the methods are async so that the contract's promises hold
   (a throw becomes a rejection) although nothing in memory needs awaiting */
import type { Accessor, HashedTokenId, RevokeReason, TokenRecord, UnixMillis } from '../types.js'
import { ExpiryHeap } from './expiry-heap.js'
import type { InsertResult, RenewUpdate, Storage } from './storage.js'

/** Whether the token itself (not its ancestors) is usable at `now`. */
export function isSelfLive(record: TokenRecord, now: UnixMillis): boolean {
  return record.revoking === null && (record.expiresAt === null || now < record.expiresAt)
}

/**
 * Keeps tokens in process memory. Tokens vanish with the process, so it suits a single instance, tests, and the
 * dev server; services with several instances use `tokentree/redis` or `tokentree/postgres`.
 *
 * @example
 * ```ts
 * import { MemoryStorage, TokenStore } from 'tokentree'
 * const store = new TokenStore({ storage: new MemoryStorage() })
 * ```
 */
export class MemoryStorage implements Storage {
  readonly #tokens = new Map<HashedTokenId, TokenRecord>()
  readonly #byAccessor = new Map<Accessor, HashedTokenId>()
  readonly #children = new Map<HashedTokenId, Set<HashedTokenId>>()
  readonly #byPath = new Map<string, Set<HashedTokenId>>()
  readonly #revoking = new Set<HashedTokenId>()
  readonly #expiry = new ExpiryHeap<HashedTokenId>()

  /** How many tokens are stored, live or not. */
  get size(): number {
    return this.#tokens.size
  }

  async insertToken(record: TokenRecord): Promise<InsertResult> {
    if (this.#tokens.has(record.id)) return 'id_exists'
    if (this.#byAccessor.has(record.accessor)) return 'accessor_exists'
    if (record.parent !== null) {
      const parent = this.#tokens.get(record.parent)
      if (parent === undefined || parent.revoking !== null) return 'parent_gone'
      addToIndex(this.#children, record.parent, record.id)
    }
    this.#tokens.set(record.id, record)
    this.#byAccessor.set(record.accessor, record.id)
    addToIndex(this.#byPath, record.path, record.id)
    if (record.expiresAt !== null) this.#expiry.push(record.expiresAt, record.id)
    if (record.revoking !== null) this.#revoking.add(record.id)
    return 'inserted'
  }

  async getToken(id: HashedTokenId): Promise<TokenRecord | null> {
    return this.#tokens.get(id) ?? null
  }

  async getTokenByAccessor(accessor: Accessor): Promise<TokenRecord | null> {
    const id = this.#byAccessor.get(accessor)
    return id === undefined ? null : (this.#tokens.get(id) ?? null)
  }

  async getLiveToken(id: HashedTokenId, now: UnixMillis): Promise<TokenRecord | null> {
    return this.#live(id, now)
  }

  async useToken(id: HashedTokenId, now: UnixMillis): Promise<TokenRecord | null> {
    const record = this.#live(id, now)
    if (record === null || record.numUses === 0) return record
    const numUses = record.numUses - 1
    const used: TokenRecord =
      numUses === 0 ? { ...record, numUses, revoking: 'uses_exhausted' } : { ...record, numUses }
    this.#tokens.set(id, used)
    if (used.revoking !== null) this.#revoking.add(id)
    return used
  }

  async renewToken(
    id: HashedTokenId,
    now: UnixMillis,
    update: RenewUpdate,
  ): Promise<TokenRecord | null> {
    const record = this.#live(id, now)
    if (record === null) return null
    const renewed: TokenRecord = { ...record, ...update }
    this.#tokens.set(id, renewed)
    this.#expiry.push(update.expiresAt, id)
    return renewed
  }

  async markRevoking(id: HashedTokenId, reason: RevokeReason): Promise<TokenRecord | null> {
    const record = this.#tokens.get(id)
    if (record === undefined) return null
    if (record.revoking !== null) return record
    const marked: TokenRecord = { ...record, revoking: reason }
    this.#tokens.set(id, marked)
    this.#revoking.add(id)
    return marked
  }

  async listChildren(id: HashedTokenId): Promise<HashedTokenId[]> {
    const children = this.#children.get(id)
    return children === undefined ? [] : [...children]
  }

  async orphanChildren(id: HashedTokenId): Promise<number> {
    const children = this.#children.get(id)
    if (children === undefined) return 0
    for (const childId of children) {
      const child = this.#tokens.get(childId)
      if (child !== undefined) this.#tokens.set(childId, { ...child, parent: null })
    }
    this.#children.delete(id)
    return children.size
  }

  async deleteToken(id: HashedTokenId): Promise<TokenRecord | null> {
    const record = this.#tokens.get(id)
    if (record === undefined) return null
    this.#tokens.delete(id)
    this.#byAccessor.delete(record.accessor)
    this.#revoking.delete(id)
    removeFromIndex(this.#byPath, record.path, id)
    if (record.parent !== null) removeFromIndex(this.#children, record.parent, id)
    // Children still indexed under this id (a deletion out of order) stay listed, so a resumed walk finds them.
    return record
  }

  async findByPathPrefix(prefix: string): Promise<HashedTokenId[]> {
    const found: HashedTokenId[] = []
    const below = `${prefix}/`
    for (const [path, ids] of this.#byPath) {
      if (path === prefix || path.startsWith(below)) found.push(...ids)
    }
    return found
  }

  async listExpired(now: UnixMillis, limit: number): Promise<HashedTokenId[]> {
    const expired = new Map<HashedTokenId, UnixMillis>()
    const heap = this.#expiry
    while (expired.size < limit) {
      const time = heap.peekTime()
      const id = heap.peekId()
      if (time === undefined || id === undefined || time > now) break
      heap.pop()
      if (this.#tokens.get(id)?.expiresAt === time) expired.set(id, time)
    }
    // Listing changes nothing: put the live entries back until deleteToken or a renewal makes them stale.
    for (const [id, time] of expired) heap.push(time, id)
    return [...expired.keys()]
  }

  async nextExpiry(): Promise<UnixMillis | null> {
    const heap = this.#expiry
    for (;;) {
      const time = heap.peekTime()
      const id = heap.peekId()
      if (time === undefined || id === undefined) return null
      if (this.#tokens.get(id)?.expiresAt === time) return time
      heap.pop()
    }
  }

  async listRevoking(limit: number): Promise<HashedTokenId[]> {
    const ids: HashedTokenId[] = []
    for (const id of this.#revoking) {
      if (ids.length >= limit) break
      ids.push(id)
    }
    return ids
  }

  /** The record if it and every ancestor are live at `now`. Walks up with a loop: trees may be very deep. */
  #live(id: HashedTokenId, now: UnixMillis): TokenRecord | null {
    const record = this.#tokens.get(id)
    if (record === undefined || !isSelfLive(record, now)) return null
    let parentId = record.parent
    while (parentId !== null) {
      const ancestor = this.#tokens.get(parentId)
      if (ancestor === undefined || !isSelfLive(ancestor, now)) return null
      parentId = ancestor.parent
    }
    return record
  }
}

function addToIndex<K, V>(index: Map<K, Set<V>>, key: K, value: V): void {
  const set = index.get(key)
  if (set === undefined) index.set(key, new Set([value]))
  else set.add(value)
}

function removeFromIndex<K, V>(index: Map<K, Set<V>>, key: K, value: V): void {
  const set = index.get(key)
  if (set === undefined) return
  set.delete(value)
  if (set.size === 0) index.delete(key)
}
