import assert from 'node:assert/strict'
import { test } from 'node:test'

import { TokenStore, TokenStoreError } from 'tokentree'
import { ManualClock, createTestStore } from 'tokentree/testing'

test('ManualClock: time moves only when told, and timers fire in time order as advance() passes them', async () => {
  const clock = new ManualClock(Date.UTC(2031, 5, 1))
  assert.equal(clock.now(), Date.UTC(2031, 5, 1))
  const fired: string[] = []
  clock.setTimeout(() => fired.push('b'), 2000)
  clock.setTimeout(() => fired.push('a'), 1000)
  const cancelled = clock.setTimeout(() => fired.push('never'), 1500)
  clock.setTimeout(() => fired.push('a2'), 1000)
  clock.clearTimeout(cancelled)
  await clock.advance('999ms')
  assert.deepEqual(fired, [])
  await clock.advance('1ms')
  assert.deepEqual(fired, ['a', 'a2'])
  await clock.advance(1)
  assert.deepEqual(fired, ['a', 'a2', 'b'])
  assert.equal(clock.pendingTimers, 0)
  assert.equal(clock.now(), Date.UTC(2031, 5, 1) + 2000)
})

test('ManualClock: advance() awaits each callback, and runs timers the callbacks schedule within the window', async () => {
  const clock = new ManualClock()
  const start = clock.now()
  const seen: number[] = []
  clock.setTimeout(async () => {
    await Promise.resolve()
    seen.push(clock.now() - start)
    clock.setTimeout(() => seen.push(clock.now() - start), 500)
  }, 1000)
  await clock.advance(2)
  assert.deepEqual(seen, [1000, 1500])
})

test('ManualClock: set() moves forward to a time; moving back is refused', async () => {
  const clock = new ManualClock(new Date('2030-01-01T00:00:00Z'))
  await clock.set(new Date('2030-01-02T00:00:00Z'))
  assert.equal(new Date(clock.now()).toISOString(), '2030-01-02T00:00:00.000Z')
  await assert.rejects(clock.set(new Date('2029-12-31T00:00:00Z')), TokenStoreError)
  await assert.rejects(clock.advance(-1), { code: 'invalid_request' })
})

test('createTestStore(): a store on the virtual clock; advance() fires due expirations; nothing real is left running', async () => {
  const { store, clock } = createTestStore({ defaultTtl: '1h', start: Date.UTC(2032, 0, 1) })
  assert.ok(store instanceof TokenStore)
  const token = await store.create()
  const info = await store.lookup(token.clientToken)
  assert.ok(info)
  assert.equal(info.creationTime.getTime(), Date.UTC(2032, 0, 1))
  assert.equal(info.expireTime?.getTime(), Date.UTC(2032, 0, 1, 1))
  assert.equal(clock.pendingTimers, 1)
  const revoked: string[] = []
  store.on('revoked', (event) => revoked.push(event.reason))
  await clock.advance('2h')
  assert.deepEqual(revoked, ['expired'])
  assert.equal(await store.lookup(token.clientToken), null)
  assert.equal(clock.pendingTimers, 0)
  // Nothing keeps the event loop busy: the store never created a real timer.
  assert.equal(
    process.getActiveResourcesInfo().filter((resource) => resource === 'Timeout').length,
    0,
  )
})
