/**
 * `tokentree/redis`: a {@link Storage} on Redis, for services that run several instances over one set of tokens.
 *
 * @packageDocumentation
 * @module tokentree/redis
 */
import { randomUUID } from 'node:crypto'

import { Redis, type RedisOptions } from 'ioredis'

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
  ExpiredSweep,
  SubtreeDeletion,
  TokenListPage,
  TokenListQuery,
} from '../storage.js'
import { decodeCursor, encodeCursor } from '../list-cursor.js'
import { backoffDelay } from '../../backoff.js'
import { NoticeFollower, serverTimeAt, startFromAnchor } from '../notice-follower.js'
import {
  DANGLING_LEASES,
  DELETE_LEASE,
  DELETE_POLICY,
  PUT_POLICY,
  DELETE_SUBTREE,
  SWEEP_EXPIRED,
  DELETE_TOKEN,
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
  TIDY_ACCESSORS,
  TIDY_CHILDREN,
  TIDY_LISTING,
  TIDY_PATH,
  TIDY_SORTED,
  TIDY_TOKEN_LEASES,
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
 * when it returns.
 */
const OWNED_CLIENT_OPTIONS: RedisConnectionOptions = {
  maxRetriesPerRequest: 1,
  commandTimeout: 2000,
  retryStrategy: (attempt) => RECONNECT_FLOOR + backoffDelay(attempt - 1, RECONNECT_BACKOFF),
}

/**
 * ioredis options for the connection `RedisStorage` opens itself. `replyMapping` is left out: the storage reads
 * replies in the default (RESP2) shape.
 */
export type RedisConnectionOptions = Omit<RedisOptions, 'replyMapping'>

/** Options of {@link RedisStorage}. */
export interface RedisStorageOptions {
  /**
   * An ioredis client to use, with the default reply shape (RESP2). The storage never closes it (close it yourself after `storage.close()`), and
   * subscriptions open a `duplicate()` of it. Give it `maxRetriesPerRequest` and `commandTimeout` (or
   * `enableOfflineQueue: false`) so that calls fail fast with `storage_unavailable` while Redis is down.
   */
  readonly client?: Redis
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
 * Needs Redis 6.2 or later, as a single server (or primary with replicas): the scripts walk ancestors through keys
 * they discover, which Redis Cluster does not allow.
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
  readonly #client: Redis
  readonly #owned: boolean
  readonly #prefix: string
  readonly #noticeLogLength: string
  readonly #pollInterval: number
  /** Marks this instance's notices, so that its own subscriptions skip them. */
  readonly #origin = randomUUID()
  /** The number of the last notice a subscription of this instance read, kept across subscriptions. */
  #cursor: number | null = null
  readonly #subscriptions = new Set<() => Promise<void>>()

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
    if (options.client !== undefined) {
      this.#client = options.client
      this.#owned = false
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
  }

  /** The key prefix this storage writes under. */
  get keyPrefix(): string {
    return this.#prefix
  }

  async insertToken(record: TokenRecord, creator?: HashedTokenId): Promise<InsertResult> {
    return (await this.#eval('insertToken', INSERT_TOKEN, [
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
      creator ?? '',
    ])) as InsertResult
  }

  async getToken(id: HashedTokenId): Promise<TokenRecord | null> {
    const fields = await this.#run('getToken', () =>
      this.#client.hmget(this.#key('t:', id), ...TOKEN_FIELDS),
    )
    return toToken(fields)
  }

  async getTokenByAccessor(accessor: Accessor): Promise<TokenRecord | null> {
    return toToken(await this.#eval('getTokenByAccessor', GET_BY_ACCESSOR, [accessor]))
  }

  async getLiveToken(id: HashedTokenId, now: UnixMillis): Promise<TokenRecord | null> {
    return toToken(await this.#eval('getLiveToken', GET_LIVE_TOKEN, [id, String(now)]))
  }

  async useToken(id: HashedTokenId, now: UnixMillis): Promise<TokenRecord | null> {
    return toToken(await this.#eval('useToken', USE_TOKEN, [id, String(now)]))
  }

  async renewToken(
    id: HashedTokenId,
    now: UnixMillis,
    update: RenewUpdate,
  ): Promise<TokenRecord | null> {
    return toToken(await this.#eval('renewToken', RENEW_TOKEN, renewal(id, now, update)))
  }

  async markRevoking(
    id: HashedTokenId,
    reason: RevokeReason,
    expiredAt?: UnixMillis,
  ): Promise<TokenRecord | null> {
    return toToken(
      await this.#eval('markRevoking', MARK_REVOKING, [
        id,
        reason,
        expiredAt === undefined ? '' : String(expiredAt),
      ]),
    )
  }

  async listChildren(id: HashedTokenId): Promise<HashedTokenId[]> {
    return (await this.#run('listChildren', () =>
      this.#client.smembers(this.#key('c:', id)),
    )) as HashedTokenId[]
  }

  async orphanChildren(id: HashedTokenId, now: UnixMillis): Promise<number | null> {
    const count = await this.#eval('orphanChildren', ORPHAN_CHILDREN, [id, String(now)])
    return count === null ? null : Number(count)
  }

  async deleteToken(
    id: HashedTokenId,
    reason: RevokeReason,
    now: UnixMillis,
  ): Promise<TokenRecord | null> {
    return toToken(await this.#eval('deleteToken', DELETE_TOKEN, this.#deletion(id, reason, now)))
  }

  async findByPathPrefix(prefix: string): Promise<HashedTokenId[]> {
    return (await this.#eval('findByPathPrefix', FIND_BY_PATH_PREFIX, [prefix])) as HashedTokenId[]
  }

  /**
   * Reads up to `limit` members of a sorted set in lexical order, from the member after the cursor, and returns
   * the live tokens among them that pass the filters, in one script. Without `parent`, the set is `ls` (every
   * token as `<path> <accessor>`): a path prefix is two ranges of it (the path itself, then `<prefix>/…`), so
   * only matching tokens are read. With `parent`, the set is the parent's `pc:<id>` (its children's accessors),
   * and a path prefix is tested on each. The metadata filter is tested on each token read (a scan of the range).
   */
  async listTokens(query: TokenListQuery): Promise<TokenListPage> {
    const limit = clampBatch(query.limit)
    const byParent = query.parent !== undefined
    const tag = byParent ? PARENT_ORDER : PATH_ORDER
    const after = query.cursor === null ? null : (decodeCursor(query.cursor, tag, 1)[0] as string)
    const ranges = byParent
      ? [after === null ? '-' : `(${after}`, '+']
      : pathRanges(query.pathPrefix, after)
    const reply = (await this.#eval('listTokens', LIST_TOKENS, [
      byParent ? `pc:${query.parent}` : 'ls',
      query.parent ?? '',
      query.pathPrefix ?? '',
      query.metadata === undefined ? '' : JSON.stringify(query.metadata),
      String(query.now),
      String(limit),
      ...ranges,
    ])) as [string, string, unknown[]]
    return {
      records: reply[2].map((fields) => toToken(fields) as TokenRecord),
      cursor: Number(reply[0]) < limit ? null : encodeCursor(tag, [reply[1]]),
    }
  }

  async listExpiredTokens(now: UnixMillis, limit: number): Promise<HashedTokenId[]> {
    return (await this.#listDue('listExpiredTokens', 'exp', now, limit)) as HashedTokenId[]
  }

  async nextExpiry(): Promise<UnixMillis | null> {
    const results = await this.#run('nextExpiry', () =>
      this.#client
        .pipeline()
        .zrange(this.#key('exp'), 0, '0', 'WITHSCORES')
        .zrange(this.#key('lexp'), 0, '0', 'WITHSCORES')
        .exec(),
    )
    let next: number | null = null
    for (const [error, reply] of results ?? []) {
      if (error) throw unavailable('nextExpiry', error)
      const score = (reply as string[])[1]
      if (score !== undefined) next = next === null ? Number(score) : Math.min(next, Number(score))
    }
    return next
  }

  async insertLease(lease: LeaseRecord, now: UnixMillis): Promise<InsertLeaseResult> {
    return (await this.#eval('insertLease', INSERT_LEASE, [
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
      this.#client.hmget(this.#key('l:', id), 'd', 'e', 't', 'l'),
    )
    return toLease(fields)
  }

  async renewLease(id: LeaseId, now: UnixMillis, update: RenewUpdate): Promise<LeaseRecord | null> {
    return toLease(await this.#eval('renewLease', RENEW_LEASE, renewal(id, now, update)))
  }

  async deleteLease(
    id: LeaseId,
    reason: RevokeReason,
    now: UnixMillis,
  ): Promise<LeaseRecord | null> {
    return toLease(await this.#eval('deleteLease', DELETE_LEASE, this.#deletion(id, reason, now)))
  }

  async listLeases(token: HashedTokenId): Promise<LeaseId[]> {
    return this.#run('listLeases', () => this.#client.smembers(this.#key('tl:', token)))
  }

  async findLeasesByPrefix(prefix: string): Promise<LeaseId[]> {
    return this.#run('findLeasesByPrefix', () =>
      prefix === ''
        ? this.#client.zrangebylex(this.#key('lids'), '-', '+')
        : this.#client.zrangebylex(this.#key('lids'), `[${prefix}/`, `(${prefix}0`),
    )
  }

  async listExpiredLeases(now: UnixMillis, limit: number): Promise<LeaseId[]> {
    return this.#listDue('listExpiredLeases', 'lexp', now, limit)
  }

  async listRevoking(limit: number): Promise<HashedTokenId[]> {
    if (!(limit >= 1)) return []
    const stop = Math.min(Math.floor(limit), Number.MAX_SAFE_INTEGER) - 1
    return (await this.#run('listRevoking', () =>
      this.#client.zrange(this.#key('rv'), 0, String(stop)),
    )) as HashedTokenId[]
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
    const reply = (await this.#eval('deleteSubtree', DELETE_SUBTREE, [
      topId,
      reason,
      String(now),
      String(clampBatch(limit)),
      this.#origin,
      this.#noticeLogLength,
    ])) as [unknown[], unknown[], number]
    return {
      tokens: reply[0].map((fields) => toToken(fields) as TokenRecord),
      leases: reply[1].map((fields) => toLease(fields) as LeaseRecord),
      done: reply[2] === 1,
    }
  }

  /**
   * Deletes expired tokens without children and marks those with children, up to `limit` per call: one Lua script,
   * so one round trip per batch.
   */
  async sweepExpired(now: UnixMillis, limit: number): Promise<ExpiredSweep> {
    const reply = (await this.#eval('sweepExpired', SWEEP_EXPIRED, [
      String(now),
      String(clampBatch(limit)),
      this.#origin,
      this.#noticeLogLength,
    ])) as [unknown[], unknown[], unknown[], number]
    return {
      tokens: reply[0].map((fields) => toToken(fields) as TokenRecord),
      leases: reply[1].map((fields) => toLease(fields) as LeaseRecord),
      marked: reply[2].map((fields) => toToken(fields) as TokenRecord),
      done: reply[3] === 1,
    }
  }

  async putRole(role: TokenRole): Promise<void> {
    await this.#run('putRole', () =>
      this.#client.hset(this.#key('roles'), role.name, JSON.stringify(role)),
    )
  }

  async getRole(name: string): Promise<TokenRole | null> {
    const json = await this.#run('getRole', () => this.#client.hget(this.#key('roles'), name))
    return json === null ? null : (JSON.parse(json) as TokenRole)
  }

  async listRoles(): Promise<string[]> {
    return (await this.#run('listRoles', () => this.#client.hkeys(this.#key('roles')))).sort()
  }

  async deleteRole(name: string): Promise<boolean> {
    return (await this.#run('deleteRole', () => this.#client.hdel(this.#key('roles'), name))) > 0
  }

  async putPolicy(name: string, text: string, now: UnixMillis): Promise<void> {
    await this.#eval('putPolicy', PUT_POLICY, [
      name,
      text,
      String(now),
      this.#origin,
      this.#noticeLogLength,
    ])
  }

  async getPolicy(name: string): Promise<string | null> {
    return this.#run('getPolicy', () => this.#client.hget(this.#key('policies'), name))
  }

  async listPolicies(): Promise<string[]> {
    return (await this.#run('listPolicies', () => this.#client.hkeys(this.#key('policies')))).sort()
  }

  async deletePolicy(name: string, now: UnixMillis): Promise<boolean> {
    const args = [name, String(now), this.#origin, this.#noticeLogLength]
    return (await this.#eval('deletePolicy', DELETE_POLICY, args)) === 1
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
    const run = async (script: RedisScript, args: string[]): Promise<unknown> =>
      this.#eval('tidy', script, args)
    for await (const chunk of this.#scan('acc', 'hash')) {
      indexEntriesRemoved += Number(await run(TIDY_ACCESSORS, chunk))
    }
    for await (const paths of this.#scan('paths', 'zset')) {
      for (const path of paths) {
        let checked = false
        for await (const ids of this.#scan(`p:${path}`, 'set')) {
          indexEntriesRemoved += Number(await run(TIDY_PATH, [path, ...ids]))
          checked = true
        }
        // An empty set yields no chunk: the script still drops the path from `paths`.
        if (!checked) indexEntriesRemoved += Number(await run(TIDY_PATH, [path]))
      }
    }
    for await (const members of this.#scan('ls', 'zset')) {
      indexEntriesRemoved += Number(await run(TIDY_LISTING, ['ls', ...members]))
    }
    for (const set of ['exp', 'rv', 'lexp', 'lids']) {
      for await (const ids of this.#scan(set, 'zset')) {
        indexEntriesRemoved += Number(await run(TIDY_SORTED, [set, ...ids]))
      }
    }
    const leaseIds = new Set<LeaseId>()
    const children = this.#key('c:')
    const tokenLeases = this.#key('tl:')
    const leaseKeys = this.#key('l:')
    const listedChildren = this.#key('pc:')
    for await (const keys of this.#scan(null, 'keys')) {
      for (const key of keys) {
        if (key.startsWith(listedChildren)) {
          const index = key.slice(this.#prefix.length)
          for await (const members of this.#scan(index, 'zset')) {
            indexEntriesRemoved += Number(await run(TIDY_LISTING, [index, ...members]))
          }
        } else if (key.startsWith(children)) {
          const parent = key.slice(children.length)
          for await (const ids of this.#scan(`c:${parent}`, 'set')) {
            const [removed, orphaned] = (await run(TIDY_CHILDREN, [parent, ...ids])) as number[]
            indexEntriesRemoved += Number(removed)
            childrenOrphaned += Number(orphaned)
          }
        } else if (key.startsWith(tokenLeases)) {
          const token = key.slice(tokenLeases.length)
          for await (const ids of this.#scan(`tl:${token}`, 'set')) {
            indexEntriesRemoved += Number(await run(TIDY_TOKEN_LEASES, [token, ...ids]))
          }
        } else if (key.startsWith(leaseKeys)) {
          leaseIds.add(key.slice(leaseKeys.length))
        }
      }
    }
    const danglingLeases: LeaseId[] = []
    const all = [...leaseIds]
    for (let i = 0; i < all.length; i += TIDY_BATCH) {
      const found = (await run(DANGLING_LEASES, all.slice(i, i + TIDY_BATCH))) as LeaseId[]
      danglingLeases.push(...found)
    }
    return { indexEntriesRemoved, childrenOrphaned, danglingLeases }
  }

  /**
   * Calls `listener` for each token or lease that another `RedisStorage` (same Redis, same key prefix) deletes,
   * once each and in order. Listens on its own connection (a `duplicate()` of the client); after a disconnection,
   * and when this instance subscribes again after stopping, it reads what it missed from the notice stream.
   *
   * @throws `TokenStoreError` `storage_unavailable` when Redis cannot be reached to start listening.
   */
  async subscribe(
    listener: (notice: StorageNotice) => void,
    options: SubscribeOptions = {},
  ): Promise<() => Promise<void>> {
    const channel = this.#key('notices')
    const subscriber = this.#client.duplicate({
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
      lazyConnect: false,
    })
    subscriber.on('error', () => undefined)
    const follower = new NoticeFollower({
      readBatch: async (cursor, limit) => {
        const entries = await this.#client.xrange(channel, `(0-${cursor}`, '+', 'COUNT', limit)
        return entries.map(([entryId, fields]) => ({
          seq: seqOf(entryId),
          notice: readNotice(fields, this.#origin),
        }))
      },
      listener,
      onAdvance: (seq) => {
        this.#cursor = seq
        options.onPosition?.(seq)
      },
      onGap: options.onGap,
      pollInterval: this.#pollInterval,
    })

    try {
      subscriber.on('message', follower.wake)
      subscriber.on('ready', follower.wake)
      // Where to start is settled on the main client first, which fails fast while Redis is down; the pub/sub
      // connection only wakes the follower, which reads from its cursor, so a notice between the two is not lost.
      const start = await this.#startCursor(channel, options)
      if (start.gap !== null) options.onGap?.(start.gap)
      this.#cursor ??= start.cursor
      await subscriber.subscribe(channel)
      follower.start(start.cursor)
    } catch (error) {
      subscriber.disconnect()
      throw unavailable('subscribe', error)
    }

    const stop = async (): Promise<void> => {
      if (follower.stopped) return
      this.#subscriptions.delete(stop)
      // Stopped (no read starts) before the listeners go; the read under way, if any, is awaited after.
      const drained = follower.stop()
      subscriber.removeAllListeners('message')
      subscriber.removeAllListeners('ready')
      await drained
      await subscriber.quit().catch(() => {
        subscriber.disconnect()
      })
    }
    this.#subscriptions.add(stop)
    return stop
  }

  /** One round trip (`PING`). */
  async ping(): Promise<void> {
    await this.#run('ping', () => this.#client.ping())
  }

  /**
   * Where a subscription starts: after `options.after`; with `options.since`, after the newest notice the server
   * wrote before that moment (its time is in each entry's `st`; entries from before `st` existed count as older);
   * otherwise where this instance's last subscription stopped, or after the newest notice.
   */
  async #startCursor(
    channel: string,
    options: SubscribeOptions,
  ): Promise<{ cursor: number; gap: NoticeGap | null }> {
    if (options.after !== undefined) return { cursor: options.after, gap: null }
    const head = Number((await this.#client.get(this.#key('seq'))) ?? 0)
    if (options.since === undefined) return { cursor: this.#cursor ?? head, gap: null }
    const [seconds, micros] = await this.#client.time()
    const anchor = serverTimeAt(
      options.since,
      Number(seconds) * 1000 + Math.floor(Number(micros) / 1000),
      performance.now(),
    )
    // Newest first, until an entry older than the anchor: the scan is as long as what was written since.
    let end = '+'
    let oldest: number | null = null
    for (;;) {
      const entries = await this.#client.xrevrange(channel, end, '-', 'COUNT', ANCHOR_SCAN_BATCH)
      for (const [entryId, fields] of entries) {
        const seq = seqOf(entryId)
        const written = fieldOf(fields, 'st')
        if (written === undefined || Number(written) < anchor) {
          return startFromAnchor(seq, null, head)
        }
        oldest = seq
      }
      const last = entries.at(-1)
      if (last === undefined || entries.length < ANCHOR_SCAN_BATCH) break
      end = `(${last[0]}`
    }
    return startFromAnchor(null, oldest, head)
  }

  /** Stops every subscription and, when the storage created its client, closes it. */
  async close(): Promise<void> {
    await Promise.all([...this.#subscriptions].map((stop) => stop()))
    if (this.#owned && this.#client.status !== 'end') {
      await this.#client.quit().catch(() => {
        this.#client.disconnect()
      })
    }
  }

  /** A deletion script's arguments: the id, reason, now, then this instance's origin and the stream's length. */
  #deletion(id: string, reason: RevokeReason, now: UnixMillis): string[] {
    return [id, reason, String(now), this.#origin, this.#noticeLogLength]
  }

  #key(kind: string, id = ''): string {
    return `${this.#prefix}${kind}${id}`
  }

  /**
   * Iterates over a key's members in chunks (HSCAN fields, ZSCAN or SSCAN members), or with `key` null over the
   * names of every key under the prefix (SCAN). Entries may come twice, as SCAN allows; the tidy scripts re-check
   * each, so a repeat repairs nothing twice.
   */
  async *#scan(
    key: string | null,
    kind: 'hash' | 'zset' | 'set' | 'keys',
  ): AsyncGenerator<string[], void, undefined> {
    let cursor = '0'
    do {
      const [next, reply] = await this.#run('tidy', async () => {
        const count = String(TIDY_BATCH)
        if (key === null) {
          return this.#client.scan(cursor, 'MATCH', `${globEscape(this.#prefix)}*`, 'COUNT', count)
        }
        const full = this.#key(key)
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

  async #listDue(
    operation: string,
    kind: 'exp' | 'lexp',
    now: UnixMillis,
    limit: number,
  ): Promise<string[]> {
    if (!(limit >= 1)) return []
    const count = Math.min(Math.floor(limit), Number.MAX_SAFE_INTEGER)
    return this.#run(operation, () =>
      this.#client.zrangebyscore(this.#key(kind), '-inf', String(now), 'LIMIT', 0, count),
    )
  }

  /** Runs a script by SHA, loading it on first use (NOSCRIPT), as ioredis's own `defineCommand` does. */
  async #eval(operation: string, script: RedisScript, args: string[]): Promise<unknown> {
    return this.#run(operation, async () => {
      try {
        return await this.#client.evalsha(script.sha, 0, this.#prefix, ...args)
      } catch (error) {
        if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error
        return await this.#client.eval(script.lua, 0, this.#prefix, ...args)
      }
    })
  }

  async #run<T>(operation: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call()
    } catch (error) {
      throw unavailable(operation, error)
    }
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
  const base = JSON.parse(d) as TokenRecord
  const expiresAt = orNull(e)
  const lastRenewalTime = orNull(l)
  return {
    ...base,
    parent: orNull(p) as HashedTokenId | null,
    numUses: Number(u),
    expiresAt: expiresAt === null ? null : Number(expiresAt),
    ttl: Number(t),
    lastRenewalTime: lastRenewalTime === null ? null : Number(lastRenewalTime),
    revoking: orNull(r) as RevokeReason | null,
  }
}

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
    const lease = JSON.parse(map.get('d') ?? 'null') as LeaseRecord
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
  return {
    kind: 'token',
    accessor: map.get('a') ?? '',
    path: map.get('pa') ?? '',
    reason,
    time,
  }
}
