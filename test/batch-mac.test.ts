/**
 * TextMac, the batch tokens' MAC (HMAC-SHA-256 with its inner pad as a string), against node:crypto's createHmac:
 * the same bytes for every kind of string; and keys it cannot serve are refused.
 */
import assert from 'node:assert/strict'
import { createHmac, randomBytes } from 'node:crypto'
import { test } from 'node:test'

import { TEXT_MAC_KEY_BYTES, TextMac, asciiKey } from '../src/batch-mac.js'

test('TextMac: the same digest as createHmac for ASCII, multi-byte, lone surrogates and long strings', () => {
  const texts = [
    '',
    'a',
    randomBytes(120).toString('base64url'),
    'é',
    'token-😀-id',
    '\ud800',
    'x\udc00y',
    '€'.repeat(300),
    'a'.repeat(55),
    'a'.repeat(64),
    'b'.repeat(70_000),
  ]
  for (let round = 0; round < 20; round++) {
    const key = asciiKey(randomBytes(TEXT_MAC_KEY_BYTES))
    const mac = new TextMac(key)
    for (const text of texts) {
      const expected = createHmac('sha256', key).update(text).digest('base64url')
      assert.equal(mac.digest(text), expected, `length ${text.length}`)
    }
  }
})

test('TextMac: asciiKey clears every top bit; other lengths and bytes of 0x80 or more are refused', () => {
  const key = asciiKey(Buffer.alloc(TEXT_MAC_KEY_BYTES, 0xff))
  assert.ok(key.every((byte) => byte === 0x7f))
  assert.throws(() => new TextMac(Buffer.alloc(TEXT_MAC_KEY_BYTES, 0x80)), RangeError)
  assert.throws(() => new TextMac(Buffer.alloc(32, 1)), RangeError)
  assert.throws(() => new TextMac(Buffer.alloc(65, 1)), RangeError)
})
