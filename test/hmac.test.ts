/**
 * HmacSha256 (two one-shot SHA-256 calls over prepared key pads) against node:crypto's createHmac: the same
 * bytes for every key length and every kind of string, so stored token hashes stay valid.
 */
import assert from 'node:assert/strict'
import { createHmac, randomBytes } from 'node:crypto'
import { test } from 'node:test'

import { HmacSha256 } from '../src/hmac.js'
import { TokenHasher } from '../src/crypto.js'

function reference(key: Uint8Array, text: string): string {
  return createHmac('sha256', key).update(text).digest('base64url')
}

/** Strings of every kind the hasher may see: ASCII, multi-byte, lone surrogates, and around the length limit. */
function samples(): string[] {
  const texts = [
    '',
    'a',
    'hvs.' + randomBytes(24).toString('base64url'),
    'hvs.' + randomBytes(24).toString('base64url'),
    'é',
    'token-😀-id',
    '\ud800',
    'x\udc00y',
    '€'.repeat(256),
    '😀'.repeat(128),
    'a'.repeat(55),
    'a'.repeat(56),
    'a'.repeat(64),
    'a'.repeat(255),
    'a'.repeat(256),
    'a'.repeat(257),
    '€'.repeat(257),
    'b'.repeat(10_000),
  ]
  for (let i = 0; i < 200; i++) {
    const length = Math.floor(Math.random() * 300)
    let text = ''
    for (let j = 0; j < length; j++)
      text += String.fromCharCode(Math.floor(Math.random() * 0x10000))
    texts.push(text)
  }
  return texts
}

test('HmacSha256 gives createHmac’s bytes for keys shorter than, equal to and longer than a block', () => {
  for (const size of [1, 32, 63, 64, 65, 100, 200]) {
    const key = randomBytes(size)
    const hmac = new HmacSha256(key)
    for (const text of samples()) {
      assert.equal(
        hmac.digest(text),
        reference(key, text),
        `key ${size} bytes, text ${text.length} units`,
      )
    }
  }
})

test('HmacSha256: alternating lengths and repeated calls do not leak one message into the next', () => {
  const key = randomBytes(32)
  const hmac = new HmacSha256(key)
  const long = 'z'.repeat(200)
  const short = 'hvs.abc'
  // A short message after a long one must not hash the long one's leftover bytes.
  for (const text of [long, short, long, short, short, '', long]) {
    assert.equal(hmac.digest(text), reference(key, text))
  }
})

test('HmacSha256: a string that turns non-ASCII part-way hashes its UTF-8 bytes, before and after ASCII ones', () => {
  const key = randomBytes(32)
  const hmac = new HmacSha256(key)
  // ASCII strings are copied a byte per character; the copy stops at the first other character and the UTF-8
  // encoder writes the whole string again. Around the boundary (0x7f, 0x80) and at every position of the switch.
  const id = 'hvs.' + randomBytes(24).toString('base64url')
  const texts = [
    id,
    'abc\u007f',
    'abc\u0080',
    '\u0080abc',
    id + '\u00ff',
    id.slice(0, 20) + 'é' + id.slice(20),
  ]
  for (let at = 0; at <= id.length; at++) texts.push(id.slice(0, at) + '😀' + id.slice(at), id)
  for (const text of texts)
    assert.equal(hmac.digest(text), reference(key, text), JSON.stringify(text))
})

test('TokenHasher: string and byte secrets hash as createHmac does under the UTF-8 bytes', () => {
  const secret = 'a string secret of at least thirty-two bytes, ünïcode'
  const id = 'hvs.' + randomBytes(24).toString('base64url')
  assert.equal(new TokenHasher(secret).hash(id), reference(Buffer.from(secret, 'utf8'), id))
  const bytes = randomBytes(32)
  assert.equal(new TokenHasher(bytes).hash(id), reference(bytes, id))
})
