import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import { harness, recordRevoked, rejectsWith } from './helpers/index.js'

describe('authenticate()', () => {
  test('authenticate(): resolves to the token info of a live token', async () => {
    const { store } = harness()
    const auth = await store.create({ policies: ['read'], metadata: { user: 'bob' } })
    const info = await store.authenticate(auth.clientToken)
    assert.equal(info.id, auth.clientToken)
    assert.equal(info.accessor, auth.accessor)
    assert.deepEqual(info.policies, ['default', 'read'])
    assert.deepEqual(info.metadata, { user: 'bob' })
  })

  test('authenticate(): unknown, empty and overlong tokens are invalid_token', async () => {
    const { store } = harness()
    await rejectsWith(store.authenticate('hvs.unknown'), 'invalid_token')
    await rejectsWith(store.authenticate(''), 'invalid_token')
    await rejectsWith(store.authenticate('hvs.' + 'a'.repeat(10_000)), 'invalid_token')
  })

  test('authenticate(): an unlimited token (numUses 0) never runs out', async () => {
    const { store } = harness()
    const auth = await store.create()
    for (let i = 0; i < 100; i++)
      assert.equal((await store.authenticate(auth.clientToken)).numUses, 0)
  })
})

describe('authenticate(): use limits', () => {
  test('authenticate(): each call uses one use and reports what is left', async () => {
    const { store } = harness()
    const auth = await store.create({ numUses: 3 })
    assert.equal((await store.authenticate(auth.clientToken)).numUses, 2)
    assert.equal((await store.lookup(auth.clientToken))?.numUses, 2)
    assert.equal((await store.authenticate(auth.clientToken)).numUses, 1)
  })

  test('authenticate(): the last use succeeds, then revokes the token with reason uses_exhausted before resolving', async () => {
    const { store } = harness()
    const auth = await store.create({ numUses: 2, path: 'auth/approle/login' })
    const revoked = recordRevoked(store)
    await store.authenticate(auth.clientToken)
    assert.equal(revoked.length, 0)
    const last = await store.authenticate(auth.clientToken)
    assert.equal(last.accessor, auth.accessor)
    assert.equal(last.numUses, 0)
    assert.equal(revoked.length, 1)
    assert.deepEqual(
      { ...revoked[0], time: null },
      {
        kind: 'token',
        accessor: auth.accessor,
        path: 'auth/approle/login',
        reason: 'uses_exhausted',
        time: null,
      },
    )
    await rejectsWith(store.authenticate(auth.clientToken), 'invalid_token')
    assert.equal(await store.lookup(auth.clientToken), null)
    assert.equal(await store.lookupAccessor(auth.accessor), null)
  })

  test('authenticate(): a used-up token is deleted from storage', async () => {
    const { store, memory } = harness()
    const auth = await store.create({ numUses: 1 })
    assert.equal(memory.size, 1)
    await store.authenticate(auth.clientToken)
    assert.equal(memory.size, 0)
    assert.equal(await memory.getTokenByAccessor(auth.accessor), null)
  })

  test('authenticate(): only authenticate uses uses: lookup, lookupAccessor, renew, renewAccessor and leases do not', async () => {
    const { store } = harness()
    const auth = await store.create({ numUses: 2, ttl: '1h' })
    for (let i = 0; i < 3; i++) {
      await store.lookup(auth.clientToken)
      await store.lookupAccessor(auth.accessor)
      await store.renew(auth.clientToken)
      await store.renewAccessor(auth.accessor)
      await store.createLease(auth.clientToken, { path: 'aws/creds/deploy', ttl: '10m' })
    }
    await rejectsWith(store.create({ parent: auth.clientToken }), 'permission_denied')
    assert.equal((await store.lookup(auth.clientToken))?.numUses, 2)
    await store.authenticate(auth.clientToken)
    await store.authenticate(auth.clientToken)
    await rejectsWith(store.authenticate(auth.clientToken), 'invalid_token')
  })
})

describe('authenticate(): expiry', () => {
  test('authenticate(): an expired token is refused from its expiry on, before any sweep', async () => {
    const { store, clock } = harness()
    const auth = await store.create({ ttl: '1m' })
    clock.now += 59_999
    await store.authenticate(auth.clientToken)
    clock.now += 1
    await rejectsWith(store.authenticate(auth.clientToken), 'invalid_token')
  })

  test('authenticate(): a child that outlives its parent TTL is unusable once the parent expired', async () => {
    const { store, clock } = harness()
    const parent = await store.create({ ttl: '1h' })
    const child = await store.create({ parent: parent.clientToken, ttl: '24h' })
    const grandchild = await store.create({ parent: child.clientToken, ttl: '24h' })
    clock.advance(3599)
    await store.authenticate(grandchild.clientToken)
    clock.advance(1)
    await rejectsWith(store.authenticate(child.clientToken), 'invalid_token')
    await rejectsWith(store.authenticate(grandchild.clientToken), 'invalid_token')
  })

  test('authenticate(): root tokens never expire, nor do root children created without a TTL', async () => {
    const { store, clock } = harness()
    const root = await store.createRoot()
    const rootChild = await store.create({ parent: root.clientToken })
    clock.advance(50 * 365 * 24 * 3600)
    await store.authenticate(root.clientToken)
    await store.authenticate(rootChild.clientToken)
  })

  test('authenticate(): a revoked token and every descendant are refused', async () => {
    const { store } = harness()
    const top = await store.create()
    const child = await store.create({ parent: top.clientToken })
    const grandchild = await store.create({ parent: child.clientToken })
    await store.revoke(top.clientToken)
    for (const token of [top, child, grandchild]) {
      await rejectsWith(store.authenticate(token.clientToken), 'invalid_token')
    }
  })
})
