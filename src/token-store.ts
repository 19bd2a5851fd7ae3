/**
 * TokenStore: Vault's token store over a pluggable storage. Each public method validates its input, calls storage
 * in atomic steps, and emits events only after the writes they report.
 */
import { EventEmitter } from 'eventemitter3'

import {
  checkPath,
  readAccessRequest,
  refusal,
  type AccessRequest,
  type AuthorizeOptions,
} from './access.js'
import type { CapabilityName } from './acl/types.js'
import type { Acl } from './acl/acl.js'
import { MAX_BATCH_TOKEN_LENGTH, isBatchToken, type BatchEntry } from './batch.js'
import { planCreation, type CreationPlan } from './creation-rules.js'
import { newAccessor, newTokenId } from './crypto.js'
import { treeShardsOf, type TreeShards } from './tree-shard.js'
import { parseDuration } from './duration.js'
import { emitIsolated } from './emit.js'
import { TokenStoreError, invalidRequest, readInput } from './errors.js'
import type { AuditEvent, AuditOperation, RevokedEvent, TokenStoreEvents } from './events.js'
import {
  RESPONSE_WRAPPING_POLICY,
  WrappingCodec,
  isWrappingRecord,
  normalizeWrapOptions,
  type WrapInfo,
  type WrapOptions,
  type WrappingLookup,
} from './wrapping.js'
import { publishNotice, traceSweep } from './background-channels.js'
import { ExpiryScheduler, REAL_TIMERS, type Timers } from './expiration.js'
import { InFlight } from './in-flight.js'
import { BACKGROUND_FAILED, checkLogger, log, subscriptionLogging, type Logger } from './logger.js'
import {
  leaseKeys,
  normalizeListOptions,
  readListPage,
  storageFilters,
  type TokenList,
  type TokenListOptions,
} from './listing.js'
import {
  newLeaseId,
  normalizeLeaseOptions,
  type CreateLeaseOptions,
  type LeaseGrant,
  type LeaseInfo,
} from './lease.js'
import {
  MAX_TOKEN_LENGTH,
  checkString,
  normalizeCreateOptions,
  normalizePath,
  normalizeRootOptions,
  readStoreOptions,
  type CreateRootOptions,
  type CreateTokenOptions,
  type StoreSettings,
  type TokenStoreOptions,
} from './options.js'
import { ROOT_POLICY, intern, isRoot } from './policies.js'
import { PolicyCache, type PolicyEntry } from './policy-store.js'
import { SecretRing } from './secrets.js'
import { batchInfo, toAuth, toDetails, toInfo, toLeaseGrant, toLeaseInfo } from './results.js'
import { checkRoleName, normalizeRole, type TokenRole, type TokenRoleOptions } from './roles.js'
import {
  finishRevocation,
  revokeTrees,
  type RevocationCount,
  type RevocationSink,
} from './revoke.js'
import { sweepExpiredTokens } from './sweep.js'
import { yieldToEventLoop } from './yield.js'
import { RevocationSubscription, type SubscriptionState } from './revocation-subscription.js'
import { MemoryStorage, useTokenNowOrLater } from './storage/memory.js'
import type { RevocationNotice, Storage } from './storage/storage.js'
import { startTrace, type OperationTrace } from './tracing.js'
import { creationTtl, renewalTtl } from './ttl.js'
import type {
  Accessor,
  Duration,
  HashedTokenId,
  LeaseId,
  LeaseRecord,
  RevokeReason,
  TokenAuth,
  TokenDetails,
  TokenInfo,
  TokenRecord,
  UnixMillis,
} from './types.js'

/** `store.roles`: token roles, kept in the store's storage (`auth/token/roles/:name`). */
export interface TokenRoles {
  /**
   * Creates or replaces a role.
   * @throws {@link TokenStoreError} `invalid_request` for a malformed name or option, or a storage without roles.
   */
  write(name: string, options?: TokenRoleOptions): Promise<TokenRole>
  /** The role, or `null`. */
  read(name: string): Promise<TokenRole | null>
  /** Every role's name, sorted. */
  list(): Promise<string[]>
  /** Deletes a role; tokens created against it stay, but can no longer be renewed. Unknown names are a no-op. */
  delete(name: string): Promise<void>
}

/** `store.policies`: Vault's ACL policies, kept in the store's storage (`sys/policy/:name`). */
export interface TokenPolicies {
  /**
   * Creates or replaces a policy from HCL or JSON text, or a plain object in Vault's JSON shape. It is parsed and
   * checked first: a malformed policy changes nothing. Takes effect at once here, and in other instances sharing
   * the storage as soon as they receive the change notice.
   * @throws {@link TokenStoreError} `invalid_request` for a malformed name or policy, `root`, or a storage without
   * policies.
   */
  write(name: string, policy: string | object): Promise<PolicyEntry>
  /** The policy (`root` and `default` included: `default` as written, or Vault's text), or `null`. */
  read(name: string): Promise<PolicyEntry | null>
  /** Every policy's name, sorted, `root` and `default` included. */
  list(): Promise<string[]>
  /**
   * Deletes a policy; tokens keep its name, which then grants nothing. Unknown names are a no-op.
   * @throws {@link TokenStoreError} `invalid_request` for `root` or `default`, which cannot be deleted.
   */
  delete(name: string): Promise<void>
}

/** What `tidy()` repaired. */
export interface TidyReport {
  /** Index entries removed because their token or lease was gone. */
  readonly indexEntriesRemoved: number
  /** Children of vanished parents made orphans, as Vault's tidy does. */
  readonly childrenOrphaned: number
  /** Leases whose token was gone, revoked with their `revoked` events (reason `parent`). */
  readonly leasesRevoked: number
  /** Revocations cut off half-way, finished. */
  readonly revocationsFinished: number
}

/** The storage methods roles need, once checked to be there. */
type RoleStorage = Required<Pick<Storage, 'putRole' | 'getRole' | 'listRoles' | 'deleteRole'>>

/** The result of `renewAccessor`: a renewal's lease, without the token id an accessor holder must not learn. */
export type AccessorAuth = Omit<TokenAuth, 'clientToken'>

/** Path of tokens created by `createRoot`, as Vault's bootstrap root token. */
const ROOT_TOKEN_PATH = 'auth/token/root'
/** The policies of every wrapping token. */
const WRAPPING_POLICIES: readonly string[] = intern([RESPONSE_WRAPPING_POLICY])
/** How many expired tokens or leases one storage call lists during a sweep. */
const SWEEP_BATCH = 1000
/** Marked tokens listed per storage call when finishing cut-off revocations: a page, never every mark at once. */
const CUT_OFF_PAGE = 100
/** Attempts at drawing an accessor or lease id that is not taken (a clash needs a 144-bit collision). */
const ID_ATTEMPTS = 3
/** Scans of a prefix during `revokePrefix`, each catching what was created during the one before. */
const PREFIX_SCANS = 5
/** The hashed id `ping()` looks up on storage without `ping`: no keyed hash has this form. */
const PING_ID = 'tokentree-ping' as HashedTokenId
/** Attempts at a renewal that keeps meeting concurrent renewals of the same token or lease. */
const RENEW_ATTEMPTS = 5
/** Longest lease id accepted as an argument: a path plus a suffix. */
const MAX_LEASE_ID_LENGTH = 1024

/** The accessor of the token an operation acted on, filled in as soon as it is known; when the operation began. */
interface AuditContext {
  accessor: Accessor | null
  /** The clock when the operation began: the `audit` event's time, and `now` for the hot paths (one clock read). */
  readonly started: UnixMillis
}

/** A new token's fields that `#insert` does not derive itself. */
type NewTokenFields = Pick<
  TokenRecord,
  | 'parent'
  | 'policies'
  | 'path'
  | 'metadata'
  | 'displayName'
  | 'numUses'
  | 'ttl'
  | 'explicitMaxTtl'
  | 'period'
  | 'renewable'
  | 'role'
  | 'wrapped'
>

/**
 * `store.authenticate(token)` for tokentree's own middleware: the `TokenInfo` itself, not a promise, when the
 * storage answers synchronously (MemoryStorage); else the promise `authenticate` returns. Synchronous failures are
 * thrown (a `TokenStoreError`). The use, the audit event and the trace are those of `authenticate`, and so is every
 * guarantee: only the promise hops between the request and `next()` are gone.
 *
 * A subclass that overrides `authenticate`, or an instance whose `authenticate` is patched (a spy), gets its own
 * `authenticate` called, so the middleware never bypasses it.
 *
 * @internal
 */
export let authenticateNow: (store: TokenStore, token: string) => TokenInfo | Promise<TokenInfo>

/**
 * A Vault-style token store: opaque tokens with policies, metadata, use limits and TTLs, organised in trees so that
 * revoking a token revokes everything issued under it, including the leases (secrets) issued under them.
 *
 * Events: `audit` for every operation, `revoked` for every revoked token and lease, `error` for a failing listener
 * or background task (see {@link TokenStoreEvents}). Expired tokens and leases are revoked on their own by a timer
 * aimed at the next expiry; call {@link TokenStore.close} when done with the store.
 *
 * @example Issue, use and revoke a token tree
 * ```ts
 * import { TokenStore } from 'tokentree'
 *
 * const store = new TokenStore()
 * const root = await store.createRoot()
 * const ci = await store.create({ parent: root.clientToken, policies: ['deploy'], ttl: '1h' })
 * const job = await store.create({ parent: ci.clientToken, numUses: 1 })
 * await store.authenticate(job.clientToken) // ok, and the token is gone
 * await store.revoke(ci.clientToken) // ci and everything under it
 * await store.close()
 * ```
 */
export class TokenStore extends EventEmitter<TokenStoreEvents> {
  readonly #storage: Storage
  readonly #clock: () => UnixMillis
  readonly #secrets: SecretRing
  /** Mints ids that carry their tree's shard, for a storage with tree shards (Redis Cluster); else `null`. */
  readonly #shards: TreeShards | null
  readonly #settings: StoreSettings
  readonly #wrapping: WrappingCodec
  readonly #scheduler: ExpiryScheduler | null
  readonly #timers: Timers | null
  readonly #revocations: RevocationSubscription
  readonly #policyCache: PolicyCache
  readonly #logger: Logger | undefined
  /** Operations under way, which `close()` waits for. */
  readonly #inFlight = new InFlight()
  #closing: Promise<void> | null = null

  /**
   * @throws {@link TokenStoreError} `invalid_request` when an option is malformed (or reading it throws), or when
   * the storage is shared (`storage.shared`) and no `secret` is given.
   */
  constructor(options: TokenStoreOptions = {}) {
    super()
    const input = readInput(() => readStoreOptions(options))
    this.#settings = input.settings
    this.#logger = readInput(() => checkLogger(options.logger))
    this.#storage = input.storage ?? new MemoryStorage()
    this.#policyCache = PolicyCache.for(this.#storage)
    this.#clock = input.clock
    this.#shards = readInput(() => treeShardsOf(this.#storage))
    this.#secrets = new SecretRing(input.secrets, this.#shards !== null)
    this.#wrapping = new WrappingCodec(input.secrets)
    const timers = input.timers ?? REAL_TIMERS
    this.#timers = timers === false ? null : timers
    this.#scheduler =
      timers === false
        ? null
        : new ExpiryScheduler(
            timers,
            this.#clock,
            (due) => this.#sweep(due),
            (error) => {
              this.#backgroundFailed(error)
            },
          )
    this.#revocations = new RevocationSubscription(this.#storage, this.#timers, {
      notice: (notice) => {
        if (notice.kind === 'policy') {
          publishNotice(this, notice, null, this.#clock)
          this.#policyCache.invalidate(notice.name)
        } else {
          const event = fromNotice(notice)
          publishNotice(this, notice, event, this.#clock)
          this.#emitRevoked(event)
        }
      },
      // Policies compiled before the subscription began, or before notices were lost, may have changed unnoticed.
      started: () => {
        this.#policyCache.invalidateAll()
      },
      gap: () => {
        this.#policyCache.invalidateAll()
      },
      failed: (error) => {
        this.#backgroundFailed(error)
      },
      ...(this.#logger && subscriptionLogging(this.#logger)),
    })
    if (this.#scheduler !== null && input.storage !== undefined) this.#aimAtStoredExpiry()
  }

  /** The storage this store keeps its tokens in. */
  get storage(): Storage {
    return this.#storage
  }

  /**
   * Where the subscription to the notices of other instances stands (see {@link SubscriptionState}): `subscribed`
   * while this store hears of revocations made elsewhere, `unsupported` for storage that is not shared. For health
   * checks and the `tokentree.subscription.up` gauge of `tokentree/otel`; `ready()` waits for `subscribed`. The
   * Redis and PostgreSQL adapters reconnect by themselves and catch up from their notice log, so a brief outage
   * leaves it `subscribed`; notices lost meanwhile are reported as an `error` event.
   */
  get subscriptionState(): SubscriptionState {
    return this.#revocations.state
  }

  /**
   * Creates a root token, like the one `vault server -dev` prints: policies `['root']`, no expiry, no parent, path
   * `auth/token/root`. Guard it: it can do anything.
   *
   * @throws {@link TokenStoreError} `invalid_request` for malformed options, `conflict` when `id` exists.
   */
  async createRoot(options: CreateRootOptions = {}): Promise<TokenAuth> {
    return this.#audited('createRoot', async (audit) => {
      const request = readInput(() => normalizeRootOptions(options))
      const fields: NewTokenFields = {
        parent: null,
        policies: intern([ROOT_POLICY]),
        path: ROOT_TOKEN_PATH,
        metadata: request.metadata,
        displayName: request.displayName,
        numUses: 0,
        ttl: 0,
        explicitMaxTtl: 0,
        period: 0,
        renewable: false,
      }
      return this.#insert(audit, request.id, this.#clock(), fields, [])
    })
  }

  /**
   * Creates a token. With `parent`, it is a child of that token and Vault's rules apply: policies default to the
   * parent's and must be a subset of them unless the parent holds `root`; `noParent`, `id` and `period` need a
   * `root` parent; a limited-use parent cannot create children. Without `parent`, the host issues it, as an auth
   * method would: an orphan with exactly the policies given, plus `default` unless `noDefaultPolicy`.
   *
   * Creating never uses one of the parent's uses.
   *
   * @throws {@link TokenStoreError} `invalid_request` for malformed options; `invalid_token` when `parent` is not
   * a live token; `permission_denied` when the parent may not grant what is asked; `conflict` when `id` exists.
   */
  async create(options: CreateTokenOptions = {}): Promise<TokenAuth> {
    return this.#audited('create', async (audit) => {
      const request = readInput(() => normalizeCreateOptions(options))
      const now = this.#clock()
      const role = request.role === null ? null : await this.#roleFor(request.role)
      const parent = request.parent === null ? null : await this.#liveParent(request.parent, now)
      const plan = planCreation(request, parent, role)
      const { ttl, explicitMaxTtl, warnings } = creationTtl(
        {
          ttl: request.ttl,
          explicitMaxTtl: plan.explicitMaxTtl,
          period: plan.period,
          root: isRoot(plan.policies),
        },
        this.#settings,
      )
      if (ttl === 0 && parent !== null && parent.expiresAt !== null) {
        throw new TokenStoreError(
          'permission_denied',
          'An expiring root token cannot create a non-expiring root token',
        )
      }
      const allWarnings = [...plan.warnings, ...warnings]
      if (plan.type === 'batch')
        return this.#sealBatch(plan, request.metadata, request.displayName, ttl, now, allWarnings)
      const fields: NewTokenFields = {
        parent: plan.parent,
        policies: plan.policies,
        path: plan.path,
        metadata: request.metadata,
        displayName: request.displayName,
        numUses: plan.numUses,
        ttl,
        explicitMaxTtl,
        period: plan.period,
        // A token that never expires has nothing to renew.
        renewable: ttl > 0 && plan.renewable,
        ...(role === null ? {} : { role: role.name }),
      }
      // An orphan made by a parent (noParent, an orphan role) still used the parent's authority: the insert checks
      // that no revocation of the parent has begun meanwhile.
      const creator = parent !== null && plan.parent === null ? parent.id : undefined
      return this.#insert(audit, request.id, now, fields, allWarnings, creator)
    })
  }

  /**
   * Looks a token up without using it: never consumes a use. Resolves to `null` when the token is unknown,
   * expired, revoked, used up, or under an expired or revoked ancestor.
   *
   * @throws {@link TokenStoreError} `invalid_request` when `token` is not a string.
   */
  async lookup(token: string): Promise<TokenInfo | null> {
    return this.#audited('lookup', (audit) => this.#peek(audit, token))
  }

  /**
   * Looks a token up by accessor. The result has no `id`: an accessor holder must not learn the token.
   *
   * @throws {@link TokenStoreError} `invalid_request` when `accessor` is not a string.
   */
  async lookupAccessor(accessor: Accessor): Promise<TokenDetails | null> {
    return this.#audited('lookupAccessor', async (audit) => {
      const now = this.#clock()
      const record = await this.#liveByAccessor(checkString(accessor, 'accessor'), now)
      if (record === null) return null
      audit.accessor = record.accessor
      return toDetails(record, now)
    })
  }

  /**
   * Lists live tokens, a page at a time, without their ids: a user's active keys (`metadata: { user: 'ada' }`),
   * everything under one parent, or everything below a path. Never spends a use; tokens being revoked, expired,
   * or under a revoked or expired ancestor are left out.
   *
   * Costs: `parent`/`parentAccessor` and `path` are indexed (a page reads only matching tokens); `metadata` scans
   * the tokens the other filters select, as does `path` together with `parent` (see {@link TokenListOptions}).
   * A page can hold fewer than `limit` tokens, even none, before the end: only `cursor: null` ends a listing.
   *
   * @example A user's active keys
   * ```ts
   * let cursor: string | null = null
   * do {
   *   const page = await store.list({ metadata: { user: 'ada' }, cursor })
   *   for (const key of page.tokens) console.log(key.accessor, key.displayName, key.expireTime)
   *   cursor = page.cursor
   * } while (cursor !== null)
   * ```
   *
   * @throws {@link TokenStoreError} `invalid_request` for malformed options or a foreign cursor, or when the
   * storage cannot list; `storage_unavailable`.
   */
  async list(options?: TokenListOptions): Promise<TokenList> {
    return this.#audited('list', async () => {
      const request = readInput(() => normalizeListOptions(options))
      const listTokens = this.#storage.listTokens?.bind(this.#storage)
      if (listTokens === undefined) throw invalidRequest('This storage does not support list()')
      const now = this.#clock()
      let parent: HashedTokenId | undefined
      if (request.parentToken !== undefined) {
        // Batch tokens have no children; a parent issued under an older secret is found under it.
        const record = isBatchToken(request.parentToken)
          ? null
          : await this.#resolve(request.parentToken, 'parentToken', (id) =>
              this.#storage.getToken(id),
            )
        if (record === null) return { tokens: [], cursor: null }
        parent = record.id
      } else if (request.parentAccessor !== undefined) {
        const record = await this.#storage.getTokenByAccessor(request.parentAccessor)
        if (record === null) return { tokens: [], cursor: null }
        parent = record.id
      }
      const page = await readListPage(listTokens, storageFilters(request, parent), request, now)
      return { tokens: page.records.map((record) => toDetails(record, now)), cursor: page.cursor }
    })
  }

  /**
   * Lists lease ids below a prefix as Vault's `LIST sys/leases/lookup/:prefix` does: the next path segment of each
   * (`'aws/creds'` → `['deploy/']`, `'aws/creds/deploy'` → the leases' suffixes), folders ending with `/`, sorted.
   * With `''` (the default), the top-level segments. Reads every lease id below the prefix (an index range).
   *
   * @throws {@link TokenStoreError} `invalid_request` when `prefix` is not a path.
   */
  async listLeaseKeys(prefix = ''): Promise<string[]> {
    return this.#audited('listLeaseKeys', async () => {
      const text = checkString(prefix, 'prefix').replace(/\/+$/, '')
      const path = text === '' ? '' : normalizePath(text, 'prefix')
      return leaseKeys(await this.#storage.findLeasesByPrefix(path), path)
    })
  }

  /**
   * Validates a token presented with a request and uses one of its uses: call it once per request. The last use
   * succeeds, then revokes the token before the promise resolves. Exactly `numUses` calls succeed, however many
   * run at once.
   *
   * @throws {@link TokenStoreError} `invalid_token` when the token is unknown, expired, revoked, used up, or under
   * an expired or revoked ancestor; `invalid_request` when `token` is not a string.
   */
  authenticate(token: string): Promise<TokenInfo> {
    // Not `async`: returning #audited's promise from an async function would wrap it in one more promise.
    return this.#audited('authenticate', (audit) => this.#use(audit, token))
  }

  static {
    // tokentree's middleware reaches the synchronous answer through `authenticateNow`, and only through it.
    authenticateNow = (store, token) =>
      #audit in store && store.authenticate === OWN_AUTHENTICATE
        ? store.#auditedNow('authenticate', (audit) => store.#use(audit, token))
        : Promise.resolve(store.authenticate(token))
  }

  /**
   * The per-request entry point when policies decide: authenticates the token (one use, as `authenticate`) and
   * checks its policies' ACL for the request, in one call. A refused request still spends its use, as in Vault.
   * The ACL of each distinct set of policies is compiled once per instance, never per request.
   *
   * @example
   * ```ts
   * const info = await store.authorize(token, { path: 'apps/billing/deploy', operation: 'update' })
   * ```
   * @throws {@link TokenStoreError} `permission_denied` when the policies do not allow it (or `sudo` was asked and
   * is not granted); `invalid_token` as `authenticate`; `invalid_request` for a malformed request (nothing spent).
   */
  authorize(token: string, request: AuthorizeOptions): Promise<TokenInfo> {
    // Not `async`, as authenticate: an async function would wrap #audited's promise in one more.
    return this.#audited('authorize', (audit) =>
      // Checked before the use is spent; a malformed request changes nothing.
      this.#use(audit, token, readAccessRequest(request)),
    )
  }

  /**
   * What the token may do on `path`: the sorted capability names of the rule that applies (`['deny']` when none
   * does), or `['root']` for a root token, as Vault's `sys/capabilities` answers. Spends no use.
   *
   * @throws {@link TokenStoreError} `invalid_token` when the token is not live; `invalid_request` for a malformed
   * argument.
   */
  async capabilities(token: string, path: string): Promise<CapabilityName[]> {
    return this.#audited('capabilities', async (audit) => {
      const where = readInput(() => checkPath(path))
      const info = await this.#peek(audit, token)
      if (info === null) throw invalidToken()
      return (await this.#policyCache.acl(info.policies)).capabilities(where)
    })
  }

  /**
   * `capabilities`, for the token with this accessor.
   *
   * @throws {@link TokenStoreError} `invalid_token` when no live token has this accessor; `invalid_request` for a
   * malformed argument.
   */
  async capabilitiesAccessor(accessor: Accessor, path: string): Promise<CapabilityName[]> {
    return this.#audited('capabilitiesAccessor', async (audit) => {
      const where = readInput(() => checkPath(path))
      const record = await this.#liveByAccessor(checkString(accessor, 'accessor'), this.#clock())
      if (record === null) throw invalidToken('No live token has this accessor')
      audit.accessor = record.accessor
      return (await this.#policyCache.acl(record.policies)).capabilities(where)
    })
  }

  /**
   * Renews a token: its new expiry is now + `increment` (or, without one, the TTL granted last), capped so that it
   * never outlives `explicitMaxTtl` or the store's `maxTtl` from its creation. A periodic token's TTL resets to its
   * period. Renewing never uses a use.
   *
   * @param increment - The TTL asked for, in seconds or as a duration string. It may be shortened.
   * @throws {@link TokenStoreError} `invalid_token` when the token is not live; `not_renewable` when it was created
   * non-renewable, never expires, or is past its max TTL; `invalid_request` for a malformed increment.
   */
  async renew(token: string, increment?: Duration): Promise<TokenAuth> {
    return this.#audited('renew', async (audit) => {
      const seconds = increment === undefined ? 0 : parseDuration(increment, 'increment')
      if (isBatchToken(checkString(token, 'token'))) {
        throw new TokenStoreError('not_renewable', 'Batch tokens cannot be renewed')
      }
      const now = this.#clock()
      const record = await this.#resolve(token, 'token', (id) =>
        this.#storage.getLiveToken(id, now),
      )
      if (record === null) throw invalidToken()
      audit.accessor = record.accessor
      const { renewed, warnings } = await this.#renewToken(record, seconds, now)
      return toAuth(renewed, token, warnings)
    })
  }

  /**
   * Renews a token by accessor, as `renew` does. The result has no `clientToken`.
   *
   * @throws {@link TokenStoreError} as `renew`.
   */
  async renewAccessor(accessor: Accessor, increment?: Duration): Promise<AccessorAuth> {
    return this.#audited('renewAccessor', async (audit) => {
      const seconds = increment === undefined ? 0 : parseDuration(increment, 'increment')
      const now = this.#clock()
      const record = await this.#liveByAccessor(checkString(accessor, 'accessor'), now)
      if (record === null) throw invalidToken()
      audit.accessor = record.accessor
      const { renewed, warnings } = await this.#renewToken(record, seconds, now)
      const { clientToken, ...auth } = toAuth(renewed, '', warnings)
      return auth
    })
  }

  /**
   * Revokes a token, its whole subtree, and every lease issued under them. The subtree is unusable from the first
   * storage write; tokens are deleted children first. An unknown token is a no-op, as in Vault.
   *
   * @throws {@link TokenStoreError} `invalid_request` when `token` is not a string.
   */
  async revoke(token: string): Promise<void> {
    await this.#audited('revoke', async (audit) => {
      const record = await this.#storedToken(token)
      if (record === null) return
      audit.accessor = record.accessor
      await this.#revokeTrees([record.id], 'explicit')
    })
  }

  /**
   * Revokes a token and its leases but not its children: its direct children become orphans and keep working. An
   * unknown token is a no-op.
   *
   * @throws {@link TokenStoreError} `invalid_request` when `token` is not a string.
   */
  async revokeOrphan(token: string): Promise<void> {
    await this.#audited('revokeOrphan', async (audit) => {
      const record = await this.#storedToken(token)
      if (record === null) return
      audit.accessor = record.accessor
      const marked = await this.#storage.markRevoking(record.id, 'orphan')
      if (marked !== null) await this.#finish(marked, this.#clock())
    })
  }

  /**
   * Revokes the token with this accessor, its subtree and their leases. An unknown accessor is a no-op.
   *
   * @throws {@link TokenStoreError} `invalid_request` when `accessor` is not a string.
   */
  async revokeAccessor(accessor: Accessor): Promise<void> {
    await this.#audited('revokeAccessor', async (audit) => {
      const record = await this.#storage.getTokenByAccessor(checkString(accessor, 'accessor'))
      if (record === null) return
      audit.accessor = record.accessor
      await this.#revokeTrees([record.id], 'explicit')
    })
  }

  /**
   * Vault's break-glass procedure: revokes every token whose source path is `prefix` or lies below it
   * (`auth/github` matches `auth/github/login`, not `auth/github-old/login`), with their subtrees and leases, and
   * every lease whose id lies below `prefix` (`aws` revokes every AWS lease).
   *
   * Tokens created meanwhile from a matched token's authority (orphans made with `noParent`) are caught by
   * scanning again, up to five times. If new ones still appear after that (a holder minting orphans in a chain,
   * each from the last, faster than a scan runs), everything found is revoked and the call rejects with `conflict`:
   * tokens under the prefix are still live. Stop what is creating them, then call it again.
   *
   * @returns How many tokens and leases were revoked, descendants included.
   * @throws {@link TokenStoreError} `invalid_request` when `prefix` is not a path; `conflict` when tokens under it
   * were still being created after the last scan (what was found is revoked).
   */
  async revokePrefix(prefix: string): Promise<number> {
    return this.#audited('revokePrefix', async () => {
      const path = normalizePath(prefix, 'prefix')
      const now = this.#clock()
      const { marked, stillAppearing } = await this.#markPrefix(path)
      const count = await revokeTrees(this.#storage, marked, 'prefix', now, this.#sink)
      for (const leaseId of await this.#storage.findLeasesByPrefix(path)) {
        if (await this.#deleteLease(leaseId, 'prefix', now)) count.leases += 1
      }
      if (stillAppearing > 0) {
        throw new TokenStoreError(
          'conflict',
          `Tokens under '${path}' were still being created after ${PREFIX_SCANS + 1} scans: ` +
            `${count.tokens + count.leases} tokens and leases were revoked, ${stillAppearing} found by the ` +
            'last scan were not. Revoke what is creating them, then call revokePrefix again',
        )
      }
      return count.tokens + count.leases
    })
  }

  /**
   * Revokes every token and lease that has expired, with their subtrees and leases, and finishes revocations that
   * were cut off half-way. The expiration manager calls this on its own; call it by hand when `timers` is `false`.
   *
   * @returns How many tokens and leases expired on their own (descendants revoked with them are not counted).
   */
  async revokeExpired(): Promise<number> {
    return this.#audited('revokeExpired', async () => this.#revokeExpired())
  }

  /**
   * Records that the host issued a secret (say, an AWS key) under a live token, so that revoking the token, any
   * way, revokes the lease and tells the host through a `revoked` event carrying the lease's `data`. Does not use
   * one of the token's uses.
   *
   * @throws {@link TokenStoreError} `invalid_token` when the token is not live (a token is gone after its last
   * use); `invalid_request` for malformed options.
   */
  async createLease(token: string, options: CreateLeaseOptions): Promise<LeaseGrant> {
    return this.#audited('createLease', async (audit) => {
      const request = readInput(() => normalizeLeaseOptions(options))
      const now = this.#clock()
      const owner = await this.#leaseOwner(token, now)
      audit.accessor = owner.accessor
      const { ttl, warnings } = creationTtl(
        { ttl: request.ttl, explicitMaxTtl: 0, period: 0, root: false },
        this.#settings,
      )
      for (let attempt = 1; ; attempt++) {
        const lease: LeaseRecord = {
          id: this.#shards?.leaseId(request.path, owner.id) ?? newLeaseId(request.path),
          token: owner.id,
          accessor: owner.accessor,
          path: request.path,
          data: request.data,
          issueTime: now,
          ttl,
          expiresAt: now + ttl * 1000,
          renewable: request.renewable,
          lastRenewalTime: null,
        }
        const result = await this.#storage.insertLease(lease, now)
        switch (result) {
          case 'inserted':
            this.#scheduler?.expiresAt(lease.expiresAt)
            return toLeaseGrant(lease, warnings)
          case 'token_gone':
            throw invalidToken()
          case 'id_exists':
            if (attempt >= ID_ATTEMPTS)
              throw new TokenStoreError('conflict', 'Could not draw an unused lease id')
        }
      }
    })
  }

  /**
   * Looks a lease up. Resolves to `null` when it is unknown, expired, or its token is no longer live. Never
   * returns the lease's `data`.
   *
   * @throws {@link TokenStoreError} `invalid_request` when `leaseId` is not a string.
   */
  async lookupLease(leaseId: LeaseId): Promise<LeaseInfo | null> {
    return this.#audited('lookupLease', async (audit) => {
      const now = this.#clock()
      const lease = await this.#liveLease(leaseId, now)
      if (lease === null) return null
      audit.accessor = lease.accessor
      return toLeaseInfo(lease, now)
    })
  }

  /**
   * Renews a lease: its new expiry is now + `increment` (or, without one, the TTL granted last), capped by the
   * store's `maxTtl` from its issue time.
   *
   * @throws {@link TokenStoreError} `invalid_request` when the lease is unknown, expired, or its token is gone, or
   * for a malformed increment; `not_renewable` when it was issued non-renewable or is past its max TTL.
   */
  async renewLease(leaseId: LeaseId, increment?: Duration): Promise<LeaseGrant> {
    return this.#audited('renewLease', async (audit) => {
      const seconds = increment === undefined ? 0 : parseDuration(increment, 'increment')
      const now = this.#clock()
      const lease = await this.#liveLease(leaseId, now)
      if (lease === null) throw leaseNotFound()
      audit.accessor = lease.accessor
      for (let current = lease, attempt = 1; ; attempt++) {
        if (!current.renewable) {
          throw new TokenStoreError('not_renewable', 'The lease was issued non-renewable')
        }
        const { ttl, warnings } = renewalTtl(
          { ttl: current.ttl, period: 0, explicitMaxTtl: 0, creationTime: current.issueTime },
          seconds,
          now,
          this.#settings,
        )
        const expiresAt = now + ttl * 1000
        const update = {
          expectedExpiresAt: current.expiresAt,
          expiresAt,
          ttl,
          lastRenewalTime: now,
        }
        const renewed = await this.#storage.renewLease(current.id, now, update)
        if (renewed !== null) {
          this.#scheduler?.expiresAt(expiresAt)
          return toLeaseGrant(renewed, warnings)
        }
        // As for tokens: gone meanwhile, or renewed by someone else and to be recomputed.
        const fresh = await this.#liveLease(current.id, now)
        if (fresh === null) throw leaseNotFound()
        if (attempt >= RENEW_ATTEMPTS) throw renewedConcurrently()
        current = fresh
      }
    })
  }

  /**
   * Revokes one lease, emitting its `revoked` event with reason `explicit`. An unknown lease is a no-op.
   *
   * @throws {@link TokenStoreError} `invalid_request` when `leaseId` is not a string.
   */
  async revokeLease(leaseId: LeaseId): Promise<void> {
    await this.#audited('revokeLease', async () => {
      const id = checkString(leaseId, 'leaseId')
      if (id.length <= MAX_LEASE_ID_LENGTH) await this.#deleteLease(id, 'explicit', this.#clock())
    })
  }

  /**
   * Token roles, kept in the store's storage. `create({ role })` creates tokens against one.
   *
   * @example
   * ```ts
   * await store.roles.write('ci', { allowedPolicies: ['deploy'], orphan: true, tokenPeriod: '1h' })
   * const { clientToken } = await store.create({ parent: admin, role: 'ci' })
   * ```
   */
  readonly roles: TokenRoles = {
    write: (name, options = {}) =>
      this.#audited('roles.write', async () => {
        const role = readInput(() => normalizeRole(checkRoleName(name), options))
        await this.#roleStorage().putRole(role)
        return role
      }),
    read: (name) =>
      this.#audited('roles.read', async () => this.#roleStorage().getRole(checkRoleName(name))),
    list: () => this.#audited('roles.list', async () => this.#roleStorage().listRoles()),
    delete: (name) =>
      this.#audited('roles.delete', async () => {
        await this.#roleStorage().deleteRole(checkRoleName(name))
      }),
  }

  /**
   * Vault's ACL policies, kept in the store's storage: what the policy names on tokens mean to
   * {@link TokenStore.authorize} and {@link TokenStore.capabilities}. `root` and `default` are built in.
   *
   * @example
   * ```ts
   * await store.policies.write('deploy', 'path "apps/+/deploy" { capabilities = ["update"] }')
   * const ci = await store.create({ policies: ['deploy'] })
   * await store.authorize(ci.clientToken, { path: 'apps/billing/deploy', operation: 'update' })
   * ```
   */
  readonly policies: TokenPolicies = {
    write: (name, policy) =>
      this.#audited('policies.write', () => this.#policyCache.write(name, policy, this.#clock())),
    read: (name) => this.#audited('policies.read', () => this.#policyCache.read(name)),
    list: () => this.#audited('policies.list', () => this.#policyCache.list()),
    delete: (name) =>
      this.#audited('policies.delete', () => this.#policyCache.delete(name, this.#clock())),
  }

  /**
   * Repairs what a crash can leave behind, safely while the store serves: index entries whose token is gone are
   * removed, children of vanished parents become orphans (as in Vault), leases whose token is gone are revoked
   * with their events, and revocations cut off half-way are finished.
   *
   * @throws {@link TokenStoreError} `invalid_request` when the storage cannot tidy; `storage_unavailable`.
   */
  async tidy(): Promise<TidyReport> {
    return this.#audited('tidy', async () => {
      if (this.#storage.tidy === undefined)
        throw invalidRequest('This storage does not support tidy()')
      const revocationsFinished = await this.#finishCutOffRevocations()
      const result = await this.#storage.tidy()
      let leasesRevoked = 0
      for (const leaseId of result.danglingLeases) {
        if (await this.#deleteLease(leaseId, 'parent', this.#clock())) leasesRevoked += 1
      }
      return {
        indexEntriesRemoved: result.indexEntriesRemoved,
        childrenOrphaned: result.childrenOrphaned,
        leasesRevoked,
        revocationsFinished,
      }
    })
  }

  /**
   * Response wrapping (Vault's `sys/wrapping/wrap`): holds `payload` for a new wrapping token and returns only that
   * token's details. The token is single-use, an orphan, non-renewable, with the policy `response-wrapping` and a
   * TTL of `options.ttl`; whoever presents it first to {@link TokenStore.unwrap} gets `payload`, once. Everything
   * that ends a token ends the held value with it: revocation (by token or accessor), expiry, `revokePrefix` on its
   * creation path. The value is stored sealed (AES-256-GCM) under a key derived from the store's secret and the
   * wrapping token id, so neither the storage nor anyone with the store's secret alone can read it.
   *
   * Hand the token to the recipient by a separate channel; if it arrives used or fails {@link
   * TokenStore.lookupWrapping}, someone else unwrapped it first: treat that as an incident.
   *
   * @param payload - Any JSON-serialisable value, up to 1 MiB as JSON.
   * @throws {@link TokenStoreError} `invalid_request` for a value that is not JSON, a TTL outside 1 s to 32 days,
   * or a malformed `creationPath`.
   *
   * @example Hand a child token to a CI job
   * ```ts
   * const child = await store.create({ parent: deployer, policies: ['deploy'], ttl: '1h', numUses: 10 })
   * const wrap = await store.wrap({ token: child.clientToken }, { ttl: '5m', wrappedAccessor: child.accessor })
   * startJob({ env: { VAULT_WRAPPED_TOKEN: wrap.token } }) // the job: (await store.unwrap(wrapped)).token
   * ```
   */
  async wrap(payload: unknown, options: WrapOptions): Promise<WrapInfo> {
    return this.#audited('wrap', async (audit) => {
      const request = readInput(() => normalizeWrapOptions(payload, options))
      return this.#hold(
        audit,
        request.plaintext,
        request.ttl,
        request.creationPath,
        request.wrappedAccessor,
      )
    })
  }

  /**
   * Hands out the value held for a wrapping token, exactly once: of any number of concurrent calls, one resolves
   * and the others reject. The wrapping token is spent and deleted with the value before this resolves (should the
   * deletion fail, the token is already unusable, and the next sweep deletes it; the failure goes to `error`).
   *
   * @throws {@link TokenStoreError} `invalid_token` when the token is not a live wrapping token (unknown, expired,
   * revoked, already unwrapped, or an ordinary token, whose uses are left untouched); `invalid_request` when it is
   * not a string.
   */
  async unwrap(wrappingToken: string): Promise<unknown> {
    return this.#audited('unwrap', async (audit) => {
      const now = this.#clock()
      const record = await this.#liveWrapping(wrappingToken, now)
      if (record === null) throw invalidWrappingToken()
      audit.accessor = record.accessor
      const used = await this.#storage.useToken(record.id, now)
      // Null: another unwrap (or a revocation) got there first.
      if (used === null || !isWrappingRecord(used)) throw invalidWrappingToken()
      const plaintext = this.#wrapping.open(used.wrapped, wrappingToken, used.id)
      if (used.revoking !== null) {
        await this.#finish(used, now).catch((error: unknown) => {
          this.#backgroundFailed(error)
        })
      }
      if (plaintext === null) {
        throw invalidToken('The wrapped value could not be opened: sealed under another secret')
      }
      return JSON.parse(plaintext) as unknown
    })
  }

  /**
   * Vault's `sys/wrapping/lookup`: when a live wrapping token was created, with which TTL and for which path,
   * without spending its use. Resolves to `null` for anything but a live wrapping token.
   *
   * @throws {@link TokenStoreError} `invalid_request` when `wrappingToken` is not a string.
   */
  async lookupWrapping(wrappingToken: string): Promise<WrappingLookup | null> {
    return this.#audited('lookupWrapping', async (audit) => {
      const record = await this.#liveWrapping(wrappingToken, this.#clock())
      if (record === null) return null
      audit.accessor = record.accessor
      return {
        creationTtl: record.creationTtl,
        creationTime: new Date(record.creationTime),
        creationPath: record.path,
      }
    })
  }

  /**
   * Vault's `sys/wrapping/rewrap`: moves the held value to a new wrapping token with the same creation TTL and
   * path, and invalidates the old one, for values kept wrapped for long under a rotation rule. Atomic in effect: the
   * new token is written first and deleted again if the old one turns out to be used meanwhile, so a concurrent
   * unwrap and rewrap never both succeed.
   *
   * @throws {@link TokenStoreError} `invalid_token` when the token is not a live wrapping token; `invalid_request`
   * when it is not a string.
   */
  async rewrap(wrappingToken: string): Promise<WrapInfo> {
    return this.#audited('rewrap', async (audit) => {
      const now = this.#clock()
      const record = await this.#liveWrapping(wrappingToken, now)
      if (record === null) throw invalidWrappingToken()
      const plaintext = this.#wrapping.open(record.wrapped, wrappingToken, record.id)
      if (plaintext === null) {
        throw invalidToken('The wrapped value could not be opened: sealed under another secret')
      }
      const info = await this.#hold(audit, plaintext, record.creationTtl, record.path, null)
      const used = await this.#storage.useToken(record.id, now)
      if (used === null) {
        await this.#revokeTrees([this.#secrets.hash(info.token)], 'explicit')
        throw invalidWrappingToken()
      }
      if (used.revoking !== null) await this.#finish(used, now)
      return info
    })
  }

  /**
   * Stops the expiration manager's timer and the subscription to other instances' revocations, and waits for every
   * operation already under way (a sweep, a revocation walking a big tree, a request's `authenticate`) to settle,
   * so that each revocation it finishes has emitted its `revoked` events by the time this resolves. Operations
   * called after `close()` still run, but are not waited for: stop the callers first (close the HTTP server, see
   * `closeGracefully`). Tokens stay in storage; a storage passed in the options is not closed: close it yourself,
   * after this resolves. Calling it again returns the same promise.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close()
    return this.#closing
  }

  async #close(): Promise<void> {
    const drained = this.#inFlight.drain()
    await this.#scheduler?.close()
    await this.#revocations.close()
    await drained
  }

  /**
   * Resolves once this store follows the revocations other instances write to a shared storage (Redis, PostgreSQL),
   * so that every one of them reaches `revoked`; at once for storage that is not shared. The subscription starts
   * with the store and, while storage is unreachable, is retried in the background; whenever it comes up, it
   * delivers every revocation written since the store was created. Call it at start-up to fail fast, or in a
   * readiness probe. Starts no timer.
   *
   * @throws {@link TokenStoreError} `storage_unavailable` when the subscription cannot start yet (it is attempted
   * again at once by this call, and in the background after), or when the store is closed;
   * `storage_misconfigured` when the storage is not set up (a PostgreSQL schema that `migrate()` never ran).
   */
  async ready(): Promise<void> {
    await this.#revocations.ready()
  }

  /**
   * One round trip to the storage: resolves when it answers. For health checks (the Vault API's `sys/health` uses
   * it). Storage without a `ping` method is asked for a token that does not exist.
   *
   * @throws {@link TokenStoreError} `storage_unavailable` when the storage does not answer;
   * `storage_misconfigured` when it answers but cannot serve (a PostgreSQL schema that `migrate()` never ran).
   */
  async ping(): Promise<void> {
    try {
      if (this.#storage.ping !== undefined) await this.#storage.ping()
      else await this.#storage.getToken(PING_ID)
    } catch (cause) {
      if (cause instanceof TokenStoreError) throw cause
      throw new TokenStoreError('storage_unavailable', 'The token storage did not answer', {
        cause,
      })
    }
  }

  /** Creates a wrapping token holding `plaintext`, sealed for that token. */
  async #hold(
    audit: AuditContext,
    plaintext: string,
    ttl: number,
    creationPath: string,
    wrappedAccessor: Accessor | null,
  ): Promise<WrapInfo> {
    const now = this.#clock()
    const token = this.#shards?.tokenId(this.#shards.shardFor(null)) ?? newTokenId()
    const fields: NewTokenFields = {
      parent: null,
      policies: WRAPPING_POLICIES,
      path: creationPath,
      metadata: {},
      displayName: '',
      numUses: 1,
      ttl,
      explicitMaxTtl: ttl,
      period: 0,
      renewable: false,
      wrapped: this.#wrapping.seal(plaintext, token, this.#secrets.hash(token)),
    }
    const auth = await this.#insert(audit, token, now, fields, [])
    const info: WrapInfo = {
      token,
      accessor: auth.accessor,
      ttl,
      creationTime: new Date(now),
      creationPath,
    }
    return wrappedAccessor === null ? info : { ...info, wrappedAccessor }
  }

  /** The record of a live wrapping token, or `null` (nothing spent). */
  async #liveWrapping(
    token: string,
    now: UnixMillis,
  ): Promise<(TokenRecord & { readonly wrapped: string }) | null> {
    if (isBatchToken(checkString(token, 'token'))) return null
    const record = await this.#resolve(token, 'token', (id) => this.#storage.getLiveToken(id, now))
    return record !== null && isWrappingRecord(record) ? record : null
  }

  async #insert(
    audit: AuditContext,
    customId: string | null,
    now: UnixMillis,
    fields: NewTokenFields,
    warnings: readonly string[],
    creator?: HashedTokenId,
  ): Promise<TokenAuth> {
    if (customId !== null && fields.parent !== null && this.#shards !== null) {
      // A lookup finds a token's shard from its id alone, and a custom id cannot be made to name its parent's.
      throw new TokenStoreError(
        'invalid_request',
        'On storage with tree shards (Redis Cluster) a custom `id` is only for a token without a parent: add `noParent: true`',
      )
    }
    const token =
      customId ?? this.#shards?.tokenId(this.#shards.shardFor(fields.parent)) ?? newTokenId()
    // A custom id taken under an older secret is taken: the same id must not name two tokens.
    if (
      customId !== null &&
      (await this.#resolveOlder(customId, (old) => this.#storage.getToken(old))) !== null
    ) {
      throw new TokenStoreError('conflict', 'A token with this id already exists')
    }
    const id = this.#secrets.hash(token)
    for (let attempt = 1; ; attempt++) {
      const record = newRecord(id, this.#shards?.accessor(id) ?? newAccessor(), fields, now)
      const result = await this.#storage.insertToken(record, creator)
      switch (result) {
        case 'inserted':
          audit.accessor = record.accessor
          if (record.expiresAt !== null) this.#scheduler?.expiresAt(record.expiresAt)
          return toAuth(record, token, warnings)
        case 'id_exists':
          throw new TokenStoreError('conflict', 'A token with this id already exists')
        case 'parent_gone':
          throw invalidToken('The parent token was revoked while the child was being created')
        case 'accessor_exists':
          if (attempt >= ID_ATTEMPTS)
            throw new TokenStoreError('conflict', 'Could not draw an unused accessor')
      }
    }
  }

  /**
   * Renews a live token: the new TTL is computed from the record as read, and written only if no other renewal
   * changed it meanwhile; otherwise it is recomputed from the fresh record, so no renewal's answer is lost.
   */
  async #renewToken(
    record: TokenRecord,
    increment: number,
    now: UnixMillis,
  ): Promise<{ renewed: TokenRecord; warnings: string[] }> {
    for (let current = record, attempt = 1; ; attempt++) {
      if (current.expiresAt === null) {
        throw new TokenStoreError(
          'not_renewable',
          'The token never expires, so it cannot be renewed',
        )
      }
      if (!current.renewable) {
        throw new TokenStoreError('not_renewable', 'The token was created non-renewable')
      }
      const limits =
        current.role === undefined ? current : await this.#currentRoleLimits(current, current.role)
      const { ttl, warnings } = renewalTtl(limits, increment, now, this.#settings)
      const expiresAt = now + ttl * 1000
      const update = { expectedExpiresAt: current.expiresAt, expiresAt, ttl, lastRenewalTime: now }
      const renewed = await this.#storage.renewToken(current.id, now, update)
      if (renewed !== null) {
        this.#scheduler?.expiresAt(expiresAt)
        return { renewed, warnings }
      }
      // Revoked or expired meanwhile, or renewed by someone else: then start again from what they wrote.
      const fresh = await this.#storage.getLiveToken(current.id, now)
      if (fresh === null) throw invalidToken()
      if (attempt >= RENEW_ATTEMPTS) throw renewedConcurrently()
      current = fresh
    }
  }

  /** `lookup`'s work: the token's info if it is live, without using it. */
  async #peek(audit: AuditContext, token: string): Promise<TokenInfo | null> {
    const now = this.#clock()
    if (isBatchToken(checkString(token, 'token'))) {
      const entry = await this.#liveBatch(token, now)
      return entry === null ? null : batchInfo(entry, token, now)
    }
    const record = await this.#resolve(token, 'token', (id) => this.#storage.getLiveToken(id, now))
    if (record === null) return null
    audit.accessor = record.accessor
    return toInfo(record, token, now)
  }

  /**
   * `authenticate`'s work: validates the token and uses one of its uses; with `access`, `authorize`'s too: then
   * checks the token's ACL, after the use is spent. Promise chains rather than `async`: this is the hot path, and
   * each async function layer cost a tenth of the call; a service token costs the storage read and one step.
   */
  #use(audit: AuditContext, token: string, access?: AccessRequest): TokenInfo | Promise<TokenInfo> {
    const now = audit.started
    if (isBatchToken(checkString(token, 'token'))) {
      const info = this.#useBatch(token, now)
      if (access === undefined) return info
      return info instanceof Promise
        ? info.then((found) => this.#permit(found, access))
        : this.#permit(info, access)
    }
    // Synchronous when the storage answers synchronously (MemoryStorage): see `useTokenNowOrLater`.
    const record = this.#resolve(token, 'token', (id) => useTokenNowOrLater(this.#storage, id, now))
    return record instanceof Promise
      ? record.then((found) => this.#spend(audit, found, token, now, access))
      : this.#spend(audit, record, token, now, access)
  }

  /**
   * What a use found, with `access` checked, if given. The ACL check runs in the same step as the use: one promise
   * hop less for `authorize`. A method, not a closure in `#use`: one allocation less per request.
   */
  #spend(
    audit: AuditContext,
    record: TokenRecord | null,
    token: string,
    now: UnixMillis,
    access: AccessRequest | undefined,
  ): TokenInfo | Promise<TokenInfo> {
    const info = this.#spent(audit, record, token, now)
    if (access === undefined) return info
    return info instanceof Promise
      ? info.then((found) => this.#permit(found, access))
      : this.#permit(info, access)
  }

  /** What a use of a service token found: its info, once a use that exhausted it has revoked it. */
  #spent(
    audit: AuditContext,
    record: TokenRecord | null,
    token: string,
    now: UnixMillis,
  ): TokenInfo | Promise<TokenInfo> {
    if (record === null) throw invalidToken()
    audit.accessor = record.accessor
    if (record.revoking === null) return toInfo(record, token, now)
    return this.#finish(record, now).then(() => {
      const info = toInfo(record, token, now)
      return record.revoking === 'uses_exhausted' ? { ...info, lastUse: true } : info
    })
  }

  /**
   * A batch token's info: batch tokens have no uses to count, so authenticating one is validating it. Synchronous
   * for an orphan (nothing to read), as a MemoryStorage use is: no promise hop before `#audited` settles the call.
   */
  #useBatch(token: string, now: UnixMillis): TokenInfo | Promise<TokenInfo> {
    const entry = this.#liveBatch(token, now)
    return entry instanceof Promise
      ? entry.then((live) => liveBatchInfo(live, token, now))
      : liveBatchInfo(entry, token, now)
  }

  /** `info` if its policies grant `access`; else `permission_denied`. */
  #permit(info: TokenInfo, access: AccessRequest): TokenInfo | Promise<TokenInfo> {
    const acl = this.#policyCache.cached(info.policies)
    if (acl === undefined) {
      return this.#policyCache
        .acl(info.policies)
        .then((compiled) => permitted(info, compiled, access))
    }
    return permitted(info, acl, access)
  }

  async #liveParent(parentToken: string, now: UnixMillis): Promise<TokenRecord> {
    if (isBatchToken(checkString(parentToken, 'parent'))) {
      throw new TokenStoreError('permission_denied', 'Batch tokens cannot create tokens')
    }
    const parent = await this.#resolve(parentToken, 'parent', (id) =>
      this.#storage.getLiveToken(id, now),
    )
    if (parent === null) throw invalidToken('The parent token is not valid')
    return parent
  }

  /** A new batch token: nothing is written; the token carries its entry, sealed. */
  #sealBatch(
    plan: CreationPlan,
    metadata: Readonly<Record<string, string>>,
    displayName: string,
    ttl: number,
    now: UnixMillis,
    warnings: readonly string[],
  ): TokenAuth {
    const entry: BatchEntry = {
      p: plan.parent,
      pol: plan.policies,
      path: plan.path,
      m: metadata,
      dn: displayName,
      c: now,
      ttl,
      e: now + ttl * 1000,
    }
    const auth: TokenAuth = {
      clientToken: this.#secrets.seal(entry),
      accessor: '',
      policies: plan.policies,
      metadata,
      leaseDuration: ttl,
      renewable: false,
      orphan: plan.parent === null,
      numUses: 0,
    }
    return warnings.length > 0 ? { ...auth, warnings } : auth
  }

  /**
   * The entry of a batch token that is unexpired and whose parent, if any, is live at `now`. Synchronous for an
   * orphan: only a parent needs a storage read.
   */
  #liveBatch(token: string, now: UnixMillis): BatchEntry | null | Promise<BatchEntry | null> {
    if (token.length > MAX_BATCH_TOKEN_LENGTH) return null
    const entry = this.#secrets.open(token)
    if (entry === null || now >= entry.e) return null
    if (entry.p === null) return entry
    return this.#storage
      .getLiveToken(entry.p, now)
      .then((parent) => (parent === null ? null : entry))
  }

  /** The token a lease hangs off: the token itself, or for a batch token its parent. */
  async #leaseOwner(token: string, now: UnixMillis): Promise<TokenRecord> {
    if (isBatchToken(checkString(token, 'token'))) {
      const entry = await this.#liveBatch(token, now)
      if (entry === null) throw invalidToken()
      if (entry.p === null) {
        throw invalidRequest(
          'An orphan batch token cannot hold leases: nothing could revoke them with it',
        )
      }
      const parent = await this.#storage.getLiveToken(entry.p, now)
      if (parent === null) throw invalidToken()
      return parent
    }
    const owner = await this.#resolve(token, 'token', (id) => this.#storage.getLiveToken(id, now))
    if (owner === null) throw invalidToken()
    return owner
  }

  /** Renewal re-reads the role: its current period and explicit max TTL apply; a deleted role ends renewals. */
  async #currentRoleLimits(record: TokenRecord, name: string): Promise<TokenRecord> {
    const role = await this.#roleStorage().getRole(name)
    if (role === null) {
      throw new TokenStoreError(
        'not_renewable',
        `The token's role '${name}' no longer exists, so it cannot be renewed`,
      )
    }
    return {
      ...record,
      period: role.tokenPeriod > 0 ? role.tokenPeriod : record.period,
      explicitMaxTtl:
        role.tokenExplicitMaxTtl > 0 ? role.tokenExplicitMaxTtl : record.explicitMaxTtl,
    }
  }

  async #roleFor(name: string): Promise<TokenRole> {
    const role = await this.#roleStorage().getRole(name)
    if (role === null) throw invalidRequest(`Unknown role '${name}'`)
    return role
  }

  #roleStorage(): RoleStorage {
    const storage = this.#storage
    if (
      storage.putRole === undefined ||
      storage.getRole === undefined ||
      storage.listRoles === undefined ||
      storage.deleteRole === undefined
    ) {
      throw invalidRequest('This storage does not support roles')
    }
    return storage as Storage & RoleStorage
  }

  async #liveByAccessor(accessor: Accessor, now: UnixMillis): Promise<TokenRecord | null> {
    const stored = await this.#storage.getTokenByAccessor(accessor)
    return stored === null ? null : this.#storage.getLiveToken(stored.id, now)
  }

  /** The lease if it is unexpired and its token live. */
  async #liveLease(leaseId: unknown, now: UnixMillis): Promise<LeaseRecord | null> {
    const id = checkString(leaseId, 'leaseId')
    if (id.length > MAX_LEASE_ID_LENGTH) return null
    const lease = await this.#storage.getLease(id)
    if (lease === null || now >= lease.expiresAt) return null
    return (await this.#storage.getLiveToken(lease.token, now)) === null ? null : lease
  }

  /** The stored record of a token, live or not, for revocation. */
  async #storedToken(token: string): Promise<TokenRecord | null> {
    if (isBatchToken(checkString(token, 'token'))) {
      throw invalidRequest(
        'Batch tokens cannot be revoked one by one: they expire, or go with their parent',
      )
    }
    return this.#resolve(token, 'token', (id) => this.#storage.getToken(id))
  }

  /**
   * The one place a presented token id becomes a storage key: `read` with its hash under the current secret, and
   * only if that finds nothing, under each older secret in turn (see `secret`). `null` when nothing is found, or
   * for a string that cannot be a token (empty or overlong: not worth hashing).
   */
  #resolve<T>(
    token: unknown,
    field: string,
    read: (id: HashedTokenId) => T | null | Promise<T | null>,
  ): T | null | Promise<T | null> {
    // Not `async`: with one secret, `read`'s own answer is the answer (synchronous if `read`'s is), and
    // authenticate awaits one layer less.
    const text = checkString(token, field)
    if (text.length === 0 || text.length > MAX_TOKEN_LENGTH) return Promise.resolve(null)
    const found = read(this.#secrets.hash(text))
    if (!this.#secrets.rotated) return found
    return Promise.resolve(found).then((record) => record ?? this.#resolveOlder(text, read))
  }

  /** What `read` finds under the token id's hash under an older secret, newest first, or `null`. */
  async #resolveOlder<T>(
    text: string,
    read: (id: HashedTokenId) => T | null | Promise<T | null>,
  ): Promise<T | null> {
    for (const id of this.#secrets.olderHashes(text)) {
      const found = await read(id)
      if (found !== null) return found
    }
    return null
  }

  #revokeTrees(ids: readonly HashedTokenId[], reason: RevokeReason): Promise<RevocationCount> {
    return revokeTrees(this.#storage, ids, reason, this.#clock(), this.#sink)
  }

  #finish(record: TokenRecord, now: UnixMillis): Promise<RevocationCount> {
    return finishRevocation(this.#storage, record, now, this.#sink)
  }

  async #deleteLease(leaseId: LeaseId, reason: RevokeReason, now: UnixMillis): Promise<boolean> {
    const lease = await this.#storage.deleteLease(leaseId, reason, now)
    if (lease !== null) this.#sink.lease(lease, reason)
    return lease !== null
  }

  /**
   * Marks every token under `path` and returns their ids, and how many were still appearing at the last scan. A
   * token created from a matched token's authority after the first scan but before its mark (an orphan made with
   * `noParent`) is caught by scanning again once the scan's tokens are marked: from then on, their authority is
   * refused at insert. Bounded: a holder that mints a chain of orphans, each from the last, faster than a scan
   * and its marks take, stays ahead of every scan, and the caller must hear that tokens were left.
   */
  async #markPrefix(path: string): Promise<{ marked: HashedTokenId[]; stillAppearing: number }> {
    const marked = new Set<HashedTokenId>()
    let found = await this.#storage.findByPathPrefix(path)
    for (let scan = 1; found.length > 0 && scan <= PREFIX_SCANS; scan++) {
      for (const id of found) {
        if ((await this.#storage.markRevoking(id, 'prefix')) !== null) marked.add(id)
      }
      found = (await this.#storage.findByPathPrefix(path)).filter((id) => !marked.has(id))
    }
    return { marked: [...marked], stillAppearing: found.length }
  }

  /**
   * Finishes every revocation that was cut off half-way (its mark is still there), a page of marks at a time so
   * that memory stays bounded however many there are. Finishing a mark deletes it, so the next page lists the
   * next marks; it stops at a short page, or at a page none of which was still marked (each was finished
   * concurrently meanwhile), so a listing that keeps returning the same ids cannot hold it in a loop.
   * Resolves to how many it finished.
   */
  async #finishCutOffRevocations(): Promise<number> {
    let finished = 0
    for (;;) {
      const ids = await this.#storage.listRevoking(CUT_OFF_PAGE)
      let finishedInPage = 0
      for (const id of ids) {
        const record = await this.#storage.getToken(id)
        if (record?.revoking != null) {
          await this.#finish(record, this.#clock())
          finishedInPage += 1
        }
      }
      finished += finishedInPage
      if (ids.length < CUT_OFF_PAGE || finishedInPage === 0) return finished
    }
  }

  /** Finishes cut-off revocations, then revokes what expired. Counts what expired on its own. */
  async #revokeExpired(): Promise<number> {
    await this.#finishCutOffRevocations()
    // In batches when the storage can (an expiry storm); else each listed token below.
    const swept = await sweepExpiredTokens(this.#storage, this.#clock, this.#sink)
    let expired = swept ?? 0
    for (let first = true; ; first = false) {
      if (!first) await yieldToEventLoop()
      const now = this.#clock()
      const tokens = swept === null ? await this.#storage.listExpiredTokens(now, SWEEP_BATCH) : []
      const leases = await this.#storage.listExpiredLeases(now, SWEEP_BATCH)
      if (tokens.length === 0 && leases.length === 0) return expired
      for (const id of tokens) {
        // Conditional: a renewal that landed since the listing keeps the token.
        const marked = await this.#storage.markRevoking(id, 'expired', now)
        if (marked !== null && (await this.#finish(marked, now)).tokens > 0) expired += 1
      }
      for (const id of leases) {
        if (await this.#deleteLease(id, 'expired', now)) expired += 1
      }
    }
  }

  /** The expiration manager's sweep: revoke what is due, then report when the next thing expires. */
  async #sweep(due: UnixMillis): Promise<UnixMillis | null> {
    await traceSweep(this, due, this.#clock, () => this.revokeExpired())
    return this.#storage.nextExpiry()
  }

  /** A shared storage may already hold expiring tokens: aim the timer at the first. */
  #aimAtStoredExpiry(): void {
    this.#storage.nextExpiry().then(
      (next) => {
        if (next !== null) this.#scheduler?.expiresAt(next)
      },
      (error: unknown) => {
        this.#backgroundFailed(error)
      },
    )
  }

  readonly #sink: RevocationSink = {
    token: (record, reason) => {
      this.#emitRevoked({
        kind: 'token',
        accessor: record.accessor,
        path: record.path,
        reason,
        time: new Date(this.#clock()),
      })
    },
    lease: (lease, reason) => {
      this.#emitRevoked({
        kind: 'lease',
        leaseId: lease.id,
        path: lease.path,
        data: lease.data,
        accessor: lease.accessor,
        reason,
        time: new Date(this.#clock()),
      })
    },
  }

  #emitRevoked(event: RevokedEvent): void {
    emitIsolated(this, 'revoked', event, (error) => {
      this.#backgroundFailed(error)
    })
  }

  /**
   * Runs an operation, emits its `audit` event, and turns any foreign error into `storage_unavailable`. Not `async`:
   * every public call goes through here, and an async layer costs more.
   */
  #audited<T>(operation: AuditOperation, run: (audit: AuditContext) => T | Promise<T>): Promise<T> {
    try {
      const outcome = this.#auditedNow(operation, run)
      return outcome instanceof Promise ? outcome : Promise.resolve(outcome)
    } catch (error) {
      return Promise.reject(asStoreError(error))
    }
  }

  /**
   * `#audited`, answering synchronously (or throwing the `TokenStoreError`) when `run` answers synchronously, as a
   * use of a MemoryStorage token does: the request path then takes no promise hop at all. Otherwise the native
   * promise of the same outcome. Either way, the `audit` event and the trace's end come after the operation.
   */
  #auditedNow<T>(
    operation: AuditOperation,
    run: (audit: AuditContext) => T | Promise<T>,
  ): T | Promise<T> {
    const audit: AuditContext = { accessor: null, started: this.#clock() }
    const trace = startTrace(operation, this)
    const counted = this.#inFlight.enter()
    let outcome: T | Promise<T>
    try {
      outcome = trace === null ? run(audit) : trace.run(run, audit)
    } catch (cause) {
      const error = asStoreError(cause)
      this.#ended(operation, audit, trace, counted, error)
      throw error
    }
    // A storage may answer with another promise library's thenable: that is an answer to wait for, not a value.
    if (!isThenable(outcome)) {
      this.#ended(operation, audit, trace, counted, undefined)
      return outcome
    }
    return Promise.resolve(outcome).then(
      (result) => {
        this.#ended(operation, audit, trace, counted, undefined)
        return result
      },
      (cause: unknown) => {
        const error = asStoreError(cause)
        this.#ended(operation, audit, trace, counted, error)
        throw error
      },
    )
  }

  /** The end of an operation `#auditedNow` ran (failed with `error`, if given): in-flight count, trace, `audit`. */
  #ended(
    operation: AuditOperation,
    audit: AuditContext,
    trace: OperationTrace | null,
    counted: boolean,
    error: TokenStoreError | undefined,
  ): void {
    if (counted) this.#inFlight.leave()
    trace?.finish(audit.accessor, error)
    this.#audit(operation, audit.started, audit.accessor, error)
  }

  #audit(
    operation: AuditOperation,
    started: UnixMillis,
    accessor: Accessor | null,
    error: TokenStoreError | undefined,
  ): void {
    // The hot paths (authenticate, lookup) skip building the event when nobody listens.
    if (this.listenerCount('audit') === 0) return
    const event: AuditEvent =
      error === undefined
        ? { operation, outcome: 'ok', accessor, time: new Date(started) }
        : { operation, outcome: 'error', accessor, code: error.code, time: new Date(started) }
    emitIsolated(this, 'audit', event, (failure) => {
      this.#backgroundFailed(failure)
    })
  }

  /** A listener or background task failed: tell `error` listeners, or else the process, never the caller. */
  #backgroundFailed(error: unknown): void {
    if (this.#logger) log(this.#logger, 'error', BACKGROUND_FAILED, { err: error })
    if (this.listenerCount('error') > 0) {
      try {
        this.emit('error', error)
        return
      } catch (failure) {
        error = failure
      }
    }
    if (this.#logger) return
    process.emitWarning(
      error instanceof Error ? error : new Error(String(error)),
      'TokenStoreWarning',
    )
  }
}

/**
 * A new token's record. Every field is written out, in declaration order, rather than spread from `fields`: records
 * built alike share one V8 hidden class, which keeps a million of them small and their field reads fast (spread-built
 * records each got a layout of their own: about 2.5× the memory, and authenticate at half the speed).
 */
function newRecord(
  id: HashedTokenId,
  accessor: Accessor,
  fields: NewTokenFields,
  now: UnixMillis,
): TokenRecord {
  const record: TokenRecord = {
    id,
    accessor,
    parent: fields.parent,
    policies: fields.policies,
    path: fields.path,
    metadata: fields.metadata,
    displayName: fields.displayName,
    numUses: fields.numUses,
    creationTime: now,
    creationTtl: fields.ttl,
    ttl: fields.ttl,
    expiresAt: fields.ttl > 0 ? now + fields.ttl * 1000 : null,
    explicitMaxTtl: fields.explicitMaxTtl,
    period: fields.period,
    renewable: fields.renewable,
    lastRenewalTime: null,
    revoking: null,
  }
  const withRole = fields.role === undefined ? record : { ...record, role: fields.role }
  return fields.wrapped === undefined ? withRole : { ...withRole, wrapped: fields.wrapped }
}

/** A live batch token's info; `invalid_token` for `null`. */
function liveBatchInfo(entry: BatchEntry | null, token: string, now: UnixMillis): TokenInfo {
  if (entry === null) throw invalidToken()
  return batchInfo(entry, token, now)
}

/** The error a public method rejects with: a `TokenStoreError` as is; anything else is the storage failing. */
function asStoreError(cause: unknown): TokenStoreError {
  return cause instanceof TokenStoreError
    ? cause
    : new TokenStoreError('storage_unavailable', 'The token storage failed', { cause })
}

/** `info` if `acl` grants `access`; else `permission_denied`. */
function permitted(info: TokenInfo, acl: Acl, access: AccessRequest): TokenInfo {
  const refused = refusal(acl, access)
  if (refused !== null) throw new TokenStoreError('permission_denied', refused)
  return info
}

function fromNotice(notice: RevocationNotice): RevokedEvent {
  return { ...notice, time: new Date(notice.time) }
}

function invalidToken(
  message = 'The token is unknown, expired, revoked or used up',
): TokenStoreError {
  return new TokenStoreError('invalid_token', message)
}

function invalidWrappingToken(): TokenStoreError {
  return invalidToken('The wrapping token is unknown, expired, revoked or already used')
}

function renewedConcurrently(): TokenStoreError {
  return new TokenStoreError('conflict', 'Renewed concurrently by others too often; try again')
}

function leaseNotFound(): TokenStoreError {
  return invalidRequest('The lease is unknown, expired, or its token was revoked')
}

/** TokenStore's own `authenticate`, to tell it from an override or a patched instance. */
// eslint-disable-next-line @typescript-eslint/unbound-method -- compared by identity, never called unbound
const OWN_AUTHENTICATE = TokenStore.prototype.authenticate

/** Whether `value` is a promise, native or not, by the Promises/A+ test: it has a `then` method. */
function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return (
    value instanceof Promise ||
    (typeof value === 'object' &&
      value !== null &&
      typeof (value as { then?: unknown }).then === 'function')
  )
}
