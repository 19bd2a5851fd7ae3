/**
 * The MAC of batch tokens: HMAC-SHA-256 (RFC 2104) of a string's UTF-8 bytes, under a 64-byte key whose bytes are
 * all below 0x80.
 *
 * Why such a key: its inner pad `K ⊕ ipad` is then ASCII too, so it can be a string, and the inner hash is one
 * `crypto.hash` over `pad + text`: `crypto.hash` encodes a string to UTF-8 itself, which leaves ASCII as it is, so
 * the bytes hashed are exactly `(K ⊕ ipad) ‖ UTF-8(text)`. That saves what `HmacSha256` (hmac.ts) does first,
 * copying the text into a scratch buffer and zeroing it after: a fifth of the MAC's cost. A 64-byte key is a full
 * block, which HMAC uses as is; with the top bit of each byte cleared it carries 448 random bits, still far more than
 * the 256 a SHA-256 MAC can use.
 * The outer hash takes bytes (the inner digest is binary), so it keeps a buffer: `K ⊕ opad`, then the digest.
 *
 * The output is what `createHmac('sha256', key)` gives for the same key and string, which the tests check; without
 * `crypto.hash` (Node before 20.12), `createHmac` is used.
 */
import * as crypto from 'node:crypto'

/** SHA-256's block size, and the key's length. */
export const TEXT_MAC_KEY_BYTES = 64

/** SHA-256's digest size. */
const DIGEST_BYTES = 32

/** `crypto.hash`, where this Node has it (20.12+, 21.7+). */
const oneShotHash = (crypto as { hash?: typeof crypto.hash }).hash

/** Computes HMAC-SHA-256 of strings, in base64url, under one key of 64 bytes each below 0x80. */
export class TextMac {
  readonly #key: crypto.KeyObject
  /** `K ⊕ ipad` as a string: one character a byte, all ASCII. */
  readonly #innerPad: string
  /** `K ⊕ opad`, then room for the inner digest. */
  readonly #outer = Buffer.alloc(TEXT_MAC_KEY_BYTES + DIGEST_BYTES)

  /**
   * @param key - 64 bytes, each below 0x80 (see {@link asciiKey}).
   * @throws RangeError for another length or a byte of 0x80 or more: such a pad would not survive UTF-8.
   */
  constructor(key: Uint8Array) {
    if (key.byteLength !== TEXT_MAC_KEY_BYTES || key.some((byte) => byte >= 0x80)) {
      throw new RangeError(`TextMac: expected a key of ${TEXT_MAC_KEY_BYTES} bytes below 0x80`)
    }
    this.#key = crypto.createSecretKey(key)
    const inner = Buffer.alloc(TEXT_MAC_KEY_BYTES)
    for (let i = 0; i < TEXT_MAC_KEY_BYTES; i++) {
      inner[i] = (key[i] as number) ^ 0x36
      this.#outer[i] = (key[i] as number) ^ 0x5c
    }
    this.#innerPad = inner.toString('latin1')
    inner.fill(0)
  }

  /** HMAC-SHA-256 of the string's UTF-8 bytes, in unpadded base64url. */
  digest(text: string): string {
    if (oneShotHash === undefined) {
      return crypto.createHmac('sha256', this.#key).update(text).digest('base64url')
    }
    // 'binary' (latin1) hands the 32 digest bytes over as a one-byte string: much cheaper than a new Buffer.
    const innerDigest = oneShotHash('sha256', this.#innerPad + text, 'binary')
    this.#outer.write(innerDigest, TEXT_MAC_KEY_BYTES, 'latin1')
    return oneShotHash('sha256', this.#outer, 'base64url')
  }
}

/** `bytes` (64 of them, e.g. from HKDF) with each top bit cleared: a key {@link TextMac} accepts. */
export function asciiKey(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.map((byte) => byte & 0x7f))
}
