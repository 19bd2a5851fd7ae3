/**
 * MemoryStorage's listing logs under mass deletion (issue 15): stale entries are counted and compacted in place,
 * the insertion number kept in the accessor index tells a token's current entry from the entries of an earlier
 * token with the same id, and a subtree deletion leaves no listing behind for the parents it deleted.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import { MemoryStorage, type HashedTokenId } from '../../src/index.js'
import { SeqLog } from '../../src/storage/seq-log.js'
import { hid, rec, T0 } from './helpers/records.js'

/** Every id a listing returns, page after page of `limit`. */
async function listAll(
  storage: MemoryStorage,
  limit: number,
  parent?: HashedTokenId,
): Promise<HashedTokenId[]> {
  const ids: HashedTokenId[] = []
  let cursor: string | null = null
  do {
    const page = await storage.listTokens({
      now: T0,
      limit,
      cursor,
      ...(parent === undefined ? {} : { parent }),
    })
    ids.push(...page.records.map((record) => record.id))
    cursor = page.cursor
  } while (cursor !== null)
  return ids
}

describe('SeqLog', () => {
  test('noteStale(): asks for a compaction only once 1,024 entries and half the log are stale', () => {
    const log = new SeqLog<string>()
    for (let seq = 1; seq <= 3000; seq++) log.push(seq, `id-${seq}`)
    const answers: boolean[] = []
    for (let i = 0; i < 1500; i++) answers.push(log.noteStale())
    // 1,024 stale is not yet half of 3,000; 1,500 is.
    assert.equal(answers.indexOf(true), 1499)
  })

  test('compact(): keeps the current entries in order, drops the rest, and starts counting afresh', () => {
    const log = new SeqLog<string>()
    for (let seq = 1; seq <= 4000; seq++) log.push(seq * 10, `id-${seq}`)
    let asked = false
    for (let i = 0; i < 2000; i++) asked = log.noteStale() || asked
    assert.ok(asked)
    log.compact((seq) => seq % 40 === 0)
    assert.equal(log.length, 1000)
    assert.deepEqual(log.at(0), { seq: 40, id: 'id-4' })
    assert.deepEqual(log.at(999), { seq: 40_000, id: 'id-4000' })
    assert.equal(log.at(1000), undefined)
    assert.equal(log.indexAfter(40), 1)
    assert.equal(log.noteStale(), false)
  })
})

describe('MemoryStorage listings after mass deletions', () => {
  test('listTokens(): after most tokens are deleted (the log compacted), lists each remaining token once, in insertion order', async () => {
    const storage = new MemoryStorage()
    const count = 5000
    for (let i = 0; i < count; i++)
      assert.equal(await storage.insertToken(rec(`t${i}`)), 'inserted')
    const kept: HashedTokenId[] = []
    for (let i = 0; i < count; i++) {
      if (i % 7 === 0) kept.push(hid(`t${i}`))
      else assert.ok(await storage.deleteToken(hid(`t${i}`)))
    }
    assert.deepEqual(await listAll(storage, 97), kept)
  })

  test('listTokens(): a token deleted and inserted again with the same id is listed once, at its new place', async () => {
    const storage = new MemoryStorage()
    for (let i = 0; i < 3000; i++) await storage.insertToken(rec(`t${i}`))
    // The same record, and a record with the same id but another accessor, each before and after a compaction.
    assert.ok(await storage.deleteToken(hid('t5')))
    assert.equal(await storage.insertToken(rec('t5')), 'inserted')
    assert.ok(await storage.deleteToken(hid('t6')))
    assert.equal(
      await storage.insertToken(rec('t6', { accessor: 'accessor-t6-again' })),
      'inserted',
    )
    for (let i = 10; i < 2500; i++) assert.ok(await storage.deleteToken(hid(`t${i}`)))
    assert.ok(await storage.deleteToken(hid('t7')))
    assert.equal(await storage.insertToken(rec('t7')), 'inserted')
    const expected = [0, 1, 2, 3, 4, 8, 9]
      .map((i) => hid(`t${i}`))
      .concat(Array.from({ length: 500 }, (_, i) => hid(`t${2500 + i}`)))
      .concat([hid('t5'), hid('t6'), hid('t7')])
    assert.deepEqual(await listAll(storage, 50), expected)
  })

  test('deleteSubtree(): in small batches, leaves no listing of the deleted parents; an id used again lists only its new children', async () => {
    const storage = new MemoryStorage()
    await storage.insertToken(rec('top'))
    for (let a = 0; a < 30; a++) {
      await storage.insertToken(rec(`h${a}`, { parent: hid('top') }))
      for (let b = 0; b < 40; b++) {
        await storage.insertToken(rec(`h${a}-${b}`, { parent: hid(`h${a}`) }))
      }
    }
    assert.ok(await storage.markRevoking(hid('top'), 'explicit'))
    const seen = new Set<HashedTokenId>()
    for (let calls = 1; ; calls++) {
      const batch = await storage.deleteSubtree(hid('top'), 'explicit', T0, 7)
      for (const record of batch.tokens) {
        assert.ok(!seen.has(record.id), 'deleted twice')
        // Children before parents.
        if (record.parent !== null) assert.ok(!seen.has(record.parent), 'a parent went first')
        seen.add(record.id)
      }
      if (batch.done) break
      assert.ok(calls < 1000)
    }
    assert.equal(seen.size, 1 + 30 + 30 * 40)
    assert.equal(storage.size, 0)
    assert.deepEqual(await storage.listRevoking(10), [])
    assert.deepEqual(await listAll(storage, 10), [])
    // A head's id used again: its listing holds its new child only, none of the deleted ones.
    await storage.insertToken(rec('h3'))
    await storage.insertToken(rec('new-child', { parent: hid('h3') }))
    assert.deepEqual(await listAll(storage, 10, hid('h3')), [hid('new-child')])
    assert.deepEqual(await listAll(storage, 10), [hid('h3'), hid('new-child')])
  })

  test('listTokens({ parent }): after most of a large family is deleted one by one, lists the rest once, in order', async () => {
    const storage = new MemoryStorage()
    await storage.insertToken(rec('p'))
    for (let i = 0; i < 3000; i++) await storage.insertToken(rec(`c${i}`, { parent: hid('p') }))
    const kept: HashedTokenId[] = []
    for (let i = 0; i < 3000; i++) {
      if (i % 5 === 0) kept.push(hid(`c${i}`))
      else assert.ok(await storage.deleteToken(hid(`c${i}`)))
    }
    assert.deepEqual(await listAll(storage, 64, hid('p')), kept)
  })
})

describe('MemoryStorage.deleteSubtree() and the children index', () => {
  test('a batch cut off part-way through a family leaves exactly the undeleted children indexed under the parent', async () => {
    const storage = new MemoryStorage()
    await storage.insertToken(rec('top'))
    for (let i = 0; i < 50; i++) await storage.insertToken(rec(`c${i}`, { parent: hid('top') }))
    await storage.insertToken(rec('c3-child', { parent: hid('c3') }))
    assert.ok(await storage.markRevoking(hid('top'), 'explicit'))
    const first = await storage.deleteSubtree(hid('top'), 'explicit', T0, 7)
    // c0–c2, then down to c3's child and c3, then c4 and c5: seven.
    assert.deepEqual(
      first.tokens.map((record) => record.id),
      ['c0', 'c1', 'c2', 'c3-child', 'c3', 'c4', 'c5'].map(hid),
    )
    assert.equal(first.done, false)
    const left = Array.from({ length: 44 }, (_, i) => hid(`c${i + 6}`))
    assert.deepEqual(await storage.listChildren(hid('top')), left)
    assert.deepEqual(await storage.listChildren(hid('c3')), [])
    // The other 45 tokens, 7 a call.
    let calls = 0
    for (let done = false; !done; calls++) {
      done = (await storage.deleteSubtree(hid('top'), 'explicit', T0, 7)).done
    }
    assert.equal(calls, 7)
    assert.deepEqual(await storage.listChildren(hid('top')), [])
    assert.equal(storage.size, 0)
  })
})
