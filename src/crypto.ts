/**
 * Token ids, accessors and their keyed hash.
 *
 * Ids and accessors come from nanoid, which draws from the CSPRNG (`crypto.getRandomValues`). Token ids are
 * stored only as HMAC-SHA-256 under a per-store secret: a copy of the storage alone does not yield usable tokens,
 * and without the secret the hashes cannot be checked against guesses offline.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'

import { random } from 'nanoid'

import { HmacSha256 } from './hmac.js'

import type { Accessor, HashedTokenId, TokenId } from './types.js'

/** Prefix of service token ids, as in Vault (`hvs.`), so a leaked token is recognisable to secret scanners. */
export const SERVICE_TOKEN_PREFIX = 'hvs.'

/** Random bytes in a token id: 192 bits, written as 32 URL-safe characters. */
const TOKEN_ID_BYTES = 24

/** Random bytes in an accessor: 144 bits, written as 24 characters, the length of Vault's accessors. */
const ACCESSOR_BYTES = 18

/** Bytes of a generated per-store HMAC secret. */
const SECRET_BYTES = 32

/** A new random token id. */
export function newTokenId(): TokenId {
  return (SERVICE_TOKEN_PREFIX + randomString(TOKEN_ID_BYTES)) as TokenId
}

/** A new random accessor. */
export function newAccessor(): Accessor {
  return randomString(ACCESSOR_BYTES)
}

/**
 * `bytes` random bytes from nanoid's pool (filled from the CSPRNG, `crypto.getRandomValues`), in base64url: the
 * same 64-character alphabet as `nanoid()`, 6 bits a character. Encoding the bytes in one call is faster than
 * nanoid's character-at-a-time loop and yields a flat string rather than a rope of pieces.
 */
export function randomString(bytes: number): string {
  const view = random(bytes)
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength).toString('base64url')
}

/**
 * The string, flattened. A string built by concatenation is a rope of pieces to V8 (~380 bytes for 24 characters
 * built one at a time). Reading a character makes V8 flatten the rope in place, and the collector then drops the
 * pieces: worth ~40 ns for an id kept as long as its token or lease.
 */
export function flat(text: string): string {
  text.charCodeAt(0)
  return text
}

/** A new random HMAC secret, for a store whose tokens live no longer than the process (the in-memory default). */
export function newSecret(): Uint8Array {
  return randomBytes(SECRET_BYTES)
}

/** Computes the keyed hashes of token ids under one secret. */
export class TokenHasher {
  readonly #hmac: HmacSha256

  constructor(secret: string | Uint8Array) {
    this.#hmac = new HmacSha256(typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret)
  }

  /** HMAC-SHA-256 of the token id, base64url: what storage keys the token by. */
  hash(id: string): HashedTokenId {
    return this.#hmac.digest(id) as HashedTokenId
  }
}

/** Compares two byte strings in time that depends only on their lengths, for comparing secrets. */
export function constantTimeBytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && timingSafeEqual(a, b)
}

/** Compares two strings in time that depends only on their lengths, for comparisons that touch secrets. */
export function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8')
  const right = Buffer.from(b, 'utf8')
  // Compare equal-length buffers so the running time does not reveal where they differ.
  const same = timingSafeEqual(left.length === right.length ? left : right, right)
  return same && left.length === right.length
}
