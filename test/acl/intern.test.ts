/** internalized(): the same characters back, for any string, the odd property names included. */
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { internalized } from '../../src/acl/intern.js'

test('internalized() returns a string equal to its argument, whatever the argument', () => {
  const long = 'path "secret/data/app/config" { capabilities = ["read"] }'
  for (const text of [
    '',
    'a',
    'secret/data/app/config',
    long.slice(6, 28),
    '__proto__',
    'constructor',
    'toString',
    '0',
    '123',
    '4294967295',
    '-1',
    '1.5',
    'é/😀/x',
    '\uD83D',
    'x'.repeat(5000),
  ]) {
    const copy = internalized(text)
    assert.equal(typeof copy, 'string')
    assert.equal(copy, text, JSON.stringify(text.slice(0, 40)))
  }
})

test('internalized() leaves nothing behind on Object.prototype', () => {
  internalized('__proto__')
  internalized('polluted')
  assert.equal(Object.hasOwn(Object.prototype, 'polluted'), false)
  assert.equal(({} as Record<string, unknown>).polluted, undefined)
})
