/**
 * Batch tokens: the token carries its own entry, sealed with AES-256-GCM, so creating one writes nothing.
 *
 * The key is derived from the store's secret with HKDF under a label of its own, so the HMAC key that hashes
 * service token ids and the batch key never coincide. GCM's tag authenticates the whole entry: a batch token cannot
 * be read without the key, and any change to it is refused.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'

import type { HashedTokenId, UnixMillis } from './types.js'

/** Prefix of batch tokens, as in Vault (`hvb.`). */
export const BATCH_TOKEN_PREFIX = 'hvb.'

/** Longest batch token accepted: an entry with 256 policies and 64 metadata pairs still fits. */
export const MAX_BATCH_TOKEN_LENGTH = 65_536

/** HKDF label of the batch key. Changing it invalidates every batch token. */
const KEY_LABEL = 'tokentree batch token key v1'

/** Bound into the tag, so a sealed entry cannot be replayed as anything but a v1 batch token. */
const ASSOCIATED_DATA = Buffer.from('hvb.v1', 'utf8')

const IV_BYTES = 12
const TAG_BYTES = 16

/** What a batch token carries. Field names are short: they travel in every request. */
export interface BatchEntry {
  /** Hashed id of the parent, or `null` for an orphan. */
  readonly p: HashedTokenId | null
  /** Policies. */
  readonly pol: readonly string[]
  /** Source path. */
  readonly path: string
  /** Metadata. */
  readonly m: Readonly<Record<string, string>>
  /** Display name. */
  readonly dn: string
  /** Creation time. */
  readonly c: UnixMillis
  /** TTL granted, in seconds. */
  readonly ttl: number
  /** Expiry. */
  readonly e: UnixMillis
}

/** Seals and opens batch tokens under one store secret. */
export class BatchTokenCodec {
  readonly #key: Buffer

  constructor(secret: string | Uint8Array) {
    const material = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret
    this.#key = Buffer.from(hkdfSync('sha256', material, Buffer.alloc(0), KEY_LABEL, 32))
  }

  /** A new batch token carrying `entry`. */
  seal(entry: BatchEntry): string {
    const iv = randomBytes(IV_BYTES)
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv)
    cipher.setAAD(ASSOCIATED_DATA)
    const sealed = Buffer.concat([cipher.update(JSON.stringify(entry), 'utf8'), cipher.final()])
    return (
      BATCH_TOKEN_PREFIX + Buffer.concat([iv, sealed, cipher.getAuthTag()]).toString('base64url')
    )
  }

  /**
   * The entry of a batch token, or `null` when it was not sealed under this key or was altered. Only the exact
   * string {@link BatchTokenCodec.seal} wrote opens: see {@link decodeBatchToken}.
   */
  open(token: string): BatchEntry | null {
    const bytes = decodeBatchToken(token)
    if (bytes === null) return null
    return this.openBytes(bytes)
  }

  /** The entry sealed in the bytes of a batch token ({@link decodeBatchToken}), or `null`. */
  openBytes(bytes: Buffer): BatchEntry | null {
    if (bytes.length <= IV_BYTES + TAG_BYTES) return null
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, bytes.subarray(0, IV_BYTES))
      decipher.setAAD(ASSOCIATED_DATA)
      decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES))
      const plain = Buffer.concat([
        decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)),
        decipher.final(),
      ])
      return JSON.parse(plain.toString('utf8')) as BatchEntry
    } catch {
      // A wrong tag (forged, altered, or another store's token) throws in final().
      return null
    }
  }
}

/** Canonical unpadded base64url: only the alphabet, and a length no encoder writes is refused too. */
const BASE64URL = /^[A-Za-z0-9_-]*$/

/**
 * The sealed bytes of a batch token, or `null` unless the token is exactly the string an encoder writes for them.
 * Node's base64url decoder is lenient: it skips characters outside the alphabet (a space, `!`, padding `=` and
 * whatever follows), reads `+` and `/` as `-` and `_`, and ignores the unused low bits of the last character, so
 * many strings decode to the bytes of one token. Re-encoding and comparing refuses every one of them but the
 * original, so that a token is valid only as issued.
 */
export function decodeBatchToken(token: string): Buffer | null {
  if (!token.startsWith(BATCH_TOKEN_PREFIX)) return null
  const body = token.slice(BATCH_TOKEN_PREFIX.length)
  if (!BASE64URL.test(body)) return null
  const bytes = Buffer.from(body, 'base64url')
  return bytes.toString('base64url') === body ? bytes : null
}

/** Whether a presented token is a batch token (custom service ids cannot contain '.'). */
export function isBatchToken(token: string): boolean {
  return token.startsWith(BATCH_TOKEN_PREFIX)
}
