/**
 * Batch tokens: the token carries its own entry, encrypted and authenticated, so creating one writes nothing.
 *
 * Encrypt-then-MAC: the entry ({@link encodeEntry}) is encrypted with AES-256-CTR under a random 96-bit nonce, and
 * the token's text after the tag is authenticated with HMAC-SHA-256 (truncated to 240 bits):
 * `hvb.` + base64url(tag) + base64url(nonce ‖ ciphertext). Opening checks the tag first, in constant time, over the
 * exact text presented, so only the string issued opens (no decoding happens before), and decrypts only then.
 *
 * Why not AES-GCM, which it was: Node has no one-shot cipher, and a `Decipheriv` per token (object, key setup,
 * two output buffers) cost as much as a whole JWT verification. Here the MAC is two one-shot hashes
 * ({@link TextMac}), and the CTR keystream comes from one AES-256-ECB cipher object made once per key and used
 * only as the block function over counter blocks (`nonce ‖ counter`): ECB carries no state between block-aligned
 * updates, so one object serves every call. Sealing uses Node's own `aes-256-ctr`; the tests check both agree.
 *
 * The encryption and MAC keys are derived from the store's secret with HKDF under labels of their own, so they never
 * coincide with each other nor with the HMAC key that hashes service token ids.
 */
import { createCipheriv, hkdfSync, randomBytes, type Cipher } from 'node:crypto'

import { decodeEntry, encodeEntry } from './batch-entry.js'
import { TEXT_MAC_KEY_BYTES, TextMac, asciiKey } from './batch-mac.js'
import type { HashedTokenId, UnixMillis } from './types.js'

/** Prefix of batch tokens, as in Vault (`hvb.`). */
export const BATCH_TOKEN_PREFIX = 'hvb.'

/** Longest batch token accepted: an entry with 256 policies and 64 metadata pairs still fits. */
export const MAX_BATCH_TOKEN_LENGTH = 65_536

/** HKDF labels of the two keys. Changing either invalidates every batch token. */
const ENCRYPTION_KEY_LABEL = 'tokentree batch token encryption key v3'
const MAC_KEY_LABEL = 'tokentree batch token mac key v3'

const NONCE_BYTES = 12
const BLOCK_BYTES = 16
/** The tag: the first 30 bytes of the HMAC, which are exactly its first 40 base64url characters. */
const TAG_CHARS = 40
/** Shortest token: prefix, tag, and the base64url of a nonce and a one-byte entry. */
const MIN_TOKEN_LENGTH = BATCH_TOKEN_PREFIX.length + TAG_CHARS + 18
/** Counter blocks kept ready per key: tokens up to 4 KiB of entry; longer ones get theirs made per call. */
const COUNTER_BLOCKS = 256
/** Sealed texts up to this many base64url characters are decoded into {@link scratch}. */
const SCRATCH_CHARS = 4096
/**
 * Where {@link BatchTokenCodec.open} decodes the nonce and ciphertext (public bytes: the plaintext goes to
 * {@link plain}). One for the module: `open` is synchronous, so no two calls ever share it.
 */
const scratch = Buffer.alloc((SCRATCH_CHARS / 4) * 3)
/**
 * {@link scratch} as words in the platform's order: the nonce's three words are copied from here into the counter
 * blocks as they are, so their bytes land unchanged, whatever the platform's byte order.
 */
const scratchWords = wordsOf(scratch)
/** Where `open` XORs the keystream with the ciphertext: the plaintext, until the next `open` overwrites it. */
const plain = Buffer.alloc((SCRATCH_CHARS / 4) * 3)
/** {@link plain} as words, XORed with {@link scratchWords} from the ciphertext's first word on. */
const plainWords = wordsOf(plain)
/** The nonce's length in words: the ciphertext starts at this word of {@link scratchWords}. */
const NONCE_WORDS = NONCE_BYTES / 4

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
  readonly #encryptionKey: Buffer
  readonly #mac: TextMac
  /** AES-256 as a block function (ECB, no padding): encrypts counter blocks into the CTR keystream. */
  readonly #blocks: Cipher
  /** Counter blocks for tokens up to {@link COUNTER_BLOCKS} blocks long, reused (they hold only the public nonce). */
  readonly #counters = newCounterBlocks(COUNTER_BLOCKS)
  readonly #counterWords = wordsOf(this.#counters)
  /** `#counters` cut to 1, 2, … blocks, made on first use: a view per call cost an object per `open`. */
  readonly #counterViews: Buffer[] = []

  constructor(secret: string | Uint8Array) {
    const material = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret
    const derive = (label: string, bytes: number): Buffer =>
      Buffer.from(hkdfSync('sha256', material, Buffer.alloc(0), label, bytes))
    this.#encryptionKey = derive(ENCRYPTION_KEY_LABEL, 32)
    const macKey = asciiKey(derive(MAC_KEY_LABEL, TEXT_MAC_KEY_BYTES))
    this.#mac = new TextMac(macKey)
    macKey.fill(0)
    this.#blocks = createCipheriv('aes-256-ecb', this.#encryptionKey, null)
    this.#blocks.setAutoPadding(false)
  }

  /** A new batch token carrying `entry`. */
  seal(entry: BatchEntry): string {
    const nonce = randomBytes(NONCE_BYTES)
    // Node's CTR counts the whole 16-byte block up from nonce ‖ 0, as the keystream in open() does.
    const cipher = createCipheriv(
      'aes-256-ctr',
      this.#encryptionKey,
      Buffer.concat([nonce, Buffer.alloc(BLOCK_BYTES - NONCE_BYTES)]),
    )
    const sealed = Buffer.concat([nonce, cipher.update(encodeEntry(entry)), cipher.final()])
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
    if (text.length > SCRATCH_CHARS) return this.#openLong(text)
    // The text is exactly what seal() wrote: canonical base64url of nonce ‖ ciphertext. Decoded into the shared
    // scratch buffer: `Buffer.from` would allocate a buffer per call, which cost more than decoding.
    const length = scratch.write(text, 'base64url') - NONCE_BYTES
    if (length <= 0) return null
    // XORed a word at a time: a byte loop cost several times as much. The keystream is copied out of the cipher's
    // buffer in one move first, since a word view of that buffer (a new one per call) cost more than the loop.
    plain.set(this.#keystream(scratchWords, length))
    const words = Math.ceil(length / 4)
    for (let i = 0; i < words; i++) {
      plainWords[i] = (plainWords[i] as number) ^ (scratchWords[NONCE_WORDS + i] as number)
    }
    return decodeOrNull(plain, length)
  }

  /** {@link open}'s decryption for a token too long for the scratch buffers: a buffer of its own for each step. */
  #openLong(text: string): BatchEntry | null {
    const sealed = Buffer.alloc(text.length)
    const length = sealed.write(text, 'base64url') - NONCE_BYTES
    if (length <= 0) return null
    const decrypted = this.#keystream(wordsOf(sealed), length)
    for (let i = 0; i < length; i++) {
      decrypted[i] = (decrypted[i] as number) ^ (sealed[NONCE_BYTES + i] as number)
    }
    return decodeOrNull(decrypted, length)
  }

  /**
   * At least `length` bytes of AES-256-CTR keystream for the nonce in the first three words of `sealed` (a word
   * view of the decoded token, in the platform's order).
   */
  #keystream(sealed: Uint32Array, length: number): Buffer {
    const blocks = Math.ceil(length / BLOCK_BYTES)
    const reused = blocks <= COUNTER_BLOCKS
    const counters = reused ? this.#counterView(blocks) : newCounterBlocks(blocks)
    // Each block is nonce ‖ counter; the counters are written once, the nonce (three words) per call.
    const words = reused ? this.#counterWords : wordsOf(counters)
    const first = sealed[0] as number
    const second = sealed[1] as number
    const third = sealed[2] as number
    for (let block = 0; block < blocks; block++) {
      words[block * 4] = first
      words[block * 4 + 1] = second
      words[block * 4 + 2] = third
    }
    return this.#blocks.update(counters)
  }

  /** The first `blocks` of the reused counter blocks. */
  #counterView(blocks: number): Buffer {
    return (this.#counterViews[blocks] ??= this.#counters.subarray(0, blocks * BLOCK_BYTES))
  }
}

/** The entry in `bytes[0, length)`, or `null` for a layout that does not parse. */
function decodeOrNull(bytes: Buffer, length: number): BatchEntry | null {
  try {
    return decodeEntry(bytes, 0, length)
  } catch {
    // Unreachable for a token this codec sealed: the tag covers every byte.
    return null
  }
}

/** Blocks of the same shape: zeros where the nonce goes, then the block's index as a big-endian uint32. */
function newCounterBlocks(blocks: number): Buffer {
  const counters = Buffer.alloc(blocks * BLOCK_BYTES)
  for (let block = 0; block < blocks; block++) {
    counters.writeUInt32BE(block, block * BLOCK_BYTES + NONCE_BYTES)
  }
  return counters
}

/**
 * A word view, in the platform's order, of the whole words of a buffer made by `Buffer.alloc` (its own memory, at
 * offset 0, so aligned; never a pool slice): {@link newCounterBlocks}, {@link scratch}, or a long token's buffer.
 */
function wordsOf(buffer: Buffer): Uint32Array {
  return new Uint32Array(buffer.buffer, buffer.byteOffset, Math.floor(buffer.length / 4))
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
