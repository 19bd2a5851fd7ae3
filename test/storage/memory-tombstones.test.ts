/**
 * MemoryStorage's tombstones (issue 15): a deleted token's slot is marked dead and its map entries left for a
 * purge, which rebuilds the id and accessor maps from the listing log once deletions outnumber live tokens. These
 * tests pin that the maps stay bounded under churn, that a purge loses no live token (nor the children of a token
 * deleted out of order), that listings stay exact across purges, and the bucketed expiry index's order.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import { MemoryStorage, type HashedTokenId } from '../../src/index.js'
import { ExpiryBuckets } from '../../src/storage/expiry-buckets.js'
import { memoryIndexSizes, REBUILD_MAX_LIVE } from '../../src/storage/memory.js'
import { hid, rec, T0 } from './helpers/records.js'

/** Deletions a purge waits for at least (MIN_DEAD_FOR_PURGE in memory.ts). */
const PURGE_FLOOR = 1024

/** Deletes a marked subtree to the end, in batches of `limit`. */
async function deleteAll(storage: MemoryStorage, top: HashedTokenId, limit = 500): Promise<number> {
  let deleted = 0
  for (let done = false; !done;) {
    const batch = await storage.deleteSubtree(top, 'explicit', T0, limit)
    deleted += batch.tokens.length
    done = batch.done
  }
  return deleted
}

/** Every id a listing returns, page after page of `limit`, calling `between` after each page. */
async function listAll(
  storage: MemoryStorage,
  limit: number,
  between: (page: number) => Promise<void> = async () => {},
): Promise<HashedTokenId[]> {
  const ids: HashedTokenId[] = []
  let cursor: string | null = null
  for (let page = 0; ; page++) {
    const result = await storage.listTokens({ now: T0, limit, cursor })
    ids.push(...result.records.map((record) => record.id))
    cursor = result.cursor
    if (cursor === null) return ids
    await between(page)
  }
}

describe('MemoryStorage tombstones and purges', () => {
  test('create/revoke forever: the id and accessor maps, the log and the expiry index stay bounded', async () => {
    const storage = new MemoryStorage()
    for (let i = 0; i < 100; i++) await storage.insertToken(rec(`keep${i}`))
    let highest = 0
    for (let cycle = 0; cycle < 60; cycle++) {
      // A family revoked as a subtree, single tokens deleted one by one (reusing their ids every cycle), and
      // tokens that expire and are swept.
      await storage.insertToken(rec(`top${cycle}`))
      for (let i = 0; i < 100; i++) {
        await storage.insertToken(rec(`top${cycle}-${i}`, { parent: hid(`top${cycle}`) }))
      }
      for (let i = 0; i < 50; i++) await storage.insertToken(rec(`single${i}`))
      for (let i = 0; i < 50; i++) {
        await storage.insertToken(rec(`exp${cycle}-${i}`, { expiresAt: T0 + cycle + 1 }))
        // Revoked long before it expires: its expiry entry is stale at once.
        await storage.insertToken(rec(`ttl${cycle}-${i}`, { expiresAt: T0 + 3_600_000 }))
      }
      assert.ok(await storage.markRevoking(hid(`top${cycle}`), 'explicit'))
      assert.equal(await deleteAll(storage, hid(`top${cycle}`), 37), 101)
      for (let i = 0; i < 50; i++) {
        assert.ok(await storage.deleteToken(hid(`single${i}`)))
        assert.ok(await storage.deleteToken(hid(`ttl${cycle}-${i}`)))
      }
      const swept = await storage.sweepExpired(T0 + cycle + 1, 1000)
      assert.equal(swept.tokens.length, 50)
      assert.ok(swept.done)
      assert.equal(storage.size, 100)
      const sizes = memoryIndexSizes(storage)
      highest = Math.max(highest, sizes.tokens, sizes.accessors, sizes.log)
      // At most the live tokens and the deletions a purge waits for (plus one cycle's worth).
      assert.ok(sizes.tokens <= 100 + PURGE_FLOOR + 251, `tokens ${sizes.tokens} in cycle ${cycle}`)
      assert.ok(sizes.accessors <= 100 + PURGE_FLOOR + 251, `accessors ${sizes.accessors}`)
      assert.ok(sizes.log <= 100 + PURGE_FLOOR + 251, `log ${sizes.log}`)
      assert.ok(sizes.expiry <= PURGE_FLOOR + 251, `expiry ${sizes.expiry}`)
    }
    // 60 cycles deleted 15,000 tokens: purges happened, or the maps would hold them all.
    assert.ok(highest > 100 + PURGE_FLOOR / 2, `highest ${highest}`)
    for (let i = 0; i < 100; i++) {
      assert.equal((await storage.getToken(hid(`keep${i}`)))?.id, hid(`keep${i}`))
      assert.equal((await storage.getTokenByAccessor(`accessor-keep${i}`))?.id, hid(`keep${i}`))
    }
    assert.equal(await storage.getToken(hid('single3')), null)
    assert.equal(await storage.getTokenByAccessor('accessor-top7-3'), null)
  })

  test('a purge after a large subtree deletion keeps every survivor findable, with its family and its listing', async () => {
    const storage = new MemoryStorage()
    await storage.insertToken(rec('p'))
    for (let i = 0; i < 5; i++) await storage.insertToken(rec(`p${i}`, { parent: hid('p') }))
    await storage.insertToken(rec('doomed'))
    for (let i = 0; i < 3000; i++) {
      await storage.insertToken(rec(`d${i}`, { parent: hid('doomed') }))
    }
    assert.ok(await storage.markRevoking(hid('doomed'), 'explicit'))
    assert.equal(await deleteAll(storage, hid('doomed')), 3001)
    // Purged at the end of the deletion: only the six survivors are left in the maps.
    assert.deepEqual(memoryIndexSizes(storage), {
      tokens: 6,
      accessors: 6,
      log: 6,
      expiry: 0,
      expiryTimes: 0,
    })
    assert.equal(storage.size, 6)
    assert.deepEqual(
      await storage.listChildren(hid('p')),
      [0, 1, 2, 3, 4].map((i) => hid(`p${i}`)),
    )
    assert.equal((await storage.getTokenByAccessor('accessor-p3'))?.id, hid('p3'))
    assert.equal(await storage.getToken(hid('d17')), null)
    assert.equal(await storage.getTokenByAccessor('accessor-d17'), null)
    assert.deepEqual(await listAll(storage, 4), ['p', 'p0', 'p1', 'p2', 'p3', 'p4'].map(hid))
    // Ids and accessors of the dead are free again, and new tokens hang under the survivors.
    assert.equal(await storage.insertToken(rec('d17')), 'inserted')
    assert.equal(await storage.insertToken(rec('p5', { parent: hid('p') })), 'inserted')
    assert.equal((await storage.listChildren(hid('p'))).length, 6)
    // The whole family is still one tree: marking the top makes a grandchild's parent unusable.
    await storage.markRevoking(hid('p'), 'explicit')
    assert.equal(await storage.getLiveToken(hid('p2'), T0), null)
  })

  test('a token deleted out of order keeps its children through a purge, for a resumed walk or tidy()', async () => {
    const storage = new MemoryStorage()
    await storage.insertToken(rec('parent'))
    await storage.insertToken(rec('child', { parent: hid('parent') }))
    assert.ok(await storage.deleteToken(hid('parent')))
    // Enough other deletions for a purge.
    for (let i = 0; i < 2 * PURGE_FLOOR; i++) await storage.insertToken(rec(`x${i}`))
    for (let i = 0; i < 2 * PURGE_FLOOR; i++) assert.ok(await storage.deleteToken(hid(`x${i}`)))
    assert.ok(memoryIndexSizes(storage).tokens <= 3, 'purged')
    assert.equal(await storage.getToken(hid('parent')), null)
    assert.deepEqual(await storage.listChildren(hid('parent')), [hid('child')])
    assert.equal(await storage.getLiveToken(hid('child'), T0), null)
    const tidied = await storage.tidy()
    assert.equal(tidied.childrenOrphaned, 1)
    assert.deepEqual(await storage.getToken(hid('child')), rec('child'))
    assert.ok(await storage.getLiveToken(hid('child'), T0))
    assert.deepEqual(await storage.listChildren(hid('parent')), [])
  })

  test('a listing stays exact while tokens are created and deleted between its pages, across purges', async () => {
    const storage = new MemoryStorage()
    const kept: HashedTokenId[] = []
    for (let i = 0; i < 3000; i++) {
      await storage.insertToken(rec(`t${i}`))
      if (i % 3 === 0) kept.push(hid(`t${i}`))
    }
    let next = 0
    let purgesSeen = 0
    const listed = await listAll(storage, 50, async (page) => {
      // Between pages: delete the tokens not kept (some ahead of the listing, some behind it) and create new ones.
      for (let j = 0; j < 60 && next < 3000; j++, next++) {
        if (next % 3 !== 0) assert.ok(await storage.deleteToken(hid(`t${next}`)))
      }
      for (let j = 0; j < 20; j++) await storage.insertToken(rec(`n${page}-${j}`))
      const before = memoryIndexSizes(storage).tokens
      for (let j = 0; j < 20; j++) assert.ok(await storage.deleteToken(hid(`n${page}-${j}`)))
      if (memoryIndexSizes(storage).tokens < before) purgesSeen += 1
    })
    assert.ok(purgesSeen > 0, 'no purge happened during the listing')
    // Every token stored throughout is listed exactly once, in insertion order; a deleted one may or may not be.
    const keptListed = listed.filter((id) => kept.includes(id))
    assert.deepEqual(keptListed, kept)
    assert.equal(new Set(listed).size, listed.length)
  })

  test('a store too large to rebuild at once drains dead entries a chunk per call, never all in one go', async () => {
    // Rebuilding the maps of a million live tokens held the event loop for about two seconds: above
    // REBUILD_MAX_LIVE, a completed deletion and each insertion drop a chunk of dead entries instead.
    const storage = new MemoryStorage()
    const live = REBUILD_MAX_LIVE + 100
    for (let i = 0; i < live; i++) await storage.insertToken(rec(`live${i}`))
    await storage.insertToken(rec('top'))
    // As many deleted as live: a store that could rebuild its maps would do it now.
    const children = live + 100
    for (let i = 0; i < children; i++) {
      await storage.insertToken(rec(`c${i}`, { parent: hid('top') }))
    }
    assert.ok(await storage.markRevoking(hid('top'), 'explicit'))
    assert.equal(await deleteAll(storage, hid('top')), children + 1)

    // No rebuild: most dead entries are still in both maps, yet every lookup treats them as gone.
    const after = memoryIndexSizes(storage)
    assert.equal(storage.size, live)
    assert.ok(after.tokens > live + children / 2, `id map: ${after.tokens}`)
    assert.ok(after.accessors > live + children / 2, `accessor map: ${after.accessors}`)
    assert.equal(await storage.getToken(hid('c7')), null)
    assert.equal(await storage.getTokenByAccessor('accessor-c7'), null)
    assert.equal(await storage.getToken(hid('top')), null)
    assert.equal((await storage.getToken(hid('live7')))?.accessor, 'accessor-live7')

    // A deleted id taken again before the drain reaches it keeps its new token.
    await storage.insertToken(rec('c0', { accessor: 'accessor-c0-again' }))
    // Each insertion goes 256 entries further through both maps, dropping dead ones: enough of them bring both maps
    // back to the live tokens. The log of every token, compacted when the round began, holds just them.
    const more = Math.ceil((live + children + 1) / 256) + 2
    for (let i = 0; i < more; i++) await storage.insertToken(rec(`more${i}`))
    const drained = memoryIndexSizes(storage)
    assert.equal(storage.size, live + more + 1)
    assert.equal(drained.tokens, live + more + 1)
    assert.equal(drained.accessors, live + more + 1)
    assert.equal(drained.log, live + more + 1)
    assert.equal((await storage.getToken(hid('c0')))?.accessor, 'accessor-c0-again')
    assert.equal(await storage.getTokenByAccessor('accessor-c0'), null)
    assert.equal((await storage.getTokenByAccessor('accessor-live9'))?.id, hid('live9'))
  })
})

describe('ExpiryBuckets', () => {
  test('pops soonest time first, and within a time in the order pushed', () => {
    const buckets = new ExpiryBuckets<string>()
    const pushes: Array<[number, string]> = [
      [30, 'a'],
      [10, 'b'],
      [20, 'c'],
      [10, 'd'],
      [30, 'e'],
      [5, 'f'],
      [10, 'g'],
    ]
    for (const [time, id] of pushes) buckets.push(time, id)
    assert.equal(buckets.size, 7)
    assert.equal(buckets.times, 4)
    const popped: string[] = []
    for (let id = buckets.peekId(); id !== undefined; id = buckets.peekId()) {
      popped.push(`${buckets.peekTime()}:${id}`)
      buckets.pop()
    }
    assert.deepEqual(popped, ['5:f', '10:b', '10:d', '10:g', '20:c', '30:a', '30:e'])
    assert.equal(buckets.size, 0)
    assert.equal(buckets.times, 0)
    assert.equal(buckets.peekTime(), undefined)
    buckets.pop()
    assert.equal(buckets.size, 0)
  })

  test('a time taken from and pushed to in turn keeps its order and does not grow', () => {
    const buckets = new ExpiryBuckets<number>()
    for (let i = 0; i < 3000; i++) buckets.push(7, i)
    // Take 500 and put them back, as a listing does, many times over: the bucket cycles through its entries.
    const seen: number[] = []
    for (let round = 0; round < 30; round++) {
      const taken: number[] = []
      for (let i = 0; i < 500; i++) {
        taken.push(buckets.peekId() as number)
        buckets.pop()
      }
      seen.push(...taken)
      for (const id of taken) buckets.push(7, id)
    }
    assert.equal(buckets.size, 3000)
    assert.equal(buckets.times, 1)
    assert.deepEqual(
      seen.slice(0, 6000),
      Array.from({ length: 6000 }, (_, i) => i % 3000),
    )
    // An earlier time pushed meanwhile comes first.
    buckets.push(3, -1)
    assert.equal(buckets.peekTime(), 3)
    assert.equal(buckets.peekId(), -1)
  })

  test('MemoryStorage: a same-millisecond storm is swept in batches, each token once; renewed ones are not', async () => {
    const storage = new MemoryStorage()
    const when = T0 + 1000
    for (let i = 0; i < 5000; i++) await storage.insertToken(rec(`s${i}`, { expiresAt: when }))
    await storage.insertToken(rec('later', { expiresAt: when + 1 }))
    await storage.insertToken(rec('earlier', { expiresAt: when - 1 }))
    // Renewed before the storm: its entry at `when` is stale.
    const renewed = await storage.renewToken(hid('s42'), T0, {
      expectedExpiresAt: when,
      expiresAt: when + 5000,
      ttl: 6,
      lastRenewalTime: T0,
    })
    assert.ok(renewed)
    assert.deepEqual(await storage.listExpiredTokens(when, 3), ['earlier', 's0', 's1'].map(hid))
    const deleted: HashedTokenId[] = []
    let calls = 0
    for (let done = false; !done; calls++) {
      const batch = await storage.sweepExpired(when, 500)
      deleted.push(...batch.tokens.map((record) => record.id))
      done = batch.done
    }
    assert.equal(calls, 10)
    assert.equal(deleted.length, 5000)
    assert.equal(new Set(deleted).size, 5000)
    assert.equal(deleted[0], hid('earlier'))
    assert.ok(!deleted.includes(hid('s42')))
    assert.ok(!deleted.includes(hid('later')))
    assert.equal(storage.size, 2)
    assert.equal(await storage.nextExpiry(), when + 1)
    assert.equal(memoryIndexSizes(storage).expiry, 2)
  })
})
