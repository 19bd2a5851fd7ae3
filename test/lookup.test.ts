import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import { START, harness } from './helpers/index.js'

describe('lookup()', () => {
  test('lookup(): returns every TokenInfo field, timestamps as Dates and durations in seconds', async () => {
    const { store, clock } = harness()
    const auth = await store.create({
      policies: ['read'],
      metadata: { user: 'alice' },
      displayName: 'ci',
      ttl: '1h',
      explicitMaxTtl: '2h',
      numUses: 5,
    })
    clock.advance(600)
    const info = await store.lookup(auth.clientToken)
    assert.ok(info)
    const expected = {
      id: auth.clientToken,
      accessor: auth.accessor,
      policies: ['default', 'read'],
      path: 'auth/token/create-orphan',
      metadata: { user: 'alice' },
      displayName: 'token-ci',
      numUses: 5,
      orphan: true,
      creationTime: new Date(START),
      creationTtl: 3600,
      expireTime: new Date(START + 3600_000),
      ttl: 3000,
      explicitMaxTtl: 7200,
      period: 0,
      renewable: true,
      issueTime: new Date(START),
      lastRenewalTime: null,
    }
    // The fields the spec names; later features may add more (a token type, a role).
    const named = Object.fromEntries(
      Object.keys(expected).map((key) => [key, (info as unknown as Record<string, unknown>)[key]]),
    )
    assert.deepEqual(named, expected)
  })

  test('lookup(): ttl counts down with the clock, in seconds', async () => {
    const { store, clock } = harness()
    const auth = await store.create({ ttl: 100 })
    clock.advance(2)
    assert.equal((await store.lookup(auth.clientToken))?.ttl, 98)
    clock.advance(97)
    assert.equal((await store.lookup(auth.clientToken))?.ttl, 1)
  })

  test('lookup(): a token that never expires has expireTime null and ttl 0', async () => {
    const { store } = harness()
    const root = await store.createRoot()
    const info = await store.lookup(root.clientToken)
    assert.equal(info?.expireTime, null)
    assert.equal(info.ttl, 0)
    assert.equal(info.creationTtl, 0)
  })

  test('lookup(): unknown, empty and overlong tokens are null, not errors', async () => {
    const { store } = harness()
    assert.equal(await store.lookup('hvs.unknown'), null)
    assert.equal(await store.lookup(''), null)
    assert.equal(await store.lookup('x'.repeat(100_000)), null)
  })

  test('lookup(): never consumes a use', async () => {
    const { store } = harness()
    const auth = await store.create({ numUses: 2 })
    for (let i = 0; i < 10; i++) assert.equal((await store.lookup(auth.clientToken))?.numUses, 2)
    await store.authenticate(auth.clientToken)
    assert.equal((await store.lookup(auth.clientToken))?.numUses, 1)
    await store.authenticate(auth.clientToken)
    assert.equal(await store.lookup(auth.clientToken), null)
  })

  test('lookup(): an expired token is null from its expiry on, before any sweep', async () => {
    const { store, clock } = harness()
    const auth = await store.create({ ttl: 60 })
    clock.now += 59_999
    assert.ok(await store.lookup(auth.clientToken))
    clock.now += 1
    assert.equal(await store.lookup(auth.clientToken), null)
  })

  test('lookup(): a token under an expired ancestor is null even when its own TTL is longer', async () => {
    const { store, clock } = harness()
    const top = await store.create({ ttl: 60 })
    const middle = await store.create({ parent: top.clientToken, ttl: 3600 })
    const leaf = await store.create({ parent: middle.clientToken, ttl: 7200 })
    clock.advance(59)
    assert.ok(await store.lookup(leaf.clientToken))
    clock.advance(1)
    assert.equal(await store.lookup(middle.clientToken), null)
    assert.equal(await store.lookup(leaf.clientToken), null)
  })

  test('lookup(): a revoked token and its descendants are null', async () => {
    const { store } = harness()
    const top = await store.create()
    const child = await store.create({ parent: top.clientToken })
    await store.revoke(top.clientToken)
    assert.equal(await store.lookup(top.clientToken), null)
    assert.equal(await store.lookup(child.clientToken), null)
  })

  test('lookup(): shows lastRenewalTime and the new expiry after a renewal', async () => {
    const { store, clock } = harness()
    const auth = await store.create({ ttl: '1h' })
    clock.advance(1800)
    await store.renew(auth.clientToken, '2h')
    const info = await store.lookup(auth.clientToken)
    assert.deepEqual(info?.lastRenewalTime, new Date(START + 1800_000))
    assert.deepEqual(info.expireTime, new Date(START + 1800_000 + 7200_000))
    assert.equal(info.creationTtl, 3600)
    assert.equal(info.ttl, 7200)
  })

  test('lookup(): a child shows orphan false, and an orphaned child orphan true', async () => {
    const { store } = harness()
    const parent = await store.create()
    const child = await store.create({ parent: parent.clientToken })
    assert.equal((await store.lookup(child.clientToken))?.orphan, false)
    await store.revokeOrphan(parent.clientToken)
    assert.equal((await store.lookup(child.clientToken))?.orphan, true)
  })
})

describe('lookupAccessor()', () => {
  test('lookupAccessor(): returns the details without the token id', async () => {
    const { store } = harness()
    const auth = await store.create({ policies: ['read'], ttl: '1h' })
    const details = await store.lookupAccessor(auth.accessor)
    assert.ok(details)
    assert.equal('id' in details, false)
    assert.equal(JSON.stringify(details).includes(auth.clientToken), false)
    assert.equal(details.accessor, auth.accessor)
    assert.deepEqual(details.policies, ['default', 'read'])
    assert.equal(details.ttl, 3600)
  })

  test('lookupAccessor(): unknown, expired and revoked tokens are null', async () => {
    const { store, clock } = harness()
    assert.equal(await store.lookupAccessor('no-such-accessor'), null)
    const expiring = await store.create({ ttl: 60 })
    const parent = await store.create()
    const child = await store.create({ parent: parent.clientToken })
    await store.revoke(parent.clientToken)
    assert.equal(await store.lookupAccessor(parent.accessor), null)
    assert.equal(await store.lookupAccessor(child.accessor), null)
    clock.advance(60)
    assert.equal(await store.lookupAccessor(expiring.accessor), null)
  })

  test('lookupAccessor(): never consumes a use', async () => {
    const { store } = harness()
    const auth = await store.create({ numUses: 1 })
    for (let i = 0; i < 5; i++) await store.lookupAccessor(auth.accessor)
    assert.equal((await store.lookupAccessor(auth.accessor))?.numUses, 1)
    assert.ok(await store.authenticate(auth.clientToken))
  })
})
