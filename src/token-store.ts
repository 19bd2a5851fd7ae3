/**
 * TokenStore: Vault's token store over a pluggable storage. Each public method validates its input, calls storage
 * in atomic steps, and emits events only after the writes they report.
 */
import { EventEmitter } from 'eventemitter3'

import { TokenHasher, newAccessor, newSecret, newTokenId } from './crypto.js'
import { parseDuration } from './duration.js'
import { TokenStoreError } from './errors.js'
import type { AuditEvent, AuditOperation, RevokedEvent, TokenStoreEvents } from './events.js'
import {
  MAX_TOKEN_LENGTH,
  checkString,
  normalizeCreateOptions,
  normalizePath,
  normalizeRootOptions,
  normalizeStoreOptions,
  type CreateRequest,
  type CreateRootOptions,
  type CreateTokenOptions,
  type StoreSettings,
  type TokenStoreOptions,
} from './options.js'
import {
  DEFAULT_POLICY,
  ROOT_POLICY,
  finalizePolicies,
  intern,
  isRoot,
  missingPolicies,
} from './policies.js'
import { finishRevocation, revokeTrees } from './revoke.js'
import { MemoryStorage } from './storage/memory.js'
import type { Storage } from './storage/storage.js'
import { creationTtl, renewalTtl } from './ttl.js'
import type {
  Accessor,
  Duration,
  HashedTokenId,
  RevokeReason,
  TokenAuth,
  TokenDetails,
  TokenInfo,
  TokenRecord,
  UnixMillis,
} from './types.js'

/** The result of `renewAccessor`: a renewal's lease, without the token id an accessor holder must not learn. */
export type AccessorAuth = Omit<TokenAuth, 'clientToken'>

/** Path of tokens created by `createRoot`, as Vault's bootstrap root token. */
const ROOT_TOKEN_PATH = 'auth/token/root'
/** Path of children created with a parent token. */
const CHILD_TOKEN_PATH = 'auth/token/create'
/** Path of tokens the host issues itself, unless it names another (`auth/github/login`). */
const ORPHAN_TOKEN_PATH = 'auth/token/create-orphan'
/** How many expired tokens one storage call lists during a sweep. */
const SWEEP_BATCH = 1000
/** Attempts at drawing an accessor that is not taken (a clash needs a 144-bit collision). */
const ACCESSOR_ATTEMPTS = 3

/** The accessor of the token an operation acted on, filled in as soon as it is known. */
interface AuditContext {
  accessor: Accessor | null
}

/** eventemitter3's stored listener; see `#emitSafely`. */
interface StoredListener {
  fn: (...args: unknown[]) => unknown
  context: unknown
  once: boolean
}

/**
 * A Vault-style token store: opaque tokens with policies, metadata, use limits and TTLs, organised in trees so that
 * revoking a token revokes everything issued under it.
 *
 * Events: `audit` for every operation, `revoked` for every revoked token (see {@link TokenStoreEvents}).
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
 * ```
 */
export class TokenStore extends EventEmitter<TokenStoreEvents> {
  readonly #storage: Storage
  readonly #clock: () => UnixMillis
  readonly #hasher: TokenHasher
  readonly #settings: StoreSettings

  /**
   * @throws {@link TokenStoreError} `invalid_request` when an option is malformed.
   */
  constructor(options: TokenStoreOptions = {}) {
    super()
    this.#settings = normalizeStoreOptions(options)
    this.#storage = options.storage ?? new MemoryStorage()
    this.#clock = options.clock ?? Date.now
    this.#hasher = new TokenHasher(options.secret ?? newSecret())
  }

  /** The storage this store keeps its tokens in. */
  get storage(): Storage {
    return this.#storage
  }

  /**
   * Creates a root token, like the one `vault server -dev` prints: policies `['root']`, no expiry, no parent, path
   * `auth/token/root`. Guard it: it can do anything.
   *
   * @throws {@link TokenStoreError} `invalid_request` for malformed options, `conflict` when `id` exists.
   */
  async createRoot(options: CreateRootOptions = {}): Promise<TokenAuth> {
    return this.#audited('createRoot', async (audit) => {
      const request = normalizeRootOptions(options)
      const now = this.#clock()
      return this.#insert(audit, request.id, now, {
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
        warnings: [],
      })
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
      const request = normalizeCreateOptions(options)
      const now = this.#clock()
      const parent = request.parent === null ? null : await this.#liveParent(request.parent, now)
      const plan = parent === null ? planOrphan(request) : planChild(request, parent)
      const root = isRoot(plan.policies)
      const { ttl, warnings } = creationTtl(
        { ttl: request.ttl, explicitMaxTtl: request.explicitMaxTtl, period: request.period, root },
        this.#settings,
      )
      if (ttl === 0 && parent !== null && parent.expiresAt !== null) {
        throw new TokenStoreError(
          'permission_denied',
          'An expiring root token cannot create a non-expiring root token',
        )
      }
      return this.#insert(audit, request.id, now, {
        parent: plan.orphan || parent === null ? null : parent.id,
        policies: plan.policies,
        path: plan.path,
        metadata: request.metadata,
        displayName: request.displayName,
        numUses: request.numUses,
        ttl,
        explicitMaxTtl: request.explicitMaxTtl,
        period: request.period,
        // A token that never expires has nothing to renew.
        renewable: ttl > 0 && request.renewable,
        warnings,
      })
    })
  }

  /**
   * Looks a token up without using it: never consumes a use. Resolves to `null` when the token is unknown,
   * expired, revoked, used up, or under an expired or revoked ancestor.
   *
   * @throws {@link TokenStoreError} `invalid_request` when `token` is not a string.
   */
  async lookup(token: string): Promise<TokenInfo | null> {
    return this.#audited('lookup', async (audit) => {
      const id = this.#hashToken(token)
      if (id === null) return null
      const now = this.#clock()
      const record = await this.#storage.getLiveToken(id, now)
      if (record === null) return null
      audit.accessor = record.accessor
      return toInfo(record, token, now)
    })
  }

  /**
   * Looks a token up by accessor. The result has no `id`: an accessor holder must not learn the token.
   *
   * @throws {@link TokenStoreError} `invalid_request` when `accessor` is not a string.
   */
  async lookupAccessor(accessor: Accessor): Promise<TokenDetails | null> {
    return this.#audited('lookupAccessor', async (audit) => {
      const record = await this.#liveByAccessor(checkString(accessor, 'accessor'))
      if (record === null) return null
      audit.accessor = record.accessor
      return toDetails(record, this.#clock())
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
  async authenticate(token: string): Promise<TokenInfo> {
    return this.#audited('authenticate', async (audit) => {
      const id = this.#hashToken(token)
      const now = this.#clock()
      const record = id === null ? null : await this.#storage.useToken(id, now)
      if (record === null) throw invalidToken()
      audit.accessor = record.accessor
      if (record.revoking !== null) await this.#finish(record)
      return toInfo(record, token, now)
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
      const id = this.#hashToken(token)
      const now = this.#clock()
      const record = id === null ? null : await this.#storage.getLiveToken(id, now)
      if (record === null) throw invalidToken()
      audit.accessor = record.accessor
      const { renewed, warnings } = await this.#renewRecord(record, seconds, now)
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
      const record = await this.#liveByAccessor(checkString(accessor, 'accessor'))
      if (record === null) throw invalidToken()
      audit.accessor = record.accessor
      const { renewed, warnings } = await this.#renewRecord(record, seconds, this.#clock())
      const { clientToken, ...auth } = toAuth(renewed, '', warnings)
      return auth
    })
  }

  /**
   * Revokes a token and its whole subtree. The subtree is unusable from the first storage write; tokens are
   * deleted children first. An unknown token is a no-op, as in Vault.
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
   * Revokes a token but not its children: its direct children become orphans and keep working. An unknown token is
   * a no-op.
   *
   * @throws {@link TokenStoreError} `invalid_request` when `token` is not a string.
   */
  async revokeOrphan(token: string): Promise<void> {
    await this.#audited('revokeOrphan', async (audit) => {
      const record = await this.#storedToken(token)
      if (record === null) return
      audit.accessor = record.accessor
      const marked = await this.#storage.markRevoking(record.id, 'orphan')
      if (marked !== null) await this.#finish(marked)
    })
  }

  /**
   * Revokes the token with this accessor, and its subtree. An unknown accessor is a no-op.
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
   * Revokes every token whose source path is `prefix` or lies below it (`auth/github` matches
   * `auth/github/login`, not `auth/github-old/login`), with their subtrees: Vault's break-glass procedure.
   *
   * @returns How many tokens were revoked, descendants included.
   * @throws {@link TokenStoreError} `invalid_request` when `prefix` is not a path.
   */
  async revokePrefix(prefix: string): Promise<number> {
    return this.#audited('revokePrefix', async () => {
      const path = normalizePath(prefix, 'prefix')
      const ids = await this.#storage.findByPathPrefix(path)
      return this.#revokeTrees(ids, 'prefix')
    })
  }

  /**
   * Revokes every token that has expired, with its subtree, and finishes revocations that were cut off half-way.
   *
   * @returns How many tokens expired on their own (their revoked descendants are not counted).
   */
  async revokeExpired(): Promise<number> {
    return this.#audited('revokeExpired', async () => {
      for (const id of await this.#storage.listRevoking(Number.MAX_SAFE_INTEGER)) {
        const record = await this.#storage.getToken(id)
        if (record?.revoking != null) await this.#finish(record)
      }
      let expired = 0
      for (;;) {
        const ids = await this.#storage.listExpired(this.#clock(), SWEEP_BATCH)
        if (ids.length === 0) return expired
        for (const id of ids) {
          const before = await this.#storage.getToken(id)
          if (before === null) continue
          const marked = await this.#storage.markRevoking(id, 'expired')
          if (marked !== null && (await this.#finish(marked)) > 0) expired += 1
        }
      }
    })
  }

  async #insert(
    audit: AuditContext,
    customId: string | null,
    now: UnixMillis,
    fields: Omit<
      TokenRecord,
      | 'id'
      | 'accessor'
      | 'creationTime'
      | 'creationTtl'
      | 'expiresAt'
      | 'lastRenewalTime'
      | 'revoking'
    > & {
      warnings: string[]
    },
  ): Promise<TokenAuth> {
    const { warnings, ...rest } = fields
    const token = customId ?? newTokenId()
    const id = this.#hasher.hash(token)
    for (let attempt = 1; ; attempt++) {
      const record: TokenRecord = {
        ...rest,
        id,
        accessor: newAccessor(),
        creationTime: now,
        creationTtl: rest.ttl,
        expiresAt: rest.ttl > 0 ? now + rest.ttl * 1000 : null,
        lastRenewalTime: null,
        revoking: null,
      }
      const result = await this.#storage.insertToken(record)
      switch (result) {
        case 'inserted':
          audit.accessor = record.accessor
          return toAuth(record, token, warnings)
        case 'id_exists':
          throw new TokenStoreError('conflict', 'A token with this id already exists')
        case 'parent_gone':
          throw invalidToken('The parent token was revoked while the child was being created')
        case 'accessor_exists':
          if (attempt >= ACCESSOR_ATTEMPTS) {
            throw new TokenStoreError('conflict', 'Could not draw an unused accessor')
          }
      }
    }
  }

  async #renewRecord(
    record: TokenRecord,
    increment: number,
    now: UnixMillis,
  ): Promise<{ renewed: TokenRecord; warnings: string[] }> {
    if (record.expiresAt === null) {
      throw new TokenStoreError('not_renewable', 'The token never expires, so it cannot be renewed')
    }
    if (!record.renewable)
      throw new TokenStoreError('not_renewable', 'The token was created non-renewable')
    const { ttl, warnings } = renewalTtl(record, increment, now, this.#settings)
    const renewed = await this.#storage.renewToken(record.id, now, {
      expiresAt: now + ttl * 1000,
      ttl,
      lastRenewalTime: now,
    })
    // The token was revoked or expired between the read and the renewal.
    if (renewed === null) throw invalidToken()
    return { renewed, warnings }
  }

  async #liveParent(parentToken: string, now: UnixMillis): Promise<TokenRecord> {
    const id = this.#hashToken(parentToken, 'parent')
    const parent = id === null ? null : await this.#storage.getLiveToken(id, now)
    if (parent === null) throw invalidToken('The parent token is not valid')
    return parent
  }

  async #liveByAccessor(accessor: Accessor): Promise<TokenRecord | null> {
    const stored = await this.#storage.getTokenByAccessor(accessor)
    return stored === null ? null : this.#storage.getLiveToken(stored.id, this.#clock())
  }

  /** The stored record of a token, live or not, for revocation. */
  async #storedToken(token: string): Promise<TokenRecord | null> {
    const id = this.#hashToken(token)
    return id === null ? null : this.#storage.getToken(id)
  }

  /** Hashes a presented token; `null` for a string that cannot be a token (empty or overlong: not worth hashing). */
  #hashToken(token: unknown, field = 'token'): HashedTokenId | null {
    const text = checkString(token, field)
    return text.length === 0 || text.length > MAX_TOKEN_LENGTH ? null : this.#hasher.hash(text)
  }

  #revokeTrees(ids: readonly HashedTokenId[], reason: RevokeReason): Promise<number> {
    return revokeTrees(this.#storage, ids, reason, this.#onRevoked)
  }

  #finish(record: TokenRecord): Promise<number> {
    return finishRevocation(this.#storage, record, this.#onRevoked)
  }

  readonly #onRevoked = (record: TokenRecord, reason: RevokeReason): void => {
    const event: RevokedEvent = {
      kind: 'token',
      accessor: record.accessor,
      path: record.path,
      reason,
      time: new Date(this.#clock()),
    }
    this.#emitSafely('revoked', event)
  }

  /** Runs an operation, emits its `audit` event, and turns any foreign error into `storage_unavailable`. */
  async #audited<T>(
    operation: AuditOperation,
    run: (audit: AuditContext) => Promise<T>,
  ): Promise<T> {
    const audit: AuditContext = { accessor: null }
    const started = this.#clock()
    try {
      const result = await run(audit)
      this.#audit(operation, started, audit.accessor, undefined)
      return result
    } catch (cause) {
      const error =
        cause instanceof TokenStoreError
          ? cause
          : new TokenStoreError('storage_unavailable', 'The token storage failed', { cause })
      this.#audit(operation, started, audit.accessor, error)
      throw error
    }
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
    this.#emitSafely('audit', event)
  }

  /**
   * Calls each listener in its own try/catch, so one that throws (or rejects) neither reaches the store's caller
   * nor keeps the listeners after it from running. eventemitter3's `emit` stops at the first throw, so this walks
   * its listener table (`_events`, stable across eventemitter3 v1–v5) itself, removing `once` listeners first as
   * `emit` does.
   */
  #emitSafely(event: 'audit' | 'revoked', payload: AuditEvent | RevokedEvent): void {
    const key = EventEmitter.prefixed ? `${EventEmitter.prefixed}${event}` : event
    const table = (
      this as unknown as { _events: Record<string, StoredListener | StoredListener[] | undefined> }
    )._events
    const stored = table[key]
    if (stored === undefined) return
    const listeners = Array.isArray(stored) ? [...stored] : [stored]
    for (const listener of listeners) {
      if (listener.once) this.removeListener(event, listener.fn, listener.context, true)
      try {
        const result = listener.fn.call(listener.context, payload)
        if (isPromiseLike(result))
          result.then(undefined, (error: unknown) => {
            this.#listenerFailed(error)
          })
      } catch (error) {
        this.#listenerFailed(error)
      }
    }
  }

  #listenerFailed(error: unknown): void {
    if (this.listenerCount('error') > 0) {
      try {
        this.emit('error', error)
        return
      } catch (failure) {
        error = failure
      }
    }
    process.emitWarning(
      error instanceof Error ? error : new Error(String(error)),
      'TokenStoreListenerError',
    )
  }
}

/** How a new token relates to its parent and what it carries. */
interface CreationPlan {
  readonly policies: readonly string[]
  readonly orphan: boolean
  readonly path: string
}

/** A token the host issues itself: an orphan with exactly the policies given, at the path given. */
function planOrphan(request: CreateRequest): CreationPlan {
  return {
    policies: finalizePolicies(request.policies ?? [], !request.noDefaultPolicy),
    orphan: true,
    path: request.path ?? ORPHAN_TOKEN_PATH,
  }
}

/** A token created with a parent token: Vault's child rules (`handleCreateCommon`). */
function planChild(request: CreateRequest, parent: TokenRecord): CreationPlan {
  if (request.path !== null) {
    throw new TokenStoreError(
      'invalid_request',
      `\`path\` is for tokens without a parent; a child's path is '${CHILD_TOKEN_PATH}'`,
    )
  }
  if (parent.numUses > 0) {
    throw new TokenStoreError('permission_denied', 'A limited-use token cannot create child tokens')
  }
  const privileged = isRoot(parent.policies)
  if (!privileged) {
    if (request.id !== null) denied('Only a root parent may set a custom token id')
    if (request.noParent) denied('Only a root parent may create an orphan token')
    if (request.period > 0) denied('Only a root parent may create a periodic token')
  }
  let policies: readonly string[]
  if (request.policies === null) {
    // Inherit the parent's list as it is: `default` is not added to it.
    policies = finalizePolicies(parent.policies, false)
  } else if (privileged) {
    policies = finalizePolicies(request.policies, true)
  } else {
    // `default` is not exempt from the subset check; it is added afterwards only if the parent has it.
    const missing = missingPolicies(request.policies, parent.policies)
    if (missing.length > 0) {
      denied(
        `Child policies must be a subset of the parent's; the parent lacks ${missing.map((p) => `'${p}'`).join(', ')}`,
      )
    }
    policies = finalizePolicies(request.policies, parent.policies.includes(DEFAULT_POLICY))
  }
  if (request.noDefaultPolicy && policies.includes(DEFAULT_POLICY)) {
    policies = intern(policies.filter((name) => name !== DEFAULT_POLICY))
  }
  if (isRoot(policies) && !privileged) denied('Only a root parent may create a root token')
  return { policies, orphan: request.noParent, path: CHILD_TOKEN_PATH }
}

function denied(message: string): never {
  throw new TokenStoreError('permission_denied', message)
}

function invalidToken(
  message = 'The token is unknown, expired, revoked or used up',
): TokenStoreError {
  return new TokenStoreError('invalid_token', message)
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  )
}

function toAuth(record: TokenRecord, clientToken: string, warnings: readonly string[]): TokenAuth {
  const auth: TokenAuth = {
    clientToken,
    accessor: record.accessor,
    policies: record.policies,
    metadata: record.metadata,
    leaseDuration: record.ttl,
    renewable: record.renewable,
    orphan: record.parent === null,
    numUses: record.numUses,
  }
  return warnings.length > 0 ? { ...auth, warnings } : auth
}

function toDetails(record: TokenRecord, now: UnixMillis): TokenDetails {
  return {
    accessor: record.accessor,
    policies: record.policies,
    path: record.path,
    metadata: record.metadata,
    displayName: record.displayName,
    numUses: record.numUses,
    orphan: record.parent === null,
    creationTime: new Date(record.creationTime),
    creationTtl: record.creationTtl,
    expireTime: record.expiresAt === null ? null : new Date(record.expiresAt),
    ttl: record.expiresAt === null ? 0 : Math.max(0, Math.floor((record.expiresAt - now) / 1000)),
    explicitMaxTtl: record.explicitMaxTtl,
    period: record.period,
    renewable: record.renewable,
    issueTime: new Date(record.creationTime),
    lastRenewalTime: record.lastRenewalTime === null ? null : new Date(record.lastRenewalTime),
  }
}

function toInfo(record: TokenRecord, id: string, now: UnixMillis): TokenInfo {
  return { id, ...toDetails(record, now) }
}
