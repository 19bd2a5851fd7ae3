/**
 * Option types and their validation: caller input → checked internal request. Pure: no storage, no clock.
 *
 * Every check happens before anything is written, so bad input changes nothing.
 */
import { parseDuration } from './duration.js'
import { describeValue, invalidRequest } from './errors.js'
import { checkNumUses } from './num-uses.js'
import { checkKeys, isPlainObject } from './option-object.js'
import { MAX_PATH_LENGTH } from './paths.js'
import { parsePolicies } from './policies.js'
import { normalizeSecrets, type SecretOption } from './secrets.js'
import { checkRoleName, type TokenType } from './roles.js'
import type { Timers } from './expiration.js'
import type { Logger } from './logger.js'
import type { Storage } from './storage/storage.js'
import type { Duration, Seconds, UnixMillis } from './types.js'

/** Options of `new TokenStore()`. */
export interface TokenStoreOptions {
  /**
   * Where tokens are kept.
   * @default a new `MemoryStorage`
   */
  readonly storage?: Storage
  /**
   * The current time in milliseconds since the epoch. Inject a virtual clock in tests.
   * @default Date.now
   */
  readonly clock?: () => UnixMillis
  /**
   * TTL of tokens created without one (Vault's `default_lease_ttl`). A number is seconds.
   * @default '768h' (32 days, Vault's default)
   */
  readonly defaultTtl?: Duration
  /**
   * Longest lifetime of a non-periodic token, from creation, renewals included (Vault's `max_lease_ttl`).
   * @default '768h'
   */
  readonly maxTtl?: Duration
  /**
   * Key of the HMAC under which token ids are stored, and from which batch tokens' key is derived: at least 32
   * bytes. Every process sharing one storage must use the same secret; storage that says it is shared
   * (`storage.shared`: Redis, PostgreSQL, PGlite) requires one.
   *
   * To rotate it, pass a list `[current, ...previous]`: new tokens are hashed and sealed under the current secret,
   * tokens issued under a previous one keep working, and dropping a secret from the list retires its tokens. See
   * docs/secrets.md for the procedure.
   * @default 32 random bytes, which suits storage that lives no longer than the process (`MemoryStorage`)
   */
  readonly secret?: SecretOption
  /**
   * The timers of the expiration manager, which revokes expired tokens and leases on its own. Pass a virtual
   * clock's timers in tests (`tokentree/testing` does), or `false` to sweep only when `revokeExpired()` is called.
   * Expired tokens are refused either way; the sweep is what deletes them and emits their `revoked` events.
   * @default Node's timers, unref'd
   */
  readonly timers?: Timers | false
  /**
   * Where the store writes its own messages: background sweep and listener failures (`error`), the subscription to
   * other instances' revocations failing (`warn`) and recovering (`info`). Any pino- or console-shaped object.
   * Background failures go to `error` listeners as well; without a logger and without listeners they become
   * process warnings, as before.
   * @default none
   */
  readonly logger?: Logger
}

/** Options of `TokenStore.create()`. Names are Vault's `auth/token/create` fields in camelCase. */
export interface CreateTokenOptions {
  /**
   * The calling token: the new token becomes its child and Vault's child rules apply. Without it, the host issues
   * the token itself, as an auth method would: an orphan carrying exactly the policies given.
   */
  readonly parent?: string
  /** A custom token id. With `parent`, only a `root` parent may set one. Must not contain `.`. */
  readonly id?: string
  /** Policy names. With `parent`, defaults to the parent's and must be a subset of them unless it holds `root`. */
  readonly policies?: readonly string[]
  /** String → string metadata, passed to audit consumers. At most 64 keys. */
  readonly metadata?: Readonly<Record<string, string>>
  /** With a `root` parent: create an orphan instead of a child. */
  readonly noParent?: boolean
  /**
   * With `parent`: create an orphan under the parent's authority, as Vault's `auth/token/create-orphan` does. Every
   * child rule still applies (policies within the parent's, `root` only from `root`, no tokens from a limited-use
   * parent...), but the token gets no parent, so it survives the parent's revocation, and its path is
   * `auth/token/create-orphan`. Unlike `noParent` it needs no root parent: gate it yourself, as Vault does with ACLs.
   */
  readonly orphan?: boolean
  /** The token's TTL. Absent or `0`: the store's `defaultTtl`, or no expiry for a `root` token. */
  readonly ttl?: Duration
  /** Hard limit on the token's lifetime, renewals included. `0`: none. */
  readonly explicitMaxTtl?: Duration
  /** Makes the token periodic: each renewal resets its TTL to this. With `parent`, needs a `root` parent. */
  readonly period?: Duration
  /** A name for humans; stored as `token-<name>`, as Vault does. @default 'token' */
  readonly displayName?: string
  /** How many `authenticate` calls the token allows; `0` is unlimited. @default 0 */
  readonly numUses?: number
  /** Whether `renew` may extend the token. @default true */
  readonly renewable?: boolean
  /** Leave out the `default` policy. @default false */
  readonly noDefaultPolicy?: boolean
  /**
   * The source path, for prefix revocation: e.g. `auth/github/login`. Only without `parent` (a child's path is
   * `auth/token/create`). @default 'auth/token/create-orphan'
   */
  readonly path?: string
  /**
   * Create the token against a role (`store.roles.write`): the role's lists, limits and type apply, and the path is
   * `auth/token/create/<role>`.
   */
  readonly role?: string
  /**
   * `service` (stored, revocable, renewable) or `batch` (nothing stored: the token carries its own encrypted entry;
   * not renewable, no children, stops working when it expires or its parent is revoked). @default 'service'
   */
  readonly type?: TokenType
}

/** Options of `TokenStore.createRoot()`. */
export interface CreateRootOptions {
  /** A custom token id, e.g. a well-known one for a dev server. Must not contain `.`. */
  readonly id?: string
  /** String → string metadata. */
  readonly metadata?: Readonly<Record<string, string>>
  /** A name for humans. @default 'root' */
  readonly displayName?: string
}

/** A checked `create` request, durations in seconds. */
export interface CreateRequest {
  readonly parent: string | null
  readonly id: string | null
  /** `null` when none were given (a child then inherits its parent's). */
  readonly policies: string[] | null
  readonly metadata: Readonly<Record<string, string>>
  readonly noParent: boolean
  readonly orphan: boolean
  readonly ttl: Seconds
  readonly explicitMaxTtl: Seconds
  readonly period: Seconds
  readonly displayName: string
  readonly numUses: number
  readonly renewable: boolean
  readonly noDefaultPolicy: boolean
  readonly path: string | null
  readonly role: string | null
  /** `null` when not given (a role may then choose). */
  readonly type: TokenType | null
}

/** Checked store options. */
export interface StoreSettings {
  readonly defaultTtl: Seconds
  readonly maxTtl: Seconds
}

/** Longest token id accepted. Longer input is not hashed at all: it cannot be a token, and hashing it costs. */
export const MAX_TOKEN_LENGTH = 256

/** Vault's defaults for `default_lease_ttl` and `max_lease_ttl`: 768 hours. */
const VAULT_DEFAULT_TTL: Seconds = 768 * 60 * 60

/** Vault's limits on metadata. */
const MAX_METADATA_KEYS = 64
const MAX_METADATA_KEY_LENGTH = 128
const MAX_METADATA_VALUE_LENGTH = 512

const MAX_DISPLAY_NAME_LENGTH = 256

/** Characters Vault replaces with `-` in display names. */
const DISPLAY_NAME_UNSAFE = /[^a-zA-Z0-9-]/g

/** A source path: slash-separated segments of URL-safe characters (`auth/github/login`). */
const PATH_PATTERN = /^[A-Za-z0-9._~:@-]+(?:\/[A-Za-z0-9._~:@-]+)*$/

/** A custom token id: printable ASCII without `.`, which Vault reserves for its own prefixes (`hvs.`, `s.`). */
const CUSTOM_ID_PATTERN = /^[\x21-\x2d\x2f-\x7e]+$/

const STORE_OPTION_KEYS = new Set([
  'storage',
  'clock',
  'defaultTtl',
  'maxTtl',
  'secret',
  'timers',
  'logger',
])
const CREATE_OPTION_KEYS = new Set([
  'parent',
  'id',
  'policies',
  'metadata',
  'noParent',
  'orphan',
  'ttl',
  'explicitMaxTtl',
  'period',
  'displayName',
  'numUses',
  'renewable',
  'noDefaultPolicy',
  'path',
  'role',
  'type',
])
const ROOT_OPTION_KEYS = new Set(['id', 'metadata', 'displayName'])

/** Shared by every token created without metadata. */
const NO_METADATA: Readonly<Record<string, string>> = Object.freeze({})

/** Checks the store's options. */
export function normalizeStoreOptions(options: TokenStoreOptions): StoreSettings {
  checkKeys(options, STORE_OPTION_KEYS, 'TokenStore options')
  const maxTtl =
    options.maxTtl === undefined ? VAULT_DEFAULT_TTL : parseDuration(options.maxTtl, 'maxTtl')
  const defaultTtl =
    options.defaultTtl === undefined
      ? Math.min(VAULT_DEFAULT_TTL, maxTtl)
      : parseDuration(options.defaultTtl, 'defaultTtl')
  if (maxTtl === 0) throw invalidRequest('Expected `maxTtl` to be positive, got 0')
  if (defaultTtl === 0) throw invalidRequest('Expected `defaultTtl` to be positive, got 0')
  if (defaultTtl > maxTtl) {
    throw invalidRequest(
      `Expected \`defaultTtl\` to be at most \`maxTtl\` (${maxTtl}s), got ${defaultTtl}s`,
    )
  }
  if (options.clock !== undefined && typeof options.clock !== 'function') {
    throw invalidRequest(`Expected \`clock\` to be a function, got ${describeValue(options.clock)}`)
  }
  const timers: unknown = options.timers
  if (
    timers !== undefined &&
    timers !== false &&
    (typeof timers !== 'object' ||
      timers === null ||
      typeof (timers as Timers).setTimeout !== 'function' ||
      typeof (timers as Timers).clearTimeout !== 'function')
  ) {
    throw invalidRequest(
      `Expected \`timers\` to be false or an object with setTimeout and clearTimeout, got ${describeValue(timers)}`,
    )
  }
  return { defaultTtl, maxTtl }
}

/** The store's options, each read once and checked. */
export interface StoreInput {
  readonly settings: StoreSettings
  /** `undefined`: a new `MemoryStorage`. */
  readonly storage: Storage | undefined
  readonly clock: () => UnixMillis
  /** Current first. */
  readonly secrets: Uint8Array[]
  readonly timers: Timers | false | undefined
}

/** The methods every storage has (see {@link Storage}). */
const STORAGE_METHODS = [
  'insertToken',
  'getToken',
  'getTokenByAccessor',
  'getLiveToken',
  'useToken',
  'renewToken',
  'markRevoking',
  'listChildren',
  'orphanChildren',
  'deleteToken',
  'findByPathPrefix',
  'listExpiredTokens',
  'nextExpiry',
  'insertLease',
  'getLease',
  'renewLease',
  'deleteLease',
  'listLeases',
  'findLeasesByPrefix',
  'listExpiredLeases',
  'listRevoking',
] as const

/** The methods a storage may have. */
const OPTIONAL_STORAGE_METHODS = [
  'deleteSubtree',
  'sweepExpired',
  'putRole',
  'getRole',
  'listRoles',
  'deleteRole',
  'tidy',
  'subscribe',
  'close',
] as const

/**
 * Reads and checks the options of `new TokenStore()`. Call it inside `readInput`: a getter that throws, in the
 * options or on the storage, then becomes `invalid_request`.
 *
 * @throws {@link TokenStoreError} `invalid_request` for a malformed option, a storage missing a method, or a
 * shared storage without `secret`.
 */
export function readStoreOptions(options: TokenStoreOptions): StoreInput {
  checkKeys(options, STORE_OPTION_KEYS, 'TokenStore options')
  // One read of each option: what is checked is what is used.
  const read: TokenStoreOptions = { ...options }
  const settings = normalizeStoreOptions(read)
  const storage = read.storage === undefined ? undefined : checkStorage(read.storage)
  if (storage?.shared === true && read.secret === undefined) {
    throw invalidRequest(
      'Expected the `secret` option with a storage shared with other processes (`storage.shared`): without it each ' +
        'process would hash tokens under a random secret of its own, and every token would be lost to the others ' +
        'and at the next restart',
    )
  }
  const timers = read.timers
  return {
    settings,
    storage,
    clock: read.clock ?? Date.now,
    secrets: normalizeSecrets(read.secret),
    timers,
  }
}

/** Checks that `storage` has every method of {@link Storage} and a boolean or absent `shared`. */
function checkStorage(storage: unknown): Storage {
  if (typeof storage !== 'object' || storage === null) {
    throw invalidRequest(
      `Expected \`storage\` to be a Storage object, got ${describeValue(storage)}`,
    )
  }
  const candidate = storage as Record<string, unknown>
  for (const name of STORAGE_METHODS) {
    if (typeof candidate[name] !== 'function') {
      throw invalidRequest(`Expected \`storage\` to have a \`${name}\` method`)
    }
  }
  for (const name of OPTIONAL_STORAGE_METHODS) {
    const method = candidate[name]
    if (method !== undefined && typeof method !== 'function') {
      throw invalidRequest(`Expected \`storage.${name}\` to be a method or absent`)
    }
  }
  const shared = candidate['shared']
  if (shared !== undefined && typeof shared !== 'boolean') {
    throw invalidRequest(
      `Expected \`storage.shared\` to be a boolean or absent, got ${describeValue(shared)}`,
    )
  }
  return storage as Storage
}

/** Checks `create` options. */
export function normalizeCreateOptions(options: CreateTokenOptions): CreateRequest {
  checkKeys(options, CREATE_OPTION_KEYS, 'create options')
  const numUses = checkNumUses(options.numUses ?? 0, 'numUses')
  const policies = options.policies === undefined ? [] : parsePolicies(options.policies)
  return {
    parent: options.parent === undefined ? null : checkString(options.parent, 'parent'),
    id: options.id === undefined ? null : checkCustomId(options.id),
    policies: policies.length === 0 ? null : policies,
    metadata: normalizeMetadata(options.metadata),
    noParent: checkBoolean(options.noParent, 'noParent', false),
    orphan: checkBoolean(options.orphan, 'orphan', false),
    ttl: parseDuration(options.ttl ?? 0, 'ttl'),
    explicitMaxTtl: parseDuration(options.explicitMaxTtl ?? 0, 'explicitMaxTtl'),
    period: parseDuration(options.period ?? 0, 'period'),
    displayName: normalizeDisplayName(options.displayName),
    numUses,
    renewable: checkBoolean(options.renewable, 'renewable', true),
    noDefaultPolicy: checkBoolean(options.noDefaultPolicy, 'noDefaultPolicy', false),
    path: options.path === undefined ? null : normalizePath(options.path, 'path'),
    role: options.role === undefined ? null : checkRoleName(options.role),
    type: options.type === undefined ? null : checkTokenType(options.type),
  }
}

function checkTokenType(value: unknown): TokenType {
  if (value !== 'service' && value !== 'batch') {
    throw invalidRequest(
      `Expected \`type\` to be 'service' or 'batch', got ${describeValue(value)}`,
    )
  }
  return value
}

/** Checks `createRoot` options. */
export function normalizeRootOptions(options: CreateRootOptions): {
  id: string | null
  metadata: Readonly<Record<string, string>>
  displayName: string
} {
  checkKeys(options, ROOT_OPTION_KEYS, 'createRoot options')
  const displayName =
    options.displayName === undefined ? 'root' : checkString(options.displayName, 'displayName')
  if (displayName.length > MAX_DISPLAY_NAME_LENGTH) {
    throw invalidRequest(
      `Expected \`displayName\` to be at most ${MAX_DISPLAY_NAME_LENGTH} characters`,
    )
  }
  if (UNSTORABLE_TEXT.test(displayName)) {
    throw invalidRequest('Expected `displayName` without NUL characters or lone surrogates')
  }
  return {
    id: options.id === undefined ? null : checkCustomId(options.id),
    metadata: normalizeMetadata(options.metadata),
    displayName,
  }
}

/**
 * A source path or prefix without leading or trailing `/`.
 *
 * @throws {@link TokenStoreError} `invalid_request` unless it is slash-separated URL-safe segments.
 */
export function normalizePath(value: unknown, field: string): string {
  const path = checkString(value, field).replace(/\/+$/, '')
  if (path.length > MAX_PATH_LENGTH || !PATH_PATTERN.test(path)) {
    throw invalidRequest(
      `Expected \`${field}\` to be a path such as 'auth/github/login', got ${describeValue(value)}`,
    )
  }
  return path
}

/** Checks a caller-supplied token id or accessor argument. */
export function checkString(value: unknown, field: string): string {
  if (typeof value !== 'string') {
    throw invalidRequest(`Expected \`${field}\` to be a string, got ${describeValue(value)}`)
  }
  return value
}

function checkCustomId(value: unknown): string {
  const id = checkString(value, 'id')
  if (id.length > MAX_TOKEN_LENGTH || !CUSTOM_ID_PATTERN.test(id)) {
    throw invalidRequest(
      `Expected \`id\` to be 1 to ${MAX_TOKEN_LENGTH} printable ASCII characters without '.', got ${describeValue(value)}`,
    )
  }
  return id
}

function checkBoolean(value: unknown, field: string, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') {
    throw invalidRequest(`Expected \`${field}\` to be a boolean, got ${describeValue(value)}`)
  }
  return value
}

/**
 * What no stored free text may hold, on any storage: NUL (PostgreSQL's text and jsonb cannot hold it) and a lone
 * UTF-16 surrogate (`JSON.stringify` writes it as a `\ud800` escape, which PostgreSQL's jsonb refuses). Refused up
 * front, so that every storage takes the same input, and a bad value is `invalid_request`, never an outage.
 */
// eslint-disable-next-line no-control-regex
export const UNSTORABLE_TEXT = /\u0000|\p{Cs}/u

/** Checks metadata: at most 64 string keys of 1 to 128 characters, string values of at most 512. */
export function normalizeMetadata(value: unknown): Readonly<Record<string, string>> {
  if (value === undefined) return NO_METADATA
  if (!isPlainObject(value)) {
    throw invalidRequest(
      `Expected \`metadata\` to be an object of strings, got ${describeValue(value)}`,
    )
  }
  const entries = Object.entries(value)
  if (entries.length > MAX_METADATA_KEYS) {
    throw invalidRequest(
      `Expected \`metadata\` to have at most ${MAX_METADATA_KEYS} keys, got ${entries.length}`,
    )
  }
  if (entries.length === 0) return NO_METADATA
  for (const [key, item] of entries) {
    if (UNSTORABLE_TEXT.test(key) || (typeof item === 'string' && UNSTORABLE_TEXT.test(item))) {
      throw invalidRequest(
        'Expected `metadata` keys and values without NUL characters or lone surrogates',
      )
    }
    if (key.length === 0 || key.length > MAX_METADATA_KEY_LENGTH) {
      throw invalidRequest(
        `Expected \`metadata\` keys to be 1 to ${MAX_METADATA_KEY_LENGTH} characters`,
      )
    }
    if (typeof item !== 'string' || item.length > MAX_METADATA_VALUE_LENGTH) {
      throw invalidRequest(
        `Expected \`metadata\` values to be strings of at most ${MAX_METADATA_VALUE_LENGTH} characters, got ${describeValue(item)}`,
      )
    }
  }
  // fromEntries defines own properties, so a '__proto__' key stays a plain key and pollutes nothing.
  return Object.freeze(Object.fromEntries(entries) as Record<string, string>)
}

function normalizeDisplayName(value: unknown): string {
  if (value === undefined) return 'token'
  const name = checkString(value, 'displayName')
  if (name.length > MAX_DISPLAY_NAME_LENGTH) {
    throw invalidRequest(
      `Expected \`displayName\` to be at most ${MAX_DISPLAY_NAME_LENGTH} characters, got ${name.length}`,
    )
  }
  if (name === '') return 'token'
  // Vault's rule: prefix, replace unsafe characters, drop one trailing '-'.
  const full = `token-${name}`.replace(DISPLAY_NAME_UNSAFE, '-')
  return full.endsWith('-') ? full.slice(0, -1) : full
}
