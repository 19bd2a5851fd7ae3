/**
 * pipelineBatches(): the loop behind batched revocation and sweeps. Batches are taken in the order asked, never more
 * than `depth` calls are in flight, the next call is asked for before the last batch is taken (unless `ahead`
 * says not to), and a failure still takes what the calls in flight did before it is thrown.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import { pipelineBatches } from '../src/batch-pipeline.js'

interface Numbered {
  readonly n: number
  readonly done: boolean
}

/**
 * A storage stand-in whose n-th call answers batch n (done from `last` on) once released, logging each call and take.
 * `fail` makes the call with that number reject (or throw at once, with `throwAt`).
 */
function fakeStorage(last: number, options: { fail?: number; throwAt?: number } = {}) {
  const log: string[] = []
  let calls = 0
  let inFlight = 0
  let most = 0
  const ask = (): Promise<Numbered> => {
    calls += 1
    const n = calls
    log.push(`ask ${n}`)
    if (n === options.throwAt) throw new Error(`thrown ${n}`)
    inFlight += 1
    most = Math.max(most, inFlight)
    return new Promise((resolve, reject) => {
      setImmediate(() => {
        inFlight -= 1
        if (n === options.fail) reject(new Error(`failed ${n}`))
        else resolve({ n, done: n >= last })
      })
    })
  }
  const take = (batch: Numbered): void => {
    log.push(`take ${batch.n}`)
  }
  return { log, ask, take, most: () => most }
}

describe('pipelineBatches()', () => {
  test('depth 1: the next call is asked for before the last batch is taken, one call in flight at a time', async () => {
    const s = fakeStorage(3)
    await pipelineBatches(1, s.ask, s.take)
    assert.deepEqual(s.log, ['ask 1', 'ask 2', 'take 1', 'ask 3', 'take 2', 'take 3'])
    assert.equal(s.most(), 1)
  })

  test('depth 2: two calls in flight, every batch taken in order, those asked for ahead of the done one too', async () => {
    const s = fakeStorage(4)
    await pipelineBatches(2, s.ask, s.take)
    assert.equal(s.most(), 2)
    const takes = s.log.filter((entry) => entry.startsWith('take'))
    const asks = s.log.filter((entry) => entry.startsWith('ask'))
    assert.deepEqual(
      takes,
      asks.map((entry) => entry.replace('ask', 'take')),
    )
    assert.ok(asks.length >= 4 && asks.length <= 5, `asked ${asks.length} times`)
    // Never a take before the call after it was asked for (while not done).
    assert.ok(s.log.indexOf('ask 3') < s.log.indexOf('take 1'))
  })

  test('ahead() false: the next call waits until the batch is taken', async () => {
    const s = fakeStorage(3)
    await pipelineBatches(1, s.ask, s.take, (batch) => batch.n !== 1)
    assert.deepEqual(s.log, ['ask 1', 'take 1', 'ask 2', 'ask 3', 'take 2', 'take 3'])
  })

  test('a failed call: the batches asked for before it are taken, those in flight after it too, then it is thrown', async () => {
    const s = fakeStorage(10, { fail: 3 })
    await assert.rejects(pipelineBatches(2, s.ask, s.take), /failed 3/)
    const takes = s.log.filter((entry) => entry.startsWith('take'))
    assert.deepEqual(takes.slice(0, 2), ['take 1', 'take 2'])
    assert.ok(!takes.includes('take 3'))
    // Call 4 was in flight when 3 failed: what it did is taken, not lost.
    assert.ok(s.log.includes('ask 4') && takes.includes('take 4'))
    assert.ok(!s.log.includes('ask 6'), 'nothing asked for after the failure')
  })

  test('a call that throws rather than rejects fails like a rejection, after the batch before it is taken', async () => {
    const s = fakeStorage(10, { throwAt: 2 })
    await assert.rejects(pipelineBatches(1, s.ask, s.take), /thrown 2/)
    assert.deepEqual(s.log, ['ask 1', 'ask 2', 'take 1'])
  })

  test('a take that fails stops asking; the calls in flight are still taken', async () => {
    const s = fakeStorage(10)
    const take = (batch: Numbered): void => {
      s.take(batch)
      if (batch.n === 2) throw new Error('take 2 failed')
    }
    await assert.rejects(pipelineBatches(2, s.ask, take), /take 2 failed/)
    const asked = s.log.filter((entry) => entry.startsWith('ask')).length
    const taken = s.log.filter((entry) => entry.startsWith('take')).length
    assert.equal(taken, asked, 'every call asked for is taken')
  })
})
