import assert from 'node:assert/strict'
import { test } from 'node:test'

import { MemoryStorage, type RevocationNotice, type RevokedEvent } from 'tokentree'
import { createTestStore } from 'tokentree/testing'

import { overrideStorage } from './helpers/storage.js'

test("a shared storage's notices become revoked events; a failed subscription is retried with backoff", async () => {
  let attempts = 0
  let deliver: ((notice: RevocationNotice) => void) | null = null
  let stopped = false
  const storage = overrideStorage(new MemoryStorage(), {
    subscribe: (listener) => {
      attempts += 1
      if (attempts < 3) return Promise.reject(new Error('connection refused'))
      deliver = listener
      return Promise.resolve(() => {
        stopped = true
        return Promise.resolve()
      })
    },
  })
  const { store, clock } = createTestStore({ storage })
  const errors: unknown[] = []
  const events: RevokedEvent[] = []
  store.on('error', (error) => errors.push(error))
  store.on('revoked', (event) => events.push(event))
  await clock.advance(0)
  assert.equal(attempts, 1)
  await clock.advance('999ms')
  assert.equal(attempts, 1)
  await clock.advance('1ms') // first retry after 1 s: fails again
  assert.equal(attempts, 2)
  await clock.advance('2s') // second retry after 2 s more: succeeds
  assert.equal(attempts, 3)
  assert.equal(errors.length, 2)
  assert.ok(deliver)
  const notice: RevocationNotice = {
    kind: 'token',
    accessor: 'remote-accessor',
    path: 'auth/token/create',
    reason: 'explicit',
    time: clock.now(),
  }
  ;(deliver as (notice: RevocationNotice) => void)(notice)
  assert.deepEqual(events, [{ ...notice, time: new Date(notice.time) }])
  await store.close()
  assert.equal(stopped, true)
  assert.equal(clock.pendingTimers, 0)
})

test('close() during the backoff cancels the retry', async () => {
  let attempts = 0
  const storage = overrideStorage(new MemoryStorage(), {
    subscribe: () => {
      attempts += 1
      return Promise.reject(new Error('connection refused'))
    },
  })
  const { store, clock } = createTestStore({ storage })
  store.on('error', () => {})
  await clock.advance(0)
  await store.close()
  await clock.advance('1h')
  assert.equal(attempts, 1)
  assert.equal(clock.pendingTimers, 0)
})
