import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import type { Duration } from '../src/index.js'
import { formatGoDuration } from '../src/duration.js'
import { harness, rejectsWith, throwsWith } from './helpers/index.js'

/** Durations as Vault reads them: a number or a string of digits is seconds, otherwise a duration string. */
const GOOD: Array<[Duration, number]> = [
  [90, 90],
  ['90', 90],
  ['+90', 90],
  ['90s', 90],
  ['30m', 1800],
  ['1h', 3600],
  ['1h30m', 5400],
  ['1h30m15s', 5415],
  ['1.5h', 5400],
  ['7d', 604800],
  ['1500ms1500ms', 3],
  ['1000000000ns', 1],
  ['1000000us', 1],
  ['1000000µs', 1],
  ['.5m', 30],
  [1, 1],
]

const BAD: Array<[string, unknown]> = [
  ['a word', 'soon'],
  ['a negative number', -1],
  ['a negative digit string', '-90'],
  ['a negative duration string', '-1h'],
  ['a fractional number', 1.5],
  ['NaN', Number.NaN],
  ['Infinity', Number.POSITIVE_INFINITY],
  ['an unknown unit', '5x'],
  ['a missing unit in a compound', '1h30'],
  ['a boolean', true],
  ['an object', {}],
  ['more than 100 years', '36600d'],
  ['an overlong string', '1'.repeat(200) + 'h'],
  ['under one second', '500ms'],
  ['a fraction of a second', '0.5s'],
  ['not a whole number of seconds', '1500ms'],
  ['a fractional second count', '1.5s'],
  ['nanoseconds', '1ns'],
  ['a unit Vault does not know (Ms)', '5Ms'],
  ['years', '1y'],
  ['weeks', '1w'],
  ['a long-form unit', '2 days'],
  ['days in a compound', '2d12h'],
  ['fractional days', '1.5d'],
  ['surrounding spaces', ' 90 '],
  ['a space inside', '1h 30m'],
]

describe('durations', () => {
  for (const [input, seconds] of GOOD) {
    test(`duration: ttl ${JSON.stringify(input)} is ${seconds} s`, async () => {
      const { store } = harness()
      const auth = await store.create({ ttl: input })
      assert.equal(auth.leaseDuration, seconds)
    })
  }

  for (const [title, input] of BAD) {
    test(`duration: ${title} is rejected with invalid_request`, async () => {
      const { store, memory } = harness()
      await rejectsWith(store.create({ ttl: input as Duration }), 'invalid_request')
      assert.equal(memory.size, 0)
    })
  }

  test("duration: a bare decimal string such as '1.5' is rejected, not read as milliseconds", async () => {
    const { store } = harness()
    await rejectsWith(store.create({ ttl: '1.5' }), 'invalid_request')
    await rejectsWith(store.create({ ttl: '90.0' }), 'invalid_request')
  })

  test("duration: '' and 0 mean no TTL given: the default", async () => {
    const { store } = harness({ defaultTtl: '10m' })
    assert.equal((await store.create({ ttl: '' })).leaseDuration, 600)
    assert.equal((await store.create({ ttl: 0 })).leaseDuration, 600)
  })

  test('duration: explicitMaxTtl, period and the renew increment take the same forms', async () => {
    const { store, clock } = harness()
    const capped = await store.create({ ttl: '2h', explicitMaxTtl: '1h30m' })
    assert.equal(capped.leaseDuration, 5400)
    const periodic = await store.create({ period: '90' })
    assert.equal(periodic.leaseDuration, 90)
    const plain = await store.create({ ttl: 60 })
    clock.advance(10)
    assert.equal((await store.renew(plain.clientToken, '1h30m')).leaseDuration, 5400)
    assert.equal((await store.renew(plain.clientToken, '120')).leaseDuration, 120)
    await rejectsWith(store.renew(plain.clientToken, '-1m'), 'invalid_request')
    await rejectsWith(store.create({ period: 'often' }), 'invalid_request')
    await rejectsWith(store.create({ explicitMaxTtl: -3 }), 'invalid_request')
  })

  test("duration: the store's defaultTtl and maxTtl take the same forms", async () => {
    const { store } = harness({ defaultTtl: '90', maxTtl: '1h30m' })
    assert.equal((await store.create()).leaseDuration, 90)
    assert.equal((await store.create({ ttl: '2h' })).leaseDuration, 5400)
    throwsWith(() => harness({ defaultTtl: '1h30' }), 'invalid_request')
    throwsWith(() => harness({ maxTtl: -1 }), 'invalid_request')
  })

  test('duration: under one second, or not whole seconds, is invalid_request on every duration input', async () => {
    const { store, memory } = harness()
    const root = (await store.createRoot()).clientToken
    const size = memory.size
    for (const bad of ['500ms', '0.5s', '1500ms']) {
      await rejectsWith(store.create({ parent: root, ttl: bad }), 'invalid_request')
      await rejectsWith(store.create({ ttl: bad }), 'invalid_request')
      await rejectsWith(store.create({ explicitMaxTtl: bad }), 'invalid_request')
      await rejectsWith(store.create({ parent: root, period: bad }), 'invalid_request')
      await rejectsWith(store.roles.write('r', { tokenPeriod: bad }), 'invalid_request')
      await rejectsWith(store.roles.write('r', { tokenExplicitMaxTtl: bad }), 'invalid_request')
      throwsWith(() => harness({ maxTtl: bad }), 'invalid_request')
      throwsWith(() => harness({ defaultTtl: bad }), 'invalid_request')
    }
    assert.equal(memory.size, size)
    const token = await store.create({ ttl: '1h' })
    const lease = await store.createLease(token.clientToken, { path: 'aws/creds/x', ttl: '1h' })
    for (const bad of ['500ms', '0.5s', '1500ms', '5Ms']) {
      await rejectsWith(store.renew(token.clientToken, bad), 'invalid_request')
      await rejectsWith(store.renewAccessor(token.accessor, bad), 'invalid_request')
      await rejectsWith(
        store.createLease(token.clientToken, { path: 'aws/creds/x', ttl: bad }),
        'invalid_request',
      )
      await rejectsWith(store.renewLease(lease.leaseId, bad), 'invalid_request')
    }
    assert.equal((await store.lookup(token.clientToken))?.ttl, 3600)
  })
})

test('formatGoDuration(): whole seconds as Go prints a time.Duration, as Vault quotes it', () => {
  assert.equal(formatGoDuration(0), '0s')
  assert.equal(formatGoDuration(45), '45s')
  assert.equal(formatGoDuration(90), '1m30s')
  assert.equal(formatGoDuration(3600), '1h0m0s')
  assert.equal(formatGoDuration(768 * 3600), '768h0m0s')
  assert.equal(formatGoDuration(36 * 3600 + 61), '36h1m1s')
})
