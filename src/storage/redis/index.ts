/**
 * `tokentree/redis`: a {@link Storage} on Redis, for services that run several instances over one set of tokens.
 *
 * @packageDocumentation
 * @module tokentree/redis
 */
import { randomUUID } from 'node:crypto'

import { Cluster, Redis, type RedisOptions } from 'ioredis'

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
  InsertLeaseResult,
  InsertResult,
  RenewUpdate,
  NoticeGap,
  StorageNotice,
  Storage,
  StorageTidyResult,
  SubscribeOptions,
  DeletedToken,
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
import { ClusterGate } from './cluster-gate.js'
import { ClusterWakeups, type WakeupHandlers } from './cluster-wakeups.js'
import { KeySpaces } from './key-spaces.js'
import { ListingCleanup } from './listing-cleanup.js'
import { OwnNoticeRanges } from './own-notices.js'
import { mergeShardPages, roundRobin, type ShardPage } from './shard-merge.js'
import { warnIfResending } from './resend-warning.js'
import {
  CREATOR_OK,
  DANGLING_LEASES,
  DELETE_LEASE,
  DELETE_POLICY,
  PUT_POLICY,
  DELETE_SUBTREE,
  SWEEP_EXPIRED,
  DELETE_TOKEN,
  DRAIN_LISTING,
  FIND_BY_PATH_PREFIX,
  GET_BY_ACCESSOR,
  GET_LIVE_TOKEN,
  INSERT_LEASE,
  INSERT_TOKEN,
  LIST_TOKENS,
  MARK_REVOKING,
  ORPHAN_CHILDREN,
  RENEW_LEASE,
  RENEW_TOKEN,
  SERVER_TIME,
  TIDY_ACCESSORS,
  TIDY_CHILDREN,
  TIDY_LISTING,
  TIDY_PATH,
  TIDY_SORTED,
  TIDY_TOKEN_LEASES,
  UNDO_INSERT,
  USE_TOKEN,
  type RedisScript,
} from './scripts.js'

export type { RedisScript } from './scripts.js'

/** Key prefix used when none is given. */
const DEFAULT_KEY_PREFIX = 'tokentree:'
/** Notices kept in the stream for subscribers that were away (approximate, `XADD MAXLEN ~`). */
const DEFAULT_NOTICE_LOG_LENGTH = 100_000
/** How often a subscriber re-reads the stream even without a pub/sub wake-up, in milliseconds. */
const DEFAULT_POLL_INTERVAL = 2000
/** Stream entries read per step when a subscription looks for where its start time falls in the stream. */
const ANCHOR_SCAN_BATCH = 500
/** Reconnection delays of the client the storage opens: full jitter over a doubling cap, after a 50 ms floor. */
const RECONNECT_BACKOFF = { first: 100, max: 2000 }
const RECONNECT_FLOOR = 50
/** Entries examined per step of `tidy()` (a SCAN's COUNT hint, and the most ids one repair script gets). */
const TIDY_BATCH = 500
/** Tags of RedisStorage's list cursors: a member of `ls` (path order) or of a `pc:` set (by parent). */
const PATH_ORDER = 'rp'
const PARENT_ORDER = 'rc'
/** The token fields the scripts return, in order: `d p u e t l r`. */
const TOKEN_FIELDS = ['d', 'p', 'u', 'e', 't', 'l', 'r'] as const

/**
 * Options of the client `RedisStorage` creates when it is not given one: fail fast while Redis is down (one
 * reconnection attempt per command, a 2 s cap on any command), and keep reconnecting so that calls succeed again
 * when it returns. A command whose connection dropped before its reply came is not sent again on the next one
 * (ioredis's default): it may have run, and a script that spends a use would spend a second one. The caller gets
 * `storage_unavailable` for it instead.
 */
const OWNED_CLIENT_OPTIONS: RedisConnectionOptions = {
  maxRetriesPerRequest: 1,
  commandTimeout: 2000,
  autoResendUnfulfilledCommands: false,
  retryStrategy: (attempt) => RECONNECT_FLOOR + backoffDelay(attempt - 1, RECONNECT_BACKOFF),
}

/**
 * ioredis options for the connection `RedisStorage` opens itself. `replyMapping` is left out: the storage reads
 * replies in the default (RESP2) shape.
 */
export type RedisConnectionOptions = Omit<RedisOptions, 'replyMapping'>

/**
 * Listing entries one step of the listing cleanup handles (see `listing-cleanup.ts`): an entry costs Redis a
 * fraction of what a deleted token does, so a step of 200 holds other clients up for about as long as a deletion
 * batch of 50.
 */
const LISTING_CLEANUP_STEP = '200'

/** Tokens per deletion or sweep script when `revocationBatchSize` is not given. */
const DEFAULT_REVOCATION_BATCH_SIZE = 50

/**
 * How long a call made before a `Cluster` client's first connection waits for it, when its `redisOptions` set no
 * `commandTimeout` (see `cluster-gate.ts`).
 */
const CLUSTER_STARTUP_WAIT = 2000

/** Tree shards of a storage on a Redis Cluster client when `shards` is not given. */
const DEFAULT_CLUSTER_SHARDS = 16

/** Options of {@link RedisStorage}. */
export interface RedisStorageOptions {
  /**
   * An ioredis client to use, with the default reply shape (RESP2): a `Redis`, or a `Cluster` for Redis Cluster
   * (see `shards`). The storage never closes it (close it yourself after `storage.close()`). Subscriptions open a
   * `duplicate()` of a `Redis`, and a connection of their own to one master of a `Cluster`. Give a `Redis`
   * `maxRetriesPerRequest` and `commandTimeout` (or `enableOfflineQueue: false`), and a `Cluster` those in its
   * `redisOptions`, so that calls fail fast with `storage_unavailable` while Redis is down; and give a `Redis`
   * `autoResendUnfulfilledCommands: false`, a `Cluster` `retryDelayOnFailover: 0` (and, with a
   * `clusterNodeRetryStrategy`, `redisOptions.autoResendUnfulfilledCommands: false`), or a script whose reply was
   * lost with its connection runs again (a use spent twice): the storage warns once (a `TokenStoreWarning`) when
   * they are missing. While a `Cluster` is reconnecting (every node lost), calls fail at once and are not sent.
   */
  readonly client?: Redis | Cluster
  /**
   * How many tree shards to spread tokens over: each token tree (a token, its descendants and their leases) lives
   * in one shard, whose keys share one hash tag, `<keyPrefix>{<shard>}`, so every script runs in one cluster slot.
   * From 1 to 64; never change it for a key prefix that holds tokens, or they are no longer found. On a `Cluster`
   * client it defaults to 16; on a single Redis the storage keeps the unsharded layout unless this is given (a
   * single Redis with shards holds the same keys a cluster would, so its data can move to a cluster as it is).
   * Sharded, `keyPrefix` may not contain `{` or `}`, and a `TokenStore` over the storage mints ids that name
   * their shard (see `Storage.treeShards`).
   *
   * @default 16 on a Cluster client, else unsharded
   */
  readonly shards?: number
  /**
   * Where to connect when no `client` is given: a `redis://` URL or ioredis options. The storage owns that client
   * and closes it in `close()`.
   *
   * @default 'redis://127.0.0.1:6379'
   */
  readonly connection?: string | RedisConnectionOptions
  /**
   * Prefix of every key the storage writes, so several stores (or tests) can share one Redis database.
   *
   * @default 'tokentree:'
   */
  readonly keyPrefix?: string
  /**
   * How many revocation notices the stream keeps (approximately) for subscribers that were disconnected. A
   * subscriber away for longer than it takes to write this many misses the oldest ones.
   *
   * @default 100000
   */
  readonly noticeLogLength?: number
  /**
   * How often, in milliseconds, a subscriber re-reads the notice stream without a pub/sub wake-up: the safety net
   * for a wake-up lost while its connection was re-established.
   *
   * @default 2000
   */
  readonly pollInterval?: number
  /**
   * Deletion scripts kept in flight during a revocation or an expiry sweep (see
   * `Storage.revocationCallsInFlight`). With 2, Redis works on the next batch while the process reports the last,
   * so it never idles between batches; requests on the same connection then wait behind up to two scripts rather
   * than one. Measured with `npm run bench:million` (1,000,000 tokens, quiet machine, same session): 1 took 21.6 s
   * to revoke and 20.8 s to sweep, with unrelated `authenticate` at p50 1.0 ms / p99 2.8–4.4 ms; 2 took 17.8 s and
   * 13.2 s, at p50 1.2–1.6 ms / p99 3.4–4.7 ms. Set 1 to favour other requests' median latency over the
   * revocation's speed.
   *
   * @default 2
   */
  readonly revocationCallsInFlight?: number
  /**
   * Tokens per deletion or sweep script (see {@link RedisStorage.revocationBatchSize}): a script blocks the whole
   * Redis server while it runs, so a smaller batch keeps other clients' waits short during a big revocation, and
   * a larger one revokes faster.
   *
   * @default 50
   */
  readonly revocationBatchSize?: number
}

/**
 * Keeps tokens and leases in Redis. Every step the store needs atomically (insert with the ancestor check, use one
 * use, renew, mark, delete with its notice) is one Lua script; expiry and prefixes are sorted sets. Revocations
 * are published (pub/sub plus a capped stream with numbered entries), so `TokenStore` instances on other machines
 * emit `revoked` for them too, catching up on what they missed while disconnected.
 *
 * Ids reach storage only as keyed hashes; no token id is ever written. Driver failures reject with
 * `TokenStoreError('storage_unavailable')`.
 *
 * Needs Redis 6.2 or later: a single server (or primary with replicas), or Redis Cluster through an ioredis
 * `Cluster` client. On a cluster, each token tree lives in one of `shards` key spaces that each hash to one slot,
 * so every atomic step still runs as one script on one node; what spans trees (listing, prefix revocation, expiry
 * sweeps, tidy, the notice subscription) visits every shard in turn (see the storage guide, "Redis Cluster").
 *
 * @example Two instances sharing tokens
 * ```ts
 * import { TokenStore } from 'tokentree'
 * import { RedisStorage } from 'tokentree/redis'
 *
 * const storage = new RedisStorage({ connection: process.env.REDIS_URL, keyPrefix: 'myapp:tokens:' })
 * const store = new TokenStore({ storage, secret: process.env.TOKEN_SECRET })
 * store.on('revoked', (event) => sessions.drop(event.accessor)) // fires for every instance's revocations
 * // ...
 * await store.close()
 * await storage.close()
 * ```
 */
export class RedisStorage implements Storage {
  /** Shared with other processes, and outliving this one: a store over it needs a stable `secret`. */
  readonly shared = true
  /** The number of tree shards (see {@link RedisStorageOptions.shards}); absent on the unsharded layout. */
  readonly treeShards?: number
  /**
   * Tokens per deletion or sweep script ({@link RedisStorageOptions.revocationBatchSize}): a script blocks Redis
   * while it runs, so 50 keeps every other client's wait short during a big revocation (`npm run bench:million`,
   * p99 of unrelated `authenticate` at 100,000 tokens: 24 ms with 500 and 4.5 ms with 50 at the same throughput).
   */
  readonly revocationBatchSize: number
  /** See {@link RedisStorageOptions.revocationCallsInFlight}. */
  readonly revocationCallsInFlight: number
  readonly #client: Redis | Cluster
  /** On a `Cluster`, what keeps a call from hanging in its offline queue during an outage; else `null`. */
  readonly #gate: ClusterGate | null
  readonly #owned: boolean
  readonly #prefix: string
  readonly #spaces: KeySpaces
  readonly #noticeLogLength: string
  readonly #pollInterval: number
  /** Marks this instance's notices, so that its own subscriptions skip them. */
  readonly #origin = randomUUID()
  /** The notice numbers of this instance's own batch entries: its subscription does not read them back. */
  readonly #ownNotices = new OwnNoticeRanges()
  /** The batch deletion scripts under way (see {@link RedisStorage.#readNotices}). */
  readonly #deletionsInFlight = new Set<Promise<unknown>>()
  /**
   * The number of the last notice a subscription of this instance read in each key space's stream, kept across
   * subscriptions.
   */
  readonly #cursors = new Map<string, number>()
  /** The epoch of each key space's notice log when a subscription of this instance last read it (`null`: none). */
  readonly #epochs = new Map<string, string | null>()
  readonly #subscriptions = new Set<() => Promise<void>>()
  readonly #listingCleanup = new ListingCleanup(async (space) =>
    Number(await this.#eval('listingCleanup', DRAIN_LISTING, space, [LISTING_CLEANUP_STEP])),
  )

  /**
   * @throws `TokenStoreError` `invalid_request` for a malformed option.
   */
  constructor(options: RedisStorageOptions = {}) {
    this.#prefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX
    const logLength = options.noticeLogLength ?? DEFAULT_NOTICE_LOG_LENGTH
    if (!Number.isSafeInteger(logLength) || logLength < 1) {
      throw new TokenStoreError(
        'invalid_request',
        `Expected \`noticeLogLength\` to be a positive integer, got ${logLength}`,
      )
    }
    this.#noticeLogLength = String(logLength)
    this.#pollInterval = options.pollInterval ?? DEFAULT_POLL_INTERVAL
    const inFlight = options.revocationCallsInFlight ?? 2
    if (!Number.isSafeInteger(inFlight) || inFlight < 1) {
      throw new TokenStoreError(
        'invalid_request',
        `Expected \`revocationCallsInFlight\` to be a positive integer, got ${inFlight}`,
      )
    }
    this.revocationCallsInFlight = inFlight
    const batchSize = options.revocationBatchSize ?? DEFAULT_REVOCATION_BATCH_SIZE
    if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
      throw new TokenStoreError(
        'invalid_request',
        `Expected \`revocationBatchSize\` to be a positive integer, got ${batchSize}`,
      )
    }
    this.revocationBatchSize = batchSize
    const shards =
      options.shards ?? (options.client?.isCluster === true ? DEFAULT_CLUSTER_SHARDS : null)
    this.#spaces = new KeySpaces(this.#prefix, shards)
    if (shards !== null) this.treeShards = shards
    if (options.client !== undefined) {
      this.#client = options.client
      this.#owned = false
      warnIfResending(options.client)
    } else {
      const connection = options.connection ?? 'redis://127.0.0.1:6379'
      this.#client =
        typeof connection === 'string'
          ? new Redis(connection, OWNED_CLIENT_OPTIONS)
          : new Redis({ ...OWNED_CLIENT_OPTIONS, ...connection })
      this.#owned = true
      // Connection errors surface as rejected commands; without a listener ioredis would also log each one.
      this.#client.on('error', () => undefined)
    }
    this.#gate =
      this.#client instanceof Cluster
        ? new ClusterGate(
            this.#client,
            this.#client.options.redisOptions?.commandTimeout ?? CLUSTER_STARTUP_WAIT,
          )
        : null
  }

  /** The key prefix this storage writes under. */
  get keyPrefix(): string {
    return this.#prefix
  }

  /**
   * One script, which checks the parent (and the creator of an orphan) atomically with the write. Sharded, an
   * orphan's creator may live in another shard: the orphan is written first, then the creator checked, and the
   * orphan removed again (without a notice) when the creator's revocation has begun, so that an orphan is only
   * reported `inserted` if its creator was live after it was written. Until then nobody holds its id.
   *
   * @throws `TokenStoreError` `invalid_request` on sharded storage when the accessor names another shard than the
   *   id (ids minted by `TokenStore` never do).
   */
  async insertToken(record: TokenRecord, creator?: HashedTokenId): Promise<InsertResult> {
    const space = this.#spaces.ofId(record.id)
    // A parent in another shard is simply not found in this one: `parent_gone`.
    if (this.#spaces.ofId(record.accessor) !== space) {
      throw new TokenStoreError(
        'invalid_request',
        "Expected the token's accessor to name the tree shard its id names (see Storage.treeShards)",
      )
    }
    const apart = creator !== undefined && this.#spaces.ofId(creator) !== space
    const result = (await this.#eval('insertToken', INSERT_TOKEN, space, [
      record.id,
      record.accessor,
      record.parent ?? '',
      record.path,
      orEmpty(record.expiresAt),
      record.revoking ?? '',
      JSON.stringify(record),
      String(record.numUses),
      String(record.ttl),
      orEmpty(record.lastRenewalTime),
      apart ? '' : (creator ?? ''),
    ])) as InsertResult
    if (!apart || result !== 'inserted') return result
    const creatorSpace = this.#spaces.ofId(creator)
    if ((await this.#eval('insertToken', CREATOR_OK, creatorSpace, [creator])) === 1) return result
    await this.#eval('insertToken', UNDO_INSERT, space, [record.id])
    return 'parent_gone'
  }

  async getToken(id: HashedTokenId): Promise<TokenRecord | null> {
    const fields = await this.#run('getToken', () =>
      this.#client.hmget(this.#key(this.#spaces.ofId(id), 't:', id), ...TOKEN_FIELDS),
    )
    return toToken(fields)
  }

  async getTokenByAccessor(accessor: Accessor): Promise<TokenRecord | null> {
    return toToken(
      await this.#eval('getTokenByAccessor', GET_BY_ACCESSOR, this.#spaces.ofId(accessor), [
        accessor,
      ]),
    )
  }

  async getLiveToken(id: HashedTokenId, now: UnixMillis): Promise<TokenRecord | null> {
    return toToken(
      await this.#eval('getLiveToken', GET_LIVE_TOKEN, this.#spaces.ofId(id), [id, String(now)]),
    )
  }

  useToken(id: HashedTokenId, now: UnixMillis): Promise<TokenRecord | null> {
    // Not `async`, as #eval: the hot path of a shared storage; a synchronous failure still rejects.
    try {
      return this.#eval('useToken', USE_TOKEN, this.#spaces.ofId(id), [id, String(now)]).then(
        toToken,
      )
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)))
    }
  }

  async renewToken(
    id: HashedTokenId,
    now: UnixMillis,
    update: RenewUpdate,
  ): Promise<TokenRecord | null> {
    return toToken(
      await this.#eval('renewToken', RENEW_TOKEN, this.#spaces.ofId(id), renewal(id, now, update)),
    )
  }

  async markRevoking(
    id: HashedTokenId,
    reason: RevokeReason,
    expiredAt?: UnixMillis,
  ): Promise<TokenRecord | null> {
    return toToken(
      await this.#eval('markRevoking', MARK_REVOKING, this.#spaces.ofId(id), [
        id,
        reason,
        expiredAt === undefined ? '' : String(expiredAt),
      ]),
    )
  }

  async listChildren(id: HashedTokenId): Promise<HashedTokenId[]> {
    return (await this.#run('listChildren', () =>
      this.#client.smembers(this.#key(this.#spaces.ofId(id), 'c:', id)),
    )) as HashedTokenId[]
  }

  async orphanChildren(id: HashedTokenId, now: UnixMillis): Promise<number | null> {
    const count = await this.#eval('orphanChildren', ORPHAN_CHILDREN, this.#spaces.ofId(id), [
      id,
      String(now),
    ])
    return count === null ? null : Number(count)
  }

  async deleteToken(
    id: HashedTokenId,
    reason: RevokeReason,
    now: UnixMillis,
  ): Promise<TokenRecord | null> {
    return toToken(
      await this.#eval(
        'deleteToken',
        DELETE_TOKEN,
        this.#spaces.ofId(id),
        this.#deletion(id, reason, now),
      ),
    )
  }

  /** Sharded, one script per shard: each shard's answer is atomic, and a token lives in one shard only. */
  async findByPathPrefix(prefix: string): Promise<HashedTokenId[]> {
    const found = await Promise.all(
      this.#spaces.tokenSpaces.map(
        async (space) =>
          (await this.#eval('findByPathPrefix', FIND_BY_PATH_PREFIX, space, [
            prefix,
          ])) as HashedTokenId[],
      ),
    )
    return found.flat()
  }

  /**
   * Reads up to `limit` members of a sorted set in lexical order, from the member after the cursor, and returns
   * the live tokens among them that pass the filters, in one script. Without `parent`, the set is `ls` (every
   * token as `<path> <accessor>`): a path prefix is two ranges of it (the path itself, then `<prefix>/…`), so
   * only matching tokens are read. With `parent`, the set is the parent's `pc:<id>` (its children's accessors),
   * and a path prefix is tested on each. The metadata filter is tested on each token read (a scan of the range).
   *
   * Sharded, a listing by parent reads the parent's shard (its children are all there); any other reads up to
   * `limit` members of every shard and merges them in byte order (see `shard-merge.ts`), so a page examines up to `limit`
   * members per shard.
   */
  async listTokens(query: TokenListQuery): Promise<TokenListPage> {
    const limit = clampBatch(query.limit)
    const byParent = query.parent !== undefined
    const tag = byParent ? PARENT_ORDER : PATH_ORDER
    const after = query.cursor === null ? null : (decodeCursor(query.cursor, tag, 1)[0] as string)
    const ranges = byParent
      ? [after === null ? '-' : `(${after}`, '+']
      : pathRanges(query.pathPrefix, after)
    const args = [
      byParent ? `pc:${query.parent}` : 'ls',
      query.parent ?? '',
      query.pathPrefix ?? '',
      query.metadata === undefined ? '' : JSON.stringify(query.metadata),
      String(query.now),
      String(limit),
      ...ranges,
    ]
    const spaces =
      query.parent === undefined ? this.#spaces.tokenSpaces : [this.#spaces.ofId(query.parent)]
    const pages = await Promise.all(
      spaces.map(async (space): Promise<ShardPage> => {
        const reply = (await this.#eval('listTokens', LIST_TOKENS, space, args)) as [
          string,
          string,
          unknown[],
        ]
        const records = reply[2].map((fields) => toToken(fields) as TokenRecord)
        return { records, last: Number(reply[0]) < limit ? null : reply[1] }
      }),
    )
    const merged = mergeShardPages(pages, limit, (r) =>
      byParent ? r.accessor : `${r.path} ${r.accessor}`,
    )
    return {
      records: merged.records,
      cursor: merged.last === null ? null : encodeCursor(tag, [merged.last]),
    }
  }

  async listExpiredTokens(now: UnixMillis, limit: number): Promise<HashedTokenId[]> {
    return (await this.#listDue('listExpiredTokens', 'exp', now, limit)) as HashedTokenId[]
  }

  async nextExpiry(): Promise<UnixMillis | null> {
    const perSpace = await Promise.all(
      this.#spaces.tokenSpaces.map((space) =>
        this.#run('nextExpiry', () =>
          this.#client
            .pipeline()
            .zrange(this.#key(space, 'exp'), 0, '0', 'WITHSCORES')
            .zrange(this.#key(space, 'lexp'), 0, '0', 'WITHSCORES')
            .exec(),
        ),
      ),
    )
    let next: number | null = null
    for (const [error, reply] of perSpace.flatMap((results) => results ?? [])) {
      if (error) throw unavailable('nextExpiry', error)
      const score = (reply as string[])[1]
      if (score !== undefined) next = next === null ? Number(score) : Math.min(next, Number(score))
    }
    return next
  }

  /**
   * @throws `TokenStoreError` `invalid_request` on sharded storage when the lease id does not name its token's
   *   shard (ids minted by `TokenStore` always do).
   */
  async insertLease(lease: LeaseRecord, now: UnixMillis): Promise<InsertLeaseResult> {
    const space = this.#spaces.ofLease(lease.id)
    if (space !== this.#spaces.ofId(lease.token)) {
      throw new TokenStoreError(
        'invalid_request',
        "Expected the lease id to name its token's tree shard (the first character after its last `/`)",
      )
    }
    return (await this.#eval('insertLease', INSERT_LEASE, space, [
      lease.id,
      lease.token,
      String(lease.expiresAt),
      JSON.stringify(lease),
      String(lease.ttl),
      orEmpty(lease.lastRenewalTime),
      String(now),
    ])) as InsertLeaseResult
  }

  async getLease(id: LeaseId): Promise<LeaseRecord | null> {
    const fields = await this.#run('getLease', () =>
      this.#client.hmget(this.#key(this.#spaces.ofLease(id), 'l:', id), 'd', 'e', 't', 'l'),
    )
    return toLease(fields)
  }

  async renewLease(id: LeaseId, now: UnixMillis, update: RenewUpdate): Promise<LeaseRecord | null> {
    return toLease(
      await this.#eval(
        'renewLease',
        RENEW_LEASE,
        this.#spaces.ofLease(id),
        renewal(id, now, update),
      ),
    )
  }

  async deleteLease(
    id: LeaseId,
    reason: RevokeReason,
    now: UnixMillis,
  ): Promise<LeaseRecord | null> {
    return toLease(
      await this.#eval(
        'deleteLease',
        DELETE_LEASE,
        this.#spaces.ofLease(id),
        this.#deletion(id, reason, now),
      ),
    )
  }

  async listLeases(token: HashedTokenId): Promise<LeaseId[]> {
    return this.#run('listLeases', () =>
      this.#client.smembers(this.#key(this.#spaces.ofId(token), 'tl:', token)),
    )
  }

  async findLeasesByPrefix(prefix: string): Promise<LeaseId[]> {
    const found = await Promise.all(
      this.#spaces.tokenSpaces.map((space) =>
        this.#run('findLeasesByPrefix', () =>
          prefix === ''
            ? this.#client.zrangebylex(this.#key(space, 'lids'), '-', '+')
            : this.#client.zrangebylex(this.#key(space, 'lids'), `[${prefix}/`, `(${prefix}0`),
        ),
      ),
    )
    return found.flat()
  }

  async listExpiredLeases(now: UnixMillis, limit: number): Promise<LeaseId[]> {
    return this.#listDue('listExpiredLeases', 'lexp', now, limit)
  }

  async listRevoking(limit: number): Promise<HashedTokenId[]> {
    if (!(limit >= 1)) return []
    const count = Math.min(Math.floor(limit), Number.MAX_SAFE_INTEGER)
    const perSpace = await Promise.all(
      this.#spaces.tokenSpaces.map((space) =>
        this.#run('listRevoking', () =>
          this.#client.zrange(this.#key(space, 'rv'), 0, String(count - 1)),
        ),
      ),
    )
    // Taken from the shards in turn, so that marks stuck in one shard cannot hide the others'.
    return roundRobin(perSpace, count) as HashedTokenId[]
  }

  /**
   * Deletes up to `limit` tokens of a subtree under a marked token, children first, each just after its leases,
   * with their notices: one Lua script per call, so one round trip per batch.
   */
  async deleteSubtree(
    topId: HashedTokenId,
    reason: RevokeReason,
    now: UnixMillis,
    limit: number,
  ): Promise<SubtreeDeletion> {
    const space = this.#spaces.ofId(topId)
    const reply = (await this.#batchDeletion(space, DELETE_SUBTREE, 'deleteSubtree', [
      topId,
      reason,
      String(now),
      String(clampBatch(limit)),
      this.#origin,
      this.#noticeLogLength,
    ])) as [string, unknown[], number[], number]
    return {
      tokens: deletedTokens(reply[0]),
      leases: reply[1].map((fields) => toLease(fields) as LeaseRecord),
      done: reply[3] === 1,
    }
  }

  /**
   * Deletes expired tokens without children and marks those with children, up to `limit` per call: one Lua script
   * per shard (one round trip per batch on a single Redis). On a cluster the shards are swept in turn, each step
   * atomic in its own slot, until `limit` is reached; `done` only when every shard had nothing more.
   */
  async sweepExpired(now: UnixMillis, limit: number): Promise<ExpiredSweep> {
    const sweep: { tokens: DeletedToken[]; leases: LeaseRecord[]; marked: TokenRecord[] } = {
      tokens: [],
      leases: [],
      marked: [],
    }
    let left = clampBatch(limit)
    let done = true
    for (const space of this.#spaces.tokenSpaces) {
      if (left <= 0) {
        done = false
        break
      }
      const reply = (await this.#batchDeletion(space, SWEEP_EXPIRED, 'sweepExpired', [
        String(now),
        String(left),
        this.#origin,
        this.#noticeLogLength,
      ])) as [string, unknown[], unknown[], number[], number]
      const deleted = deletedTokens(reply[0])
      for (const token of deleted) sweep.tokens.push(token)
      for (const fields of reply[1]) sweep.leases.push(toLease(fields) as LeaseRecord)
      for (const fields of reply[2]) sweep.marked.push(toToken(fields) as TokenRecord)
      left -= deleted.length + reply[2].length
      if (reply[4] !== 1) done = false
    }
    return { ...sweep, done }
  }

  async putRole(role: TokenRole): Promise<void> {
    await this.#run('putRole', () =>
      this.#client.hset(this.#key(this.#spaces.global, 'roles'), role.name, JSON.stringify(role)),
    )
  }

  async getRole(name: string): Promise<TokenRole | null> {
    const json = await this.#run('getRole', () =>
      this.#client.hget(this.#key(this.#spaces.global, 'roles'), name),
    )
    return json === null ? null : (JSON.parse(json) as TokenRole)
  }

  async listRoles(): Promise<string[]> {
    return (
      await this.#run('listRoles', () =>
        this.#client.hkeys(this.#key(this.#spaces.global, 'roles')),
      )
    ).sort()
  }

  async deleteRole(name: string): Promise<boolean> {
    return (
      (await this.#run('deleteRole', () =>
        this.#client.hdel(this.#key(this.#spaces.global, 'roles'), name),
      )) > 0
    )
  }

  async putPolicy(name: string, text: string, now: UnixMillis): Promise<void> {
    await this.#eval('putPolicy', PUT_POLICY, this.#spaces.global, [
      name,
      text,
      String(now),
      this.#origin,
      this.#noticeLogLength,
    ])
  }

  async getPolicy(name: string): Promise<string | null> {
    return this.#run('getPolicy', () =>
      this.#client.hget(this.#key(this.#spaces.global, 'policies'), name),
    )
  }

  async listPolicies(): Promise<string[]> {
    return (
      await this.#run('listPolicies', () =>
        this.#client.hkeys(this.#key(this.#spaces.global, 'policies')),
      )
    ).sort()
  }

  async deletePolicy(name: string, now: UnixMillis): Promise<boolean> {
    const args = [name, String(now), this.#origin, this.#noticeLogLength]
    return (await this.#eval('deletePolicy', DELETE_POLICY, this.#spaces.global, args)) === 1
  }

  /**
   * Repairs what a crash or a manual edit can leave behind, in small steps so that the store keeps serving: it
   * scans each index (HSCAN, ZSCAN, SSCAN and SCAN of the prefix's keys, 500 entries at a time) and
   * hands each chunk to a script that re-checks every entry and repairs it atomically. Removes index entries whose
   * token or lease is gone (accessors, paths, expiry, revoking marks, children, a token's leases), makes the
   * children of a vanished parent orphans, and lists the leases whose token is gone.
   */
  async tidy(): Promise<StorageTidyResult> {
    let indexEntriesRemoved = 0
    let childrenOrphaned = 0
    const leaseIds = new Map<string, LeaseId[]>()
    // Sharded, each step runs in one shard: the indexes of each in turn, then one pass over every node's keys.
    for (const space of this.#spaces.tokenSpaces) {
      indexEntriesRemoved += await this.#tidyIndexes(space)
      leaseIds.set(space, [])
    }
    for await (const keys of this.#scanKeys()) {
      for (const key of keys) {
        const space = this.#spaceOfKey(key)
        if (space === null) continue
        const run = async (script: RedisScript, args: string[]): Promise<unknown> =>
          this.#eval('tidy', script, space, args)
        const rest = key.slice(space.length)
        if (rest.startsWith('pc:')) {
          for await (const members of this.#scan(space, rest, 'zset')) {
            indexEntriesRemoved += Number(await run(TIDY_LISTING, [rest, ...members]))
          }
        } else if (rest.startsWith('c:')) {
          const parent = rest.slice('c:'.length)
          for await (const ids of this.#scan(space, rest, 'set')) {
            const [removed, orphaned] = (await run(TIDY_CHILDREN, [parent, ...ids])) as number[]
            indexEntriesRemoved += Number(removed)
            childrenOrphaned += Number(orphaned)
          }
        } else if (rest.startsWith('tl:')) {
          const token = rest.slice('tl:'.length)
          for await (const ids of this.#scan(space, rest, 'set')) {
            indexEntriesRemoved += Number(await run(TIDY_TOKEN_LEASES, [token, ...ids]))
          }
        } else if (rest.startsWith('l:')) {
          leaseIds.get(space)?.push(rest.slice('l:'.length))
        }
      }
    }
    const danglingLeases: LeaseId[] = []
    for (const [space, ids] of leaseIds) {
      // SCAN may return a key twice.
      const all = [...new Set(ids)]
      for (let i = 0; i < all.length; i += TIDY_BATCH) {
        const chunk = all.slice(i, i + TIDY_BATCH)
        danglingLeases.push(
          ...((await this.#eval('tidy', DANGLING_LEASES, space, chunk)) as LeaseId[]),
        )
      }
    }
    return { indexEntriesRemoved, childrenOrphaned, danglingLeases }
  }

  /** tidy() of one key space's global indexes. Resolves to how many entries it removed. */
  async #tidyIndexes(space: string): Promise<number> {
    let removed = 0
    const run = async (script: RedisScript, args: string[]): Promise<unknown> =>
      this.#eval('tidy', script, space, args)
    for await (const chunk of this.#scan(space, 'acc', 'hash')) {
      removed += Number(await run(TIDY_ACCESSORS, chunk))
    }
    for await (const paths of this.#scan(space, 'paths', 'zset')) {
      for (const path of paths) {
        let checked = false
        for await (const ids of this.#scan(space, `p:${path}`, 'set')) {
          removed += Number(await run(TIDY_PATH, [path, ...ids]))
          checked = true
        }
        // An empty set yields no chunk: the script still drops the path from `paths`.
        if (!checked) removed += Number(await run(TIDY_PATH, [path]))
      }
    }
    // The entries batch deletions queued for the listing cleanup first: they are not damage, only not yet removed.
    await this.#listingCleanup.drain(space)
    for await (const members of this.#scan(space, 'ls', 'zset')) {
      removed += Number(await run(TIDY_LISTING, ['ls', ...members]))
    }
    for (const set of ['exp', 'rv', 'lexp', 'lids']) {
      for await (const ids of this.#scan(space, set, 'zset')) {
        removed += Number(await run(TIDY_SORTED, [set, ...ids]))
      }
    }
    return removed
  }

  /**
   * Calls `listener` for each token or lease that another `RedisStorage` (same Redis, same key prefix) deletes,
   * once each and in order. Listens on its own connection (a `duplicate()` of the client); after a disconnection,
   * and when this instance subscribes again after stopping, it reads what it missed from the notice stream.
   *
   * Sharded, each shard (and the global space of policies) has its own stream and channel: the subscription
   * follows each stream in order, so the notices of one tree come in order, and those of different trees
   * interleave. `onPosition` is then told the sum of the positions in every stream, and `after` resumes each
   * stream where this instance's last subscription left it (the position of one stream cannot name the others').
   *
   * @throws `TokenStoreError` `storage_unavailable` when Redis cannot be reached to start listening.
   */
  async subscribe(
    listener: (notice: StorageNotice) => void,
    options: SubscribeOptions = {},
  ): Promise<() => Promise<void>> {
    const positions = new Map<string, number>()
    const followers = new Map<string, NoticeFollower>()
    for (const space of this.#spaces.noticeSpaces) {
      const channel = this.#key(space, 'notices')
      followers.set(
        channel,
        new NoticeFollower({
          readBatch: (cursor, limit) => this.#readNotices(space, channel, cursor, limit),
          listener,
          onAdvance: (seq) => {
            this.#cursors.set(space, seq)
            positions.set(space, seq)
            if (positions.size === followers.size) {
              let total = 0
              for (const position of positions.values()) total += position
              options.onPosition?.(total)
            }
          },
          onGap: options.onGap,
          pollInterval: this.#pollInterval,
        }),
      )
    }
    const wakeups = this.#wakeups({
      onMessage: (channel) => followers.get(channel)?.wake(),
      onReady: () => {
        for (const follower of followers.values()) follower.wake()
      },
    })

    try {
      // Where to start is settled on the main client first, which fails fast while Redis is down; the pub/sub
      // connection only wakes the followers, which read from their cursors, so a notice between the two is not lost.
      const starts = await Promise.all(
        this.#spaces.noticeSpaces.map((space) => this.#startCursor(space, options)),
      )
      for (const start of starts) if (start.gap !== null) options.onGap?.(start.gap)
      this.#spaces.noticeSpaces.forEach((space, i) => {
        if (!this.#cursors.has(space)) this.#cursors.set(space, (starts[i] as Start).cursor)
      })
      await wakeups.subscribe([...followers.keys()])
      ;[...followers.values()].forEach((follower, i) => {
        follower.start((starts[i] as Start).cursor)
      })
    } catch (error) {
      wakeups.disconnect()
      throw unavailable('subscribe', error)
    }

    const stop = async (): Promise<void> => {
      if (!this.#subscriptions.has(stop)) return
      this.#subscriptions.delete(stop)
      // Stopped (no read starts) before the listeners go; the reads under way, if any, are awaited after.
      const drained = Promise.all([...followers.values()].map((follower) => follower.stop()))
      await Promise.all([drained, wakeups.close()])
    }
    this.#subscriptions.add(stop)
    return stop
  }

  /** One round trip (`PING`). */
  async ping(): Promise<void> {
    await this.#run('ping', () => this.#client.ping())
  }

  /**
   * Where a subscription starts in one space's stream: after `options.after` (sharded: after this instance's last
   * position in that stream); with `options.since`, after the newest notice the server wrote before that moment
   * (its time is in each entry's `st`; entries from before `st` existed count as older); otherwise where this
   * instance's last subscription stopped, or after the newest notice.
   */
  async #startCursor(space: string, options: SubscribeOptions): Promise<Start> {
    const channel = this.#key(space, 'notices')
    const last = this.#cursors.get(space)
    if (options.after !== undefined) {
      if (this.#spaces.shards === null) return { cursor: options.after, gap: null }
      if (last !== undefined) return { cursor: last, gap: null }
    }
    const head = Number((await this.#send(() => this.#client.get(this.#key(space, 'seq')))) ?? 0)
    if (options.since === undefined) return { cursor: last ?? head, gap: null }
    // The clock of the node that writes this stream's `st` (on a cluster, each master has its own).
    const [seconds, micros] = (await this.#eval('subscribe', SERVER_TIME, space, [])) as [
      string,
      string,
    ]
    const anchor = serverTimeAt(
      options.since,
      Number(seconds) * 1000 + Math.floor(Number(micros) / 1000),
      performance.now(),
    )
    // Newest first, until an entry older than the anchor: the scan is as long as what was written since.
    let end = '+'
    let oldest: number | null = null
    for (;;) {
      const entries = await this.#send(() =>
        this.#client.xrevrange(channel, end, '-', 'COUNT', ANCHOR_SCAN_BATCH),
      )
      for (const [entryId, fields] of entries) {
        const seq = seqOf(entryId)
        const written = fieldOf(fields, 'st')
        if (written === undefined || Number(written) < anchor) {
          return startFromAnchor(seq, null, head)
        }
        // A batch entry holds the notices up to its number: the oldest kept is its first.
        oldest = seq - noticeCount(fields) + 1
      }
      const lastEntry = entries.at(-1)
      if (lastEntry === undefined || entries.length < ANCHOR_SCAN_BATCH) break
      end = `(${lastEntry[0]}`
    }
    return startFromAnchor(null, oldest, head)
  }

  /**
   * Resolves once the listing cleanup this instance runs has stopped: a batch deletion (a big revocation, an
   * expiry sweep) leaves the listing entries of the tokens it deleted for a cleanup that runs, a step at a time,
   * once no deletion of this instance is under way. Listings skip those entries meanwhile; only their memory waits.
   * Useful in tests and benchmarks that inspect Redis's memory or keys right after a revocation.
   */
  async listingCleanupSettled(): Promise<void> {
    await this.#listingCleanup.settled()
  }

  /** Stops every subscription and the listing cleanup and, when the storage created its client, closes it. */
  async close(): Promise<void> {
    await Promise.all([
      ...[...this.#subscriptions].map((stop) => stop()),
      this.#listingCleanup.close(),
    ])
    if (this.#owned && this.#client.status !== 'end') {
      await this.#client.quit().catch(() => {
        this.#client.disconnect()
      })
    }
  }

  /**
   * Runs a batch deletion script (its reply starts with the flat list of deleted tokens and ends with `done`),
   * telling the listing cleanup when it starts and what it queued, so that the cleanup waits for it and begins once
   * a deletion is done.
   */
  async #batchDeletion(
    space: string,
    deletion: RedisScript,
    operation: string,
    args: string[],
  ): Promise<unknown[]> {
    this.#listingCleanup.deletionStarted()
    let queued = false
    let finished = false
    const call = this.#eval(operation, deletion, space, args)
    this.#deletionsInFlight.add(call)
    try {
      const reply = (await call) as unknown[]
      queued = (reply[0] as unknown[]).length > 0
      finished = reply[reply.length - 1] === 1
      const published = reply[reply.length - 2] as number[]
      if (published.length === 2) this.#ownNotices.add(space, published[0] ?? 0, published[1] ?? 0)
      return reply
    } finally {
      this.#deletionsInFlight.delete(call)
      this.#listingCleanup.deletionSettled(space, queued, finished)
    }
  }

  /**
   * Reads at most `limit` entries of `space`'s notice stream (key `channel`) after `cursor`, for a subscription.
   * The ranges this instance's batch deletions wrote (see {@link OwnNoticeRanges}) are not read: each is one
   * skipped entry, as it would be once read (its origin is this instance), and a read stops short of the next.
   * A read that comes back short has read all there is before that range, so the range follows it at once.
   *
   * The wake-up for an entry of this instance's often arrives before the reply of the script that wrote it (they
   * come on different connections), so a read first waits for the batch deletions in flight: without that, about
   * a fifth of this instance's entries were still read back during a big revocation (`bench:million` at 100,000:
   * Redis sent 42.7 MB before this change, 33.3 MB without the wait, 30.6 MB with it).
   */
  async #readNotices(
    space: string,
    channel: string,
    cursor: number,
    limit: number,
  ): Promise<NoticeEntry[]> {
    if (await this.#logStartedOver(space, cursor)) {
      // The own ranges name numbers of the old log; what the new one holds is read from its start.
      this.#ownNotices.forget(space)
      return [
        { seq: 0, notice: null, reset: true },
        ...(await this.#readNotices(space, channel, 0, limit - 1)),
      ]
    }
    // After the check's round trip: a deletion that began meanwhile is waited for too.
    if (this.#deletionsInFlight.size > 0) await Promise.allSettled(this.#deletionsInFlight)
    const read: NoticeEntry[] = []
    let after = cursor
    while (read.length < limit) {
      const own = this.#ownNotices.next(space, after)
      if (own !== undefined && own.first <= after + 1) {
        read.push({ seq: own.last, notice: null, first: after + 1 })
        after = own.last
        continue
      }
      const wanted = limit - read.length
      const end = own === undefined ? '+' : `0-${own.first - 1}`
      const entries = await this.#send(() =>
        this.#client.xrange(channel, `(0-${after}`, end, 'COUNT', wanted),
      )
      for (const [entryId, fields] of entries) {
        const seq = seqOf(entryId)
        readEntry(seq, fields, this.#origin, after, read)
        after = seq
      }
      if (own === undefined || entries.length === wanted) break
      // Numbers before the range that no entry holds were trimmed: the range's entry reports them as lost.
      read.push({ seq: own.last, notice: null, first: own.first })
      after = own.last
    }
    return read
  }

  /**
   * Whether `space`'s notice log started over since this instance last looked (Redis lost its data, or was
   * restored from an older copy): its epoch (see the scripts' key layout) changed or vanished, or its counter went
   * back below `cursor` (a log no notice of this version has marked yet). Numbers at or below the cursor would
   * otherwise hide the new notices from the subscription until the counter passed it.
   */
  async #logStartedOver(space: string, cursor: number): Promise<boolean> {
    const [seq, epoch] = await this.#send(() =>
      this.#client.mget(this.#key(space, 'seq'), this.#key(space, 'epoch')),
    )
    const known = this.#epochs.get(space)
    this.#epochs.set(space, epoch ?? null)
    if (known !== undefined && known !== null && epoch !== known) return true
    return Number(seq ?? 0) < cursor
  }

  /** A deletion script's arguments: the id, reason, now, then this instance's origin and the stream's length. */
  #deletion(id: string, reason: RevokeReason, now: UnixMillis): string[] {
    return [id, reason, String(now), this.#origin, this.#noticeLogLength]
  }

  /** The full name of a key: its space (see {@link KeySpaces}), its kind, and the id it is about. */
  #key(space: string, kind: string, id = ''): string {
    return `${space}${kind}${id}`
  }

  /**
   * Iterates over a key's members in chunks (HSCAN fields, ZSCAN or SSCAN members). Entries may come twice, as
   * SCAN allows; the tidy scripts re-check each, so a repeat repairs nothing twice.
   */
  async *#scan(
    space: string,
    key: string,
    kind: 'hash' | 'zset' | 'set',
  ): AsyncGenerator<string[], void, undefined> {
    let cursor = '0'
    do {
      const [next, reply] = await this.#run('tidy', async () => {
        const count = String(TIDY_BATCH)
        const full = this.#key(space, key)
        if (kind === 'hash') return this.#client.hscan(full, cursor, 'COUNT', count)
        if (kind === 'zset') return this.#client.zscan(full, cursor, 'COUNT', count)
        return this.#client.sscan(full, cursor, 'COUNT', count)
      })
      cursor = next
      // HSCAN and ZSCAN reply with pairs (field and value, member and score): keep the first of each.
      const items = kind === 'hash' || kind === 'zset' ? reply.filter((_, i) => i % 2 === 0) : reply
      if (items.length > 0) yield items
    } while (cursor !== '0')
  }

  /**
   * Iterates over the names of every key under the prefix, in chunks (SCAN; on a cluster, SCAN of every master in
   * turn, since each holds only its own slots). Names may come twice.
   */
  async *#scanKeys(): AsyncGenerator<string[], void, undefined> {
    const nodes = this.#client instanceof Cluster ? this.#client.nodes('master') : [this.#client]
    const pattern = `${globEscape(this.#prefix)}${this.#spaces.shards === null ? '' : '{'}*`
    for (const node of nodes) {
      let cursor = '0'
      do {
        const [next, keys] = await this.#run('tidy', () =>
          node.scan(cursor, 'MATCH', pattern, 'COUNT', String(TIDY_BATCH)),
        )
        cursor = next
        if (keys.length > 0) yield keys
      } while (cursor !== '0')
    }
  }

  /** The token space a key belongs to, or `null` for a key of none (the global space, another prefix's key). */
  #spaceOfKey(key: string): string | null {
    if (!key.startsWith(this.#prefix)) return null
    if (this.#spaces.shards === null) return this.#prefix
    const close = key.indexOf('}', this.#prefix.length)
    const space = close === -1 ? null : key.slice(0, close + 1)
    return space !== null && this.#spaces.tokenSpaces.includes(space) ? space : null
  }

  /**
   * The pub/sub connection a subscription listens on. On a single Redis: a copy of the client that queues commands
   * while reconnecting, and subscribes again by itself. On a `Cluster`: see `cluster-wakeups.ts`.
   */
  #wakeups(handlers: WakeupHandlers): Wakeups {
    if (this.#client instanceof Cluster) return new ClusterWakeups(this.#client, handlers)
    const connection = this.#client.duplicate({
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
      lazyConnect: false,
    })
    connection.on('error', () => undefined)
    connection.on('message', handlers.onMessage)
    connection.on('ready', handlers.onReady)
    return {
      subscribe: async (channels) => {
        await connection.subscribe(...channels)
      },
      close: async () => {
        connection.removeAllListeners('message')
        connection.removeAllListeners('ready')
        await connection.quit().catch(() => {
          connection.disconnect()
        })
      },
      disconnect: () => {
        connection.disconnect()
      },
    }
  }

  /** The soonest `limit` members of every shard's `kind` set due by `now`, merged soonest first. */
  async #listDue(
    operation: string,
    kind: 'exp' | 'lexp',
    now: UnixMillis,
    limit: number,
  ): Promise<string[]> {
    if (!(limit >= 1)) return []
    const count = Math.min(Math.floor(limit), Number.MAX_SAFE_INTEGER)
    const due = (space: string): Promise<string[]> =>
      this.#run(operation, () =>
        this.#client.zrangebyscore(this.#key(space, kind), '-inf', String(now), 'LIMIT', 0, count),
      )
    if (this.#spaces.shards === null) return due(this.#spaces.global)
    const perSpace = await Promise.all(
      this.#spaces.tokenSpaces.map((space) =>
        this.#run(operation, () =>
          this.#client.zrangebyscore(
            this.#key(space, kind),
            '-inf',
            String(now),
            'WITHSCORES',
            'LIMIT',
            0,
            count,
          ),
        ),
      ),
    )
    const scored: { member: string; score: number }[] = []
    for (const reply of perSpace) {
      for (let i = 0; i + 1 < reply.length; i += 2) {
        scored.push({ member: reply[i] as string, score: Number(reply[i + 1]) })
      }
    }
    scored.sort((a, b) => a.score - b.score)
    return scored.slice(0, count).map((entry) => entry.member)
  }

  /**
   * Runs a script in one key space by SHA, loading it on first use (NOSCRIPT), as ioredis's own `defineCommand`
   * does. Sharded, the space's `seq` key is passed as the one declared key, so that a cluster client sends the
   * script to the node serving the space's slot; the scripts compute every key from the space (`ARGV[1]`).
   */
  #eval(operation: string, script: RedisScript, space: string, args: string[]): Promise<unknown> {
    // One promise chain, not three async layers: every use of a token comes through here, and each layer cost a
    // promise and a microtask turn on top of the round trip.
    try {
      const keys = this.#spaces.shards === null ? [] : [this.#key(space, 'seq')]
      const run = (): Promise<unknown> =>
        this.#client.evalsha(script.sha, keys.length, ...keys, space, ...args)
      return this.#send(run).then(undefined, (error: unknown) => {
        if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) {
          throw unavailable(operation, error)
        }
        return this.#send(() =>
          this.#client.eval(script.lua, keys.length, ...keys, space, ...args),
        ).then(undefined, (failure: unknown) => {
          throw unavailable(operation, failure)
        })
      })
    } catch (error) {
      return Promise.reject(unavailable(operation, error))
    }
  }

  async #run<T>(operation: string, call: () => Promise<T>): Promise<T> {
    try {
      return await this.#send(call)
    } catch (error) {
      throw unavailable(operation, error)
    }
  }

  /** Sends a command now: through the cluster's gate on a `Cluster` (see `cluster-gate.ts`). */
  #send<T>(call: () => Promise<T>): Promise<T> {
    return this.#gate === null ? call() : this.#gate.send(call)
  }
}

/** Wraps a driver failure, without the command's arguments (they hold hashed token ids). */
function unavailable(operation: string, error: unknown): TokenStoreError {
  if (error instanceof TokenStoreError) return error
  const cause = error instanceof Error ? error : new Error(String(error))
  if ('command' in cause) {
    const command = (cause as { command?: { name?: unknown } }).command
    Object.defineProperty(cause, 'command', { value: { name: command?.name }, enumerable: true })
  }
  return new TokenStoreError('storage_unavailable', `Redis failed during ${operation}`, { cause })
}

/** A subscription's pub/sub connection, which only wakes its followers (see `RedisStorage.#wakeups`). */
interface Wakeups {
  /** Subscribes to the channels; rejects when it cannot. */
  subscribe(channels: readonly string[]): Promise<void>
  /** Unsubscribes and closes, for a subscription's stop. */
  close(): Promise<void>
  /** Closes at once, after a failed start. */
  disconnect(): void
}

/** Where a subscription starts in one stream, and the notices it knows it lost. */
interface Start {
  readonly cursor: number
  readonly gap: NoticeGap | null
}

/** A deleteSubtree limit as a whole number of at least 1. */
function clampBatch(limit: number): number {
  return Number.isFinite(limit) ? Math.max(1, Math.floor(limit)) : Number.MAX_SAFE_INTEGER
}

/**
 * The lexical ranges of `ls` to read, after the member `after` (none: from the start): every member without a path
 * prefix; with one, the members of the path itself (`<prefix> …`, space sorting below every path character) and
 * then those below it (`<prefix>/…`), skipping the range a cursor has passed.
 */
function pathRanges(prefix: string | undefined, after: string | null): string[] {
  if (prefix === undefined) return [after === null ? '-' : `(${after}`, '+']
  const below = [`[${prefix}/`, `(${prefix}0`]
  if (after === null) return [`[${prefix} `, `(${prefix}!`, ...below]
  if (after.startsWith(`${prefix} `)) return [`(${after}`, `(${prefix}!`, ...below]
  return [`(${after}`, `(${prefix}0`]
}

/** Escapes the glob characters of a key prefix for SCAN's MATCH. */
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`)
}

/** A renewal script's arguments, the same for tokens and leases. */
function renewal(id: string, now: UnixMillis, update: RenewUpdate): string[] {
  return [
    id,
    String(now),
    String(update.expiresAt),
    String(update.ttl),
    String(update.lastRenewalTime),
    String(update.expectedExpiresAt),
  ]
}

function orEmpty(value: number | null): string {
  return value === null ? '' : String(value)
}

function orNull(value: string | null | undefined): string | null {
  return value === '' || value === undefined ? null : value
}

/** Builds a token record from the fields `d p u e t l r` (the record JSON and the fields that change). */
function toToken(reply: unknown): TokenRecord | null {
  if (!Array.isArray(reply)) return null
  const [d, p, u, e, t, l, r] = reply as (string | null)[]
  if (d === null || d === undefined) return null
  // The parsed object is new and ours: its changing fields are overwritten in place rather than copied into a
  // second object (a revocation decodes a million of these).
  const record = JSON.parse(d) as Mutable<TokenRecord>
  const expiresAt = orNull(e)
  const lastRenewalTime = orNull(l)
  record.parent = orNull(p) as HashedTokenId | null
  record.numUses = Number(u)
  record.expiresAt = expiresAt === null ? null : Number(expiresAt)
  record.ttl = Number(t)
  record.lastRenewalTime = lastRenewalTime === null ? null : Number(lastRenewalTime)
  record.revoking = orNull(r) as RevokeReason | null
  return record
}

/**
 * Builds the {@link DeletedToken}s of a batch deletion's reply: per token five values (`id p r a pa`), in one string
 * with a NUL between values. No record JSON to parse, which was most of the decoding cost of a million-token
 * revocation; and one string rather than five values a token, which Redis would convert from Lua one by one. No
 * value holds a NUL: ids are hashes, accessors and paths are checked, reasons are the store's words.
 */
function deletedTokens(joined: string): DeletedToken[] {
  const tokens: DeletedToken[] = []
  if (joined === '') return tokens
  const flat = joined.split('\0')
  for (let i = 0; i + 4 < flat.length; i += 5) {
    tokens.push({
      id: flat[i] as HashedTokenId,
      accessor: flat[i + 3] as DeletedToken['accessor'],
      parent: orNull(flat[i + 1]) as HashedTokenId | null,
      path: flat[i + 4] as string,
      revoking: orNull(flat[i + 2]) as RevokeReason | null,
    })
  }
  return tokens
}

/** `T` with its `readonly` fields writable: for a record this module has just parsed. */
type Mutable<T> = { -readonly [K in keyof T]: T[K] }

/** Builds a lease record from the fields `d e t l`. */
function toLease(reply: unknown): LeaseRecord | null {
  if (!Array.isArray(reply)) return null
  const [d, e, t, l] = reply as (string | null)[]
  if (d === null || d === undefined) return null
  const base = JSON.parse(d) as LeaseRecord
  const lastRenewalTime = orNull(l)
  return {
    ...base,
    expiresAt: Number(e),
    ttl: Number(t),
    lastRenewalTime: lastRenewalTime === null ? null : Number(lastRenewalTime),
  }
}

/** The notice number of a stream entry id (`0-<seq>`). */
function seqOf(entryId: string): number {
  return Number(entryId.slice(entryId.indexOf('-') + 1))
}

/** The value of field `name` in a stream entry's flat field list, if present. */
function fieldOf(fields: string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1]
  return undefined
}

/** How many numbered notices a stream entry holds: `n` for a batch entry, else 1. */
function noticeCount(fields: string[]): number {
  const n = Number(fieldOf(fields, 'n') ?? 1)
  return Number.isSafeInteger(n) && n >= 1 ? n : 1
}

/**
 * Appends the notices of stream entry `seq` numbered after `cursor` to `out`. A batch entry (`k` `batch`, written
 * by a batch deletion) holds `n` notices numbered up to `seq`, listed in `b`: each is read on its own (a
 * subscription may have stopped in the middle of one). This instance's own entries, and one that does not parse,
 * are one skipped entry covering their numbers, so that neither delays the subscription nor counts as a loss.
 */
function readEntry(
  seq: number,
  fields: string[],
  origin: string,
  cursor: number,
  out: NoticeEntry[],
): void {
  const first = Math.max(seq - noticeCount(fields) + 1, cursor + 1)
  if (fieldOf(fields, 'k') !== 'batch') {
    out.push({ seq, notice: readNotice(fields, origin), first })
    return
  }
  const notices = fieldOf(fields, 'o') === origin ? null : readBatch(fields)
  if (notices === null) {
    out.push({ seq, notice: null, first })
    return
  }
  for (let n = first; n <= seq; n++) {
    out.push({ seq: n, notice: notices[notices.length - 1 - (seq - n)] ?? null })
  }
}

/**
 * The notices of a batch entry (its `b`: `['t', reason, accessor, path]` for a token, `['l', reason, lease JSON]`
 * for a lease, all at time `t`), or `null` when they do not parse or their number is not `n`.
 */
function readBatch(fields: string[]): StorageNotice[] | null {
  try {
    const time = Number(fieldOf(fields, 't'))
    const items = JSON.parse(fieldOf(fields, 'b') ?? '') as unknown
    if (!Array.isArray(items) || items.length !== noticeCount(fields)) return null
    return items.map((item: unknown): StorageNotice => {
      const [kind, reason, a, path] = item as [string, RevokeReason, string, string | undefined]
      if (kind === 'l') return leaseNotice(JSON.parse(a) as LeaseRecord, reason, time)
      return { kind: 'token', accessor: a, path: path ?? '', reason, time }
    })
  } catch {
    return null
  }
}

/** The notice of a deleted lease. */
function leaseNotice(lease: LeaseRecord, reason: RevokeReason, time: number): StorageNotice {
  return {
    kind: 'lease',
    leaseId: lease.id,
    accessor: lease.accessor,
    path: lease.path,
    data: lease.data,
    reason,
    time,
  }
}

/**
 * {@link toNotice}, with an entry that does not parse read as `null`: skipped, its number still passed, so that
 * one bad entry cannot hold the subscription at its place in the stream.
 */
function readNotice(fields: string[], origin: string): StorageNotice | null {
  try {
    return toNotice(fields, origin)
  } catch {
    return null
  }
}

/** Builds a notice from a stream entry's fields, or `null` for one written by `origin` itself. */
function toNotice(fields: string[], origin: string): StorageNotice | null {
  const map = new Map<string, string>()
  for (let i = 0; i + 1 < fields.length; i += 2)
    map.set(fields[i] as string, fields[i + 1] as string)
  if (map.get('o') === origin) return null
  const reason = map.get('r') as RevokeReason
  const time = Number(map.get('t'))
  if (map.get('k') === 'policy') return { kind: 'policy', name: map.get('n') ?? '', time }
  if (map.get('k') === 'lease') {
    return leaseNotice(JSON.parse(map.get('d') ?? 'null') as LeaseRecord, reason, time)
  }
  return {
    kind: 'token',
    accessor: map.get('a') ?? '',
    path: map.get('pa') ?? '',
    reason,
    time,
  }
}
