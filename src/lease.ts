/**
 * Leases: records of secrets the host issued under a token. Option checks and the public result types.
 */
import { flat, randomString } from './crypto.js'
import { parseDuration } from './duration.js'
import { describeValue, invalidRequest } from './errors.js'
import { checkKeys } from './option-object.js'
import { UNSTORABLE_TEXT, normalizePath } from './options.js'
import type { Duration, LeaseId, Seconds } from './types.js'

/** Options of `TokenStore.createLease()`. */
export interface CreateLeaseOptions {
  /** The secret's path, e.g. `aws/creds/deploy`: the lease id starts with it, for `revokePrefix`. */
  readonly path: string
  /** The lease's TTL. Absent or `0`: the store's `defaultTtl`. Capped by `maxTtl`. */
  readonly ttl?: Duration
  /** Whether `renewLease` may extend it. @default true */
  readonly renewable?: boolean
  /**
   * JSON-safe data handed back in the lease's `revoked` event, so the host can destroy the secret (say, the id of
   * an AWS key). It is kept in storage and never returned by `lookupLease`. At most 64 KiB as JSON.
   */
  readonly data?: unknown
}

/** What `createLease` and `renewLease` return, shaped like the lease fields of a Vault secret response. */
export interface LeaseGrant {
  /** The lease id: `<path>/<random suffix>`. */
  readonly leaseId: LeaseId
  /** Seconds until the lease expires. @remarks Seconds. */
  readonly leaseDuration: Seconds
  /** Whether the lease can be renewed. */
  readonly renewable: boolean
  /** Present when the request was granted in part, e.g. a TTL shortened to the max TTL. */
  readonly warnings?: readonly string[]
}

/** What `lookupLease` returns, shaped like Vault's `sys/leases/lookup`. Never the lease's `data`. */
export interface LeaseInfo {
  readonly leaseId: LeaseId
  /** The secret's path. */
  readonly path: string
  /** The TTL granted by the latest issue or renewal. @remarks Seconds. */
  readonly leaseDuration: Seconds
  /** Seconds left. @remarks Seconds. */
  readonly ttl: Seconds
  readonly expireTime: Date
  readonly renewable: boolean
  readonly issueTime: Date
  readonly lastRenewalTime: Date | null
}

/** A checked `createLease` request. */
export interface LeaseRequest {
  readonly path: string
  readonly ttl: Seconds
  readonly renewable: boolean
  readonly data: unknown
}

/** Random bytes after the path in a lease id: 144 bits, 24 characters, as long as Vault's. */
const LEASE_SUFFIX_BYTES = 18

/** Largest `data` accepted, as JSON. */
const MAX_LEASE_DATA_BYTES = 64 * 1024

const LEASE_OPTION_KEYS = new Set(['path', 'ttl', 'renewable', 'data'])

/** A new lease id under `path`. */
export function newLeaseId(path: string): LeaseId {
  return flat(`${path}/${randomString(LEASE_SUFFIX_BYTES)}`)
}

/**
 * Checks `createLease` options. `data` is copied through JSON, so later changes to the caller's object do not
 * reach the store, and every adapter stores the same thing.
 */
export function normalizeLeaseOptions(options: CreateLeaseOptions): LeaseRequest {
  checkKeys(options, LEASE_OPTION_KEYS, 'lease options')
  const renewable = options.renewable ?? true
  if (typeof renewable !== 'boolean') {
    throw invalidRequest(`Expected \`renewable\` to be a boolean, got ${describeValue(renewable)}`)
  }
  return {
    path: normalizePath(options.path, 'path'),
    ttl: parseDuration(options.ttl ?? 0, 'ttl'),
    renewable,
    data: copyJson(options.data),
  }
}

function copyJson(data: unknown): unknown {
  if (data === undefined) return null
  let json: string | undefined
  // An object, not a `let`: the replacer sets it, which the compiler's narrowing does not see.
  const found = { unstorable: false }
  try {
    json = JSON.stringify(data, (key, value: unknown) => {
      if (UNSTORABLE_TEXT.test(key) || (typeof value === 'string' && UNSTORABLE_TEXT.test(value))) {
        found.unstorable = true
      }
      return value
    })
  } catch {
    json = undefined
  }
  if (found.unstorable) {
    throw invalidRequest(
      'Expected lease `data` without NUL characters or lone surrogates in its keys and strings',
    )
  }
  if (json === undefined) {
    throw invalidRequest(
      `Expected lease \`data\` to be JSON-serializable, got ${describeValue(data)}`,
    )
  }
  if (Buffer.byteLength(json, 'utf8') > MAX_LEASE_DATA_BYTES) {
    throw invalidRequest(
      `Expected lease \`data\` to be at most ${MAX_LEASE_DATA_BYTES} bytes as JSON`,
    )
  }
  return JSON.parse(json) as unknown
}
