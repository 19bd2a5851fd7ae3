/**
 * The contract between `TokenStore` and a storage backend.
 *
 * Each method is one atomic step of the token lifecycle, so that a backend shared by many processes (Redis,
 * PostgreSQL) can keep every guarantee of the in-memory store: a method either happens entirely or not at all, and
 * no interleaving of concurrent calls can observe half of one. Times are passed in as absolute `UnixMillis`, so a
 * backend never reads a clock of its own. Adapters report failures by rejecting (drivers' errors wrapped as
 * `TokenStoreError('storage_unavailable')`); "not found" is `null`, never an error.
 *
 * @packageDocumentation
 */
import type {
  Accessor,
  HashedTokenId,
  LeaseId,
  LeaseRecord,
  RevokeReason,
  Seconds,
  TokenRecord,
  UnixMillis,
} from '../types.js'
import type { TokenRole } from '../roles.js'

/** The outcome of {@link Storage.insertToken}. */
export type InsertResult =
  /** The record and its indexes were written. */
  | 'inserted'
  /** A token with this hashed id exists; nothing was written. */
  | 'id_exists'
  /** A token with this accessor exists; nothing was written. */
  | 'accessor_exists'
  /** `record.parent` or one of its ancestors is missing or being revoked; nothing was written. */
  | 'parent_gone'

/** The outcome of {@link Storage.insertLease}. */
export type InsertLeaseResult =
  /** The lease and its indexes were written. */
  | 'inserted'
  /** A lease with this id exists; nothing was written. */
  | 'id_exists'
  /** The lease's token is not live; nothing was written. */
  | 'token_gone'

/** The fields a renewal changes, and the state it was computed from. */
export interface RenewUpdate {
  /**
   * The `expiresAt` the renewal was computed from. The update applies only while the stored value is still this,
   * so that of two concurrent renewals the second is refused (and recomputed) rather than lost.
   */
  readonly expectedExpiresAt: UnixMillis
  /** The new expiry. */
  readonly expiresAt: UnixMillis
  /** The TTL just granted. @remarks Seconds. */
  readonly ttl: Seconds
  /** The time of this renewal. */
  readonly lastRenewalTime: UnixMillis
}

/**
 * A live token is one that exists, is not being revoked, and has not expired at `now` (`now < expiresAt`), and
 * whose every ancestor exists, has not expired, and is not being revoked, except with reason `orphan`: the children
 * of a token under `revokeOrphan` stay usable throughout, since they are about to become orphans. Methods that take
 * `now` check liveness atomically with what they do.
 */
export interface Storage {
  /**
   * Atomically inserts a token with its indexes (accessor, parent → children, path, expiry). Fails without writing
   * anything when the id or accessor exists, or when `record.parent` is set and it or any ancestor is missing or
   * being revoked, so no child can be attached to a tree that a revocation is walking. `creator`, when given, is
   * the token that created an orphan (`noParent`, an orphan role): it and its ancestors are checked the same way,
   * so a token whose revocation has begun can no longer lend its authority.
   */
  insertToken(record: TokenRecord, creator?: HashedTokenId): Promise<InsertResult>

  /** The stored record, live or not, or `null` when missing. */
  getToken(id: HashedTokenId): Promise<TokenRecord | null>

  /** The stored record with this accessor, live or not, or `null` when missing. */
  getTokenByAccessor(accessor: Accessor): Promise<TokenRecord | null>

  /** The record if the token is live at `now` (itself and every ancestor), else `null`. Changes nothing. */
  getLiveToken(id: HashedTokenId, now: UnixMillis): Promise<TokenRecord | null>

  /**
   * Atomically uses one use of a live token. Resolves to the record after the use, or `null` when the token is
   * not live at `now`. A token with `numUses: 0` is unlimited and unchanged; otherwise `numUses` drops by one, and
   * the use that brings it to zero also sets `revoking: 'uses_exhausted'`, so exactly `numUses` calls succeed
   * however many run at once.
   */
  useToken(id: HashedTokenId, now: UnixMillis): Promise<TokenRecord | null>

  /**
   * Atomically applies a renewal to a token that is live at `now` and whose `expiresAt` is still
   * `update.expectedExpiresAt`. Resolves to the updated record, or `null` (nothing written).
   */
  renewToken(id: HashedTokenId, now: UnixMillis, update: RenewUpdate): Promise<TokenRecord | null>

  /**
   * Marks a token as being revoked, which makes it and its whole subtree unusable at once. Keeps the reason of an
   * earlier mark, except that any other reason replaces `orphan`: revoking the subtree supersedes orphaning it.
   * Resolves to the record (as marked), or `null` when missing. With `expiredAt` (the expiry sweep's `now`), a token
   * not yet marked is marked only if it has expired by then (`expiresAt !== null && expiresAt <= expiredAt`);
   * otherwise it resolves to `null` and changes nothing, so a renewal that landed after the sweep listed the token
   * is not undone.
   */
  markRevoking(
    id: HashedTokenId,
    reason: RevokeReason,
    expiredAt?: UnixMillis,
  ): Promise<TokenRecord | null>

  /** Hashed ids of the token's direct children (empty when none or when missing). */
  listChildren(id: HashedTokenId): Promise<HashedTokenId[]>

  /**
   * Atomically makes every direct child of the token an orphan (`parent: null`), for `revokeOrphan`, but only while
   * the token is marked `orphan`, has not expired at `now`, and every ancestor is live at `now`: otherwise its
   * children are already unusable, and orphaning them would bring them back to life. Resolves to how many were
   * changed, or `null` (changing nothing) when the check fails.
   */
  orphanChildren(id: HashedTokenId, now: UnixMillis): Promise<number | null>

  /**
   * Deletes the token and its index entries. Resolves to the deleted record, or `null` when it was already gone,
   * so that of two concurrent deletions exactly one reports the token. A shared adapter publishes a
   * {@link RevocationNotice} for it (with `reason` and `now`) in the same atomic step.
   */
  deleteToken(id: HashedTokenId, reason: RevokeReason, now: UnixMillis): Promise<TokenRecord | null>

  /** Hashed ids of tokens whose path is `prefix` or starts with `prefix + '/'` (`prefix` has no trailing `/`). */
  findByPathPrefix(prefix: string): Promise<HashedTokenId[]>

  /** Up to `limit` hashed ids of tokens that expired at or before `now`, soonest first. Changes nothing. */
  listExpiredTokens(now: UnixMillis, limit: number): Promise<HashedTokenId[]>

  /** When the next token or lease expires, or `null` when nothing stored expires. */
  nextExpiry(): Promise<UnixMillis | null>

  /**
   * Atomically inserts a lease with its indexes (token → leases, path, expiry), only if its token is live at `now`,
   * so that no lease can attach to a token that is being revoked.
   */
  insertLease(lease: LeaseRecord, now: UnixMillis): Promise<InsertLeaseResult>

  /** The stored lease, expired or not, or `null` when missing. */
  getLease(id: LeaseId): Promise<LeaseRecord | null>

  /**
   * Atomically applies a renewal to a lease that is unexpired at `now`, whose token is live at `now`, and whose
   * `expiresAt` is still `update.expectedExpiresAt`. Resolves to the updated lease, or `null` (nothing written).
   */
  renewLease(id: LeaseId, now: UnixMillis, update: RenewUpdate): Promise<LeaseRecord | null>

  /**
   * Deletes a lease and its index entries. Resolves to the deleted lease, or `null` when it was already gone. A
   * shared adapter publishes a {@link RevocationNotice} for it in the same atomic step.
   */
  deleteLease(id: LeaseId, reason: RevokeReason, now: UnixMillis): Promise<LeaseRecord | null>

  /** Ids of the leases issued under a token (empty when none). */
  listLeases(token: HashedTokenId): Promise<LeaseId[]>

  /**
   * Ids of leases whose id starts with `prefix + '/'` (`prefix` has no trailing `/`); with `prefix` `''`, every
   * lease id.
   */
  findLeasesByPrefix(prefix: string): Promise<LeaseId[]>

  /** Up to `limit` ids of leases that expired at or before `now`, soonest first. Changes nothing. */
  listExpiredLeases(now: UnixMillis, limit: number): Promise<LeaseId[]>

  /** Up to `limit` hashed ids of tokens marked as being revoked: revocations cut off half-way, to be finished. */
  listRevoking(limit: number): Promise<HashedTokenId[]>

  /**
   * Deletes up to `limit` tokens of the subtree under a token marked as being revoked, in one atomic step, so that
   * revoking a large tree takes a few round trips rather than several per token. Optional: without it the store
   * walks the tree with {@link Storage.listChildren}, {@link Storage.listLeases} and the single deletions.
   *
   * Does nothing (resolving to no records and `done: true`) unless `topId` exists and is marked revoking. Deletes
   * children before parents (a token only once all its children are gone, so `topId` goes last and its mark
   * keeps whatever is left unusable), each token's leases just before it, and publishes a
   * {@link RevocationNotice} for every deleted token and lease as {@link Storage.deleteToken} and
   * {@link Storage.deleteLease} do. A token's reason is `reason` for `topId`; for any other token, its own
   * `revoking` mark if it has one, else `parent`. A lease gets its token's reason. A call cut off leaves a smaller
   * subtree under the same mark: the next call (or `revokeExpired()`) finishes it. Concurrent calls, and
   * concurrent single deletions, report each token and lease exactly once.
   *
   * @param limit - At most this many tokens (each with all its leases) per call; at least 1.
   * @returns The deleted tokens ({@link DeletedToken}: whole records or those fields) and leases in deletion order
   *   (`tokens` and `leases` each in the order deleted), and `done`:
   *   whether nothing of the subtree is left to delete (the top was deleted by this call, or is gone or unmarked).
   */
  deleteSubtree?(
    topId: HashedTokenId,
    reason: RevokeReason,
    now: UnixMillis,
    limit: number,
  ): Promise<SubtreeDeletion>

  /**
   * The expiry sweep in batches: takes up to `limit` tokens that expired at or before `now`, soonest first, so that
   * a million tokens expiring in the same second cost a few thousand calls rather than several per token.
   * Optional: without it the store lists them with {@link Storage.listExpiredTokens} and revokes each on its own.
   *
   * Each token taken that has no children is deleted with its leases and notices, as {@link Storage.deleteSubtree}
   * deletes one (its reason is its own mark if it has one, else `expired`; a lease gets its token's). Each one with
   * children is marked `expired` (an earlier mark stays) and returned in `marked`, for the store to finish with
   * {@link Storage.deleteSubtree}. An adapter that cannot tell atomically that a token has no children may instead
   * only mark it in this call and delete it in a later one (once the mark keeps new children out). Concurrent calls,
   * and concurrent deletions, report each token and lease exactly once.
   *
   * @param limit - At most this many tokens per call, deleted and marked together; at least 1.
   */
  sweepExpired?(now: UnixMillis, limit: number): Promise<ExpiredSweep>

  /**
   * One page of the tokens live at `query.now` (see {@link Storage}: itself and every ancestor) that match the
   * query's filters, in an order of the adapter's choosing that never changes for a stored token. Needed for
   * `store.list()`.
   *
   * Each call does a bounded amount of work: it examines the tokens after `query.cursor` in that order, at most
   * `query.limit` of them for a backend shared over the network (an in-process one may examine more), and returns
   * those that pass, so a page may hold fewer than `limit` records, even none, before the end. `cursor` in the
   * result is the position after the last token examined, or `null` when nothing was left to examine. A token
   * stored throughout a listing is returned exactly once, however many tokens are created or deleted meanwhile;
   * one created or deleted during it may or may not be.
   *
   * @throws `TokenStoreError` `invalid_request` for a cursor this adapter did not issue.
   */
  listTokens?(query: TokenListQuery): Promise<TokenListPage>

  /** Stores a role, replacing any role of the same name. Needed for `store.roles` and `create({ role })`. */
  putRole?(role: TokenRole): Promise<void>

  /** The role with this name, or `null`. */
  getRole?(name: string): Promise<TokenRole | null>

  /** The names of every role, sorted. */
  listRoles?(): Promise<string[]>

  /** Deletes a role. Resolves to whether it existed. */
  deleteRole?(name: string): Promise<boolean>

  /**
   * Stores an ACL policy's source text under its (already normalised) name, replacing any policy of that name. A
   * shared adapter publishes a {@link PolicyNotice} in the same atomic step, so other instances drop what they
   * compiled. Needed, with the three below, for `store.policies`.
   */
  putPolicy?(name: string, text: string, now: UnixMillis): Promise<void>

  /** The source text of the policy with this name, or `null`. */
  getPolicy?(name: string): Promise<string | null>

  /** The names of every stored policy, sorted. */
  listPolicies?(): Promise<string[]>

  /**
   * Deletes a policy. Resolves to whether it existed; when it did, a shared adapter publishes a
   * {@link PolicyNotice} in the same atomic step.
   */
  deletePolicy?(name: string, now: UnixMillis): Promise<boolean>

  /**
   * Repairs what a crash can leave behind, safely while the store serves: removes index entries whose token or
   * lease is gone, makes children whose parent is gone orphans, and reports leases whose token is gone (the store
   * revokes them, with events). Needed for `store.tidy()`.
   */
  tidy?(): Promise<StorageTidyResult>

  /**
   * For storage shared by several processes: calls `listener` for every revocation and policy change that another
   * instance of the adapter wrote, exactly once each and in order (with {@link Storage.treeShards}, in order within each shard), including those written while this subscriber was disconnected
   * (adapters number their notices and catch up from a log). Resolves once listening, to a function that stops.
   * `TokenStore` subscribes on construction, re-emits each revocation as a `revoked` event, drops the compiled
   * copy of each policy a {@link PolicyNotice} names, and stops on `close()`.
   */
  subscribe?(
    listener: (notice: StorageNotice) => void,
    options?: SubscribeOptions,
  ): Promise<() => Promise<void>>

  /**
   * One round trip to the storage, to tell whether it answers. Resolves when it does; rejects with
   * `TokenStoreError('storage_unavailable')` when it does not (or another code, such as `storage_misconfigured`,
   * when it answers but cannot serve). `TokenStore.ping()` and the Vault API's `sys/health` use it.
   */
  ping?(): Promise<void>

  /** Releases connections or timers the adapter holds. */
  close?(): Promise<void>

  /**
   * `true` for storage that other processes share or that outlives the process (Redis, PostgreSQL, PGlite): tokens
   * there are keyed by a hash under the store's secret, so every process must use the same, stable `secret`, and
   * `new TokenStore()` over such storage without one throws `invalid_request`. Absent or `false` for storage that
   * lives and dies with one process (`MemoryStorage`), where a random secret is fine.
   */
  readonly shared?: boolean

  /**
   * Set by a storage partitioned into this many shards (Redis Cluster), each of which holds whole token trees: a
   * step that must be atomic runs inside one shard. Such a storage finds a record's shard from the record's own
   * ids, so `TokenStore` mints them to carry it (see `tree-shard.ts`): the first character of a hashed id and of
   * an accessor, and the first character after the last `/` of a lease id, name the shard. A child is minted in
   * its parent's shard, a lease in its token's, a new tree in a random one. At most 64. Absent for storage that is
   * one piece (memory, PostgreSQL, a single Redis), whose ids carry nothing.
   */
  readonly treeShards?: number

  /**
   * How many tokens the store asks {@link Storage.deleteSubtree} and {@link Storage.sweepExpired} to handle per
   * call, when the default (500) would hold others up too long: a Redis script blocks the whole server while it
   * runs, so requests queued behind a 500-token script wait about 15 ms. The store yields to the event loop
   * between calls either way. At least 1.
   */
  readonly revocationBatchSize?: number

  /**
   * How many {@link Storage.deleteSubtree} or {@link Storage.sweepExpired} calls the store keeps in flight during one
   * revocation or sweep (default 1: the next batch is asked for when the last arrives, and is worked on while that
   * one is reported). A storage whose calls run one after another, each atomic (a Redis connection runs its
   * scripts in order), may ask for 2, so that it never waits while the process decodes a reply; the store still
   * reports every batch, in the order asked. At least 1.
   */
  readonly revocationCallsInFlight?: number
}

/**
 * What {@link Storage.listTokens} is asked: the filters, the page size and where to continue. Filters combine (a
 * token must pass all of them).
 */
export interface TokenListQuery {
  /** Only tokens whose path is this or lies below it (`path === prefix` or starts with `prefix + '/'`). */
  readonly pathPrefix?: string
  /** Only the direct children of this token. */
  readonly parent?: HashedTokenId
  /** Only tokens whose metadata has each of these keys with exactly this value. */
  readonly metadata?: Readonly<Record<string, string>>
  /** The liveness reference: tokens expired at `now`, being revoked, or under such an ancestor are skipped. */
  readonly now: UnixMillis
  /** Most records to return (and, for a shared backend, to examine); a whole number of at least 1. */
  readonly limit: number
  /** Where to continue: the `cursor` of the previous page of the same query, or `null` to start. */
  readonly cursor: string | null
}

/** One page of {@link Storage.listTokens}. */
export interface TokenListPage {
  /** The live tokens that matched, at most `limit`, in the adapter's order. */
  readonly records: readonly TokenRecord[]
  /** Where the next page starts, or `null` when the listing is complete. Opaque. */
  readonly cursor: string | null
}

/**
 * A token as a batch deletion ({@link Storage.deleteSubtree}, {@link Storage.sweepExpired}) reports it: what the
 * store needs to tell of its revocation (its accessor and path, and its reason, from its mark) and to check the
 * order (its id and parent), as stored when it was deleted. A whole {@link TokenRecord} is one: an adapter may
 * return the records it deleted, or only these fields, which spares a shared backend encoding (and the process
 * decoding) every other field of a million records.
 */
export type DeletedToken = Pick<TokenRecord, 'id' | 'accessor' | 'parent' | 'path' | 'revoking'>

/** What one {@link Storage.deleteSubtree} call deleted. */
export interface SubtreeDeletion {
  /** The deleted tokens, in the order deleted: children before parents. */
  readonly tokens: readonly DeletedToken[]
  /** The deleted leases, in the order deleted: each just before its token. */
  readonly leases: readonly LeaseRecord[]
  /** Whether the subtree is gone: the top was deleted (by this call or before), or was never marked. */
  readonly done: boolean
}

/** What one {@link Storage.sweepExpired} call did. */
export interface ExpiredSweep {
  /** The expired tokens deleted, in the order deleted (none of them had children). */
  readonly tokens: readonly DeletedToken[]
  /** Their leases, each just before its token in deletion order. */
  readonly leases: readonly LeaseRecord[]
  /** Expired tokens with children, marked revoking (as marked): the store finishes each subtree. */
  readonly marked: readonly TokenRecord[]
  /** Whether no expired token was left to take when the call ended: the sweep of `now` is complete. */
  readonly done: boolean
}

/** What {@link Storage.tidy} repaired, and the leases it found without a token. */
export interface StorageTidyResult {
  /** Index entries removed because their token or lease was gone. */
  readonly indexEntriesRemoved: number
  /** Children of vanished parents made orphans. */
  readonly childrenOrphaned: number
  /** Leases whose token is gone, for the store to revoke. */
  readonly danglingLeases: readonly LeaseId[]
}

/** A revocation written by one instance of a shared storage, as delivered to the others. */
export type RevocationNotice =
  | {
      readonly kind: 'token'
      readonly accessor: Accessor
      readonly path: string
      readonly reason: RevokeReason
      readonly time: UnixMillis
    }
  | {
      readonly kind: 'lease'
      readonly leaseId: LeaseId
      readonly accessor: Accessor
      readonly path: string
      readonly data: unknown
      readonly reason: RevokeReason
      readonly time: UnixMillis
    }

/**
 * Where a {@link Storage.subscribe} subscription starts reading the notice log, and what it reports back. Without
 * any of these, an adapter starts after the newest notice (or where an earlier subscription of the same adapter
 * instance stopped).
 */
export interface SubscribeOptions {
  /**
   * Start after this notice number: where an earlier subscription of the same subscriber stopped, as reported to
   * its {@link SubscribeOptions.onPosition}. Takes precedence over `since`.
   */
  readonly after?: number
  /**
   * When the subscriber came into being, as `performance.now()` of this process. The subscription delivers every
   * notice written from that moment on, however late it starts (storage down meanwhile), and may also deliver
   * those written up to {@link NOTICE_START_MARGIN} ms before it. Adapters turn the moment into the storage
   * server's time (read at first contact, minus the time elapsed since, measured on this process's monotonic
   * clock), so no clock of another machine is trusted, only the storage server's own.
   */
  readonly since?: number
  /** Told the number of the notice the subscription stands at, at start and after each notice passed. */
  readonly onPosition?: (seq: number) => void
  /** Told of notices the log no longer held when the subscription reached for them. */
  readonly onGap?: (gap: NoticeGap) => void
}

/** Notices lost to a subscription: trimmed from the log (or deleted) before it could read them. */
export interface NoticeGap {
  /** How many notices were lost; with `atMost`, an upper bound. */
  readonly lost: number
  /**
   * Set when the exact count is unknown: the log no longer reached back to the subscriber's start, and `lost` is
   * how many notices were trimmed, some of which may predate the subscriber.
   */
  readonly atMost: boolean
  /**
   * Set when the log started over: its numbers went back below the subscriber's position (the storage lost its
   * data, or was restored from an older copy). The subscription then reads the log from its start; what was
   * written before the restart and not yet read is lost, and `lost` is 0 for not being known.
   */
  readonly reset?: boolean
}

/**
 * How long before a subscriber's `since` a notice may have been written and still be delivered, in milliseconds:
 * a revocation whose storage write came just before a new instance was created, but whose call settled after, is
 * delivered too, and so is one whose server timestamp was taken a moment before its write became visible.
 */
export const NOTICE_START_MARGIN = 2_000
/** A policy written or deleted by one instance of a shared storage, as delivered to the others. */
export interface PolicyNotice {
  readonly kind: 'policy'
  /** The policy's normalised name. */
  readonly name: string
  readonly time: UnixMillis
}

/** Anything one instance of a shared storage tells the others: a revocation or a policy change. */
export type StorageNotice = RevocationNotice | PolicyNotice
