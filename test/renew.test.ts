import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import { START, harness, rejectsWith, spyHarness } from './helpers/index.js'

const MINUTE = 60
const HOUR = 3600

describe('renew()', () => {
  test('renew(): the new expiry is now + increment: the increment replaces the TTL, it is not added', async () => {
    const { store, clock } = harness()
    const auth = await store.create({ ttl: '1h' })
    clock.advance(30 * MINUTE)
    const renewed = await store.renew(auth.clientToken, '2h')
    assert.equal(renewed.leaseDuration, 2 * HOUR)
    assert.equal(renewed.clientToken, auth.clientToken)
    assert.equal(renewed.accessor, auth.accessor)
    const info = await store.lookup(auth.clientToken)
    assert.deepEqual(info?.expireTime, new Date(START + (30 * MINUTE + 2 * HOUR) * 1000))
    assert.deepEqual(info.lastRenewalTime, new Date(START + 30 * MINUTE * 1000))
  })

  test('renew(): a shorter increment shortens the TTL', async () => {
    const { store, clock } = harness()
    const auth = await store.create({ ttl: '1h' })
    clock.advance(10 * MINUTE)
    assert.equal((await store.renew(auth.clientToken, 60)).leaseDuration, 60)
    clock.advance(60)
    assert.equal(await store.lookup(auth.clientToken), null)
  })

  test('renew(): without an increment, the TTL granted last is granted again', async () => {
    const { store, clock } = harness()
    const auth = await store.create({ ttl: '1h' })
    clock.advance(10 * MINUTE)
    assert.equal((await store.renew(auth.clientToken)).leaseDuration, HOUR)
    assert.equal((await store.renew(auth.clientToken, '2h')).leaseDuration, 2 * HOUR)
    clock.advance(10 * MINUTE)
    assert.equal((await store.renew(auth.clientToken)).leaseDuration, 2 * HOUR)
    assert.equal((await store.renew(auth.clientToken, 0)).leaseDuration, 2 * HOUR)
  })

  test('renew(): the TTL is capped so the token never outlives explicitMaxTtl from its creation, with a warning', async () => {
    const { store, clock } = harness()
    const auth = await store.create({ ttl: '1h', explicitMaxTtl: '3h' })
    clock.advance(50 * MINUTE)
    const first = await store.renew(auth.clientToken, '1h')
    assert.equal(first.leaseDuration, HOUR)
    assert.equal(first.warnings, undefined)
    clock.advance(50 * MINUTE)
    const capped = await store.renew(auth.clientToken, '2h')
    assert.equal(capped.leaseDuration, 3 * HOUR - 100 * MINUTE)
    assert.ok(capped.warnings && capped.warnings.length > 0)
    assert.deepEqual(
      (await store.lookup(auth.clientToken))?.expireTime,
      new Date(START + 3 * HOUR * 1000),
    )
    clock.now = START + 3 * HOUR * 1000 - 1
    assert.ok(await store.lookup(auth.clientToken))
    clock.now += 1
    assert.equal(await store.lookup(auth.clientToken), null)
  })

  test('renew(): the TTL is capped by the store maxTtl measured from creation, not from the renewal', async () => {
    const { store, clock } = harness({ maxTtl: '2h' })
    const auth = await store.create({ ttl: '1h' })
    clock.advance(50 * MINUTE)
    const capped = await store.renew(auth.clientToken, '2h')
    assert.equal(capped.leaseDuration, 70 * MINUTE)
    assert.ok(capped.warnings && capped.warnings.length > 0)
  })

  test('renew(): a token at its max TTL is not_renewable', async () => {
    const { store, clock } = harness()
    const auth = await store.create({ ttl: '1h', explicitMaxTtl: '1h' })
    clock.now += HOUR * 1000 - 500
    assert.ok(await store.lookup(auth.clientToken))
    await rejectsWith(store.renew(auth.clientToken), 'not_renewable')
  })

  test('renew(): a periodic token resets to its period whatever the increment', async () => {
    const { store, clock } = harness()
    const auth = await store.create({ period: '1h', ttl: '5m' })
    assert.equal(auth.leaseDuration, HOUR)
    clock.advance(50 * MINUTE)
    assert.equal((await store.renew(auth.clientToken, '5h')).leaseDuration, HOUR)
    clock.advance(50 * MINUTE)
    assert.equal((await store.renew(auth.clientToken, 30)).leaseDuration, HOUR)
    assert.equal((await store.renew(auth.clientToken)).leaseDuration, HOUR)
  })

  test('renew(): a periodic token can be renewed beyond the store maxTtl', async () => {
    const { store, clock } = harness({ maxTtl: '2h' })
    const auth = await store.create({ period: '1h' })
    for (let round = 0; round < 10; round++) {
      clock.advance(50 * MINUTE)
      const renewed = await store.renew(auth.clientToken)
      assert.equal(renewed.leaseDuration, HOUR)
    }
    assert.ok(await store.authenticate(auth.clientToken))
  })

  test('renew(): a periodic token is still capped by its explicitMaxTtl', async () => {
    const { store, clock } = harness()
    const auth = await store.create({ period: '1h', explicitMaxTtl: '2h' })
    clock.advance(50 * MINUTE)
    assert.equal((await store.renew(auth.clientToken)).leaseDuration, HOUR)
    clock.advance(50 * MINUTE)
    const capped = await store.renew(auth.clientToken)
    assert.equal(capped.leaseDuration, 20 * MINUTE)
    assert.ok(capped.warnings && capped.warnings.length > 0)
  })

  test('renew(): never uses a use', async () => {
    const { store } = harness()
    const auth = await store.create({ numUses: 1, ttl: '1h' })
    for (let i = 0; i < 5; i++) await store.renew(auth.clientToken)
    assert.equal((await store.lookup(auth.clientToken))?.numUses, 1)
  })

  test('renew(): children are not renewed', async () => {
    const { store, clock } = harness()
    const parent = await store.create({ ttl: '1h' })
    const child = await store.create({ parent: parent.clientToken, ttl: '1h' })
    clock.advance(30 * MINUTE)
    await store.renew(parent.clientToken, '10h')
    const info = await store.lookup(child.clientToken)
    assert.deepEqual(info?.expireTime, new Date(START + HOUR * 1000))
    assert.equal(info.lastRenewalTime, null)
  })
})

describe('renew(): refusals', () => {
  test('renew(): a token created non-renewable is not_renewable and unchanged', async () => {
    const { store, spy } = spyHarness()
    const auth = await store.create({ ttl: '1h', renewable: false })
    const before = await spy.snapshot()
    await rejectsWith(store.renew(auth.clientToken), 'not_renewable')
    await rejectsWith(store.renew(auth.clientToken, '2h'), 'not_renewable')
    assert.equal(await spy.snapshot(), before)
  })

  test('renew(): a token that never expires is not_renewable', async () => {
    const { store } = harness()
    const root = await store.createRoot()
    const rootChild = await store.create({ parent: root.clientToken })
    await rejectsWith(store.renew(root.clientToken), 'not_renewable')
    await rejectsWith(store.renew(rootChild.clientToken, '1h'), 'not_renewable')
  })

  test('renew(): an unknown token is invalid_token', async () => {
    const { store } = harness()
    await rejectsWith(store.renew('hvs.unknown'), 'invalid_token')
    await rejectsWith(store.renew(''), 'invalid_token')
  })

  test('renew(): an expired, revoked or used-up token, or one under an expired parent, is invalid_token', async () => {
    const { store, clock } = harness()
    const parent = await store.create({ ttl: '1h' })
    const child = await store.create({ parent: parent.clientToken, ttl: '10h' })
    const revoked = await store.create()
    await store.revoke(revoked.clientToken)
    const usedUp = await store.create({ numUses: 1 })
    await store.authenticate(usedUp.clientToken)
    await rejectsWith(store.renew(revoked.clientToken), 'invalid_token')
    await rejectsWith(store.renew(usedUp.clientToken), 'invalid_token')
    clock.advance(HOUR)
    await rejectsWith(store.renew(parent.clientToken), 'invalid_token')
    await rejectsWith(store.renew(child.clientToken), 'invalid_token')
  })
})

describe('renewAccessor()', () => {
  test('renewAccessor(): renews the token without revealing its id', async () => {
    const { store, clock } = harness()
    const auth = await store.create({ ttl: '1h' })
    clock.advance(30 * MINUTE)
    const renewed = await store.renewAccessor(auth.accessor, '2h')
    assert.equal('clientToken' in renewed, false)
    assert.equal(JSON.stringify(renewed).includes(auth.clientToken), false)
    assert.equal(renewed.leaseDuration, 2 * HOUR)
    assert.equal((await store.lookup(auth.clientToken))?.ttl, 2 * HOUR)
  })

  test('renewAccessor(): an unknown accessor is invalid_token', async () => {
    const { store } = harness()
    await rejectsWith(store.renewAccessor('nope'), 'invalid_token')
  })
})
