import assert from 'node:assert/strict'
import { test } from 'node:test'

import { MemoryStorage, TokenStore, type HashedTokenId, type RevokedEvent } from 'tokentree'
import { ManualClock } from 'tokentree/testing'

import { overrideStorage } from './helpers/storage.js'

async function setup() {
  const memory = new MemoryStorage()
  const clock = new ManualClock()
  const store = new TokenStore({ storage: memory, clock: clock.now, timers: false })
  const events: RevokedEvent[] = []
  store.on('revoked', (event) => events.push(event))
  const root = (await store.createRoot()).clientToken
  return { memory, store, root, events }
}

async function idOf(memory: MemoryStorage, accessor: string): Promise<HashedTokenId> {
  const record = await memory.getTokenByAccessor(accessor)
  assert.ok(record)
  return record.id
}

test('tidy(): on a healthy store, repairs nothing and changes nothing', async () => {
  const { store, root, events } = await setup()
  const child = await store.create({ parent: root })
  await store.createLease(child.clientToken, { path: 'db/creds' })
  assert.deepEqual(await store.tidy(), {
    indexEntriesRemoved: 0,
    childrenOrphaned: 0,
    leasesRevoked: 0,
    revocationsFinished: 0,
  })
  assert.ok(await store.lookup(child.clientToken))
  assert.equal(events.length, 0)
})

test('tidy(): children of a vanished parent become orphans and work again (Vault TestTokenStore_HandleTidyCase1)', async () => {
  const { memory, store, root } = await setup()
  const parent = await store.create({ parent: root })
  const child = await store.create({ parent: parent.clientToken })
  // A crash that deleted the parent's record but not its child (impossible through the API, which deletes children
  // first): the child is unusable, since an ancestor is missing.
  await memory.deleteToken(await idOf(memory, parent.accessor))
  assert.equal(await store.lookup(child.clientToken), null)
  const report = await store.tidy()
  assert.equal(report.childrenOrphaned, 1)
  const info = await store.lookup(child.clientToken)
  assert.equal(info?.orphan, true)
})

test('tidy(): leases whose token is gone are revoked, with events', async () => {
  const { memory, store, root, events } = await setup()
  const token = await store.create({ parent: root })
  const lease = await store.createLease(token.clientToken, {
    path: 'db/creds',
    data: { user: 'u1' },
  })
  await memory.deleteToken(await idOf(memory, token.accessor))
  const report = await store.tidy()
  assert.equal(report.leasesRevoked, 1)
  assert.deepEqual(
    events.map((event) =>
      event.kind === 'lease' ? [event.leaseId, event.reason, event.data] : null,
    ),
    [[lease.leaseId, 'parent', { user: 'u1' }]],
  )
  assert.equal(await store.lookupLease(lease.leaseId), null)
})

test('tidy(): finishes a revocation cut off half-way', async () => {
  const { memory, store, root } = await setup()
  const parent = await store.create({ parent: root })
  const child = await store.create({ parent: parent.clientToken })
  let calls = 0
  // The first deletion fails, whether the storage walks the tree or deletes it in batches.
  const failing = overrideStorage(memory, {
    deleteToken: async (id, reason, now) => {
      if (++calls === 1) throw new Error('connection lost')
      return memory.deleteToken(id, reason, now)
    },
    deleteSubtree: async (id, reason, now, limit) => {
      if (++calls === 1) throw new Error('connection lost')
      return memory.deleteSubtree(id, reason, now, limit)
    },
  })
  const interrupted = new TokenStore({ storage: failing, timers: false, secret: 'x'.repeat(32) })
  await assert.rejects(interrupted.revokeAccessor(parent.accessor), { code: 'storage_unavailable' })
  await interrupted.close()
  assert.equal(await store.lookup(child.clientToken), null)
  assert.ok(await memory.getTokenByAccessor(child.accessor))
  const report = await store.tidy()
  assert.equal(report.revocationsFinished, 1)
  assert.equal(await memory.getTokenByAccessor(child.accessor), null)
  assert.equal(await memory.getTokenByAccessor(parent.accessor), null)
})

test('tidy(): is safe while the store serves', async () => {
  const { store, root } = await setup()
  const work = Array.from({ length: 50 }, async (_, index) => {
    const token = await store.create({ parent: root, numUses: 2 })
    await store.createLease(token.clientToken, { path: `db/${index}` })
    await store.authenticate(token.clientToken)
    return token
  })
  const [report, tokens] = await Promise.all([store.tidy(), Promise.all(work)])
  assert.equal(report.childrenOrphaned + report.leasesRevoked, 0)
  for (const token of tokens) assert.equal((await store.lookup(token.clientToken))?.numUses, 1)
})
