/**
 * The cipher of batch tokens: a stream cipher whose keystream is SHA-512 in counter mode, keyed by prefix. Block
 * `i` of the keystream is `SHA-512(K ‖ nonce ‖ uint32be(i))`, 64 bytes, for a 256-bit key `K` and the token's
 * random 96-bit nonce; the entry is XORed with it.
 *
 * Why not AES-256-CTR, which it was: Node has no one-shot AES. The cheapest way, one AES-ECB cipher object per key
 * encrypting counter blocks, still returns a new Buffer from C++ on every call, and that allocation (a backing store
 * and its collector bookkeeping) cost ~0.8 µs, a fifth of a batch `authenticate`. `crypto.hash` returns the 64
 * bytes as a one-byte string for ~0.3 µs, and a typical entry (under 64 bytes) takes one call.
 *
 * Why it is sound: every input is 48 bytes, so each keystream block is one SHA-512 compression from the fixed IV
 * with the key in the message block, and no input is a prefix of another (length extension has nothing to extend).
 * Counter mode over a PRF is IND-CPA secure under distinct nonces; this is a PRF if SHA-512's compression function
 * is one when keyed through its message input, the assumption HMAC's own proof makes of its key blocks (Bellare,
 * "New Proofs for NMAC and HMAC"). Nonces are random, 96 bits as in AES-GCM: up to 2^32 tokens under one secret,
 * the chance of any repeat stays below 2^-32 (NIST's bound for random GCM nonces). Integrity is not this module's
 * job: the token's MAC covers the nonce and the ciphertext and is checked before anything is decrypted.
 */
import * as crypto from 'node:crypto'

/** Bytes of the key. */
export const STREAM_KEY_BYTES = 32

/** Bytes of the nonce, which comes first in a sealed token's bytes. */
export const NONCE_BYTES = 12

/** SHA-512's digest size: the keystream comes in blocks this long. */
const BLOCK_BYTES = 64

/** Where the big-endian block counter goes in a keystream block's input, after the key and the nonce. */
const COUNTER_OFFSET = STREAM_KEY_BYTES + NONCE_BYTES

/** `crypto.hash`, where this Node has it (20.12+, 21.7+). */
const oneShotHash = (crypto as { hash?: typeof crypto.hash }).hash

/** Encrypts and decrypts (the same operation) under one key. */
export class StreamCipher {
  /** `K ‖ nonce ‖ counter`: the input of one keystream block; the key is written once, the rest per block. */
  readonly #input = Buffer.alloc(COUNTER_OFFSET + 4)

  /**
   * @param key - {@link STREAM_KEY_BYTES} secret bytes (from HKDF, under a label of their own).
   * @throws RangeError for a key of another length.
   */
  constructor(key: Uint8Array) {
    if (key.byteLength !== STREAM_KEY_BYTES) {
      throw new RangeError(`StreamCipher: expected a key of ${STREAM_KEY_BYTES} bytes`)
    }
    this.#input.set(key)
  }

  /**
   * XORs, in place, `bytes[offset + NONCE_BYTES, end)` with the keystream of the nonce at
   * `bytes[offset, offset + NONCE_BYTES)`: encrypts plaintext, or decrypts ciphertext.
   */
  apply(bytes: Uint8Array, offset: number, end: number): void {
    const input = this.#input
    for (let i = 0; i < NONCE_BYTES; i++) input[STREAM_KEY_BYTES + i] = bytes[offset + i] as number
    let counter = 0
    for (let start = offset + NONCE_BYTES; start < end; start += BLOCK_BYTES) {
      input.writeUInt32BE(counter++, COUNTER_OFFSET)
      const block = keystreamBlock(input)
      const stop = Math.min(end, start + BLOCK_BYTES)
      for (let i = start; i < stop; i++)
        bytes[i] = (bytes[i] as number) ^ block.charCodeAt(i - start)
    }
  }
}

/** SHA-512 of `input`, as a one-byte string: one character a byte, no Buffer made. */
function keystreamBlock(input: Buffer): string {
  return oneShotHash === undefined
    ? crypto.createHash('sha512').update(input).digest('binary')
    : oneShotHash('sha512', input, 'binary')
}
