/**
 * `tokentree/postgres`: a {@link Storage} on PostgreSQL (over `pg`, or in-process over PGlite), for services that
 * run several instances over one set of tokens.
 *
 * @packageDocumentation
 * @module tokentree/postgres
 */
import { createHash, randomUUID } from 'node:crypto'

import { TokenStoreError } from '../../errors.js'
import type {
  Accessor,
  HashedTokenId,
  LeaseId,
  LeaseRecord,
  RevokeReason,
  TokenRecord,
  UnixMillis,
} from '../../types.js'
import type { TokenRole } from '../../roles.js'
import type {
  DeletedToken,
  InsertLeaseResult,
  InsertResult,
  NoticeGap,
  RenewUpdate,
  StorageNotice,
  Storage,
  StorageTidyResult,
  SubscribeOptions,
  ExpiredSweep,
  SubtreeDeletion,
  TokenListPage,
  TokenListQuery,
} from '../storage.js'
import { decodeCursor, encodeCursor } from '../list-cursor.js'
import { backoffDelay } from '../../backoff.js'
import {
  NoticeFollower,
  serverTimeAt,
  startFromAnchor,
  type NoticeEntry,
} from '../notice-follower.js'
import {
  ALL_LEASE_IDS,
  CURRENT_NOTICE,
  DANGLING_LEASES,
  DEFAULT_SCHEMA,
  DELETE_LEASE,
  DELETE_POLICY,
  DELETE_ROLE,
  DELETE_SUBTREE,
  DELETE_SUBTREE_RESUMED,
  SWEEP_EXPIRED,
  SWEEP_EXPIRED_AFTER,
  SWEEP_LOCK,
  SWEEP_LOCK_AFTER,
  SWEEP_LOCKED,
  DELETE_TOKEN,
  FIND_BY_PATH_PREFIX,
  FIND_LEASES_BY_PREFIX,
  GET_LEASE,
  GET_LIVE_TOKEN,
  GET_POLICY,
  GET_ROLE,
  GET_TOKEN,
  GET_TOKEN_BY_ACCESSOR,
  INSERT_LEASE,
  INSERT_TOKEN,
  LIST_CHILDREN,
  LIST_EXPIRED_LEASES,
  LIST_EXPIRED_TOKENS,
  LIST_LEASES,
  LIST_REVOKING,
  LIST_POLICIES,
  LIST_ROLES,
  MARK_REVOKING,
  NEXT_EXPIRY,
  ORPHAN_CHILDREN,
  ORPHAN_STRAYS,
  PUT_POLICY,
  PUT_ROLE,
  NOTICE_START,
  READ_NOTICES,
  RENEW_LEASE,
  RENEW_TOKEN,
  SCHEMA_VERSION,
  SCHEMA_VERSION_QUERY,
  SERVER_TIME,
  USE_TOKEN,
  USE_TOKENS,
  listTokensSql,
  checkSchema,
  sql,
  sqlState,
  type SqlQueryable,
} from './schema.js'
import { readNoticeRow, type NoticeRow } from './notices.js'
import { guardDroppedConnections } from './dropped-connections.js'
import { UseBatcher } from './use-batch.js'

export {
  migrate,
  schemaSql,
  SCHEMA_VERSION,
  type MigrateOptions,
  type SqlQueryable,
} from './schema.js'

/** Notices kept in the log for instances that were away. */
const DEFAULT_NOTICE_LOG_LENGTH = 100_000
/** How often a subscriber re-reads the log without a notification, in milliseconds. */
const DEFAULT_POLL_INTERVAL = 2000
/** Rows examined per step of `tidy()`. */
const TIDY_BATCH = 500
/**
 * Delays before a lost LISTEN connection is opened again, in milliseconds: a floor, plus full jitter over a cap
 * that doubles with each failed attempt, so that many instances losing the server at once do not return in step.
 */
const RELISTEN_FLOOR = 100
const RELISTEN_BACKOFF = { first: 500, max: 30_000 }

/** A connection checked out of a `pg.Pool` (a `PoolClient`), as the storage uses it to LISTEN. */
export interface SqlListenConnection extends SqlQueryable {
  /**
   * Registers for `notification` (`{ channel, payload }`) and `error` events. Typed loosely so that pg's
   * generic `on` fits; the storage passes only those two events.
   */
  on(event: 'notification' | 'error', listener: (...args: never[]) => void): unknown
  /** Drops a listener added with `on`, before the connection goes back to its pool. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- Node's EventEmitter signature, so that pg's PoolClient fits
  removeListener(event: 'notification' | 'error', listener: (...args: any[]) => void): unknown
  /** Returns the connection to its pool (`true` or an error: destroys it). */
  release(destroy?: boolean | Error): void
}

/**
 * A database handle for {@link PostgresStorage}: a `pg.Pool`, a PGlite instance, or anything with the same
 * `query`. How the storage listens for other instances' notices depends on what else it has: `connect()` (a
 * `pg.Pool`: one connection is held for LISTEN), or `listen()` (PGlite); with neither, subscribers poll.
 */
export interface SqlDatabase extends SqlQueryable {
  /** pg.Pool: checks a connection out, used to LISTEN. */
  connect?(): Promise<SqlListenConnection>
  /** PGlite: listens on a channel; resolves to the function that stops. */
  listen?(channel: string, callback: (payload: string) => void): Promise<() => Promise<void>>
}

/** Options of {@link PostgresStorage}. */
export interface PostgresStorageOptions {
  /**
   * The database: a `pg.Pool` (give it an `error` listener, as pg requires), a PGlite instance, or anything with
   * a compatible `query`. The storage never closes it. Run {@link migrate} on it first.
   */
  readonly pool: SqlDatabase
  /**
   * The schema that {@link migrate} created the tables in.
   *
   * @default 'tokentree'
   */
  readonly schema?: string
  /**
   * How many revocation notices the log keeps for instances that were away.
   *
   * @default 100000
   */
  readonly noticeLogLength?: number
  /**
   * How often, in milliseconds, a subscriber re-reads the notice log without a notification: the safety net for
   * one lost while its connection was re-established, and the only delivery when the database cannot LISTEN.
   *
   * @default 2000
   */
  readonly pollInterval?: number
}

/** pg's query-config form, for named (prepared once per connection) statements. */
interface NamedQueryable {
  query(config: { name: string; text: string; values: unknown[] }): Promise<{ rows: unknown[] }>
}

/** The token columns every statement returns. */
interface TokenRow {
  record: TokenRecord
  parent: string | null
  num_uses: number
  ttl: number
  expires_at: number | null
  last_renewal_time: number | null
  revoking: string | null
}

/** A deleted token as a batch deletion returns it: `[id, accessor, parent, path, revoking]`. */
type DeletedRow = [
  id: HashedTokenId,
  accessor: Accessor,
  parent: HashedTokenId | null,
  path: string,
  revoking: RevokeReason | null,
]

/** The row of an expiry sweep's statement. */
interface SweepRow {
  tokens: DeletedRow[]
  leases: LeaseRow[]
  marked: TokenRow[]
  due_count: number
  /** The greatest key of the tokens due, `null` for none. */
  last: SweepKey | null
  left: boolean
}

/** Where a subtree walk stopped: the path from the top, and the accessor of the last child of its end dealt with. */
type WalkState = [stack: string[], after: string | null]

/** Subtree walks remembered at most (revocations under way in this instance). */
const MAX_WALKS = 1000

/** A key of the expiry index, `(expires_at, id)`: where an expiry sweep's next batch resumes. */
type SweepKey = [expiresAt: number, id: string]

/** A row of a listing: the token, its key in the listing's order, and whether it is listed. */
interface ListedRow extends TokenRow {
  key_path: string
  key_accessor: string
  keep: boolean
}

/** Tags of PostgresStorage's list cursors: `(path, accessor)` order, or `accessor` within a parent. */
const PATH_ORDER = 'pp'
const PARENT_ORDER = 'pc'

/** The lease columns every statement returns. */
interface LeaseRow {
  record: LeaseRecord
  expires_at: number
  ttl: number
  last_renewal_time: number | null
}

/**
 * Keeps tokens and leases in PostgreSQL. Each step the store needs atomically is one SQL statement (recursive CTEs
 * for the ancestor checks, row locks for use counting and for inserts racing a revocation), so it needs no
 * transactions across round trips and runs unchanged on a `pg.Pool` and on PGlite, which serializes queries.
 * Deletions log a numbered notice and `pg_notify` in the same statement, so `TokenStore` instances elsewhere emit
 * `revoked` for them, catching up from the log after a disconnection.
 *
 * Run {@link migrate} once before use. Ids reach storage only as keyed hashes. Driver failures reject with
 * `TokenStoreError('storage_unavailable')`.
 *
 * @example
 * ```ts
 * import pg from 'pg'
 * import { TokenStore } from 'tokentree'
 * import { PostgresStorage, migrate } from 'tokentree/postgres'
 *
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL })
 * pool.on('error', (error) => log.warn(error))
 * await migrate(pool)
 * const store = new TokenStore({ storage: new PostgresStorage({ pool }), secret: process.env.TOKEN_SECRET })
 * ```
 *
 * @example In-process, with PGlite
 * ```ts
 * import { PGlite } from '@electric-sql/pglite'
 * const db = await PGlite.create()
 * await migrate(db)
 * const storage = new PostgresStorage({ pool: db })
 * ```
 */
export class PostgresStorage implements Storage {
  /** Shared with other processes, and outliving this one: a store over it needs a stable `secret`. */
  readonly shared = true
  readonly #db: SqlDatabase
  readonly #schema: string
  readonly #channel: string
  readonly #noticeLogLength: number
  readonly #pollInterval: number
  readonly #sql = new Map<string, { text: string; name: string }>()
  /** Whether the database takes pg's named statements (`{ name, text, values }`): a `pg.Pool` does. */
  readonly #named: boolean
  /** Whether the database is a pool of connections (`connect()`, not PGlite), which can run a transaction on one. */
  readonly #pooled: boolean
  /** Marks this instance's notices, so that its own subscriptions skip them. */
  readonly #origin = randomUUID()
  /**
   * Where the next `sweepExpired` batch resumes: the key of the last token of the last full batch, or `null` to
   * read from the start of the index.
   */
  #sweepFrom: SweepKey | null = null
  /** Where the next `deleteSubtree` call on a top resumes its walk: the path and `after` the last call ended at. */
  readonly #walks = new Map<HashedTokenId, WalkState>()
  /** The number of the last notice a subscription of this instance read, kept across subscriptions. */
  #cursor: number | null = null
  readonly #subscriptions = new Set<() => Promise<void>>()
  /** `useToken` calls that arrive while others are in flight go together, one statement per batch. */
  readonly #uses = new UseBatcher(
    async (id, now) => toToken(await this.#query<TokenRow>('useToken', USE_TOKEN, [id, now])),
    async (ids, now) => {
      const rows = await this.#query<TokenRow & { id: HashedTokenId }>('useToken', USE_TOKENS, [
        ids,
        now,
      ])
      return new Map(rows.map((row) => [row.id, toToken([row]) as TokenRecord]))
    },
  )

  /**
   * @throws `TokenStoreError` `invalid_request` for a malformed option.
   */
  constructor(options: PostgresStorageOptions) {
    this.#db = options.pool
    // pg parses and plans a named statement once per connection; PGlite has no such form.
    this.#pooled = options.pool.connect !== undefined && options.pool.listen === undefined
    this.#named = this.#pooled
    if (this.#pooled) guardDroppedConnections(options.pool)
    this.#schema = checkSchema(options.schema ?? DEFAULT_SCHEMA)
    this.#channel = `${this.#schema}_notices`
    const logLength = options.noticeLogLength ?? DEFAULT_NOTICE_LOG_LENGTH
    if (!Number.isSafeInteger(logLength) || logLength < 1) {
      throw new TokenStoreError(
        'invalid_request',
        `Expected \`noticeLogLength\` to be a positive integer, got ${logLength}`,
      )
    }
    this.#noticeLogLength = logLength
    this.#pollInterval = options.pollInterval ?? DEFAULT_POLL_INTERVAL
  }

  /** The schema this storage reads and writes. */
  get schema(): string {
    return this.#schema
  }

  async insertToken(record: TokenRecord, creator?: HashedTokenId): Promise<InsertResult> {
    const [flags] = await this.#query<{
      inserted: boolean
      intact: boolean
      id_taken: boolean
      accessor_taken: boolean
    }>('insertToken', INSERT_TOKEN, [
      record.id,
      record.accessor,
      record.parent,
      record.path,
      record.numUses,
      record.ttl,
      record.expiresAt,
      record.lastRenewalTime,
      record.revoking,
      JSON.stringify(record),
      creator ?? null,
    ])
    if (flags?.inserted === true) return 'inserted'
    if (flags?.id_taken === true) return 'id_exists'
    if (flags?.accessor_taken === true) return 'accessor_exists'
    // Not inserted, yet nothing taken in this statement's snapshot: a conflict with a row committed meanwhile.
    return flags?.intact === false ? 'parent_gone' : 'id_exists'
  }

  async getToken(id: HashedTokenId): Promise<TokenRecord | null> {
    return toToken(await this.#query<TokenRow>('getToken', GET_TOKEN, [id]))
  }

  async getTokenByAccessor(accessor: Accessor): Promise<TokenRecord | null> {
    return toToken(
      await this.#query<TokenRow>('getTokenByAccessor', GET_TOKEN_BY_ACCESSOR, [accessor]),
    )
  }

  async getLiveToken(id: HashedTokenId, now: UnixMillis): Promise<TokenRecord | null> {
    return toToken(await this.#query<TokenRow>('getLiveToken', GET_LIVE_TOKEN, [id, now]))
  }

  useToken(id: HashedTokenId, now: UnixMillis): Promise<TokenRecord | null> {
    return this.#uses.use(id, now)
  }

  async renewToken(
    id: HashedTokenId,
    now: UnixMillis,
    update: RenewUpdate,
  ): Promise<TokenRecord | null> {
    return toToken(await this.#query<TokenRow>('renewToken', RENEW_TOKEN, renewal(id, now, update)))
  }

  async markRevoking(
    id: HashedTokenId,
    reason: RevokeReason,
    expiredAt?: UnixMillis,
  ): Promise<TokenRecord | null> {
    return toToken(
      await this.#query<TokenRow>('markRevoking', MARK_REVOKING, [id, reason, expiredAt ?? null]),
    )
  }

  async listChildren(id: HashedTokenId): Promise<HashedTokenId[]> {
    return ids(await this.#query<{ id: HashedTokenId }>('listChildren', LIST_CHILDREN, [id]))
  }

  async orphanChildren(id: HashedTokenId, now: UnixMillis): Promise<number | null> {
    const [row] = await this.#query<{ allowed: boolean; orphaned: number }>(
      'orphanChildren',
      ORPHAN_CHILDREN,
      [id, now],
    )
    return row?.allowed === true ? row.orphaned : null
  }

  async deleteToken(
    id: HashedTokenId,
    reason: RevokeReason,
    now: UnixMillis,
  ): Promise<TokenRecord | null> {
    return toToken(
      await this.#query<TokenRow>('deleteToken', DELETE_TOKEN, this.#deletion(id, reason, now)),
    )
  }

  async findByPathPrefix(prefix: string): Promise<HashedTokenId[]> {
    return ids(
      await this.#query<{ id: HashedTokenId }>('findByPathPrefix', FIND_BY_PATH_PREFIX, [
        prefix,
        `${prefix}/`,
        `${prefix}0`,
      ]),
    )
  }

  /**
   * One statement per page: up to `limit` rows in keyset order after the cursor (by `(path, accessor)`, or by
   * `accessor` within a parent), each checked for liveness through its ancestors. A path prefix without a parent is
   * an index range; with a parent it is tested per row, as the metadata filter always is (both scan the rows of
   * the range, `limit` at a time).
   */
  async listTokens(query: TokenListQuery): Promise<TokenListPage> {
    const limit = clampLimit(Math.max(1, query.limit || 1))
    const byParent = query.parent !== undefined
    const tag = byParent ? PARENT_ORDER : PATH_ORDER
    const after = query.cursor === null ? null : decodeCursor(query.cursor, tag, byParent ? 1 : 2)
    const params: unknown[] = [query.now, limit]
    if (byParent) params.push(query.parent)
    const prefix = query.pathPrefix
    if (prefix !== undefined) params.push(prefix, `${prefix}/`, `${prefix}0`)
    if (after !== null) params.push(...after)
    if (query.metadata !== undefined) params.push(JSON.stringify(query.metadata))
    const statement = listTokensSql({
      byParent,
      withPath: prefix !== undefined,
      withCursor: after !== null,
      withMetadata: query.metadata !== undefined,
    })
    const rows = await this.#query<ListedRow>('listTokens', statement, params)
    const last = rows.at(-1)
    return {
      records: rows.filter((row) => row.keep).map((row) => toToken([row]) as TokenRecord),
      cursor:
        last === undefined || rows.length < limit
          ? null
          : encodeCursor(tag, byParent ? [last.key_accessor] : [last.key_path, last.key_accessor]),
    }
  }

  async listExpiredTokens(now: UnixMillis, limit: number): Promise<HashedTokenId[]> {
    return this.#listDue('listExpiredTokens', LIST_EXPIRED_TOKENS, now, limit)
  }

  async nextExpiry(): Promise<UnixMillis | null> {
    const [row] = await this.#query<{ next: number | null }>('nextExpiry', NEXT_EXPIRY, [])
    return row?.next ?? null
  }

  async insertLease(lease: LeaseRecord, now: UnixMillis): Promise<InsertLeaseResult> {
    const [flags] = await this.#query<{ inserted: boolean; id_taken: boolean }>(
      'insertLease',
      INSERT_LEASE,
      [
        lease.id,
        lease.token,
        now,
        lease.expiresAt,
        lease.ttl,
        lease.lastRenewalTime,
        JSON.stringify(lease),
      ],
    )
    if (flags?.inserted === true) return 'inserted'
    return flags?.id_taken === true ? 'id_exists' : 'token_gone'
  }

  async getLease(id: LeaseId): Promise<LeaseRecord | null> {
    return toLease(await this.#query<LeaseRow>('getLease', GET_LEASE, [id]))
  }

  async renewLease(id: LeaseId, now: UnixMillis, update: RenewUpdate): Promise<LeaseRecord | null> {
    return toLease(await this.#query<LeaseRow>('renewLease', RENEW_LEASE, renewal(id, now, update)))
  }

  async deleteLease(
    id: LeaseId,
    reason: RevokeReason,
    now: UnixMillis,
  ): Promise<LeaseRecord | null> {
    return toLease(
      await this.#query<LeaseRow>('deleteLease', DELETE_LEASE, this.#deletion(id, reason, now)),
    )
  }

  async listLeases(token: HashedTokenId): Promise<LeaseId[]> {
    return ids(await this.#query<{ id: LeaseId }>('listLeases', LIST_LEASES, [token]))
  }

  async findLeasesByPrefix(prefix: string): Promise<LeaseId[]> {
    if (prefix === '') {
      return ids(await this.#query<{ id: LeaseId }>('findLeasesByPrefix', ALL_LEASE_IDS, []))
    }
    return ids(
      await this.#query<{ id: LeaseId }>('findLeasesByPrefix', FIND_LEASES_BY_PREFIX, [
        `${prefix}/`,
        `${prefix}0`,
      ]),
    )
  }

  async listExpiredLeases(now: UnixMillis, limit: number): Promise<LeaseId[]> {
    return this.#listDue('listExpiredLeases', LIST_EXPIRED_LEASES, now, limit)
  }

  async listRevoking(limit: number): Promise<HashedTokenId[]> {
    if (!(limit >= 1)) return []
    return ids(
      await this.#query<{ id: HashedTokenId }>('listRevoking', LIST_REVOKING, [clampLimit(limit)]),
    )
  }

  /**
   * Deletes up to `limit` tokens of a subtree under a marked token, children first, each with its leases, and
   * logs their notices: one SQL statement (one commit) per call; on a pool, in a transaction with JIT off.
   *
   * A call resumes the walk where this instance's last call on the same top stopped (kept in `#walks`), rather than
   * from the top: it would otherwise step again over the index entries of every token deleted under the path it
   * follows (dead until a vacuum: a top with a million children would make each call read all those deleted
   * before). A stale start is safe: nothing can be added under the mark, everything before the saved place was
   * deleted by a committed call, and a token on the path that another call deleted meanwhile reads as having no
   * children left, from which the walk climbs back and reads its parent's children from the start.
   */
  async deleteSubtree(
    topId: HashedTokenId,
    reason: RevokeReason,
    now: UnixMillis,
    limit: number,
  ): Promise<SubtreeDeletion> {
    const params = [
      ...this.#deletion(topId, reason, now),
      Number.isFinite(limit) ? Math.max(1, Math.floor(limit)) : Number.MAX_SAFE_INTEGER,
    ]
    const from = this.#walks.get(topId)
    const statement = from === undefined ? DELETE_SUBTREE : DELETE_SUBTREE_RESUMED
    if (from !== undefined) params.push(...from)
    type Row = { tokens: DeletedRow[]; leases: LeaseRow[]; done: boolean; resume: WalkState | null }
    const [row] = this.#pooled
      ? await this.#transaction('deleteSubtree', (connection) =>
          this.#query<Row>('deleteSubtree', statement, params, connection),
        )
      : await this.#query<Row>('deleteSubtree', statement, params)
    this.#walks.delete(topId)
    if (row !== undefined && !row.done && row.resume !== null && row.resume[0].length > 0) {
      // Bounded: a revocation abandoned half-way (its caller gone) must not keep its entry for ever.
      if (this.#walks.size >= MAX_WALKS) this.#walks.clear()
      this.#walks.set(topId, row.resume)
    }
    return {
      tokens: toDeleted(row?.tokens),
      leases: (row?.leases ?? []).map((lease) => toLease([lease]) as LeaseRecord),
      done: row?.done ?? true,
    }
  }

  /**
   * Deletes expired tokens without children, and marks those with children, in batches. On a `pg.Pool`, one short
   * transaction per call: the due tokens are locked by one statement and dealt with by a second, whose snapshot
   * (taken after the locks) sees every child they have, so each is deleted or handed over in this call. Without
   * `connect()` (PGlite), one statement per call, in which a token not yet marked is marked by one call and
   * deleted by the next, once no child can be added.
   *
   * Each call resumes after the `(expires_at, id)` key where the last full batch stopped (kept in `#sweepFrom`),
   * so that a storm of a million tokens does not make each batch step over the index entries of all those deleted
   * before it (dead until a vacuum). Tokens behind that key can still be due (skipped while another transaction
   * held them, or marked for a later call to delete), so `done` is only said after a batch read from the start
   * of the index came back short: a sweep ends with one pass from the start.
   */
  async sweepExpired(now: UnixMillis, limit: number): Promise<ExpiredSweep> {
    const max = Number.isFinite(limit) ? Math.max(1, Math.floor(limit)) : Number.MAX_SAFE_INTEGER
    const tail = [this.#origin, 'expired', now, this.#noticeLogLength, this.#channel]
    const from = this.#sweepFrom
    const row = this.#pooled
      ? await this.#sweepLocked(now, max, tail, from)
      : from === null
        ? (await this.#query<SweepRow>('sweepExpired', SWEEP_EXPIRED, [max, ...tail]))[0]
        : (
            await this.#query<SweepRow>('sweepExpired', SWEEP_EXPIRED_AFTER, [
              max,
              ...tail,
              ...from,
            ])
          )[0]
    const full = row !== undefined && row.due_count >= max
    const left = row?.left === true
    // A full batch: the next resumes after it, unless it marked tokens for a later call to delete (PGlite), which
    // the next call then reads again. A short one from a key: the next starts over, to find what was left behind.
    if (full && !left) this.#sweepFrom = row.last ?? from
    else if (!full) this.#sweepFrom = null
    return {
      tokens: toDeleted(row?.tokens),
      leases: (row?.leases ?? []).map((lease) => toLease([lease]) as LeaseRecord),
      marked: (row?.marked ?? []).map((token) => toToken([token]) as TokenRecord),
      done: from === null && !full && !left,
    }
  }

  /**
   * One sweep batch in a transaction on a connection of the pool: lock the due tokens after `from`
   * ({@link SWEEP_LOCK}), then delete or hand them over ({@link SWEEP_LOCKED}).
   */
  async #sweepLocked(
    now: UnixMillis,
    max: number,
    tail: unknown[],
    from: SweepKey | null,
  ): Promise<SweepRow | undefined> {
    return this.#transaction('sweepExpired', async (connection) => {
      const locked = await this.#query<{ id: HashedTokenId }>(
        'sweepExpired',
        from === null ? SWEEP_LOCK : SWEEP_LOCK_AFTER,
        from === null ? [now, max] : [now, max, ...from],
        connection,
      )
      if (locked.length === 0) return undefined
      const [row] = await this.#query<SweepRow>(
        'sweepExpired',
        SWEEP_LOCKED,
        [ids(locked), ...tail],
        connection,
      )
      // The tokens locked count as the batch: one renewed between the two statements is no longer due, yet the
      // index may hold more after it.
      return row === undefined ? undefined : { ...row, due_count: locked.length }
    })
  }

  /**
   * Runs `body` in a transaction on a connection of the pool, with JIT compilation off: the planner's estimates for
   * the recursive walks of a batch statement are far above what a batch costs, and above `jit_above_cost` it
   * would compile the statement on every call (150 ms measured, for a statement that runs in 20). A failure rolls
   * back and discards the connection.
   */
  async #transaction<T>(
    operation: string,
    body: (connection: SqlListenConnection) => Promise<T>,
  ): Promise<T> {
    const pool = this.#db as Required<Pick<SqlDatabase, 'connect'>>
    const connection = await this.#run(operation, () => pool.connect())
    let failure: Error | undefined
    try {
      await connection.query('BEGIN; SET LOCAL jit = off')
      const result = await body(connection)
      await connection.query('COMMIT')
      return result
    } catch (error) {
      failure = error instanceof Error ? error : new Error(String(error))
      throw this.#unavailable(operation, error)
    } finally {
      // A connection that failed mid-transaction is not given back: destroying it rolls the transaction back.
      connection.release(failure)
    }
  }

  async putRole(role: TokenRole): Promise<void> {
    await this.#query('putRole', PUT_ROLE, [role.name, JSON.stringify(role)])
  }

  async getRole(name: string): Promise<TokenRole | null> {
    const [row] = await this.#query<{ role: TokenRole }>('getRole', GET_ROLE, [name])
    return row?.role ?? null
  }

  async listRoles(): Promise<string[]> {
    const rows = await this.#query<{ name: string }>('listRoles', LIST_ROLES, [])
    return rows.map((row) => row.name).sort()
  }

  async deleteRole(name: string): Promise<boolean> {
    return (await this.#query('deleteRole', DELETE_ROLE, [name])).length > 0
  }

  async putPolicy(name: string, text: string, now: UnixMillis): Promise<void> {
    const params = [name, this.#origin, text, now, this.#noticeLogLength, this.#channel]
    await this.#query('putPolicy', PUT_POLICY, params)
  }

  async getPolicy(name: string): Promise<string | null> {
    const [row] = await this.#query<{ text: string }>('getPolicy', GET_POLICY, [name])
    return row?.text ?? null
  }

  async listPolicies(): Promise<string[]> {
    const rows = await this.#query<{ name: string }>('listPolicies', LIST_POLICIES, [])
    return rows.map((row) => row.name).sort()
  }

  async deletePolicy(name: string, now: UnixMillis): Promise<boolean> {
    const params = [name, this.#origin, null, now, this.#noticeLogLength, this.#channel]
    return (await this.#query('deletePolicy', DELETE_POLICY, params)).length > 0
  }

  /**
   * Repairs what a crash or a manual edit can leave behind, in chunks of 500 rows so that the store keeps
   * serving: each chunk of children whose parent is gone becomes orphans in one statement (re-checked under row
   * locks), and leases whose token is gone are listed. The tables' own indexes cannot hold stale entries, so
   * `indexEntriesRemoved` is always 0.
   */
  async tidy(): Promise<StorageTidyResult> {
    let childrenOrphaned = 0
    for (let after: string | null = ''; after !== null;) {
      const [row]: { last: string | null; orphaned: number }[] = await this.#query<{
        last: string | null
        orphaned: number
      }>('tidy', ORPHAN_STRAYS, [after, TIDY_BATCH])
      childrenOrphaned += row?.orphaned ?? 0
      after = row?.last ?? null
    }
    const danglingLeases: LeaseId[] = []
    for (let after = ''; ;) {
      const found = ids(
        await this.#query<{ id: LeaseId }>('tidy', DANGLING_LEASES, [after, TIDY_BATCH]),
      )
      danglingLeases.push(...found)
      if (found.length < TIDY_BATCH) break
      after = found.at(-1) as LeaseId
    }
    return { indexEntriesRemoved: 0, childrenOrphaned, danglingLeases }
  }

  /**
   * Reads at most `limit` entries of the notice log after `cursor`, for a subscription. When there are none and the
   * counter is below the cursor, the log started over (the database lost it, or was restored from an older copy):
   * a `reset` entry, then the log from its start.
   */
  async #readNotices(cursor: number, limit: number): Promise<NoticeEntry[]> {
    const { rows } = await this.#db.query(this.#text(READ_NOTICES), [cursor, limit, this.#origin])
    const entries: NoticeEntry[] = []
    for (const row of rows as NoticeRow[]) readNoticeRow(row, cursor, entries)
    if (entries.length === 0 && cursor > 0) {
      const [head] = (await this.#db.query(this.#text(CURRENT_NOTICE), [])).rows as {
        seq: number
      }[]
      if ((head?.seq ?? 0) < cursor) {
        return [{ seq: 0, notice: null, reset: true }, ...(await this.#readNotices(0, limit - 1))]
      }
    }
    return entries
  }

  /**
   * Calls `listener` for each token or lease that another `PostgresStorage` on the same database and schema
   * deletes, once each and in order. Wakes on `LISTEN` (a connection held from a `pg.Pool`, or PGlite's
   * `listen`), polls as a safety net, and reads the numbered notice log from the last number it saw, so what was
   * written while it was disconnected (or before this instance subscribed again) is delivered too.
   *
   * @throws `TokenStoreError` `storage_unavailable` when the database cannot be reached to start listening.
   */
  async subscribe(
    listener: (notice: StorageNotice) => void,
    options: SubscribeOptions = {},
  ): Promise<() => Promise<void>> {
    const follower = new NoticeFollower({
      readBatch: (cursor, limit) => this.#readNotices(cursor, limit),
      listener,
      onAdvance: (seq) => {
        this.#cursor = seq
        options.onPosition?.(seq)
      },
      onGap: options.onGap,
      pollInterval: this.#pollInterval,
    })

    let unlisten: (() => Promise<void>) | undefined
    try {
      const start = await this.#startCursor(options)
      // LISTEN only wakes the follower, which reads from its cursor: a notice committed before it is not lost.
      unlisten = await this.#listen(follower.wake)
      if (start.gap !== null) options.onGap?.(start.gap)
      this.#cursor ??= start.cursor
      follower.start(start.cursor)
    } catch (error) {
      // Give the LISTEN connection back (to its pool), or every failed attempt would keep one.
      await unlisten?.().catch(() => undefined)
      throw this.#unavailable('subscribe', error)
    }
    const stopListening = unlisten

    const stop = async (): Promise<void> => {
      if (follower.stopped) return
      this.#subscriptions.delete(stop)
      await follower.stop()
      await stopListening().catch(() => undefined)
    }
    this.#subscriptions.add(stop)
    return stop
  }

  /**
   * One round trip, which also checks the schema: reads the version {@link migrate} recorded.
   *
   * @throws `TokenStoreError` `storage_unavailable` when the database does not answer; `storage_misconfigured` when
   * the schema was never migrated or is of an older version.
   */
  async ping(): Promise<void> {
    const [row] = await this.#query<{ version: number }>('ping', SCHEMA_VERSION_QUERY, [])
    if (row === undefined || row.version < SCHEMA_VERSION) throw this.#misconfigured()
  }

  /**
   * Where a subscription starts: after `options.after`; with `options.since`, after the newest notice the server
   * wrote before that moment (`written_at`); otherwise where this instance's last subscription stopped, or after
   * the newest notice.
   */
  async #startCursor(
    options: SubscribeOptions,
  ): Promise<{ cursor: number; gap: NoticeGap | null }> {
    if (options.after !== undefined) return { cursor: options.after, gap: null }
    if (options.since === undefined) {
      const [row] = (await this.#db.query(this.#text(CURRENT_NOTICE), [])).rows as { seq: number }[]
      return { cursor: this.#cursor ?? row?.seq ?? 0, gap: null }
    }
    const [clock] = (await this.#db.query(this.#text(SERVER_TIME), [])).rows as { now: number }[]
    const anchor = serverTimeAt(options.since, clock?.now ?? 0, performance.now())
    const [row] = (await this.#db.query(this.#text(NOTICE_START), [anchor])).rows as {
      before: number | null
      oldest: number | null
      head: number | null
    }[]
    return startFromAnchor(row?.before ?? null, row?.oldest ?? null, row?.head ?? 0)
  }

  /** Stops every subscription. The pool is the caller's to close. */
  async close(): Promise<void> {
    await Promise.all([...this.#subscriptions].map((stop) => stop()))
  }

  /**
   * Starts listening on the notice channel, calling `wake` on each notification and after each reconnection.
   * Resolves to the function that stops.
   */
  async #listen(wake: () => void): Promise<() => Promise<void>> {
    const db = this.#db
    if (db.listen !== undefined) {
      return db.listen(this.#channel, wake)
    }
    if (db.connect === undefined) return () => Promise.resolve()
    const connect = db.connect.bind(db)
    const channel = this.#channel
    let stopped = false
    let connection: { conn: SqlListenConnection; detach: () => void } | null = null
    let timer: NodeJS.Timeout | undefined

    const open = async (): Promise<void> => {
      const conn = await connect()
      const onNotification = (message: { channel: string }): void => {
        if (message.channel === channel) wake()
      }
      const onError = (error: Error): void => {
        // The server or the network dropped it: discard it and listen again on a new one.
        if (connection?.conn === conn) connection = null
        conn.release(error)
        retry()
      }
      conn.on('notification', onNotification)
      conn.on('error', onError)
      const detach = (): void => {
        conn.removeListener('notification', onNotification)
        conn.removeListener('error', onError)
      }
      try {
        await conn.query(`LISTEN ${channel}`)
      } catch (error) {
        detach()
        conn.release(error instanceof Error ? error : true)
        throw error
      }
      if (stopped) {
        detach()
        conn.release(true)
        return
      }
      connection = { conn, detach }
      wake()
    }
    let failures = 0
    const retry = (): void => {
      if (stopped || timer !== undefined) return
      timer = setTimeout(
        () => {
          timer = undefined
          open().then(
            () => {
              failures = 0
            },
            () => {
              failures += 1
              retry()
            },
          )
        },
        RELISTEN_FLOOR + backoffDelay(failures, RELISTEN_BACKOFF),
      )
      timer.unref()
    }

    await open()
    return async () => {
      stopped = true
      clearTimeout(timer)
      const held = connection
      connection = null
      if (held === null) return
      try {
        await held.conn.query(`UNLISTEN ${channel}`)
        held.detach()
        held.conn.release()
      } catch (error) {
        held.detach()
        held.conn.release(error instanceof Error ? error : true)
      }
    }
  }

  /**
   * The parameters every logged deletion begins with, in the statements' order: `$1` id, `$2` origin, `$3`
   * reason, `$4` now, `$5` log length, `$6` channel (for `pg_notify`).
   */
  #deletion(id: string, reason: RevokeReason, now: UnixMillis): unknown[] {
    return [id, this.#origin, reason, now, this.#noticeLogLength, this.#channel]
  }

  /** The ids an expiry statement lists (`$1` now, `$2` limit); none for a limit below 1. */
  async #listDue<Id>(
    operation: string,
    statement: string,
    now: UnixMillis,
    limit: number,
  ): Promise<Id[]> {
    if (!(limit >= 1)) return []
    return ids(await this.#query<{ id: Id }>(operation, statement, [now, clampLimit(limit)]))
  }

  /** The statement with this storage's schema, and a name for it, cached. */
  #statement(statement: string): { text: string; name: string } {
    let prepared = this.#sql.get(statement)
    if (prepared === undefined) {
      const text = sql(statement, this.#schema)
      prepared = {
        text,
        name: `tokentree_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`,
      }
      this.#sql.set(statement, prepared)
    }
    return prepared
  }

  #text(statement: string): string {
    return this.#statement(statement).text
  }

  /** Runs a statement on the database, or on `db` (a connection checked out of the pool). */
  async #query<Row>(
    operation: string,
    statement: string,
    params: unknown[],
    db: SqlQueryable = this.#db,
  ): Promise<Row[]> {
    const { text, name } = this.#statement(statement)
    const result = await this.#run(operation, () =>
      this.#named
        ? (db as unknown as NamedQueryable).query({ name, text, values: params })
        : db.query(text, params),
    )
    return result.rows as Row[]
  }

  async #run<T>(operation: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call()
    } catch (error) {
      throw this.#unavailable(operation, error)
    }
  }

  /**
   * A driver failure as a `TokenStoreError`: `storage_misconfigured` when the schema, a table or a column is
   * missing (a schema {@link migrate} never ran, or ran for an older version), which no retry can fix; otherwise
   * `storage_unavailable`.
   */
  #unavailable(operation: string, error: unknown): TokenStoreError {
    const state = sqlState(error)
    if (state !== undefined && MISSING_SCHEMA_STATES.has(state)) return this.#misconfigured(error)
    if (state !== undefined && UNSTORABLE_VALUE_STATES.has(state)) {
      // The input, not the database: a NUL in a string looked up (an accessor, a lease id), a number too large.
      return new TokenStoreError(
        'invalid_request',
        `PostgreSQL cannot hold a value of ${operation} (a NUL character, a lone surrogate, or a number out of range)`,
        { cause: scrubbed(error) },
      )
    }
    return unavailable(operation, error)
  }

  #misconfigured(cause?: unknown): TokenStoreError {
    return new TokenStoreError(
      'storage_misconfigured',
      `The PostgreSQL schema "${this.#schema}" is missing or older than version ${SCHEMA_VERSION}: run migrate(pool, { schema: '${this.#schema}' }) from tokentree/postgres (or apply schemaSql()) first`,
      cause === undefined ? undefined : { cause: scrubbed(cause) },
    )
  }
}

/**
 * SQLSTATEs of a value PostgreSQL cannot hold: a NUL in text (22021) or jsonb (22P05), a number out of its
 * column's range (22003), text its type cannot read (22P02: a lone surrogate's escape in jsonb). Bad input,
 * answered `invalid_request`, not an outage. The store refuses such values before they get here; these are the
 * net under it.
 */
const UNSTORABLE_VALUE_STATES = new Set(['22021', '22P05', '22003', '22P02'])

/** SQLSTATEs of a missing schema (3F000), table (42P01) or column (42703): `migrate()` was not run. */
const MISSING_SCHEMA_STATES = new Set(['3F000', '42P01', '42703'])

/** Wraps a driver failure as `storage_unavailable`, scrubbed. */
function unavailable(operation: string, error: unknown): TokenStoreError {
  if (error instanceof TokenStoreError) return error
  return new TokenStoreError('storage_unavailable', `PostgreSQL failed during ${operation}`, {
    cause: scrubbed(error),
  })
}

/** The error, without fields that may quote row values (pg's `detail`, `where`, `internalQuery`). */
function scrubbed(error: unknown): Error {
  const cause = error instanceof Error ? error : new Error(String(error))
  for (const field of ['detail', 'where', 'internalQuery']) {
    if (field in cause) Object.defineProperty(cause, field, { value: undefined })
  }
  return cause
}

/** LIMIT takes a bigint: keep huge limits (`Number.MAX_SAFE_INTEGER`) whole. */
function clampLimit(limit: number): number {
  return Math.min(Math.floor(limit), Number.MAX_SAFE_INTEGER)
}

/** A renewal's parameters, the same for tokens and leases. */
function renewal(id: string, now: UnixMillis, update: RenewUpdate): unknown[] {
  return [id, now, update.expiresAt, update.ttl, update.lastRenewalTime, update.expectedExpiresAt]
}

function ids<Id>(rows: { id: Id }[]): Id[] {
  return rows.map((row) => row.id)
}

function toToken(rows: TokenRow[]): TokenRecord | null {
  const row = rows[0]
  if (row === undefined) return null
  return {
    ...row.record,
    parent: row.parent as HashedTokenId | null,
    numUses: row.num_uses,
    ttl: row.ttl,
    expiresAt: row.expires_at,
    lastRenewalTime: row.last_renewal_time,
    revoking: row.revoking as RevokeReason | null,
  }
}

/** The tokens a batch deletion reports, from its rows. */
function toDeleted(rows: readonly DeletedRow[] | undefined): DeletedToken[] {
  if (rows === undefined) return []
  return rows.map(([id, accessor, parent, path, revoking]) => ({
    id,
    accessor,
    parent,
    path,
    revoking,
  }))
}

function toLease(rows: LeaseRow[]): LeaseRecord | null {
  const row = rows[0]
  if (row === undefined) return null
  return {
    ...row.record,
    expiresAt: row.expires_at,
    ttl: row.ttl,
    lastRenewalTime: row.last_renewal_time,
  }
}
