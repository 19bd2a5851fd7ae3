/**
 * close(): waits for the operations under way, so that a revocation it lets finish has emitted every `revoked`
 * event before the host closes the storage under it; and does not wait for operations called after it.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { MemoryStorage, TokenStore, type TokenAuth } from '../src/index.js'
import { FaultyStorage } from './faults/fault-storage.js'
import { flushMicrotasks, recordRevoked } from './helpers/index.js'

/** A store over a stallable memory storage, with a tree of `size` tokens under one top token. */
async function treeStore(size: number): Promise<{
  store: TokenStore
  faulty: FaultyStorage
  memory: MemoryStorage
  top: TokenAuth
  tree: TokenAuth[]
}> {
  const memory = new MemoryStorage()
  const faulty = new FaultyStorage(memory)
  const store = new TokenStore({ storage: faulty.storage, timers: false })
  const root = await store.createRoot()
  const top = await store.create({ parent: root.clientToken })
  const tree = [top]
  for (let i = 1; i < size; i++) {
    const parent = tree[Math.floor(i / 3)] ?? top
    tree.push(await store.create({ parent: parent.clientToken }))
  }
  return { store, faulty, memory, top, tree }
}

/** Whether `promise` has settled by now (after pending callbacks ran). */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false
  promise.then(
    () => (done = true),
    () => (done = true),
  )
  await flushMicrotasks()
  return done
}

test('close(): waits for a revocation under way; every token it deleted has its revoked event first', async () => {
  const { store, faulty, memory, top, tree } = await treeStore(40)
  const revoked = recordRevoked(store)
  // The second storage call of the revocation (after the mark) stalls, as a slow Redis round trip would.
  faulty.arm(2, 'stall')
  const revoking = store.revoke(top.clientToken)
  await faulty.stalled
  const closing = store.close()
  assert.equal(await settled(closing), false, 'close() resolved while a revocation was under way')
  // Counted the moment close() resolves: from then on the host may close the storage.
  const reportedAtClose = closing.then(() => revoked.length)
  faulty.release()
  assert.equal(await reportedAtClose, tree.length)
  await revoking
  assert.deepEqual(
    new Set(revoked.map((event) => event.accessor)),
    new Set(tree.map((token) => token.accessor)),
  )
  for (const token of tree) assert.equal(await memory.getTokenByAccessor(token.accessor), null)
})

test('close(): waits for a failing operation too, and resolves once it has failed', async () => {
  const { store, faulty, top } = await treeStore(5)
  faulty.arm(2, 'stall')
  const revoking = store.revoke(top.clientToken)
  await faulty.stalled
  const closing = store.close()
  assert.equal(await settled(closing), false)
  // The stalled call goes on; every call after it fails, as with a storage that went down.
  faulty.release()
  faulty.arm(1, 'fail')
  faulty.failFrom(1)
  await closing
  assert.equal(await settled(revoking), true)
  await assert.rejects(revoking, { code: 'storage_unavailable' })
})

test('close(): does not wait for operations called after it, so callers cannot hold it open', async () => {
  const { store, faulty, top } = await treeStore(3)
  const closing = store.close()
  faulty.arm(1, 'stall')
  const late = store.lookup(top.clientToken)
  await faulty.stalled
  await closing
  assert.equal(await settled(late), false)
  faulty.release()
  assert.equal((await late)?.accessor, top.accessor)
})

test('close(): a second call returns the same promise, which waits as the first does', async () => {
  const { store, faulty, top } = await treeStore(3)
  faulty.arm(2, 'stall')
  const revoking = store.revoke(top.clientToken)
  await faulty.stalled
  const first = store.close()
  const second = store.close()
  assert.equal(second, first)
  assert.equal(await settled(second), false)
  faulty.release()
  await second
  await revoking
})
