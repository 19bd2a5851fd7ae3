/**
 * HMAC-SHA-256 of short strings, as RFC 2104 defines it, computed with two one-shot SHA-256 calls over key pads
 * prepared once per key.
 *
 * Why not `createHmac` per call: it builds a stream object, sets the key up again (two SHA-256 blocks) and goes
 * through OpenSSL's MAC setup each time; for a 36-character token id that is about 1.9 µs, twice what the hash
 * work costs. `crypto.hash` (Node 20.12+) hashes a buffer in one native call, so HMAC(K, m) =
 * SHA-256((K ⊕ opad) ‖ SHA-256((K ⊕ ipad) ‖ m)) costs two such calls and two buffer writes: about half. The output
 * is the same bytes `createHmac('sha256', key)` gives, which the tests check; without `crypto.hash`, and for
 * strings too long for the scratch buffer, `createHmac` is used.
 *
 * The other native calls a digest made (writing the string and the inner digest into the buffers, zeroing the
 * string's bytes) are element writes from JavaScript when the string is ASCII, as token ids are: such a digest
 * crosses into C++ twice, for the two hashes (0.8–0.85× the time of the five crossings it made before).
 *
 * The bytes of the hashed string are written into a scratch buffer and zeroed right after hashing: nothing keeps
 * a token id once the call returns. Single-threaded use makes the shared scratch buffer safe: a call runs to the
 * end before another starts.
 */
import * as crypto from 'node:crypto'

/** SHA-256's block size: HMAC pads (or first hashes) the key to this many bytes. */
const BLOCK_BYTES = 64

/** SHA-256's digest size. */
const DIGEST_BYTES = 32

/** Default longest string, in UTF-16 code units, hashed through the scratch buffer; longer go to `createHmac`. */
const DEFAULT_MAX_FAST_CHARS = 256

/** A code unit takes at most 3 bytes in UTF-8 (a surrogate pair, two units, takes 4). */
const MAX_UTF8_BYTES_PER_CHAR = 3

/** `crypto.hash`, where this Node has it (20.12+, 21.7+). */
const oneShotHash = (crypto as { hash?: typeof crypto.hash }).hash

/** Computes HMAC-SHA-256 of strings under one key, in base64url. */
export class HmacSha256 {
  readonly #key: crypto.KeyObject
  /** `K ⊕ ipad`, then room for the message's UTF-8 bytes (zeroed between calls). */
  readonly #inner: Buffer
  /**
   * `#inner`'s memory as a plain `Uint8Array`, zeroed through its `fill`, a V8 builtin: `Buffer`'s own `fill`
   * checks its arguments in JavaScript and then calls into Node's C++, which costs more than zeroing a few dozen bytes.
   */
  readonly #innerBytes: Uint8Array
  /** `K ⊕ opad`, then the inner digest. */
  readonly #outer: Buffer
  /** `#inner` up to the end of the last message, kept while messages keep that length (token ids all have one). */
  #view: Buffer
  #viewBytes = -1
  readonly #maxFastChars: number

  /**
   * @param key - The HMAC key.
   * @param maxFastChars - Longest string hashed without `createHmac`; the scratch buffer takes 3 bytes a character.
   */
  constructor(key: Uint8Array, maxFastChars = DEFAULT_MAX_FAST_CHARS) {
    this.#maxFastChars = maxFastChars
    this.#key = crypto.createSecretKey(key)
    // RFC 2104: a key longer than a block is hashed first; a shorter one is padded with zeros.
    const block = Buffer.alloc(BLOCK_BYTES)
    const material =
      key.byteLength > BLOCK_BYTES ? crypto.createHash('sha256').update(key).digest() : key
    block.set(material)
    this.#inner = Buffer.alloc(BLOCK_BYTES + maxFastChars * MAX_UTF8_BYTES_PER_CHAR)
    this.#innerBytes = new Uint8Array(
      this.#inner.buffer,
      this.#inner.byteOffset,
      this.#inner.byteLength,
    )
    this.#outer = Buffer.alloc(BLOCK_BYTES + DIGEST_BYTES)
    for (let i = 0; i < BLOCK_BYTES; i++) {
      const byte = block[i] as number
      this.#inner[i] = byte ^ 0x36
      this.#outer[i] = byte ^ 0x5c
    }
    block.fill(0)
    this.#view = this.#inner
  }

  /** HMAC-SHA-256 of the string's UTF-8 bytes, in unpadded base64url. */
  digest(text: string): string {
    if (oneShotHash === undefined || text.length > this.#maxFastChars) {
      return crypto.createHmac('sha256', this.#key).update(text).digest('base64url')
    }
    const inner = this.#inner
    // Token ids are ASCII: copied here, a character a byte. Anything else is encoded by `write`, which overwrites
    // whatever the copy wrote before it stopped (the UTF-8 form is longer than the ASCII prefix).
    let bytes = copyAscii(text, inner, BLOCK_BYTES)
    if (bytes === -1) bytes = inner.write(text, BLOCK_BYTES, 'utf8')
    if (bytes !== this.#viewBytes) {
      this.#view = inner.subarray(0, BLOCK_BYTES + bytes)
      this.#viewBytes = bytes
    }
    // 'binary' (latin1) hands the 32 digest bytes over as a one-byte string: much cheaper than a new Buffer.
    const innerDigest = oneShotHash('sha256', this.#view, 'binary')
    this.#innerBytes.fill(0, BLOCK_BYTES, BLOCK_BYTES + bytes)
    const outer = this.#outer
    for (let i = 0; i < DIGEST_BYTES; i++) outer[BLOCK_BYTES + i] = innerDigest.charCodeAt(i)
    return oneShotHash('sha256', outer, 'base64url')
  }
}

/**
 * Writes `text` into `target` from `offset`, a byte per character, when every character is ASCII, and returns the
 * number of bytes written; returns -1 at the first other character (the bytes before it stay written). A loop of
 * element writes costs less than `Buffer.write`, which goes through Node's C++ for a 36-character token id.
 */
function copyAscii(text: string, target: Uint8Array, offset: number): number {
  const length = text.length
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i)
    if (code > 0x7f) return -1
    target[offset + i] = code
  }
  return length
}
