/**
 * NonceKeystream, the batch tokens' cipher, against the standard it claims: the one-step KDF of NIST SP 800-56C
 * (Rev. 2, §4.1, option 1) with H = SHA-512, computed here the plain way with `createHash`, for lengths across
 * block boundaries and at any offset; applying it twice restores the bytes; keys of another length are refused.
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { test } from 'node:test'

import { KEYSTREAM_NONCE_BYTES, NonceKeystream } from '../src/batch-keystream.js'

/** SP 800-56C one-step KDF: H(counter ‖ Z ‖ FixedInfo) for counter = 1, 2, …, concatenated and cut to `length`. */
function oneStepKdf(z: Buffer, fixedInfo: Buffer, length: number): Buffer {
  const blocks: Buffer[] = []
  for (let counter = 1; blocks.length * 64 < length; counter++) {
    const counterBytes = Buffer.alloc(4)
    counterBytes.writeUInt32BE(counter)
    blocks.push(createHash('sha512').update(counterBytes).update(z).update(fixedInfo).digest())
  }
  return Buffer.concat(blocks).subarray(0, length)
}

test('NonceKeystream: the SP 800-56C one-step KDF (SHA-512) of key and nonce, XORed in place', () => {
  const lengths = [0, 1, 31, 32, 63, 64, 65, 127, 128, 129, 200, 4096]
  for (let round = 0; round < 10; round++) {
    const key = randomBytes(32)
    const keystream = new NonceKeystream(key)
    for (const length of lengths) {
      const nonce = randomBytes(KEYSTREAM_NONCE_BYTES)
      const plain = randomBytes(length)
      // Nonce first, then a gap, then the data: as the codec lays a token out, but with the data at an odd offset.
      const bytes = Buffer.concat([nonce, Buffer.alloc(3, 0x55), plain])
      keystream.apply(bytes, 0, KEYSTREAM_NONCE_BYTES + 3, length)
      const expected = Buffer.alloc(length)
      const pad = oneStepKdf(key, nonce, length)
      for (let i = 0; i < length; i++) expected[i] = (plain[i] as number) ^ (pad[i] as number)
      assert.deepEqual(bytes.subarray(KEYSTREAM_NONCE_BYTES + 3), expected, `length ${length}`)
      assert.deepEqual(
        bytes.subarray(0, KEYSTREAM_NONCE_BYTES),
        nonce,
        'the nonce is left as it was',
      )
      keystream.apply(bytes, 0, KEYSTREAM_NONCE_BYTES + 3, length)
      assert.deepEqual(
        bytes.subarray(KEYSTREAM_NONCE_BYTES + 3),
        plain,
        'applied twice: the bytes again',
      )
    }
  }
})

test('NonceKeystream: another nonce or another key gives another keystream', () => {
  const key = randomBytes(32)
  const stream = (keystream: NonceKeystream, nonce: Buffer): Buffer => {
    const bytes = Buffer.concat([nonce, Buffer.alloc(64)])
    keystream.apply(bytes, 0, KEYSTREAM_NONCE_BYTES, 64)
    return bytes.subarray(KEYSTREAM_NONCE_BYTES)
  }
  const nonce = randomBytes(KEYSTREAM_NONCE_BYTES)
  const other = Buffer.from(nonce)
  other[11] = (other[11] as number) ^ 1
  assert.notDeepEqual(
    stream(new NonceKeystream(key), nonce),
    stream(new NonceKeystream(key), other),
  )
  assert.notDeepEqual(
    stream(new NonceKeystream(key), nonce),
    stream(new NonceKeystream(randomBytes(32)), nonce),
  )
})

test('NonceKeystream: a key of another length than 32 bytes is refused', () => {
  assert.throws(() => new NonceKeystream(Buffer.alloc(16)), RangeError)
  assert.throws(() => new NonceKeystream(Buffer.alloc(33)), RangeError)
})
