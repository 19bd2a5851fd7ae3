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
import { ExpiryBuckets } from './expiry-buckets.js'
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

/** Tag of MemoryStorage's list cursors (two insertion numbers: where the listing is, and where it ends). */
const CURSOR_TAG = 'm'
/**
 * Most entries one `listTokens` call examines: in process, a few thousand cost microseconds, and a filter the log
 * does not serve (path, metadata) rarely leaves a page empty.
 */
const LIST_SCAN_BUDGET = 4096

/**
 * A stored token's place in MemoryStorage: the record, and its links to its family, so that walking a subtree or
 * checking ancestors follows references rather than looking ids up in maps of a million entries (each lookup a
 * cache miss or two, which is most of what deleting a token would otherwise cost).
 *
 * A deleted token's slot is marked `dead` (a tombstone) and its entry in the listing log cleared; its entries
 * in the id and accessor maps stay until those maps are rebuilt from the log, once dead entries outnumber live
 * ones (see `#maybePurge`). Lookups treat a dead slot as absent.
 */
interface Slot {
  record: TokenRecord
  /** Its insertion number in the listing logs. */
  readonly seq: number
  /** Its index in the log of every token (moved by compactions), for clearing the entry when it dies. */
  logIndex: number
  /** The parent's slot while `record.parent` is set; `null` for an orphan. */
  parent: Slot | null
  /** Child slots in insertion order; a dead one or one re-parented since is stale, dropped when met. */
  children: Set<Slot> | null
  /** Its children in insertion order, for listings by parent. */
  childLog: SeqLog<Slot> | null
  dead: boolean
}

/** Deletions tolerated since the last purge before another is considered. */
const MIN_DEAD_FOR_PURGE = 1024
/**
 * Live tokens up to which a purge rebuilds the maps in one go: a rebuild costs a map write or two per live token,
 * synchronously, so above this it would hold the event loop too long (about two seconds at a million live tokens
 * here). A larger store instead drops its dead entries a few at a time ({@link DRAIN_CHUNK}). Exported for the
 * tests; not part of the package.
 *
 * @internal
 */
export const REBUILD_MAX_LIVE = 32_768
/**
 * Entries of each map that a store above {@link REBUILD_MAX_LIVE} goes through per insertion, single deletion or
 * completed batch deletion while it drops dead entries: a fraction of a millisecond each time.
 */
const DRAIN_CHUNK = 256

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

/** How many entries MemoryStorage's internal indexes hold, dead ones included. */
export interface MemoryIndexSizes {
  /** The id map. */
  readonly tokens: number
  /** The accessor map. */
  readonly accessors: number
  /** The listing log of every token. */
  readonly log: number
  /** The token expiry index's entries, and its distinct times. */
  readonly expiry: number
  readonly expiryTimes: number
}

/** Set in MemoryStorage's static block. */
let indexSizesOf: (storage: MemoryStorage) => MemoryIndexSizes

/**
 * Entry counts of a MemoryStorage's internal indexes, dead entries included: for tests that check they stay
 * bounded under churn. Not exported from the package.
 *
 * @internal
 */
export function memoryIndexSizes(storage: MemoryStorage): MemoryIndexSizes {
  return indexSizesOf(storage)
}

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
  /** Slots by hashed id; dead ones stay until a purge (or a new token with the same id replaces them). */
  #tokens = new Map<HashedTokenId, Slot>()
  /** Slots by accessor, dead ones included until a purge. */
  #byAccessor = new Map<Accessor, Slot>()
  /** Live tokens: the maps' other entries are dead slots. */
  #liveCount = 0
  /**
   * Dead slots that still had children when they died (a deletion out of order, as a walk cut short leaves): a
   * purge keeps them in `#tokens`, so that a resumed walk or `tidy` still finds those children.
   */
  readonly #deadParents = new Set<Slot>()
  /**
   * Where a store too large to rebuild its maps is in going through them to drop dead entries
   * ({@link MemoryStorage.#drain}); `null` between rounds. A map iterator stays valid while its map changes.
   */
  #draining: {
    tokens: MapIterator<[HashedTokenId, Slot]>
    accessors: MapIterator<[Accessor, Slot]>
  } | null = null
  readonly #revoking = new Set<HashedTokenId>()
  #expiry = new ExpiryBuckets<Slot>()
  readonly #leases = new Map<LeaseId, LeaseRecord>()
  readonly #leasesByToken = new Map<HashedTokenId, Set<LeaseId>>()
  readonly #leaseExpiry = new ExpiryHeap<LeaseId>()
  readonly #roles = new Map<string, TokenRole>()
  /**
   * Every token in insertion order, for listings; each slot holds its number and index in it. A dead slot's entry
   * is cleared, so the log's live entries are exactly the live tokens: purges rebuild the maps from it.
   */
  readonly #log = new SeqLog<Slot>()
  #lastSeq = 0
  readonly #policies = new Map<string, string>()

  /** How many tokens are stored, live or not. */
  get size(): number {
    return this.#liveCount
  }

  async insertToken(record: TokenRecord, creator?: HashedTokenId): Promise<InsertResult> {
    const sameId = this.#tokens.get(record.id)
    if (sameId !== undefined && !sameId.dead) return 'id_exists'
    const sameAccessor = this.#byAccessor.get(record.accessor)
    if (sameAccessor !== undefined && !sameAccessor.dead) return 'accessor_exists'
    if (creator !== undefined && !this.#lineageIntact(this.#tokens.get(creator))) {
      return 'parent_gone'
    }
    let parent: Slot | null = null
    if (record.parent !== null) {
      parent = this.#tokens.get(record.parent) ?? null
      if (!this.#lineageIntact(parent ?? undefined)) return 'parent_gone'
    }
    const slot: Slot = {
      record,
      seq: ++this.#lastSeq,
      logIndex: this.#log.length,
      parent,
      children: null,
      childLog: null,
      dead: false,
    }
    this.#log.push(slot.seq, slot)
    if (parent !== null) {
      ;(parent.children ??= new Set()).add(slot)
      ;(parent.childLog ??= new SeqLog()).push(slot.seq, slot)
    }
    this.#tokens.set(record.id, slot)
    this.#byAccessor.set(record.accessor, slot)
    if (record.expiresAt !== null) this.#expiry.push(record.expiresAt, slot)
    if (record.revoking !== null) this.#revoking.add(record.id)
    this.#liveCount += 1
    if (this.#liveCount > REBUILD_MAX_LIVE) this.#drain()
    return 'inserted'
  }

  async getToken(id: HashedTokenId): Promise<TokenRecord | null> {
    return this.#stored(id)?.record ?? null
  }

  async getTokenByAccessor(accessor: Accessor): Promise<TokenRecord | null> {
    const slot = this.#byAccessor.get(accessor)
    return slot === undefined || slot.dead ? null : slot.record
  }

  async getLiveToken(id: HashedTokenId, now: UnixMillis): Promise<TokenRecord | null> {
    return this.#live(this.#tokens.get(id), now)
  }

  async useToken(id: HashedTokenId, now: UnixMillis): Promise<TokenRecord | null> {
    return this.#use(id, now)
  }

  static {
    // The one door to `#use` from outside the class: TokenStore's synchronous fast path (see `useTokenNowOrLater`).
    useNow = (storage, id, now) =>
      #tokens in storage && storage.useToken === MEMORY_USE_TOKEN ? storage.#use(id, now) : NOT_NOW
    indexSizesOf = (storage) => ({
      tokens: storage.#tokens.size,
      accessors: storage.#byAccessor.size,
      log: storage.#log.length,
      expiry: storage.#expiry.size,
      expiryTimes: storage.#expiry.times,
    })
  }

  /** `useToken`'s work, without the promise: a read and a write with nothing in between. */
  #use(id: HashedTokenId, now: UnixMillis): TokenRecord | null {
    const slot = this.#tokens.get(id)
    const record = this.#live(slot, now)
    if (slot === undefined || record === null || record.numUses === 0) return record
    const numUses = record.numUses - 1
    const used: TokenRecord =
      numUses === 0 ? { ...record, numUses, revoking: 'uses_exhausted' } : { ...record, numUses }
    slot.record = used
    if (used.revoking !== null) this.#revoking.add(id)
    return used
  }

  async renewToken(
    id: HashedTokenId,
    now: UnixMillis,
    update: RenewUpdate,
  ): Promise<TokenRecord | null> {
    const slot = this.#tokens.get(id)
    const record = this.#live(slot, now)
    if (slot === undefined || record === null || record.expiresAt !== update.expectedExpiresAt) {
      return null
    }
    const { expiresAt, ttl, lastRenewalTime } = update
    const renewed: TokenRecord = { ...record, expiresAt, ttl, lastRenewalTime }
    slot.record = renewed
    this.#expiry.push(update.expiresAt, slot)
    return renewed
  }

  async markRevoking(
    id: HashedTokenId,
    reason: RevokeReason,
    expiredAt?: UnixMillis,
  ): Promise<TokenRecord | null> {
    const slot = this.#stored(id)
    if (slot === undefined) return null
    const record = slot.record
    if (record.revoking !== null && (record.revoking !== 'orphan' || reason === 'orphan')) {
      return record
    }
    if (expiredAt !== undefined && (record.expiresAt === null || record.expiresAt > expiredAt)) {
      return null
    }
    const marked: TokenRecord = { ...record, revoking: reason }
    slot.record = marked
    this.#revoking.add(id)
    return marked
  }

  /** Of a deleted token too, while it still has children (a deletion out of order), so that a resumed walk finds them. */
  async listChildren(id: HashedTokenId): Promise<HashedTokenId[]> {
    const slot = this.#tokens.get(id)
    const ids: HashedTokenId[] = []
    for (const child of slot?.children ?? []) {
      if (!child.dead && child.parent === slot) ids.push(child.record.id)
    }
    return ids
  }

  async orphanChildren(id: HashedTokenId, now: UnixMillis): Promise<number | null> {
    const slot = this.#stored(id)
    const record = slot?.record
    if (
      slot === undefined ||
      record?.revoking !== 'orphan' ||
      (record.expiresAt !== null && now >= record.expiresAt)
    ) {
      return null
    }
    if (!this.#ancestorsLive(slot.parent, now)) return null
    let orphaned = 0
    for (const child of slot.children ?? []) {
      if (child.dead || child.parent !== slot) continue
      child.record = { ...child.record, parent: null }
      child.parent = null
      orphaned += 1
    }
    slot.children = null
    slot.childLog = null
    return orphaned
  }

  // `reason` and `now` are for shared adapters' notices; one process has nobody to notify.
  async deleteToken(
    id: HashedTokenId,
    _reason?: RevokeReason,
    _now?: UnixMillis,
  ): Promise<TokenRecord | null> {
    const slot = this.#stored(id)
    if (slot === undefined) return null
    // Its leases stay (the store deletes them first); its children stay linked, so a resumed walk finds them.
    this.#bury(slot)
    this.#unlinkFromParent(slot)
    this.#maybePurge()
    return slot.record
  }

  /**
   * A scan of every token: `revokePrefix` is a rare break-glass call, and a path index would cost every `create` a
   * write into a set as large as the store (a tenth of its time) and every token 40 bytes, to speed up that one call.
   * A scan takes tens of milliseconds for a million tokens.
   */
  async findByPathPrefix(prefix: string): Promise<HashedTokenId[]> {
    const found: HashedTokenId[] = []
    const below = `${prefix}/`
    for (const slot of this.#tokens.values()) {
      if (slot.dead) continue
      const path = slot.record.path
      if (path === prefix || path.startsWith(below)) found.push(slot.record.id)
    }
    return found
  }

  async listExpiredTokens(now: UnixMillis, limit: number): Promise<HashedTokenId[]> {
    return listDue(this.#expiry, now, limit, expiryOf).map((slot) => slot.record.id)
  }

  /** Memory always answers. */
  async ping(): Promise<void> {}

  async nextExpiry(): Promise<UnixMillis | null> {
    const token = nextDue(this.#expiry, expiryOf)
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
    if (this.#live(this.#tokens.get(lease.token), now) === null) return 'token_gone'
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
    if (this.#live(this.#tokens.get(lease.token), now) === null) return null
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
    const top = this.#stored(topId)
    if (top?.record.revoking == null) return { tokens, leases, done: true }
    const max = Math.max(1, Math.floor(limit) || 1)
    // Depth-first, children before parents: `path` runs from the top down to the slot looked at. It holds as
    // many slots as the tree is deep (never as many as it is wide). Each token's children are gone through in
    // one pass that deletes those without children of their own and descends into the first that has some: a
    // pass per token, never one per deleted child (a Set walked from its start again after each deletion would
    // step over every deleted entry again, quadratic in the width). Following slots, a deletion looks nothing up.
    const path: Slot[] = [top]
    const deleted: Slot[] = []
    while (deleted.length < max) {
      const slot = path.at(-1)
      if (slot === undefined) break
      const children = slot.children
      const passStart = deleted.length
      let reachedEnd = true
      if (children !== null) {
        for (const child of children) {
          if (deleted.length >= max) {
            reachedEnd = false
            break
          }
          if (child.dead || child.parent !== slot) {
            // Gone, or under another parent now: not a child of `slot`.
            children.delete(child)
            continue
          }
          if (child.children !== null && child.children.size > 0) {
            path.push(child)
            reachedEnd = false
            break
          }
          // The parent's child log is left as it is: the parent goes in this walk and its log with it, and until
          // then listings skip the dead entries.
          this.#deleteWithLeases(child, leases)
          deleted.push(child)
          tokens.push(child.record)
        }
      }
      if (!reachedEnd) {
        // Cut off, or gone down a level: the children this pass deleted leave the set, which stays for the rest.
        for (let i = passStart; i < deleted.length; i++) children?.delete(deleted[i] as Slot)
        continue
      }
      // Every child was deleted (or was stale): the set goes whole rather than entry by entry.
      slot.children = null
      if (deleted.length >= max) continue
      path.pop()
      if (slot.dead) continue
      this.#deleteWithLeases(slot, leases)
      this.#unlinkFromParent(slot)
      deleted.push(slot)
      tokens.push(slot.record)
    }
    const done = top.dead
    if (done) this.#maybePurge()
    return { tokens, leases, done }
  }

  /**
   * Takes due entries off the expiry index (lazily: a stale entry is dropped when it comes up, never looked for)
   * and deletes each expired token that has no children right away; one with children is marked and its entry
   * put back, so that `nextExpiry` still sees it until the store has finished its subtree.
   */
  async sweepExpired(now: UnixMillis, limit: number): Promise<ExpiredSweep> {
    const tokens: TokenRecord[] = []
    const leases: LeaseRecord[] = []
    const marked: Slot[] = []
    const max = Math.max(1, Math.floor(limit) || 1)
    const expiry = this.#expiry
    let done = true
    for (;;) {
      const time = expiry.peekTime()
      const slot = expiry.peekId()
      if (time === undefined || slot === undefined || time > now) break
      if (tokens.length + marked.length >= max) {
        done = false
        break
      }
      expiry.pop()
      const record = slot.record
      // Stale: deleted, or renewed since (a newer entry holds its current expiry).
      if (slot.dead || record.expiresAt !== time) continue
      // An ancestor that expired no later (a child's expiry is capped at its parent's) takes it down with its
      // subtree, as a sweep token by token, soonest first and parents first, would: its entry is dropped.
      if (ancestorExpiredBy(slot.parent, time)) continue
      if (!hasChild(slot)) {
        this.#deleteWithLeases(slot, leases)
        this.#unlinkFromParent(slot)
        tokens.push(record)
        continue
      }
      if (record.revoking === null || record.revoking === 'orphan') {
        slot.record = { ...record, revoking: 'expired' }
        this.#revoking.add(record.id)
      }
      marked.push(slot)
    }
    for (const slot of marked) expiry.push(slot.record.expiresAt as UnixMillis, slot)
    if (done) this.#maybePurge()
    return { tokens, leases, marked: marked.map((slot) => slot.record), done }
  }

  /** Deletes a token and its leases (appended to `leases`); its parent's index is the caller's. */
  #deleteWithLeases(slot: Slot, leases: LeaseRecord[]): void {
    const id = slot.record.id
    // Most stores hold no leases: then the token costs no lookup at all.
    const leaseIds = this.#leasesByToken.size === 0 ? undefined : this.#leasesByToken.get(id)
    if (leaseIds !== undefined) {
      for (const leaseId of leaseIds) {
        const lease = this.#leases.get(leaseId)
        if (lease === undefined || lease.token !== id) continue
        this.#leases.delete(leaseId)
        leases.push(lease)
      }
      this.#leasesByToken.delete(id)
    }
    this.#bury(slot)
  }

  /**
   * Marks a slot dead, which deletes its token for every lookup, and clears its entry in the listing log (an
   * array write). Its map entries stay for the next purge: a deletion writes no map of the store's size (bar the
   * marked-tokens set, which holds only the tops of revocations).
   */
  #bury(slot: Slot): void {
    slot.dead = true
    this.#liveCount -= 1
    if (slot.record.revoking !== null) this.#revoking.delete(slot.record.id)
    slot.childLog = null
    if (slot.children !== null) this.#deadParents.add(slot)
    this.#log.clearAt(slot.logIndex)
  }

  /** Removes a token just deleted from its parent's children and child log. */
  #unlinkFromParent(slot: Slot): void {
    const parent = slot.parent
    if (parent === null) return
    const siblings = parent.children
    if (siblings !== null) {
      siblings.delete(slot)
      if (siblings.size === 0) parent.children = null
    }
    if (parent.childLog?.noteStale() === true) {
      parent.childLog.compact((_seq, child) => !child.dead && child.parent === parent)
    }
  }

  /**
   * Once the tokens deleted since the last purge are as many as the live ones (and a thousand or more), drops
   * their dead entries from the id and accessor maps: compacts the log of every token (a pass over an array,
   * cleared entries unread) and builds both maps afresh from it, which holds exactly the live tokens (and the expiry
   * index, when mostly stale). So a purge costs about one map write per live token, never one per dead one, and a
   * store revoking forever holds at most about twice its live tokens. Called only when a deletion is complete (a
   * token, a subtree, a sweep), never between the batches of one, so that a large revocation pays for one purge,
   * when the fewest tokens are left. A store of more than {@link REBUILD_MAX_LIVE} live tokens, whose rebuild would
   * hold the event loop, drains a chunk of dead entries instead, here and at each insertion, until none is left.
   */
  #maybePurge(): void {
    // Each death since the last purge cleared one log entry and left at most one dead entry in each map (fewer
    // when a new token took its id or accessor), so the log's count bounds the maps' too.
    if (this.#liveCount > REBUILD_MAX_LIVE) {
      this.#drain()
      return
    }
    if (this.#log.stale < Math.max(MIN_DEAD_FOR_PURGE, this.#liveCount)) return
    this.#log.compact(isAliveInLog, setLogIndex)
    const tokens = new Map<HashedTokenId, Slot>()
    const byAccessor = new Map<Accessor, Slot>()
    for (let i = 0; i < this.#log.length; i++) {
      const slot = this.#log.idAt(i) as Slot
      tokens.set(slot.record.id, slot)
      byAccessor.set(slot.record.accessor, slot)
    }
    for (const slot of this.#deadParents) {
      if (!hasChild(slot)) this.#deadParents.delete(slot)
      // A live token inserted with its id since takes precedence, as it did in the map being replaced.
      else if (!tokens.has(slot.record.id)) tokens.set(slot.record.id, slot)
    }
    this.#tokens = tokens
    this.#byAccessor = byAccessor
    this.#draining = null
    // Entries of tokens deleted before they expired would otherwise hold their slots until that time comes.
    if (this.#expiry.size > 2 * this.#liveCount) {
      const expiry = new ExpiryBuckets<Slot>()
      for (let i = 0; i < this.#log.length; i++) {
        const slot = this.#log.idAt(i) as Slot
        if (slot.record.expiresAt !== null) expiry.push(slot.record.expiresAt, slot)
      }
      this.#expiry = expiry
    }
  }

  /**
   * For a store too large to rebuild its maps at once: once deletions since the last round are as many as the live
   * tokens, compacts the log of every token (an array pass) and starts a round through the id and accessor maps,
   * which then goes {@link DRAIN_CHUNK} entries further at each call, dropping the dead ones. A dead slot that still
   * has children keeps its id entry, so that a resumed walk or `tidy()` finds them. Nothing is listed up front: the
   * round holds two iterators, not the dead slots.
   */
  #drain(): void {
    if (this.#draining === null) {
      if (this.#log.stale < Math.max(MIN_DEAD_FOR_PURGE, this.#liveCount)) return
      this.#log.compact(isAliveInLog, setLogIndex)
      this.#draining = { tokens: this.#tokens.entries(), accessors: this.#byAccessor.entries() }
    }
    const { tokens, accessors } = this.#draining
    let more = false
    for (let n = 0; n < DRAIN_CHUNK; n++) {
      const next = tokens.next()
      if (next.done === true) break
      more = true
      const [id, slot] = next.value
      if (slot.dead && !hasChild(slot)) this.#tokens.delete(id)
    }
    for (let n = 0; n < DRAIN_CHUNK; n++) {
      const next = accessors.next()
      if (next.done === true) break
      more = true
      const [accessor, slot] = next.value
      if (slot.dead) this.#byAccessor.delete(accessor)
    }
    if (!more) this.#draining = null
  }

  /**
   * Lists in insertion order, from a log of every token (or, with `parent`, of that parent's children): resuming
   * is a binary search for the cursor's insertion number. The `path` and `metadata` filters test each entry: a
   * call examines up to 4096 entries (or `limit`, when larger), so a sparse filter may yield short pages. The
   * listing ends at the last insertion made before its first page: tokens inserted later go to the end of the
   * log, and a caller creating them as fast as it pages would otherwise never reach it.
   */
  async listTokens(query: TokenListQuery): Promise<TokenListPage> {
    const parent = query.parent === undefined ? null : this.#stored(query.parent)
    const log = parent === null ? this.#log : parent?.childLog
    if (log === undefined || log === null) return { records: [], cursor: null }
    const [after, end] =
      query.cursor === null ? [0, log.seqAt(log.length - 1) ?? 0] : cursorSeqs(query.cursor)
    const limit = Math.max(1, Math.floor(query.limit) || 1)
    const budget = Math.max(limit, LIST_SCAN_BUDGET)
    const records: TokenRecord[] = []
    let index = log.indexAfter(after)
    let last = after
    const within = (at: number): boolean => at < log.length && (log.seqAt(at) as number) <= end
    for (let examined = 0; within(index) && records.length < limit && examined < budget;) {
      const slot = log.idAt(index)
      last = log.seqAt(index) as number
      index += 1
      examined += 1
      if (slot === undefined || slot.dead || (parent !== null && slot.parent !== parent)) continue
      const record = this.#live(slot, query.now)
      if (
        record === null ||
        !pathMatches(record.path, query.pathPrefix) ||
        !metadataMatches(record.metadata, query.metadata)
      ) {
        continue
      }
      records.push(record)
    }
    return {
      records,
      cursor: within(index) ? encodeCursor(CURSOR_TAG, [String(last), String(end)]) : null,
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
    for (const id of this.#revoking) {
      if (this.#stored(id)?.record.revoking == null) {
        this.#revoking.delete(id)
        indexEntriesRemoved += 1
      }
    }
    for (const slot of this.#tokens.values()) {
      const children = slot.children
      if (children === null) continue
      for (const child of children) {
        if (child.dead || child.parent !== slot) {
          children.delete(child)
          indexEntriesRemoved += 1
        } else if (slot.dead) {
          // A parent deleted out of order (a walk cut short): its children become orphans, live again.
          child.record = { ...child.record, parent: null }
          child.parent = null
          children.delete(child)
          childrenOrphaned += 1
        }
      }
      if (children.size === 0) slot.children = null
      if (slot.dead) slot.childLog = null
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
      if (this.#stored(lease.token) === undefined) danglingLeases.push(lease.id)
    }
    return { indexEntriesRemoved, childrenOrphaned, danglingLeases }
  }

  /** The stored (not deleted) slot of `id`. */
  #stored(id: HashedTokenId): Slot | undefined {
    const slot = this.#tokens.get(id)
    return slot === undefined || slot.dead ? undefined : slot
  }

  /**
   * Whether a new child may hang under `slot`: it is stored and not being revoked, and its ancestors are stored and
   * not being revoked but for `revokeOrphan` (expiry aside: the store checked that at `now`).
   */
  #lineageIntact(slot: Slot | undefined): boolean {
    if (slot === undefined || slot.dead || slot.record.revoking !== null) return false
    for (let ancestor = slot.parent; ancestor !== null; ancestor = ancestor.parent) {
      const revoking = ancestor.record.revoking
      if (ancestor.dead || (revoking !== null && revoking !== 'orphan')) return false
    }
    return true
  }

  /** The record if it is live at `now`: itself usable, and its ancestors too. */
  #live(slot: Slot | undefined, now: UnixMillis): TokenRecord | null {
    if (slot === undefined || slot.dead || !isSelfLive(slot.record, now)) return null
    return this.#ancestorsLive(slot.parent, now) ? slot.record : null
  }

  /** Whether every token from `parent` up lets its descendants be used at `now`. A loop: trees may be deep. */
  #ancestorsLive(parent: Slot | null, now: UnixMillis): boolean {
    for (let ancestor = parent; ancestor !== null; ancestor = ancestor.parent) {
      if (ancestor.dead || !isAncestorLive(ancestor.record, now)) return false
    }
    return true
  }
}

/** Whether a token from `parent` up has expired at or before `time`. A loop: trees may be deep. */
function ancestorExpiredBy(parent: Slot | null, time: UnixMillis): boolean {
  for (let ancestor = parent; ancestor !== null; ancestor = ancestor.parent) {
    if (ancestor.dead) return false
    const expiresAt = ancestor.record.expiresAt
    if (expiresAt !== null && expiresAt <= time) return true
  }
  return false
}

/** Whether a child is still linked under `slot`, dropping stale links met on the way. */
function hasChild(slot: Slot): boolean {
  const children = slot.children
  if (children === null) return false
  for (const child of children) {
    if (!child.dead && child.parent === slot) return true
    // Gone, or under another parent now: not a child of `slot`.
    children.delete(child)
  }
  slot.children = null
  return false
}

/** A slot's current expiry for the expiry index; `undefined` once deleted. */
function expiryOf(slot: Slot): UnixMillis | null | undefined {
  return slot.dead ? undefined : slot.record.expiresAt
}

/** Log entries of deleted tokens are stale (cleared already, so this is a safeguard). */
function isAliveInLog(_seq: number, slot: Slot): boolean {
  return !slot.dead
}

/** Told by a compaction of the log of every token where a kept slot's entry now is. */
function setLogIndex(slot: Slot, index: number): void {
  slot.logIndex = index
}

/** What {@link listDue} and {@link nextDue} need of an expiry index: a heap, or buckets of a heap's interface. */
type DueIndex<Id> = Pick<ExpiryHeap<Id>, 'peekTime' | 'peekId' | 'pop' | 'push'>

/**
 * Up to `limit` ids whose heap time is at or before `now` and still current (`currentTime(id)` equals it). Stale
 * entries (deleted or renewed since) are dropped for good; current ones are put back, since listing changes
 * nothing: they leave the heap only once deletion or a renewal makes them stale.
 */
function listDue<Id>(
  heap: DueIndex<Id>,
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
  heap: DueIndex<Id>,
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

/** The insertion numbers in a MemoryStorage cursor: the last one listed, and the last one the listing covers. */
function cursorSeqs(cursor: string): [number, number] {
  const [after, end] = decodeCursor(cursor, CURSOR_TAG, 2).map((text) => {
    const seq = Number(text)
    if (!/^\d{1,16}$/.test(text) || !Number.isSafeInteger(seq)) throw badCursor()
    return seq
  })
  return [after as number, end as number]
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
