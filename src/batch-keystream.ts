/**
 * The keystream that encrypts batch tokens: the one-step key-derivation function of NIST SP 800-56C (Rev. 2,
 * §4.1, option 1, H = SHA-512) with the encryption key as the shared secret `Z` and the token's random 96-bit
 * nonce as `FixedInfo`: block i (from 1) is SHA-512(uint32be(i) ‖ Z ‖ nonce), and the keystream is the blocks in
 * order, cut to the plaintext's length. A fresh nonce per token gives a fresh keystream (a one-time pad from a
 * PRF); the token's MAC covers nonce and ciphertext (encrypt-then-MAC).
 *
 * Why not AES-256-CTR, which it was: Node has no AES call that writes into a buffer it is given, and every
 * `Cipher.update` hands its output back in a new `Buffer` made on the C++ side, which cost about 0.9 µs, whatever
 * the length: a fifth of a batch `authenticate`. `crypto.hash` returns its digest as a one-byte string, no buffer
 * made, for about 0.35 µs. SHA-512 rather than SHA-256: a call's cost is mostly the call, and SHA-512 gives 64 bytes
 * a call, so the usual entry (an orphan's few policies and metadata) takes one; counter, key and nonce are 48
 * bytes, one block.
 *
 * The output is exactly SP 800-56C's, which the tests check against a plain `createHash` computation.
 */
import * as crypto from 'node:crypto'

/** The encryption key's length: 256 bits. */
export const KEYSTREAM_KEY_BYTES = 32

/** The nonce's length: 96 bits, random per token. */
export const KEYSTREAM_NONCE_BYTES = 12

/** SHA-512's digest size: keystream bytes per block. */
const BLOCK_BYTES = 64
const COUNTER_BYTES = 4
/** Where the nonce goes in {@link NonceKeystream}'s hash input: after the counter and the key. */
const NONCE_OFFSET = COUNTER_BYTES + KEYSTREAM_KEY_BYTES

/** `crypto.hash`, where this Node has it (20.12+, 21.7+). */
const oneShotHash = (crypto as { hash?: typeof crypto.hash }).hash

/** The SHA-512 digest of `input` as a one-byte string. */
const sha512Latin1: (input: Buffer) => string =
  oneShotHash === undefined
    ? (input) => crypto.createHash('sha512').update(input).digest('binary')
    : (input) => oneShotHash('sha512', input, 'binary')

/** XORs the SP 800-56C keystream of one key and a given nonce into bytes. */
export class NonceKeystream {
  /** The hash input: counter ‖ key ‖ nonce. Holds the key for the codec's life, as the MAC's pads do theirs. */
  readonly #input = Buffer.alloc(NONCE_OFFSET + KEYSTREAM_NONCE_BYTES)

  /** @throws RangeError for a key of another length than {@link KEYSTREAM_KEY_BYTES}. */
  constructor(key: Uint8Array) {
    if (key.byteLength !== KEYSTREAM_KEY_BYTES) {
      throw new RangeError(`NonceKeystream: expected a key of ${KEYSTREAM_KEY_BYTES} bytes`)
    }
    this.#input.set(key, COUNTER_BYTES)
  }

  /**
   * XORs the keystream for the nonce at `bytes[nonceAt, nonceAt + 12)` into `bytes[start, start + length)`:
   * encrypts or decrypts in place. The two ranges must not overlap.
   */
  apply(bytes: Uint8Array, nonceAt: number, start: number, length: number): void {
    const input = this.#input
    // Twelve byte copies: cheaper than a `Buffer.copy` call.
    for (let i = 0; i < KEYSTREAM_NONCE_BYTES; i++) {
      input[NONCE_OFFSET + i] = bytes[nonceAt + i] as number
    }
    for (let counter = 1, done = 0; done < length; counter++) {
      input[0] = counter >>> 24
      input[1] = (counter >>> 16) & 0xff
      input[2] = (counter >>> 8) & 0xff
      input[3] = counter & 0xff
      const block = sha512Latin1(input)
      const end = Math.min(BLOCK_BYTES, length - done)
      const at = start + done
      for (let i = 0; i < end; i++) {
        bytes[at + i] = (bytes[at + i] as number) ^ block.charCodeAt(i)
      }
      done += end
    }
  }
}
