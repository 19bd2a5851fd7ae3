/**
 * Divergences from the reference model that the property found, pinned as minimal repros. All are fixed in src/
 * and kept as regression tests.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { MemoryStorage, TokenStore, type RevokedEvent } from 'tokentree'
import { createTestStore } from 'tokentree/testing'

import { FaultyStorage } from '../faults/fault-storage.js'

test('renew(): a renewal that shortens the TTL gets the token (and its leases) revoked when it expires, not at the old expiry', async () => {
  const { store, clock } = createTestStore()
  const events: RevokedEvent[] = []
  store.on('revoked', (event) => events.push(event))
  const { clientToken } = await store.create({ ttl: '1h' })
  const { leaseId } = await store.createLease(clientToken, { path: 'aws/creds/x', ttl: '1h' })
  await store.renew(clientToken, 60)
  await clock.advance(61)
  assert.equal(await store.lookup(clientToken), null) // refused at once, as promised
  assert.deepEqual(
    events.map((e) => (e.kind === 'lease' ? e.leaseId : e.kind)).sort(),
    [leaseId, 'token'].sort(),
    'the secret under the expired token was not revoked when the token expired',
  )
  await store.close()
})

test('renew(): two concurrent renewals of one token leave the expiry of one of them (no lost update)', async () => {
  const { store } = createTestStore()
  const { clientToken } = await store.create({ ttl: '1h' })
  const [a, b] = await Promise.all([store.renew(clientToken, 7200), store.renew(clientToken)])
  const info = await store.lookup(clientToken)
  // Serially, whichever ran second decides the expiry, and it would have answered that TTL.
  const last = Math.max(a.leaseDuration, b.leaseDuration)
  assert.equal(
    info?.ttl,
    last,
    `answers ${a.leaseDuration} and ${b.leaseDuration}, token ttl ${String(info?.ttl)}`,
  )
  await store.close()
})

test('revokePrefix(): an orphan created at the same time by a token the prefix revokes does not survive the break-glass', async () => {
  const { store } = createTestStore()
  const root = await store.createRoot()
  const [child] = await Promise.all([
    store.create({ parent: root.clientToken, noParent: true }).catch(() => null),
    store.revokePrefix('auth/token'),
  ])
  // Either order is fine serially: create first (then the prefix revokes the orphan too) or revoke first
  // (then create fails). Never both a successful create and a surviving orphan.
  if (child !== null) {
    assert.equal(await store.lookup(child.clientToken), null, 'the orphan survived revokePrefix')
  }
  await store.close()
})

test('revokeOrphan(): the children it keeps stay usable while it runs', async () => {
  const faulty = new FaultyStorage(new MemoryStorage())
  const store = new TokenStore({ storage: faulty.storage, timers: false })
  const parent = await store.create({ ttl: '1h' })
  const child = await store.create({ parent: parent.clientToken })
  const probe = await store.create({})
  faulty.arm(0)
  await store.revokeOrphan(probe.clientToken)
  const orphanAt = faulty.calls.indexOf('orphanChildren') + 1
  faulty.arm(orphanAt, 'stall')
  const revoking = store.revokeOrphan(parent.clientToken)
  await faulty.stalled
  try {
    await store.authenticate(child.clientToken)
  } finally {
    faulty.release()
    await revoking
    faulty.disarm()
  }
})
