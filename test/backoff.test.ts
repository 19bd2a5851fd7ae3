import assert from 'node:assert/strict'
import { test } from 'node:test'

import { backoffDelay } from '../src/backoff.js'

const BACKOFF = { first: 1000, max: 30_000 }

test('the cap doubles with each attempt up to max; the delay is the cap times the random draw', () => {
  const almostOne = (): number => 0.999_999
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 6, 50, 2000].map((attempt) => backoffDelay(attempt, BACKOFF, almostOne)),
    [999, 1999, 3999, 7999, 15_999, 29_999, 29_999, 29_999, 29_999],
  )
  assert.equal(
    backoffDelay(3, BACKOFF, () => 0.5),
    4000,
  )
  assert.equal(
    backoffDelay(3, BACKOFF, () => 0),
    0,
  )
})

test('full jitter: draws spread over the whole range, so instances do not retry in step', () => {
  let state = 42
  // A small deterministic generator (LCG), injected in place of Math.random.
  const random = (): number => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31
    return state / 2 ** 31
  }
  const delays = Array.from({ length: 1000 }, () => backoffDelay(2, BACKOFF, random))
  assert.ok(delays.every((d) => d >= 0 && d < 4000 && Number.isInteger(d)))
  const buckets = [0, 0, 0, 0]
  for (const d of delays) {
    const bucket = Math.floor(d / 1000)
    buckets[bucket] = (buckets[bucket] ?? 0) + 1
  }
  for (const count of buckets) assert.ok(count > 150, `uneven spread: ${buckets.join(',')}`)
})

test('a bad draw or attempt cannot produce a negative or oversized delay', () => {
  assert.equal(
    backoffDelay(-3, BACKOFF, () => 0.5),
    500,
  )
  assert.equal(
    backoffDelay(1.7, BACKOFF, () => 0.5),
    1000,
  )
  assert.equal(
    backoffDelay(0, BACKOFF, () => 1),
    0,
  )
  assert.equal(
    backoffDelay(0, BACKOFF, () => Number.NaN),
    0,
  )
  assert.equal(
    backoffDelay(Number.POSITIVE_INFINITY, BACKOFF, () => 0.5),
    15_000,
  )
})
