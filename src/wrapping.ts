/**
 * Response wrapping, as Vault's `wrapping.go` does it: a value is held for a single-use, orphan wrapping token with
 * the policy `response-wrapping`, and handed out once, to whoever presents that token first.
 *
 * The held value is sealed with AES-256-GCM into a field of the wrapping token's own record, so that it lives and
 * dies with the token on every storage (used, revoked, expired, swept: the record and the ciphertext go together).
 * Its key is derived from the store's secret (HKDF) AND the wrapping token id itself (HMAC under that key): a copy of the storage
 * together with the store's secret still cannot open it without the wrapping token, which is stored only as a keyed
 * hash. The hashed id is bound into the GCM tag, so a sealed value moved to another record does not open.
 *
 * This module is pure (no storage, no clock): `TokenStore` orchestrates.
 *
 * @packageDocumentation
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto'

import { describeValue, invalidRequest } from './errors.js'
import { parseDuration } from './duration.js'
import { normalizePath } from './options.js'
import type { Accessor, Duration, HashedTokenId, Seconds, TokenRecord } from './types.js'

/** The one policy of a wrapping token, as in Vault (`responseWrappingPolicyName`). */
export const RESPONSE_WRAPPING_POLICY = 'response-wrapping'

/** The creation path of a value wrapped by `store.wrap` without `creationPath`: Vault's `sys/wrapping/wrap`. */
export const DEFAULT_WRAP_CREATION_PATH = 'sys/wrapping/wrap'

/** Shortest wrapping TTL: one second. A wrapping TTL of zero would mean "do not wrap", which is never done silently. */
export const MIN_WRAP_TTL: Seconds = 1

/** Longest wrapping TTL: 32 days, Vault's default system max TTL. @remarks Seconds. */
export const MAX_WRAP_TTL: Seconds = 32 * 24 * 60 * 60

/** Largest wrapped value, as JSON: 1 MiB. It is stored in the token's record, so keep it to secrets, not files. */
export const MAX_WRAPPED_BYTES = 1024 * 1024

/** HKDF label of the wrapping master key. Changing it makes every held value unreadable. */
const MASTER_LABEL = 'tokentree wrapping key v1'

/**
 * Label of one token's key: HMAC-SHA-256 under the master key of this label, a zero byte and the wrapping token id
 * (HKDF-Expand's single block, without its round trip through the crypto job queue: an eighth of the time).
 */
const TOKEN_KEY_LABEL = 'tokentree wrapped value v1\0'

/** Version prefix of a sealed value: the format can change without misreading old records. */
const SEALED_PREFIX = 'w1.'

const IV_BYTES = 12
const TAG_BYTES = 16
const KEY_BYTES = 32

/** Options of `store.wrap`. */
export interface WrapOptions {
  /**
   * How long the wrapping token lives, in seconds or as a duration string (`'5m'`). Between 1 second and 32 days.
   * Vault's clients send it as the `X-Vault-Wrap-TTL` header.
   */
  readonly ttl: Duration
  /**
   * The path the wrapped value came from, reported by `lookupWrapping` (Vault's `creation_path`) so that the
   * recipient can check it got what it expected (a token from `auth/token/create`, not something else).
   * @default 'sys/wrapping/wrap'
   */
  readonly creationPath?: string
  /**
   * The accessor of a token being wrapped, echoed as {@link WrapInfo.wrappedAccessor} so that the host can log it
   * or revoke the wrapped token by accessor without ever seeing it again. Not stored.
   */
  readonly wrappedAccessor?: Accessor
}

/** What `store.wrap` and `store.rewrap` resolve to: Vault's `wrap_info`. Hand `token` to the recipient. */
export interface WrapInfo {
  /** The wrapping token: single use, orphan, policy `response-wrapping`. The only way to the wrapped value. */
  readonly token: string
  /** The wrapping token's accessor (to look it up or revoke it without using it). */
  readonly accessor: Accessor
  /** The wrapping token's TTL. @remarks Seconds. */
  readonly ttl: Seconds
  /** When the wrapping token was created. */
  readonly creationTime: Date
  /** The path the wrapped value came from. */
  readonly creationPath: string
  /** The accessor of the wrapped token, when one was given (Vault's `wrapped_accessor`). */
  readonly wrappedAccessor?: Accessor
}

/** What `store.lookupWrapping` resolves to: Vault's `sys/wrapping/lookup`, which spends no use. */
export interface WrappingLookup {
  /** The TTL the wrapping token was created with. @remarks Seconds. */
  readonly creationTtl: Seconds
  /** When the wrapping token was created. */
  readonly creationTime: Date
  /** The path the wrapped value came from. */
  readonly creationPath: string
}

/** Checked {@link WrapOptions} and the value as JSON. */
export interface WrapRequest {
  readonly ttl: Seconds
  readonly creationPath: string
  readonly wrappedAccessor: Accessor | null
  readonly plaintext: string
}

/**
 * Checks a wrapping TTL: seconds or a duration string, between {@link MIN_WRAP_TTL} and {@link MAX_WRAP_TTL}.
 *
 * @throws {@link TokenStoreError} `invalid_request` otherwise.
 */
export function parseWrapTtl(value: Duration, field = 'ttl'): Seconds {
  const ttl = parseDuration(value, field)
  if (ttl < MIN_WRAP_TTL || ttl > MAX_WRAP_TTL) {
    throw invalidRequest(
      `Expected \`${field}\` to be between ${MIN_WRAP_TTL} second and ${MAX_WRAP_TTL} seconds (32 days), got ${ttl}`,
    )
  }
  return ttl
}

/**
 * Checks the arguments of `store.wrap`.
 *
 * @throws {@link TokenStoreError} `invalid_request` for a value that is not JSON (or is larger than
 * {@link MAX_WRAPPED_BYTES}), a TTL out of range, or a malformed path or accessor.
 */
export function normalizeWrapOptions(payload: unknown, options: WrapOptions): WrapRequest {
  if (typeof options !== 'object' || (options as unknown) === null) {
    throw invalidRequest(`Expected the options to be an object, got ${describeValue(options)}`)
  }
  const ttl = parseWrapTtl(options.ttl)
  const creationPath =
    options.creationPath === undefined
      ? DEFAULT_WRAP_CREATION_PATH
      : normalizePath(options.creationPath, 'creationPath')
  const wrappedAccessor = options.wrappedAccessor ?? null
  if (wrappedAccessor !== null && typeof wrappedAccessor !== 'string') {
    throw invalidRequest(
      `Expected \`wrappedAccessor\` to be a string, got ${describeValue(wrappedAccessor)}`,
    )
  }
  let plaintext: string | undefined
  try {
    plaintext = JSON.stringify(payload)
  } catch {
    // A cycle or a BigInt.
    plaintext = undefined
  }
  if (plaintext === undefined) {
    throw invalidRequest(
      `Expected the value to wrap to be JSON-serialisable, got ${describeValue(payload)}`,
    )
  }
  if (Buffer.byteLength(plaintext, 'utf8') > MAX_WRAPPED_BYTES) {
    throw invalidRequest(
      `Expected the value to wrap to be at most ${MAX_WRAPPED_BYTES} bytes as JSON`,
    )
  }
  return { ttl, creationPath, wrappedAccessor, plaintext }
}

/** Whether a token is a wrapping token: exactly the policy `response-wrapping`, as Vault checks it. */
export function isWrappingPolicies(policies: readonly string[]): boolean {
  return policies.length === 1 && policies[0] === RESPONSE_WRAPPING_POLICY
}

/** Whether a stored record is a wrapping token holding a value. */
export function isWrappingRecord(
  record: TokenRecord,
): record is TokenRecord & { readonly wrapped: string } {
  return typeof record.wrapped === 'string' && isWrappingPolicies(record.policies)
}

/**
 * Seals and opens held values under one store secret. The master key is derived once; each token's key is derived
 * from it and the wrapping token id, so it exists only while someone holds that token.
 */
export class WrappingCodec {
  readonly #masters: readonly Buffer[]

  /**
   * @param secrets - The store's secrets, current first (the ones that key token hashes; HKDF gives the keys
   *   apart). Values are sealed under the current one and opened under any, so rotation keeps them readable.
   */
  constructor(secrets: readonly (string | Uint8Array)[]) {
    this.#masters = secrets.map(deriveMasterKey)
  }

  /** Seals `plaintext` for the wrapping token `token`, whose hashed id is `id`. */
  seal(plaintext: string, token: string, id: HashedTokenId): string {
    const iv = randomBytes(IV_BYTES)
    const cipher = createCipheriv('aes-256-gcm', tokenKey(this.#masters[0] as Buffer, token), iv)
    cipher.setAAD(associatedData(id))
    const sealed = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
    return SEALED_PREFIX + Buffer.concat([iv, sealed, cipher.getAuthTag()]).toString('base64url')
  }

  /** The plaintext, or `null` when `sealed` was not sealed for this token and record under one of the secrets. */
  open(sealed: string, token: string, id: HashedTokenId): string | null {
    if (!sealed.startsWith(SEALED_PREFIX)) return null
    const bytes = Buffer.from(sealed.slice(SEALED_PREFIX.length), 'base64url')
    if (bytes.length < IV_BYTES + TAG_BYTES) return null
    for (const master of this.#masters) {
      const plaintext = openWith(tokenKey(master, token), bytes, id)
      if (plaintext !== null) return plaintext
    }
    return null
  }
}

/** Opens `bytes` (iv, ciphertext, tag) with `key`, or `null` when the tag does not verify. */
function openWith(key: Buffer, bytes: Buffer, id: HashedTokenId): string | null {
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, IV_BYTES))
    decipher.setAAD(associatedData(id))
    decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES))
    return Buffer.concat([
      decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)),
      decipher.final(),
    ]).toString('utf8')
  } catch {
    // A wrong tag (another token, another record, another secret, or altered bytes) throws in final().
    return null
  }
}

/** The key that seals the value held for one wrapping token. */
function tokenKey(master: Buffer, token: string): Buffer {
  return createHmac('sha256', master).update(TOKEN_KEY_LABEL).update(token).digest()
}

/**
 * The wrapping master key of a store secret. The one place a secret enters wrapping: values are sealed under the
 * current secret's key, and each key is tried to open them, so a rotation keeps held values readable.
 */
export function deriveMasterKey(secret: string | Uint8Array): Buffer {
  const material = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret
  return Buffer.from(hkdfSync('sha256', material, Buffer.alloc(0), MASTER_LABEL, KEY_BYTES))
}

/** Binds the sealed value to the record it is stored in. */
function associatedData(id: HashedTokenId): Buffer {
  return Buffer.from(`${SEALED_PREFIX}${id}`, 'utf8')
}
