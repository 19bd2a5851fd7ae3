/**
 * StreamCipher, the batch tokens' cipher: its keystream is SHA-512(K ‖ nonce ‖ uint32be(i)) block after block,
 * computed here independently with createHash; applying it twice gives the plaintext back; it reads the nonce and
 * writes the bytes where it is told to, and nothing else.
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { test } from 'node:test'

import { NONCE_BYTES, STREAM_KEY_BYTES, StreamCipher } from '../src/batch-cipher.js'

/** The first `length` bytes of the keystream, the slow and obvious way. */
function referenceKeystream(key: Buffer, nonce: Buffer, length: number): Buffer {
  const blocks: Buffer[] = []
  for (let i = 0; blocks.length * 64 < length; i++) {
    const counter = Buffer.alloc(4)
    counter.writeUInt32BE(i)
    blocks.push(createHash('sha512').update(key).update(nonce).update(counter).digest())
  }
  return Buffer.concat(blocks).subarray(0, length)
}

test('StreamCipher: XORs SHA-512(K ‖ nonce ‖ counter) blocks, for lengths around the 64-byte block', () => {
  const key = randomBytes(STREAM_KEY_BYTES)
  const cipher = new StreamCipher(key)
  for (const length of [0, 1, 63, 64, 65, 128, 129, 1000]) {
    const nonce = randomBytes(NONCE_BYTES)
    const plain = randomBytes(length)
    const sealed = Buffer.concat([nonce, plain])
    cipher.apply(sealed, 0, sealed.length)
    const keystream = referenceKeystream(key, nonce, length)
    const expected = Buffer.from(plain.map((byte, i) => byte ^ (keystream[i] as number)))
    assert.deepEqual(sealed.subarray(0, NONCE_BYTES), nonce, 'the nonce is left as it is')
    assert.deepEqual(sealed.subarray(NONCE_BYTES), expected, `length ${length}`)
    cipher.apply(sealed, 0, sealed.length)
    assert.deepEqual(sealed.subarray(NONCE_BYTES), plain, 'applied twice: the plaintext again')
  }
})

test('StreamCipher: works at an offset and leaves the bytes around untouched; other keys and nonces differ', () => {
  const key = randomBytes(STREAM_KEY_BYTES)
  const nonce = randomBytes(NONCE_BYTES)
  const plain = Buffer.alloc(40, 7)
  const buffer = Buffer.concat([Buffer.alloc(5, 0xaa), nonce, plain, Buffer.alloc(5, 0xbb)])
  new StreamCipher(key).apply(buffer, 5, 5 + NONCE_BYTES + plain.length)
  assert.deepEqual(buffer.subarray(0, 5), Buffer.alloc(5, 0xaa))
  assert.deepEqual(buffer.subarray(-5), Buffer.alloc(5, 0xbb))
  const keystream = referenceKeystream(key, nonce, plain.length)
  assert.deepEqual(
    buffer.subarray(5 + NONCE_BYTES, -5),
    Buffer.from(plain.map((byte, i) => byte ^ (keystream[i] as number))),
  )
  const other = Buffer.concat([nonce, plain])
  new StreamCipher(randomBytes(STREAM_KEY_BYTES)).apply(other, 0, other.length)
  assert.notDeepEqual(other.subarray(NONCE_BYTES), buffer.subarray(5 + NONCE_BYTES, -5))
  assert.throws(() => new StreamCipher(randomBytes(16)), RangeError)
})
