/**
 * ListingCleanup (RedisStorage's deferred removal of listing entries), on a stand-in step: when it runs, when it
 * waits, and that it stops.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { ListingCleanup } from '../../src/storage/redis/listing-cleanup.js'

/** A step over queues held here: takes up to `per` entries of a space's queue, resolves to what is left. */
function queues(sizes: Record<string, number>, per = 2) {
  const left = new Map(Object.entries(sizes))
  const steps: string[] = []
  let fail = false
  const step = async (space: string): Promise<number> => {
    await Promise.resolve()
    if (fail) throw new Error('Redis is down')
    steps.push(space)
    const rest = Math.max(0, (left.get(space) ?? 0) - per)
    left.set(space, rest)
    return rest
  }
  return {
    left,
    steps,
    step,
    failNext: (value: boolean) => {
      fail = value
    },
  }
}

/** One deletion script of this instance, from start to settlement (see ListingCleanup.deletionSettled). */
function deletion(
  cleanup: ListingCleanup,
  space: string,
  queued: boolean,
  finished: boolean,
): void {
  cleanup.deletionStarted()
  cleanup.deletionSettled(space, queued, finished)
}

/** A later turn of the event loop: the cleanup starts its first step there. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

test('waits for a deletion job to finish, then drains every queued space', async () => {
  const q = queues({ a: 3, b: 4 })
  const cleanup = new ListingCleanup(q.step)
  deletion(cleanup, 'a', true, false)
  deletion(cleanup, 'b', true, false)
  await new Promise((resolve) => setTimeout(resolve, 10))
  await cleanup.settled()
  assert.deepEqual(q.steps, [], 'no step between the batches of a job')
  deletion(cleanup, 'b', false, true)
  await nextTurn()
  await cleanup.settled()
  assert.deepEqual(q.steps, ['a', 'a', 'b', 'b'])
  assert.deepEqual([...q.left.values()], [0, 0])
})

test('pauses while a deletion is in flight and resumes when the next one finishes', async () => {
  const q = queues({ a: 10 })
  const cleanup = new ListingCleanup(q.step)
  deletion(cleanup, 'a', true, true)
  await nextTurn()
  // Its first step is under way: a deletion starts.
  cleanup.deletionStarted()
  await cleanup.settled()
  const paused = q.steps.length
  assert.ok(paused >= 1 && paused < 5, `paused after ${paused} steps`)
  await new Promise((resolve) => setTimeout(resolve, 10))
  assert.equal(q.steps.length, paused, 'no step while the deletion runs')
  cleanup.deletionSettled('a', true, true)
  await nextTurn()
  await cleanup.settled()
  assert.equal(q.steps.length, 5)
  assert.equal(q.left.get('a'), 0)
})

test('a failed step stops the cleanup without retrying in a loop; the next finished deletion retries', async () => {
  const q = queues({ a: 4 })
  const cleanup = new ListingCleanup(q.step)
  q.failNext(true)
  deletion(cleanup, 'a', true, true)
  await nextTurn()
  await cleanup.settled()
  await new Promise((resolve) => setTimeout(resolve, 10))
  assert.deepEqual(q.steps, [])
  q.failNext(false)
  deletion(cleanup, 'a', false, true)
  await nextTurn()
  await cleanup.settled()
  assert.deepEqual(q.steps, ['a', 'a'])
})

test('close() stops it after the step under way, and nothing starts after', async () => {
  const q = queues({ a: 100 })
  const cleanup = new ListingCleanup(q.step)
  deletion(cleanup, 'a', true, true)
  await nextTurn()
  await cleanup.close()
  const stopped = q.steps.length
  assert.ok(stopped < 50, `stopped after ${stopped} steps`)
  deletion(cleanup, 'a', true, true)
  await new Promise((resolve) => setTimeout(resolve, 10))
  assert.equal(q.steps.length, stopped)
})

test('drain() empties a queue at once, deletions or not', async () => {
  const q = queues({ a: 5 })
  const cleanup = new ListingCleanup(q.step)
  cleanup.deletionStarted()
  await cleanup.drain('a')
  assert.deepEqual(q.steps, ['a', 'a', 'a'])
  assert.equal(q.left.get('a'), 0)
})
