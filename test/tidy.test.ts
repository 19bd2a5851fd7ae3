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

test('tidy(): finishes many cut-off revocations a page of marks at a time, never listing every mark at once', async () => {
  const { memory, store, root } = await setup()
  const marks = 250
  const tops = []
  for (let i = 0; i < marks; i++) {
    const top = await store.create({ parent: root })
    const child = await store.create({ parent: top.clientToken })
    await memory.markRevoking(await idOf(memory, top.accessor), 'explicit')
    tops.push({ top, child })
  }
  const limits: number[] = []
  const paging = overrideStorage(memory, {
    listRevoking: async (limit) => {
      limits.push(limit)
      return memory.listRevoking(limit)
    },
  })
  const finisher = new TokenStore({ storage: paging, timers: false, secret: 'x'.repeat(32) })
  const events: RevokedEvent[] = []
  finisher.on('revoked', (event) => events.push(event))
  const report = await finisher.tidy()
  await finisher.close()
  assert.equal(report.revocationsFinished, marks)
  assert.ok(limits.length >= 3, `listRevoking was called ${limits.length} times`)
  assert.ok(
    limits.every((limit) => limit <= 100),
    `listRevoking limits: ${limits.join(', ')}`,
  )
  assert.deepEqual(await memory.listRevoking(10), [])
  assert.equal(events.length, marks * 2)
  for (const { top, child } of tops) {
    assert.equal(await memory.getTokenByAccessor(top.accessor), null)
    assert.equal(await memory.getTokenByAccessor(child.accessor), null)
  }
})

test('tidy(): a listing that keeps returning tokens no longer marked does not hold it in a loop', async () => {
  const { memory, store, root } = await setup()
  const token = await store.create({ parent: root })
  const id = await idOf(memory, token.accessor)
  let calls = 0
  // A broken index: the same unmarked id, a full page of it, on every call.
  const stuck = overrideStorage(memory, {
    listRevoking: (limit) => {
      calls += 1
      return Promise.resolve(Array.from({ length: limit }, () => id))
    },
  })
  const finisher = new TokenStore({ storage: stuck, timers: false, secret: 'x'.repeat(32) })
  const report = await finisher.tidy()
  await finisher.close()
  assert.equal(report.revocationsFinished, 0)
  assert.equal(calls, 1)
  assert.ok(await store.lookup(token.clientToken))
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
