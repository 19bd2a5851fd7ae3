/**
 * The plaintext of a batch token: its entry in a compact binary layout rather than JSON, read back in one pass on
 * every batch `authenticate`: a few number reads, one string decode for all the strings and a substring each.
 *
 * Layout:
 * 1. a flags byte: bit 0, has a parent; bit 1, strings in UTF-16LE; bit 2, whole times;
 * 2. the times: with whole times (creation and TTL non-negative safe integers, expiry = creation + TTL × 1000, as
 *    the store seals them), creation and TTL in LEB128 and the expiry derived: 10 bytes rather than 24; otherwise
 *    creation, expiry and TTL as float64 (big-endian);
 * 3. in LEB128: the number of policies, of metadata pairs, and the byte length of the strings;
 * 4. the strings, joined: the parent when flagged, path, display name, each policy, each metadata key and value;
 *    in UTF-8, or in UTF-16LE when one of them holds a lone surrogate (UTF-8 cannot carry it, and the entry must
 *    read back exactly as it was written);
 * 5. the LEB128 length in UTF-16 code units of each string, in the same order.
 *
 * The strings come before their lengths so that reading needs no list of lengths: decode the strings once, then
 * cut each off as its length is read.
 *
 * Only bytes that passed the token's MAC are decoded, so a malformed layout means a bug, not an attack; the
 * decoder still refuses one (throwing) rather than reading past the end.
 */
import type { BatchEntry } from './batch.js'
import type { HashedTokenId } from './types.js'

const HAS_PARENT = 1
const UTF16 = 2
const WHOLE_TIMES = 4
/** Longest LEB128 number read: 8 bytes carry 56 bits, enough for any safe integer. */
const MAX_UINT_BYTES = 8
/** A lone surrogate: a high one not followed by a low one, or a low one not after a high one. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/
const EMPTY = Buffer.alloc(0)

/** The entry's bytes. */
export function encodeEntry(entry: BatchEntry): Buffer {
  const strings: string[] = []
  if (entry.p !== null) strings.push(entry.p)
  strings.push(entry.path, entry.dn, ...entry.pol)
  const pairs = Object.entries(entry.m)
  for (const [key, value] of pairs) strings.push(key, value)
  const joined = strings.join('')
  const utf16 = LONE_SURROGATE.test(joined)
  const text = Buffer.from(joined, utf16 ? 'utf16le' : 'utf8')
  const whole = hasWholeTimes(entry)
  let size =
    1 +
    (whole ? uintBytes(entry.c) + uintBytes(entry.ttl) : 24) +
    uintBytes(entry.pol.length) +
    uintBytes(pairs.length) +
    uintBytes(text.length) +
    text.length
  for (const string of strings) size += uintBytes(string.length)
  const out = Buffer.alloc(size)
  out[0] = (entry.p === null ? 0 : HAS_PARENT) | (utf16 ? UTF16 : 0) | (whole ? WHOLE_TIMES : 0)
  let offset = 1
  if (whole) {
    offset = writeUint(out, offset, entry.c)
    offset = writeUint(out, offset, entry.ttl)
  } else {
    offset = out.writeDoubleBE(entry.c, offset)
    offset = out.writeDoubleBE(entry.e, offset)
    offset = out.writeDoubleBE(entry.ttl, offset)
  }
  offset = writeUint(out, offset, entry.pol.length)
  offset = writeUint(out, offset, pairs.length)
  offset = writeUint(out, offset, text.length)
  offset += text.copy(out, offset)
  for (const string of strings) offset = writeUint(out, offset, string.length)
  return out
}

/** The entry in `bytes[start, end)`; throws on a layout that does not parse to exactly `end`. */
export function decodeEntry(bytes: Buffer, start: number, end: number): BatchEntry {
  const entry = readEntry(READER.start(bytes, start, end))
  // Not to keep the caller's buffer alive until the next call.
  READER.start(EMPTY, 0, 0)
  return entry
}

/** {@link decodeEntry}'s work, from a reader set at the entry's start. */
function readEntry(reader: Reader): BatchEntry {
  const flags = reader.byte()
  let c: number
  let e: number
  let ttl: number
  if ((flags & WHOLE_TIMES) === 0) {
    c = reader.double()
    e = reader.double()
    ttl = reader.double()
  } else {
    c = reader.uint()
    ttl = reader.uint()
    e = c + ttl * 1000
  }
  const policyCount = reader.uint()
  const pairCount = reader.uint()
  const text = reader.text(reader.uint(), (flags & UTF16) === 0 ? 'utf8' : 'utf16le')
  // Each string ends where its length says; a length past the text only gives a short string here, and the
  // total, checked at the end, then differs from the text's length.
  let at = 0
  const p =
    (flags & HAS_PARENT) === 0 ? null : (text.slice(at, (at += reader.uint())) as HashedTokenId)
  const path = text.slice(at, (at += reader.uint()))
  const dn = text.slice(at, (at += reader.uint()))
  // Sized up front: growing an empty array by `push` cost as much as reading the policies.
  const pol = new Array<string>(reader.count(policyCount))
  for (let i = 0; i < policyCount; i++) pol[i] = text.slice(at, (at += reader.uint()))
  const m: Record<string, string> = {}
  for (let i = 0; i < pairCount; i++) {
    const key = text.slice(at, (at += reader.uint()))
    const value = text.slice(at, (at += reader.uint()))
    // As JSON.parse and Object.fromEntries do: a '__proto__' key is an own property, not the prototype.
    if (key === '__proto__') {
      Object.defineProperty(m, key, { value, enumerable: true, writable: true, configurable: true })
    } else m[key] = value
  }
  reader.finish()
  if (at !== text.length) throw new RangeError('Batch entry: string lengths do not add up')
  return { p, pol, path, m, dn, c, ttl, e }
}

/** Whether the entry's times take the compact form: exact integers, with the expiry they imply. */
function hasWholeTimes(entry: BatchEntry): boolean {
  return (
    Number.isSafeInteger(entry.c) &&
    entry.c >= 0 &&
    Number.isSafeInteger(entry.ttl) &&
    entry.ttl >= 0 &&
    entry.e === entry.c + entry.ttl * 1000
  )
}

/** Reads the layout's fields in order, throwing rather than reading past `end`. */
class Reader {
  #bytes: Buffer = EMPTY
  #end = 0
  #offset = 0

  /** Starts reading `bytes[start, end)`. */
  start(bytes: Buffer, start: number, end: number): this {
    this.#bytes = bytes
    this.#offset = start
    this.#end = end
    return this
  }

  byte(): number {
    if (this.#offset >= this.#end) throw truncated()
    return this.#bytes[this.#offset++] as number
  }

  /** A LEB128 number of at most {@link MAX_UINT_BYTES} bytes. */
  uint(): number {
    let value = 0
    let factor = 1
    for (let i = 0; i < MAX_UINT_BYTES; i++) {
      const byte = this.byte()
      value += (byte & 0x7f) * factor
      if (byte < 0x80) return value
      factor *= 0x80
    }
    throw new RangeError('Batch entry: number too long')
  }

  /**
   * `count`, once checked against the bytes left: each item takes at least one, so a larger count is a malformed
   * layout, refused before an array of that size is made.
   */
  count(count: number): number {
    if (count > this.#end - this.#offset) throw truncated()
    return count
  }

  double(): number {
    if (this.#offset + 8 > this.#end) throw truncated()
    const value = this.#bytes.readDoubleBE(this.#offset)
    this.#offset += 8
    return value
  }

  text(byteLength: number, encoding: 'utf8' | 'utf16le'): string {
    const start = this.#offset
    this.#offset += byteLength
    if (this.#offset > this.#end) throw truncated()
    return this.#bytes.toString(encoding, start, this.#offset)
  }

  finish(): void {
    if (this.#offset !== this.#end) throw new RangeError('Batch entry: trailing bytes')
  }
}

/**
 * The one {@link Reader}, reset per call: {@link decodeEntry} is synchronous and calls no outside code, so no two
 * calls ever share it, and a reader (and a substring cutter) made per call were a tenth of the decode.
 */
const READER = new Reader()

function truncated(): RangeError {
  return new RangeError('Batch entry: truncated')
}

function uintBytes(value: number): number {
  let bytes = 1
  while (value >= 0x80) {
    value = Math.floor(value / 0x80)
    bytes++
  }
  return bytes
}

function writeUint(out: Buffer, offset: number, value: number): number {
  while (value >= 0x80) {
    out[offset++] = (value % 0x80) | 0x80
    value = Math.floor(value / 0x80)
  }
  out[offset++] = value
  return offset
}
