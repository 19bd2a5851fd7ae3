/**
 * NoticeFollower: a log that started over (an entry marked `reset`) is reported as such and followed from its
 * new start, with every notice after it delivered once.
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
