/**
 * Batch tokens: the token carries its own entry, encrypted and authenticated, so creating one writes nothing.
 *
 * Encrypt-then-MAC: the entry ({@link encodeEntry}) is encrypted under a random 96-bit nonce with the keystream of
 * {@link NonceKeystream} (SP 800-56C's one-step KDF over SHA-512), and the token's text after the tag is
 * authenticated with HMAC-SHA-256 (truncated to 240 bits): `hvb.` + base64url(tag) + base64url(nonce ‖ ciphertext).
 * Opening checks the tag first, in constant time, over the exact text presented, so only the string issued opens
 * (no decoding happens before), and decrypts only then.
 *
 * Why these primitives: each is made of `crypto.hash` calls, which return a string and make no buffer. Node has no
 * one-shot cipher nor HMAC: a `Decipheriv` per token (AES-GCM, the first format) cost as much as a whole JWT
 * verification, and even one reused AES-ECB object as the CTR block function (the second) made a new buffer per
 * `update`, a fifth of the call. Here the MAC is two one-shot hashes ({@link TextMac}), the keystream one per 64
 * bytes of entry.
 *
 * The encryption and MAC keys are derived from the store's secret with HKDF under labels of their own, so they never
 * coincide with each other nor with the HMAC key that hashes service token ids.
 */
import { hkdfSync, randomFillSync } from 'node:crypto'

import { decodeEntry, encodeEntry } from './batch-entry.js'
import { KEYSTREAM_KEY_BYTES, KEYSTREAM_NONCE_BYTES, NonceKeystream } from './batch-keystream.js'
import { TEXT_MAC_KEY_BYTES, TextMac, asciiKey } from './batch-mac.js'
import type { HashedTokenId, UnixMillis } from './types.js'

/** Prefix of batch tokens, as in Vault (`hvb.`). */
export const BATCH_TOKEN_PREFIX = 'hvb.'

/** Longest batch token accepted: an entry with 256 policies and 64 metadata pairs still fits. */
export const MAX_BATCH_TOKEN_LENGTH = 65_536

/** HKDF labels of the two keys. Changing either, or the cipher, invalidates every batch token. */
const ENCRYPTION_KEY_LABEL = 'tokentree batch token encryption key v4'
const MAC_KEY_LABEL = 'tokentree batch token mac key v4'

const NONCE_BYTES = KEYSTREAM_NONCE_BYTES
/** The tag: the first 30 bytes of the HMAC, which are exactly its first 40 base64url characters. */
const TAG_CHARS = 40
/** Shortest token: prefix, tag, and the base64url of a nonce and a one-byte entry. */
const MIN_TOKEN_LENGTH = BATCH_TOKEN_PREFIX.length + TAG_CHARS + 18
/** Sealed texts up to this many base64url characters are decoded into {@link scratch}. */
const SCRATCH_CHARS = 4096
/**
 * Where {@link BatchTokenCodec.open} decodes the nonce and ciphertext and decrypts them in place (the plaintext is
 * zeroed before `open` returns). One for the module: `open` is synchronous, so no two calls ever share it.
 */
const scratch = Buffer.alloc((SCRATCH_CHARS / 4) * 3)

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
  readonly #keystream: NonceKeystream
  readonly #mac: TextMac

  constructor(secret: string | Uint8Array) {
    const material = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret
    const derive = (label: string, bytes: number): Buffer =>
      Buffer.from(hkdfSync('sha256', material, Buffer.alloc(0), label, bytes))
    const encryptionKey = derive(ENCRYPTION_KEY_LABEL, KEYSTREAM_KEY_BYTES)
    this.#keystream = new NonceKeystream(encryptionKey)
    encryptionKey.fill(0)
    const macKey = asciiKey(derive(MAC_KEY_LABEL, TEXT_MAC_KEY_BYTES))
    this.#mac = new TextMac(macKey)
    macKey.fill(0)
  }

  /** A new batch token carrying `entry`. */
  seal(entry: BatchEntry): string {
    const plain = encodeEntry(entry)
    const sealed = Buffer.alloc(NONCE_BYTES + plain.length)
    randomFillSync(sealed, 0, NONCE_BYTES)
    plain.copy(sealed, NONCE_BYTES)
    plain.fill(0)
    this.#keystream.apply(sealed, 0, NONCE_BYTES, plain.length)
    const text = sealed.toString('base64url')
    return BATCH_TOKEN_PREFIX + this.#mac.digest(text).slice(0, TAG_CHARS) + text
  }

  /**
   * The entry of a batch token, or `null` when it was not sealed under this key, or was altered in any character.
   */
  open(token: string): BatchEntry | null {
    if (
      token.length < MIN_TOKEN_LENGTH ||
      token.length > MAX_BATCH_TOKEN_LENGTH ||
      !token.startsWith(BATCH_TOKEN_PREFIX)
    ) {
      return null
    }
    const text = token.slice(BATCH_TOKEN_PREFIX.length + TAG_CHARS)
    if (!tagMatches(this.#mac.digest(text), token, BATCH_TOKEN_PREFIX.length)) return null
    // The text is exactly what seal() wrote: canonical base64url of nonce ‖ ciphertext. Decoded into the shared
    // scratch buffer when it fits: `Buffer.from` would allocate a buffer per call, which cost more than decoding.
    const sealed = text.length <= SCRATCH_CHARS ? scratch : Buffer.alloc(text.length)
    const end = sealed.write(text, 'base64url')
    if (end <= NONCE_BYTES) return null
    this.#keystream.apply(sealed, 0, NONCE_BYTES, end - NONCE_BYTES)
    try {
      return decodeEntry(sealed, NONCE_BYTES, end)
    } catch {
      // Unreachable for a token this codec sealed: the tag covers every byte.
      return null
    } finally {
      // The entry is the caller's now: its bytes need not outlive the call.
      sealed.fill(0, NONCE_BYTES, end)
    }
  }
}

/**
 * Whether the first {@link TAG_CHARS} characters of `expected` equal those of `token` from `offset`, in time that
 * does not depend on where they differ (the caller checked `token` is long enough).
 */
function tagMatches(expected: string, token: string, offset: number): boolean {
  let difference = 0
  for (let i = 0; i < TAG_CHARS; i++) {
    difference |= expected.charCodeAt(i) ^ token.charCodeAt(offset + i)
  }
  return difference === 0
}

/** Whether a presented token is a batch token (custom service ids cannot contain '.'). */
export function isBatchToken(token: string): boolean {
  return token.startsWith(BATCH_TOKEN_PREFIX)
}
