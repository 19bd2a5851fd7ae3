/**
 * MemoryStorage: the default storage, and the reference implementation of the {@link Storage} contract.
 *
 * Every method runs synchronously inside its promise, so each is atomic by construction: no other call can run
 * between its read and its write.
 */
/* eslint-disable @typescript-eslint/require-await -- the methods are async so that the contract's promises hold
   (a throw becomes a rejection) although nothing in memory needs awaiting */
import type {
  Accessor,
  HashedTokenId,
  LeaseId,
  LeaseRecord,
  RevokeReason,
  TokenRecord,
  UnixMillis,
} from '../types.js'
import { ExpiryHeap } from './expiry-heap.js'
import {
  badCursor,
  decodeCursor,
  encodeCursor,
  metadataMatches,
  pathMatches,
} from './list-cursor.js'
import { SeqLog } from './seq-log.js'
import type { TokenRole } from '../roles.js'
import type {
  ExpiredSweep,
  InsertLeaseResult,
  InsertResult,
  RenewUpdate,
  Storage,
  StorageTidyResult,
  SubtreeDeletion,
  TokenListPage,
  TokenListQuery,
} from './storage.js'

/** Tag of MemoryStorage's list cursors (an insertion number). */
const CURSOR_TAG = 'm'
/**
 * Most entries one `listTokens` call examines: in process, a few thousand cost microseconds, and a filter the log
 * does not serve (path, metadata) rarely leaves a page empty.
 */
const LIST_SCAN_BUDGET = 4096

/**
 * What the accessor index holds for a token: its id, and its number in the listing logs. The number lives here,
 * not in a map of its own, so that inserting or deleting a token writes one large map fewer: in a store of a
 * million tokens each such write costs a cache miss or two, and that is most of what deleting a token costs.
 */
interface AccessorEntry {
  readonly id: HashedTokenId
  /** The token's insertion number: log entries with another number for its id are stale. */
  readonly seq: number
}

/** Whether the token itself (not its ancestors) is usable at `now`. */
export function isSelfLive(record: TokenRecord, now: UnixMillis): boolean {
  return record.revoking === null && (record.expiresAt === null || now < record.expiresAt)
}

/**
 * Whether an ancestor lets its descendants be used at `now`: unexpired, and not being revoked, except by
 * `revokeOrphan`, whose children are about to become orphans and stay usable throughout.
 */
export function isAncestorLive(record: TokenRecord, now: UnixMillis): boolean {
  return (
    (record.revoking === null || record.revoking === 'orphan') &&
    (record.expiresAt === null || now < record.expiresAt)
  )
}

/** What `useNow` answers when it cannot answer synchronously. */
const NOT_NOW = Symbol('not now')

/** Set in MemoryStorage's static block: `#use` of a genuine MemoryStorage, else `NOT_NOW`. */
let useNow: (
  storage: Storage,
  id: HashedTokenId,
  now: UnixMillis,
) => TokenRecord | null | typeof NOT_NOW

/**
 * `storage.useToken(id, now)`, answered synchronously when `storage` is a MemoryStorage whose `useToken` is the
 * class's own, else as a native promise of the storage's answer.
 *
 * Why: a protected route pays for every promise hop between the request and `next()`, and memory has nothing to
 * wait for. The answer is the same either way, and so is atomicity: the read and the write run with nothing in
 * between, as inside `useToken`. A proxy (no private fields), a subclass that overrides `useToken`, or a patched or
 * spied `useToken` on the instance always goes through `useToken`, so nothing that wraps it is bypassed.
 *
 * @internal
 */
export function useTokenNowOrLater(
  storage: Storage,
  id: HashedTokenId,
  now: UnixMillis,
): TokenRecord | null | Promise<TokenRecord | null> {
  const record = useNow(storage, id, now)
  // `Promise.resolve` of a native promise is that promise: callers can tell the two answers apart by `instanceof`.
  return record === NOT_NOW ? Promise.resolve(storage.useToken(id, now)) : record
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
  readonly #byAccessor = new Map<Accessor, AccessorEntry>()
  readonly #children = new Map<HashedTokenId, Set<HashedTokenId>>()
  readonly #revoking = new Set<HashedTokenId>()
  readonly #expiry = new ExpiryHeap<HashedTokenId>()
  readonly #leases = new Map<LeaseId, LeaseRecord>()
  readonly #leasesByToken = new Map<HashedTokenId, Set<LeaseId>>()
  readonly #leaseExpiry = new ExpiryHeap<LeaseId>()
  readonly #roles = new Map<string, TokenRole>()
  /** Every token in insertion order, for listings; `#byAccessor` holds each stored token's number in it. */
  readonly #log = new SeqLog<HashedTokenId>()
  /** Each parent's children in insertion order, for listings by parent. */
  readonly #childLogs = new Map<HashedTokenId, SeqLog<HashedTokenId>>()
  #lastSeq = 0
  readonly #policies = new Map<string, string>()

  /** How many tokens are stored, live or not. */
  get size(): number {
    return this.#tokens.size
  }

  async insertToken(record: TokenRecord, creator?: HashedTokenId): Promise<InsertResult> {
    if (this.#tokens.has(record.id)) return 'id_exists'
    if (this.#byAccessor.has(record.accessor)) return 'accessor_exists'
    if (creator !== undefined && !this.#lineageIntact(creator)) return 'parent_gone'
    if (record.parent !== null) {
      if (!this.#lineageIntact(record.parent)) return 'parent_gone'
      addToIndex(this.#children, record.parent, record.id)
    }
    this.#tokens.set(record.id, record)
    this.#byAccessor.set(record.accessor, { id: record.id, seq: this.#logInsert(record) })
    if (record.expiresAt !== null) this.#expiry.push(record.expiresAt, record.id)
    if (record.revoking !== null) this.#revoking.add(record.id)
    return 'inserted'
  }

  async getToken(id: HashedTokenId): Promise<TokenRecord | null> {
    return this.#tokens.get(id) ?? null
  }

  async getTokenByAccessor(accessor: Accessor): Promise<TokenRecord | null> {
    const entry = this.#byAccessor.get(accessor)
    return entry === undefined ? null : (this.#tokens.get(entry.id) ?? null)
  }

  async getLiveToken(id: HashedTokenId, now: UnixMillis): Promise<TokenRecord | null> {
    return this.#live(id, now)
  }

  async useToken(id: HashedTokenId, now: UnixMillis): Promise<TokenRecord | null> {
    return this.#use(id, now)
  }

  static {
    // The one door to `#use` from outside the class: TokenStore's synchronous fast path (see `useTokenNowOrLater`).
    useNow = (storage, id, now) =>
      #tokens in storage && storage.useToken === MEMORY_USE_TOKEN ? storage.#use(id, now) : NOT_NOW
  }

  /** `useToken`'s work, without the promise: a read and a write with nothing in between. */
  #use(id: HashedTokenId, now: UnixMillis): TokenRecord | null {
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
    if (record === null || record.expiresAt !== update.expectedExpiresAt) return null
    const { expiresAt, ttl, lastRenewalTime } = update
    const renewed: TokenRecord = { ...record, expiresAt, ttl, lastRenewalTime }
    this.#tokens.set(id, renewed)
    this.#expiry.push(update.expiresAt, id)
    return renewed
  }

  async markRevoking(
    id: HashedTokenId,
    reason: RevokeReason,
    expiredAt?: UnixMillis,
  ): Promise<TokenRecord | null> {
    const record = this.#tokens.get(id)
    if (record === undefined) return null
    if (record.revoking !== null && (record.revoking !== 'orphan' || reason === 'orphan')) {
      return record
    }
    if (expiredAt !== undefined && (record.expiresAt === null || record.expiresAt > expiredAt)) {
      return null
    }
    const marked: TokenRecord = { ...record, revoking: reason }
    this.#tokens.set(id, marked)
    this.#revoking.add(id)
    return marked
  }

  async listChildren(id: HashedTokenId): Promise<HashedTokenId[]> {
    const children = this.#children.get(id)
    return children === undefined ? [] : [...children]
  }

  async orphanChildren(id: HashedTokenId, now: UnixMillis): Promise<number | null> {
    const record = this.#tokens.get(id)
    if (record?.revoking !== 'orphan' || (record.expiresAt !== null && now >= record.expiresAt))
      return null
    if (!this.#ancestorsLive(record.parent, now)) return null
    const children = this.#children.get(id)
    if (children === undefined) return 0
    for (const childId of children) {
      const child = this.#tokens.get(childId)
      if (child !== undefined) this.#tokens.set(childId, { ...child, parent: null })
    }
    this.#children.delete(id)
    this.#childLogs.delete(id)
    return children.size
  }

  // `reason` and `now` are for shared adapters' notices; one process has nobody to notify.
  async deleteToken(
    id: HashedTokenId,
    _reason?: RevokeReason,
    _now?: UnixMillis,
  ): Promise<TokenRecord | null> {
    const record = this.#tokens.get(id)
    if (record === undefined) return null
    this.#tokens.delete(id)
    this.#byAccessor.delete(record.accessor)
    this.#revoking.delete(id)
    this.#unlinkFromParent(record)
    this.#logDelete(id)
    // Children still indexed under this id (a deletion out of order) stay listed, so a resumed walk finds them.
    return record
  }

  /**
   * A scan of every token: `revokePrefix` is a rare break-glass call, and a path index would cost every `create` a
   * write into a set as large as the store (a tenth of its time) and every token 40 bytes, to speed up that one call.
   * A scan takes tens of milliseconds for a million tokens.
   */
  async findByPathPrefix(prefix: string): Promise<HashedTokenId[]> {
    const found: HashedTokenId[] = []
    const below = `${prefix}/`
    for (const record of this.#tokens.values()) {
      if (record.path === prefix || record.path.startsWith(below)) found.push(record.id)
    }
    return found
  }

  async listExpiredTokens(now: UnixMillis, limit: number): Promise<HashedTokenId[]> {
    return listDue(this.#expiry, now, limit, (id) => this.#tokens.get(id)?.expiresAt)
  }

  /** Memory always answers. */
  async ping(): Promise<void> {}

  async nextExpiry(): Promise<UnixMillis | null> {
    const token = nextDue(this.#expiry, (id) => this.#tokens.get(id)?.expiresAt)
    const lease = nextDue(this.#leaseExpiry, (id) => this.#leases.get(id)?.expiresAt)
    if (token === null) return lease
    return lease === null ? token : Math.min(token, lease)
  }

  async listRevoking(limit: number): Promise<HashedTokenId[]> {
    const ids: HashedTokenId[] = []
    for (const id of this.#revoking) {
      if (ids.length >= limit) break
      ids.push(id)
    }
    return ids
  }

  async insertLease(lease: LeaseRecord, now: UnixMillis): Promise<InsertLeaseResult> {
    if (this.#leases.has(lease.id)) return 'id_exists'
    if (this.#live(lease.token, now) === null) return 'token_gone'
    this.#leases.set(lease.id, lease)
    addToIndex(this.#leasesByToken, lease.token, lease.id)
    this.#leaseExpiry.push(lease.expiresAt, lease.id)
    return 'inserted'
  }

  async getLease(id: LeaseId): Promise<LeaseRecord | null> {
    return this.#leases.get(id) ?? null
  }

  async renewLease(id: LeaseId, now: UnixMillis, update: RenewUpdate): Promise<LeaseRecord | null> {
    const lease = this.#leases.get(id)
    if (
      lease === undefined ||
      now >= lease.expiresAt ||
      lease.expiresAt !== update.expectedExpiresAt
    ) {
      return null
    }
    if (this.#live(lease.token, now) === null) return null
    const { expiresAt, ttl, lastRenewalTime } = update
    const renewed: LeaseRecord = { ...lease, expiresAt, ttl, lastRenewalTime }
    this.#leases.set(id, renewed)
    this.#leaseExpiry.push(update.expiresAt, id)
    return renewed
  }

  async deleteLease(
    id: LeaseId,
    _reason?: RevokeReason,
    _now?: UnixMillis,
  ): Promise<LeaseRecord | null> {
    const lease = this.#leases.get(id)
    if (lease === undefined) return null
    this.#leases.delete(id)
    removeFromIndex(this.#leasesByToken, lease.token, id)
    return lease
  }

  async listLeases(token: HashedTokenId): Promise<LeaseId[]> {
    const ids = this.#leasesByToken.get(token)
    return ids === undefined ? [] : [...ids]
  }

  async findLeasesByPrefix(prefix: string): Promise<LeaseId[]> {
    const below = prefix === '' ? '' : `${prefix}/`
    return [...this.#leases.keys()].filter((id) => id.startsWith(below))
  }

  async listExpiredLeases(now: UnixMillis, limit: number): Promise<LeaseId[]> {
    return listDue(this.#leaseExpiry, now, limit, (id) => this.#leases.get(id)?.expiresAt)
  }

  // `reason` and `now` are for shared adapters' notices, as in deleteToken.
  async deleteSubtree(
    topId: HashedTokenId,
    _reason: RevokeReason,
    _now: UnixMillis,
    limit: number,
  ): Promise<SubtreeDeletion> {
    const tokens: TokenRecord[] = []
    const leases: LeaseRecord[] = []
    if (this.#tokens.get(topId)?.revoking == null) return { tokens, leases, done: true }
    const max = Math.max(1, Math.floor(limit) || 1)
    // Depth-first, children before parents: `path` runs from the top down to the token looked at. It holds ids
    // only, as many as the tree is deep (never as many as it is wide). Each token's children are gone through in
    // one pass that deletes those without children of their own and descends into the first that has some: a
    // pass per token, never one per deleted child (a Set walked from its start again after each deletion would
    // step over every deleted entry again, quadratic in the width).
    const path: HashedTokenId[] = [topId]
    while (tokens.length < max) {
      const id = path.at(-1)
      if (id === undefined) break
      const children = this.#children.get(id)
      const passStart = tokens.length
      let reachedEnd = true
      for (const child of children ?? []) {
        if (tokens.length >= max) {
          reachedEnd = false
          break
        }
        const record = this.#tokens.get(child)
        if (record?.parent !== id) {
          // Gone, or under another parent now: not a child of `id`.
          children?.delete(child)
          continue
        }
        if ((this.#children.get(child)?.size ?? 0) > 0) {
          path.push(child)
          reachedEnd = false
          break
        }
        // The parent's child log is left as it is: the parent goes in this walk and its log with it, and until
        // then listings skip the deleted entries.
        this.#deleteRecord(record, leases)
        tokens.push(record)
      }
      if (!reachedEnd) {
        // Cut off, or gone down a level: the children this pass deleted leave the set, which stays for the rest.
        for (let i = passStart; i < tokens.length; i++) {
          children?.delete((tokens[i] as TokenRecord).id)
        }
        continue
      }
      // Every child was deleted (or was stale): the set goes whole rather than entry by entry.
      if (children !== undefined) this.#children.delete(id)
      if (tokens.length >= max) continue
      path.pop()
      const record = this.#tokens.get(id)
      if (record === undefined) continue
      this.#unlinkFromParent(record)
      this.#deleteRecord(record, leases)
      tokens.push(record)
    }
    return { tokens, leases, done: !this.#tokens.has(topId) }
  }

  /**
   * Pops due entries off the expiry heap (lazily: a stale entry is dropped when it reaches the top, never looked
   * for) and deletes each expired token that has no children right away; one with children is marked and its
   * entry put back, so that `nextExpiry` still sees it until the store has finished its subtree.
   */
  async sweepExpired(now: UnixMillis, limit: number): Promise<ExpiredSweep> {
    const tokens: TokenRecord[] = []
    const leases: LeaseRecord[] = []
    const marked: TokenRecord[] = []
    const max = Math.max(1, Math.floor(limit) || 1)
    const heap = this.#expiry
    let done = true
    for (;;) {
      const time = heap.peekTime()
      const id = heap.peekId()
      if (time === undefined || id === undefined || time > now) break
      if (tokens.length + marked.length >= max) {
        done = false
        break
      }
      heap.pop()
      const record = this.#tokens.get(id)
      // Stale: deleted, or renewed since (a newer entry holds its current expiry).
      if (record === undefined || record.expiresAt !== time) continue
      // An ancestor that expired no later (a child's expiry is capped at its parent's) takes it down with its
      // subtree, as a sweep token by token, soonest first and parents first, would: its entry is dropped.
      if (this.#ancestorExpiredBy(record.parent, time)) continue
      if (this.#firstChild(id) === undefined) {
        this.#unlinkFromParent(record)
        this.#deleteRecord(record, leases)
        tokens.push(record)
        continue
      }
      const mark = record.revoking === null || record.revoking === 'orphan' ? 'expired' : null
      const kept: TokenRecord = mark === null ? record : { ...record, revoking: mark }
      if (mark !== null) {
        this.#tokens.set(id, kept)
        this.#revoking.add(id)
      }
      marked.push(kept)
    }
    for (const record of marked) heap.push(record.expiresAt as UnixMillis, record.id)
    return { tokens, leases, marked, done }
  }

  /** Whether a token from `parentId` up has expired at or before `time`. A loop: trees may be deep. */
  #ancestorExpiredBy(parentId: HashedTokenId | null, time: UnixMillis): boolean {
    for (let id = parentId; id !== null;) {
      const ancestor = this.#tokens.get(id)
      if (ancestor === undefined) return false
      if (ancestor.expiresAt !== null && ancestor.expiresAt <= time) return true
      id = ancestor.parent
    }
    return false
  }

  /** A child still indexed under `id`, dropping stale index entries met on the way; `undefined` when none. */
  #firstChild(id: HashedTokenId): HashedTokenId | undefined {
    const children = this.#children.get(id)
    if (children === undefined) return undefined
    for (const child of children) {
      if (this.#tokens.get(child)?.parent === id) return child
      // Gone, or under another parent now: not a child of `id`.
      children.delete(child)
    }
    this.#children.delete(id)
    return undefined
  }

  /**
   * Deletes a token and its leases (appended to `leases`) with every index entry but the expiry heap's and its
   * parent's ({@link MemoryStorage.#unlinkFromParent}, which a subtree walk does more cheaply itself).
   */
  #deleteRecord(record: TokenRecord, leases: LeaseRecord[]): void {
    const id = record.id
    const leaseIds = this.#leasesByToken.get(id)
    if (leaseIds !== undefined) {
      for (const leaseId of leaseIds) {
        const lease = this.#leases.get(leaseId)
        if (lease === undefined || lease.token !== id) continue
        this.#leases.delete(leaseId)
        leases.push(lease)
      }
      this.#leasesByToken.delete(id)
    }
    this.#tokens.delete(id)
    this.#byAccessor.delete(record.accessor)
    // Only marked tokens are in the set: most of a revoked subtree is not (its top carries the mark).
    if (record.revoking !== null) this.#revoking.delete(id)
    this.#logDelete(id)
  }

  /** Removes a token about to be deleted from its parent's children index and child log. */
  #unlinkFromParent(record: TokenRecord): void {
    const parent = record.parent
    if (parent === null) return
    removeFromIndex(this.#children, parent, record.id)
    const log = this.#childLogs.get(parent)
    if (log?.noteStale() === true) {
      log.compact(
        (seq, id) => this.#isCurrentInLog(seq, id) && this.#tokens.get(id)?.parent === parent,
      )
    }
  }

  /**
   * Lists in insertion order, from a log of every token (or, with `parent`, of that parent's children): resuming
   * is a binary search for the cursor's insertion number. The `path` and `metadata` filters test each entry: a
   * call examines up to 4096 entries (or `limit`, when larger), so a sparse filter may yield short pages.
   */
  async listTokens(query: TokenListQuery): Promise<TokenListPage> {
    const after = query.cursor === null ? 0 : cursorSeq(query.cursor)
    const log = query.parent === undefined ? this.#log : this.#childLogs.get(query.parent)
    if (log === undefined) return { records: [], cursor: null }
    const limit = Math.max(1, Math.floor(query.limit) || 1)
    const budget = Math.max(limit, LIST_SCAN_BUDGET)
    const records: TokenRecord[] = []
    let index = log.indexAfter(after)
    let last = after
    for (let examined = 0; index < log.length && records.length < limit && examined < budget;) {
      const entry = log.at(index) as { seq: number; id: HashedTokenId }
      index += 1
      examined += 1
      last = entry.seq
      if (!this.#isCurrentInLog(entry.seq, entry.id)) continue
      const record = this.#live(entry.id, query.now)
      if (
        record === null ||
        (query.parent !== undefined && record.parent !== query.parent) ||
        !pathMatches(record.path, query.pathPrefix) ||
        !metadataMatches(record.metadata, query.metadata)
      ) {
        continue
      }
      records.push(record)
    }
    return {
      records,
      cursor: index < log.length ? encodeCursor(CURSOR_TAG, [String(last)]) : null,
    }
  }

  async putRole(role: TokenRole): Promise<void> {
    this.#roles.set(role.name, role)
  }

  async getRole(name: string): Promise<TokenRole | null> {
    return this.#roles.get(name) ?? null
  }

  async listRoles(): Promise<string[]> {
    return [...this.#roles.keys()].sort()
  }

  async deleteRole(name: string): Promise<boolean> {
    return this.#roles.delete(name)
  }

  // `now` is for shared adapters' notices; one process has nobody to notify.
  async putPolicy(name: string, text: string, _now: UnixMillis): Promise<void> {
    this.#policies.set(name, text)
  }

  async getPolicy(name: string): Promise<string | null> {
    return this.#policies.get(name) ?? null
  }

  async listPolicies(): Promise<string[]> {
    return [...this.#policies.keys()].sort()
  }

  async deletePolicy(name: string, _now: UnixMillis): Promise<boolean> {
    return this.#policies.delete(name)
  }

  async tidy(): Promise<StorageTidyResult> {
    let indexEntriesRemoved = 0
    let childrenOrphaned = 0
    for (const [accessor, { id }] of this.#byAccessor) {
      if (this.#tokens.get(id)?.accessor !== accessor) {
        this.#byAccessor.delete(accessor)
        indexEntriesRemoved += 1
      }
    }
    for (const id of this.#revoking) {
      if (this.#tokens.get(id)?.revoking == null) {
        this.#revoking.delete(id)
        indexEntriesRemoved += 1
      }
    }
    for (const [parentId, children] of this.#children) {
      const parentExists = this.#tokens.has(parentId)
      for (const childId of children) {
        const child = this.#tokens.get(childId)
        if (child?.parent !== parentId) {
          removeFromIndex(this.#children, parentId, childId)
          indexEntriesRemoved += 1
        } else if (!parentExists) {
          this.#tokens.set(childId, { ...child, parent: null })
          removeFromIndex(this.#children, parentId, childId)
          this.#childLogs.delete(parentId)
          childrenOrphaned += 1
        }
      }
    }
    const danglingLeases: LeaseId[] = []
    for (const [tokenId, leaseIds] of this.#leasesByToken) {
      for (const leaseId of leaseIds) {
        if (this.#leases.get(leaseId)?.token !== tokenId) {
          removeFromIndex(this.#leasesByToken, tokenId, leaseId)
          indexEntriesRemoved += 1
        }
      }
    }
    for (const lease of this.#leases.values()) {
      if (!this.#tokens.has(lease.token)) danglingLeases.push(lease.id)
    }
    return { indexEntriesRemoved, childrenOrphaned, danglingLeases }
  }

  /** Appends a new token to the listing logs; returns its insertion number. */
  #logInsert(record: TokenRecord): number {
    const seq = ++this.#lastSeq
    this.#log.push(seq, record.id)
    if (record.parent === null) return seq
    let children = this.#childLogs.get(record.parent)
    if (children === undefined) {
      children = new SeqLog()
      this.#childLogs.set(record.parent, children)
    }
    children.push(seq, record.id)
    return seq
  }

  /**
   * Marks a deleted token's entry in the log of every token stale, compacting the log when most entries are, and
   * drops the log of its children. Its entry in its parent's child log is {@link MemoryStorage.#unlinkFromParent}'s.
   */
  #logDelete(id: HashedTokenId): void {
    if (this.#log.noteStale()) this.#log.compact(this.#isCurrent)
    this.#childLogs.delete(id)
  }

  /**
   * Whether a log entry is the stored token's current one: the id is stored, under the same insertion number (a
   * token deleted and inserted again has a new one). The token's accessor entry, removed with it, holds the number.
   */
  #isCurrentInLog(seq: number, id: HashedTokenId): boolean {
    const record = this.#tokens.get(id)
    return record !== undefined && this.#byAccessor.get(record.accessor)?.seq === seq
  }

  /** {@link MemoryStorage.#isCurrentInLog} as a function, made once rather than per compaction. */
  readonly #isCurrent = (seq: number, id: HashedTokenId): boolean => this.#isCurrentInLog(seq, id)

  /**
   * Whether a new child may hang under `id`: it exists and is not being revoked, and its ancestors exist and are
   * not being revoked but for `revokeOrphan` (expiry aside: the store checked that at `now`).
   */
  #lineageIntact(id: HashedTokenId): boolean {
    const record = this.#tokens.get(id)
    if (record === undefined || record.revoking !== null) return false
    for (let parentId = record.parent; parentId !== null;) {
      const ancestor = this.#tokens.get(parentId)
      if (ancestor === undefined || (ancestor.revoking !== null && ancestor.revoking !== 'orphan'))
        return false
      parentId = ancestor.parent
    }
    return true
  }

  /** The record if it is live at `now`: itself usable, and its ancestors too. */
  #live(id: HashedTokenId, now: UnixMillis): TokenRecord | null {
    const record = this.#tokens.get(id)
    if (record === undefined || !isSelfLive(record, now)) return null
    return this.#ancestorsLive(record.parent, now) ? record : null
  }

  /** Whether every token from `parentId` up lets its descendants be used at `now`. A loop: trees may be deep. */
  #ancestorsLive(parentId: HashedTokenId | null, now: UnixMillis): boolean {
    for (let id = parentId; id !== null;) {
      const ancestor = this.#tokens.get(id)
      if (ancestor === undefined || !isAncestorLive(ancestor, now)) return false
      id = ancestor.parent
    }
    return true
  }
}

/**
 * Up to `limit` ids whose heap time is at or before `now` and still current (`currentTime(id)` equals it). Stale
 * entries (deleted or renewed since) are dropped for good; current ones are put back, since listing changes
 * nothing: they leave the heap only once deletion or a renewal makes them stale.
 */
function listDue<Id>(
  heap: ExpiryHeap<Id>,
  now: UnixMillis,
  limit: number,
  currentTime: (id: Id) => UnixMillis | null | undefined,
): Id[] {
  const due = new Map<Id, UnixMillis>()
  while (due.size < limit) {
    const time = heap.peekTime()
    const id = heap.peekId()
    if (time === undefined || id === undefined || time > now) break
    heap.pop()
    if (currentTime(id) === time) due.set(id, time)
  }
  for (const [id, time] of due) heap.push(time, id)
  return [...due.keys()]
}

/** The earliest current time in the heap, dropping stale entries on the way. */
function nextDue<Id>(
  heap: ExpiryHeap<Id>,
  currentTime: (id: Id) => UnixMillis | null | undefined,
): UnixMillis | null {
  for (;;) {
    const time = heap.peekTime()
    const id = heap.peekId()
    if (time === undefined || id === undefined) return null
    if (currentTime(id) === time) return time
    heap.pop()
  }
}

/** The insertion number in a MemoryStorage cursor. */
function cursorSeq(cursor: string): number {
  const [text] = decodeCursor(cursor, CURSOR_TAG, 1)
  const seq = Number(text)
  if (!/^\d{1,16}$/.test(text ?? '') || !Number.isSafeInteger(seq)) {
    throw badCursor()
  }
  return seq
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

/** MemoryStorage's own `useToken`, to tell it from an override or a patched instance. */
// eslint-disable-next-line @typescript-eslint/unbound-method -- compared by identity, never called unbound
const MEMORY_USE_TOKEN = MemoryStorage.prototype.useToken
