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
  RevokeReason,
  Seconds,
  TokenRecord,
  UnixMillis,
} from '../types.js'

/** The outcome of {@link Storage.insertToken}. */
export type InsertResult =
  /** The record and its indexes were written. */
  | 'inserted'
  /** A token with this hashed id exists; nothing was written. */
  | 'id_exists'
  /** A token with this accessor exists; nothing was written. */
  | 'accessor_exists'
  /** `record.parent` is missing or being revoked; nothing was written. */
  | 'parent_gone'

/** The fields a renewal changes. */
export interface RenewUpdate {
  /** The new expiry. */
  readonly expiresAt: UnixMillis
  /** The TTL just granted. @remarks Seconds. */
  readonly ttl: Seconds
  /** The time of this renewal. */
  readonly lastRenewalTime: UnixMillis
}

/**
 * A live token is one that exists, is not being revoked, and has not expired at `now` (`now < expiresAt`), and
 * whose every ancestor is live too. Methods that take `now` check liveness atomically with what they do.
 */
export interface Storage {
  /**
   * Atomically inserts a token with its indexes (accessor, parent → children, path, expiry). Fails without writing
   * anything when the id or accessor exists or when `record.parent` is set but missing or being revoked, so no
   * child can be attached to a tree that a revocation has already walked.
   */
  insertToken(record: TokenRecord): Promise<InsertResult>

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

  /** Atomically applies a renewal to a token that is live at `now`. Resolves to the updated record, or `null`. */
  renewToken(id: HashedTokenId, now: UnixMillis, update: RenewUpdate): Promise<TokenRecord | null>

  /**
   * Marks a token as being revoked, which makes it and its whole subtree unusable at once. Keeps the reason of an
   * earlier mark. Resolves to the record (as marked), or `null` when missing.
   */
  markRevoking(id: HashedTokenId, reason: RevokeReason): Promise<TokenRecord | null>

  /** Hashed ids of the token's direct children (empty when none or when missing). */
  listChildren(id: HashedTokenId): Promise<HashedTokenId[]>

  /** Makes every direct child of the token an orphan (`parent: null`). Resolves to how many were changed. */
  orphanChildren(id: HashedTokenId): Promise<number>

  /**
   * Deletes the token and its index entries. Resolves to the deleted record, or `null` when it was already gone,
   * so that of two concurrent deletions exactly one reports the token.
   */
  deleteToken(id: HashedTokenId): Promise<TokenRecord | null>

  /** Hashed ids of tokens whose path is `prefix` or starts with `prefix + '/'` (`prefix` has no trailing `/`). */
  findByPathPrefix(prefix: string): Promise<HashedTokenId[]>

  /** Up to `limit` hashed ids of tokens that expired at or before `now`, soonest first. Changes nothing. */
  listExpired(now: UnixMillis, limit: number): Promise<HashedTokenId[]>

  /** When the next token expires, or `null` when no stored token expires. */
  nextExpiry(): Promise<UnixMillis | null>

  /** Up to `limit` hashed ids of tokens marked as being revoked: revocations cut off half-way, to be finished. */
  listRevoking(limit: number): Promise<HashedTokenId[]>

  /** Releases connections or timers the adapter holds. */
  close?(): Promise<void>
}
