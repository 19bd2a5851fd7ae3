/**
 * The batch token codec: entries of every shape read back exactly (binary layout, lone surrogates, a
 * '__proto__' metadata key, long tokens past the prepared counter blocks), the CTR keystream built from AES-ECB
 * counter blocks agrees with Node's aes-256-ctr (sealing uses one, opening the other), and any altered
 * character, or another secret, opens nothing.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'

import { BatchTokenCodec, MAX_BATCH_TOKEN_LENGTH, type BatchEntry } from '../src/batch.js'
import { decodeEntry, encodeEntry } from '../src/batch-entry.js'
import type { HashedTokenId } from '../src/types.js'

function entry(overrides: Partial<BatchEntry> = {}): BatchEntry {
  return {
    p: null,
    pol: ['app', 'default'],
    path: 'auth/token/create',
    m: { team: 'web' },
    dn: 'token',
    c: 1_700_000_000_123,
    ttl: 3600,
    e: 1_700_003_600_123,
    ...overrides,
  }
}

test('batch codec: entries of every shape read back exactly', () => {
  const codec = new BatchTokenCodec(randomBytes(32))
  const proto: Record<string, string> = {}
  Object.defineProperty(proto, '__proto__', {
    value: 'x',
    enumerable: true,
    writable: true,
    configurable: true,
  })
  const entries: BatchEntry[] = [
    entry(),
    entry({ p: 'a'.repeat(43) as HashedTokenId }),
    entry({ pol: [], m: {}, path: '', dn: '' }),
    entry({ m: { ünï: 'cødé 😀', empty: '' }, dn: 'naïve' }),
    entry({ m: { lone: 'a\ud800b', low: '\udc00' } }),
    entry({ m: proto }),
    entry({ ttl: 0.5, c: 1, e: 501 }),
    // Times outside the compact form (not whole, negative, or an expiry other than creation + TTL) read back too.
    entry({ c: 1.25, e: 3_601.25 }),
    entry({ c: -5, ttl: 1, e: 995 }),
    entry({ e: 1_700_000_000_124 }),
    entry({ c: Number.MAX_SAFE_INTEGER - 1_000, ttl: 1, e: Number.MAX_SAFE_INTEGER }),
    entry({ c: 0, ttl: 0, e: 0 }),
    // Big metadata and policies: 64 pairs of long values, 256 policies.
    entry({
      m: Object.fromEntries(
        Array.from({ length: 64 }, (_, i) => [`key-${i}`, `välue-${i}-${'v'.repeat(60)}`]),
      ),
      pol: Array.from({ length: 256 }, (_, i) => `p${i}`),
    }),
    // Past the 256 prepared counter blocks (4 KiB of entry).
    entry({ pol: Array.from({ length: 256 }, (_, i) => `policy-${i}-${'x'.repeat(20)}`) }),
  ]
  for (const sealed of entries) {
    const token = codec.seal(sealed)
    const opened = codec.open(token)
    assert.deepEqual(opened, sealed)
    assert.deepEqual(Object.keys(opened.m), Object.keys(sealed.m))
    assert.equal(Object.getPrototypeOf(opened.m), Object.prototype)
  }
})

test('batch codec: every altered character, a truncation or another secret opens nothing', () => {
  const codec = new BatchTokenCodec(randomBytes(32))
  const token = codec.seal(entry({ p: 'b'.repeat(43) as HashedTokenId }))
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  for (let i = 4; i < token.length; i++) {
    const char = token[i] as string
    const other = alphabet[(alphabet.indexOf(char) + 1) % alphabet.length] as string
    assert.equal(codec.open(token.slice(0, i) + other + token.slice(i + 1)), null, `at ${i}`)
  }
  assert.equal(codec.open(token.slice(0, -1)), null)
  assert.equal(codec.open(token + 'A'), null)
  assert.equal(codec.open(token.slice(0, 44)), null)
  assert.equal(new BatchTokenCodec(randomBytes(32)).open(token), null)
  assert.notEqual(codec.open(token), null)
})

test('batch codec: two seals of one entry differ (random nonce), both open', () => {
  const codec = new BatchTokenCodec('a string secret of at least thirty-two bytes')
  const first = codec.seal(entry())
  const second = codec.seal(entry())
  assert.notEqual(first, second)
  assert.deepEqual(codec.open(first), codec.open(second))
})

test('batch codec: the biggest entry that fits is sealed within the longest token accepted, and opens', () => {
  const codec = new BatchTokenCodec(randomBytes(32))
  const big = entry({
    p: 'c'.repeat(43) as HashedTokenId,
    pol: Array.from({ length: 256 }, (_, i) => `policy-${i}-${'x'.repeat(80)}`),
    m: Object.fromEntries(
      Array.from({ length: 64 }, (_, i) => [`k${i}`.padEnd(128, 'k'), 'v'.repeat(256)]),
    ),
  })
  const token = codec.seal(big)
  assert.ok(token.length <= MAX_BATCH_TOKEN_LENGTH, `${token.length}`)
  assert.deepEqual(codec.open(token), big)
})

test('batch entry: a layout cut short, or with bytes after its end, is refused rather than read past', () => {
  for (const sample of [
    entry(),
    entry({ p: 'd'.repeat(43) as HashedTokenId }),
    entry({ c: 1.5 }),
  ]) {
    const bytes = encodeEntry(sample)
    assert.deepEqual(decodeEntry(bytes, 0, bytes.length), sample)
    for (let end = 0; end < bytes.length; end++) {
      assert.throws(() => decodeEntry(bytes, 0, end), RangeError, `cut at ${end}`)
    }
    const longer = Buffer.concat([bytes, Buffer.from([0])])
    assert.throws(() => decodeEntry(longer, 0, longer.length), RangeError)
    // At an offset, as the codec decodes it: in place after the nonce.
    const shifted = Buffer.concat([Buffer.alloc(12, 0xee), bytes])
    assert.deepEqual(decodeEntry(shifted, 12, shifted.length), sample)
  }
  // More policies than bytes left to give their lengths: refused before an array that size is made.
  const hugeCount = Buffer.from([4, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0, 0])
  assert.throws(() => decodeEntry(hugeCount, 0, hugeCount.length), /truncated/)
})
