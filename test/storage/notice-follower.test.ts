/**
 * NoticeFollower: a log that started over (an entry marked `reset`) is reported as such and followed from its
 * new start, with every notice after it delivered once; a failed read is retried on its own, with pauses, until one
 * succeeds or the follower stops.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { NoticeFollower, type NoticeEntry } from '../../src/storage/notice-follower.js'
import type { NoticeGap, StorageNotice } from '../../src/storage/storage.js'

const policy = (name: string): StorageNotice => ({ kind: 'policy', name, time: 0 })

test('a reset entry: the gap says so, the cursor goes back to 0, and the entries after it are delivered', async () => {
  const reads: number[] = []
  const batches: NoticeEntry[][] = [
    [
      { seq: 0, notice: null, reset: true },
      { seq: 1, notice: policy('a') },
      { seq: 2, notice: policy('b') },
    ],
    [{ seq: 3, notice: policy('c') }],
  ]
  const delivered: string[] = []
  const gaps: NoticeGap[] = []
  const positions: number[] = []
  const follower = new NoticeFollower({
    readBatch: (cursor) => {
      reads.push(cursor)
      return Promise.resolve(batches.shift() ?? [])
    },
    listener: (notice) => delivered.push(notice.kind === 'policy' ? notice.name : '?'),
    onAdvance: (seq) => positions.push(seq),
    onGap: (gap) => gaps.push(gap),
    pollInterval: 60_000,
  })
  follower.start(40)
  await new Promise((resolve) => setImmediate(resolve))
  follower.wake()
  await new Promise((resolve) => setImmediate(resolve))
  await follower.stop()
  assert.deepEqual(reads, [40, 2])
  assert.deepEqual(gaps, [{ lost: 0, atMost: true, reset: true }])
  assert.deepEqual(delivered, ['a', 'b', 'c'])
  assert.deepEqual(positions, [40, 0, 1, 2, 3])
})

/** Resolves once `done()` holds, or rejects after `ms`. */
async function until(done: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

test('a failed read is retried without a wake-up or a poll, with pauses, until one succeeds', async () => {
  const reads: { cursor: number; at: number }[] = []
  let failuresLeft = 3
  const follower = new NoticeFollower({
    readBatch: (cursor) => {
      reads.push({ cursor, at: performance.now() })
      if (failuresLeft > 0) {
        failuresLeft -= 1
        return Promise.reject(new Error('storage down'))
      }
      return Promise.resolve(reads.length === 4 ? [{ seq: 41, notice: policy('a') }] : [])
    },
    listener: (notice) => delivered.push(notice.kind === 'policy' ? notice.name : '?'),
    onAdvance: () => undefined,
    pollInterval: 600_000,
  })
  const delivered: string[] = []
  follower.start(40)
  try {
    await until(() => delivered.length > 0, 5000, 'the retried read')
  } finally {
    await follower.stop()
  }
  assert.deepEqual(delivered, ['a'])
  assert.deepEqual(
    reads.slice(0, 4).map((read) => read.cursor),
    [40, 40, 40, 40],
  )
  // Each retry waited at least the floor: a storage that fails at once is not read in a loop.
  for (let i = 1; i < 4; i += 1) {
    const pause = (reads[i]?.at ?? 0) - (reads[i - 1]?.at ?? 0)
    assert.ok(pause >= 45, `retry ${i} came ${pause.toFixed(1)} ms after the failure`)
  }
})

test('stop() ends the retries of a read that keeps failing', async () => {
  let reads = 0
  const follower = new NoticeFollower({
    readBatch: () => {
      reads += 1
      return Promise.reject(new Error('storage down'))
    },
    listener: () => undefined,
    onAdvance: () => undefined,
    pollInterval: 600_000,
  })
  follower.start(0)
  await until(() => reads >= 2, 5000, 'a retry')
  await follower.stop()
  const atStop = reads
  await new Promise((resolve) => setTimeout(resolve, 400))
  assert.equal(reads, atStop)
})
