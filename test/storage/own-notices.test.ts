/**
 * OwnNoticeRanges: the notice numbers a RedisStorage's own batch entries hold, looked up by its subscription so
 * that it does not read them back.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import { OWN_RANGES_KEPT, OwnNoticeRanges } from '../../src/storage/redis/own-notices.js'

describe('OwnNoticeRanges', () => {
  test('next() finds the first range ending after a number, per stream', () => {
    const ranges = new OwnNoticeRanges()
    ranges.add('a:', 3, 5)
    ranges.add('a:', 9, 9)
    ranges.add('b:', 1, 2)
    assert.deepEqual(ranges.next('a:', 0), { first: 3, last: 5 })
    assert.deepEqual(ranges.next('a:', 3), { first: 3, last: 5 }, 'inside a range')
    assert.deepEqual(ranges.next('a:', 5), { first: 9, last: 9 })
    assert.equal(ranges.next('a:', 9), undefined)
    assert.deepEqual(ranges.next('b:', 0), { first: 1, last: 2 })
    assert.equal(ranges.next('c:', 0), undefined, 'a stream with none')
  })

  test('a range that does not come after the last one, or is not a range of numbers, is ignored', () => {
    const ranges = new OwnNoticeRanges()
    ranges.add('a:', 10, 12)
    ranges.add('a:', 12, 14)
    ranges.add('a:', 4, 6)
    ranges.add('a:', 20, 19)
    ranges.add('a:', 0, 1)
    ranges.add('a:', 21.5, 22)
    ranges.add('a:', Number.NaN, 30)
    assert.deepEqual(ranges.next('a:', 0), { first: 10, last: 12 })
    assert.equal(ranges.next('a:', 12), undefined)
  })

  test(`keeps the last ${OWN_RANGES_KEPT} ranges of a stream, however many are added`, () => {
    const ranges = new OwnNoticeRanges()
    const added = OWN_RANGES_KEPT * 5 + 3
    for (let i = 0; i < added; i++) ranges.add('a:', i * 10 + 1, i * 10 + 5)
    const oldestKept = added - OWN_RANGES_KEPT
    assert.deepEqual(ranges.next('a:', 0), {
      first: oldestKept * 10 + 1,
      last: oldestKept * 10 + 5,
    })
    assert.deepEqual(ranges.next('a:', (added - 1) * 10), {
      first: (added - 1) * 10 + 1,
      last: (added - 1) * 10 + 5,
    })
    assert.equal(ranges.next('a:', (added - 1) * 10 + 5), undefined)
    // Every kept range is still found from the number before it.
    for (let i = oldestKept; i < added; i++) {
      assert.equal(ranges.next('a:', i * 10)?.first, i * 10 + 1)
    }
  })
})
