/**
 * UseBatcher (PostgresStorage's batching of `useToken`), over fake statements: which calls go alone, which wait
 * and go together, and what each caller is told. The SQL of a batch is checked against PostgreSQL by the
 * conformance suite ("answers concurrent calls on tokens in different states each as alone").
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'

import {
  MAX_USE_BATCH,
  USE_BATCHES_IN_FLIGHT,
  UseBatcher,
} from '../../src/storage/postgres/use-batch.js'
import type { HashedTokenId, TokenRecord, UnixMillis } from '../../src/types.js'

const id = (name: string): HashedTokenId => name as HashedTokenId

function record(name: string, numUses: number): TokenRecord {
  return {
    id: id(name),
    numUses,
    revoking: null,
  } as unknown as TokenRecord
}

/** Fake statements that record their calls and answer when told to. */
function fakeDatabase(answer: (name: HashedTokenId, calls: number) => TokenRecord | null) {
  const statements: { ids: HashedTokenId[]; now: UnixMillis; release: () => void }[] = []
  const spent = new Map<HashedTokenId, number>()
  const spend = (name: HashedTokenId): TokenRecord | null => {
    const calls = (spent.get(name) ?? 0) + 1
    spent.set(name, calls)
    return answer(name, calls)
  }
  const hold = (ids: HashedTokenId[], now: UnixMillis) =>
    new Promise<void>((release) => statements.push({ ids, now, release }))
  const batcher = new UseBatcher(
    async (name, now) => {
      await hold([name], now)
      return spend(name)
    },
    async (names, now) => {
      await hold([...names], now)
      const found = new Map<HashedTokenId, TokenRecord>()
      for (const name of names) {
        const answered = spend(name)
        if (answered !== null) found.set(name, answered)
      }
      return found
    },
  )
  /** Lets every statement sent so far answer, and waits until the answers have gone out. */
  const releaseAll = async (): Promise<void> => {
    for (const statement of statements) statement.release()
    for (let i = 0; i < 10; i++) await new Promise<void>((resolve) => setImmediate(resolve))
  }
  return { batcher, statements, releaseAll }
}

test('an idle batcher sends each call at once, alone', async () => {
  const db = fakeDatabase((name) => record(name, 0))
  const answer = db.batcher.use(id('a'), 5)
  assert.deepEqual(
    db.statements.map((s) => [s.ids, s.now]),
    [[['a'], 5]],
  )
  await db.releaseAll()
  assert.deepEqual(await answer, record('a', 0))
})

test(`calls beyond ${USE_BATCHES_IN_FLIGHT} in flight wait, then go together at their latest now`, async () => {
  const db = fakeDatabase((name) => (name === 'gone' ? null : record(name, 0)))
  const first = Array.from({ length: USE_BATCHES_IN_FLIGHT }, (_, i) =>
    db.batcher.use(id(`t${i}`), 10),
  )
  const waiting = [
    db.batcher.use(id('x'), 30),
    db.batcher.use(id('gone'), 20),
    db.batcher.use(id('x'), 25),
  ]
  assert.equal(db.statements.length, USE_BATCHES_IN_FLIGHT)
  await db.releaseAll()
  // One statement for the waiting calls: distinct ids, the latest now.
  assert.equal(db.statements.length, USE_BATCHES_IN_FLIGHT + 1)
  assert.deepEqual(db.statements.at(-1)?.ids, ['x', 'gone'])
  assert.equal(db.statements.at(-1)?.now, 30)
  await db.releaseAll()
  assert.deepEqual(
    await Promise.all(first),
    first.map((_, i) => record(`t${i}`, 0)),
  )
  // An unlimited token answers all its callers from one statement; a token not live answers null.
  assert.deepEqual(await Promise.all(waiting), [record('x', 0), null, record('x', 0)])
  assert.equal(db.statements.length, USE_BATCHES_IN_FLIGHT + 1)
})

test('the other callers of a limited token spend their own uses, in later statements', async () => {
  // 'lim' has two uses: the answer to its n-th statement, then nothing.
  const db = fakeDatabase((name, calls) => {
    if (name !== 'lim') return record(name, 0)
    if (calls > 2) return null
    const left = 2 - calls
    return { ...record(name, left), revoking: left === 0 ? 'uses_exhausted' : null }
  })
  const blockers = Array.from({ length: USE_BATCHES_IN_FLIGHT }, (_, i) =>
    db.batcher.use(id(`b${i}`), 1),
  )
  const uses = [
    db.batcher.use(id('lim'), 1),
    db.batcher.use(id('lim'), 1),
    db.batcher.use(id('lim'), 1),
  ]
  for (let round = 0; round < 5; round++) await db.releaseAll()
  await Promise.all(blockers)
  const answers = await Promise.all(uses)
  assert.deepEqual(
    answers.map((a) => a?.numUses ?? null),
    [1, 0, null],
  )
  assert.equal(answers[1]?.revoking, 'uses_exhausted')
  // 'lim' went into three statements, one per caller.
  assert.equal(db.statements.filter((s) => s.ids.includes(id('lim'))).length, 3)
})

test(`a batch holds at most ${MAX_USE_BATCH} distinct tokens`, async () => {
  const db = fakeDatabase((name) => record(name, 0))
  for (let i = 0; i < USE_BATCHES_IN_FLIGHT; i++) void db.batcher.use(id(`b${i}`), 1)
  const many = Array.from({ length: MAX_USE_BATCH + 5 }, (_, i) => db.batcher.use(id(`m${i}`), 1))
  await db.releaseAll()
  const sizes = db.statements.slice(USE_BATCHES_IN_FLIGHT).map((s) => s.ids.length)
  assert.deepEqual(sizes, [MAX_USE_BATCH, 5])
  await db.releaseAll()
  assert.equal((await Promise.all(many)).length, MAX_USE_BATCH + 5)
})

test('a failed statement rejects its callers only; the next calls go through', async () => {
  let fail = true
  const batcher = new UseBatcher(
    async (name) => {
      await Promise.resolve()
      if (fail) throw new Error('connection lost')
      return record(name, 0)
    },
    () => Promise.resolve(new Map()),
  )
  await assert.rejects(batcher.use(id('a'), 1), /connection lost/)
  fail = false
  assert.deepEqual(await batcher.use(id('a'), 1), record('a', 0))
})
