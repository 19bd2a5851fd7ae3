/**
 * Diagnostics channels of background work: `tokentree:sweep` after each expiry sweep, `tokentree:notice` for each
 * notice from another instance; and `store.subscriptionState`.
 */
import assert from 'node:assert/strict'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { test } from 'node:test'

import {
  MemoryStorage,
  NOTICE_CHANNEL,
  SWEEP_CHANNEL,
  TokenStore,
  type NoticeMessage,
  type RevokedEvent,
  type StorageNotice,
  type SweepMessage,
} from 'tokentree'
import { ManualClock, createTestStore } from 'tokentree/testing'

import { overrideStorage } from './helpers/storage.js'

/** Collects what `name` publishes until the returned stop is called. */
function listen<T>(name: string, messages: T[] = []): { messages: T[]; stop: () => void } {
  const onMessage = (message: unknown): void => {
    messages.push(message as T)
  }
  subscribe(name, onMessage)
  return {
    messages,
    stop: () => {
      unsubscribe(name, onMessage)
    },
  }
}

test('tokentree:sweep: each timer sweep, with when it was due, when it started, what it revoked', async () => {
  const clock = new ManualClock()
  const store = new TokenStore({
    clock: clock.now,
    // The timer fires 3 s late, as on a busy event loop.
    timers: {
      setTimeout: (callback, delay) => clock.setTimeout(callback, delay + 3000),
      clearTimeout: (handle) => {
        clock.clearTimeout(handle)
      },
    },
  })
  const { messages, stop } = listen<SweepMessage>(SWEEP_CHANNEL)
  try {
    const start = clock.now()
    const token = await store.create({ ttl: 60 })
    await store.create({ parent: token.clientToken }) // a descendant: revoked with it, not counted as expired
    await store.revokeExpired() // an explicit call is an operation, not a sweep
    assert.equal(messages.length, 0)
    await clock.advance('63s')
    assert.equal(messages.length, 1)
    const [sweep] = messages
    assert.ok(sweep)
    assert.equal(sweep.store, store)
    assert.equal(sweep.due, start + 60_000)
    assert.equal(sweep.startTime, start + 63_000)
    assert.equal(sweep.outcome, 'ok')
    assert.equal(sweep.revoked, 1)
    assert.equal(sweep.error, undefined)
    assert.ok(sweep.duration >= 0 && sweep.duration < 10_000)
    assert.ok(!JSON.stringify({ ...sweep, store: null }).includes(token.clientToken))
  } finally {
    stop()
    await store.close()
  }
})

test('tokentree:sweep: a failed sweep carries the error and its code; the store still reports it', async () => {
  const base = new MemoryStorage()
  const storage = overrideStorage(base, {
    listExpiredLeases: () => Promise.reject(new Error('connection refused')),
  })
  const { store, clock } = createTestStore({ storage })
  const errors: unknown[] = []
  store.on('error', (error) => errors.push(error))
  const { messages, stop } = listen<SweepMessage>(SWEEP_CHANNEL)
  try {
    await store.create({ ttl: 60 })
    await clock.advance('60s')
    assert.equal(errors.length, 1)
    assert.deepEqual(
      messages.map((m) => [m.outcome, m.revoked, m.error?.code]),
      [['error', 0, 'storage_unavailable']],
    )
  } finally {
    stop()
    await store.close()
  }
})

test('tokentree:notice: each notice from another instance, with its time and receipt, before its revoked event', async () => {
  let deliver: ((notice: StorageNotice) => void) | null = null
  const storage = overrideStorage(new MemoryStorage(), {
    subscribe: (listener) => {
      deliver = listener
      return Promise.resolve(() => Promise.resolve())
    },
  })
  const { store, clock } = createTestStore({ storage })
  const order: string[] = []
  const events: RevokedEvent[] = []
  store.on('revoked', (event) => {
    order.push('revoked')
    events.push(event)
  })
  const { messages, stop } = listen<NoticeMessage>(NOTICE_CHANNEL)
  const onNotice = (): void => {
    order.push('notice')
  }
  subscribe(NOTICE_CHANNEL, onNotice)
  try {
    await clock.advance(0)
    assert.equal(store.subscriptionState, 'subscribed')
    const send = deliver as unknown as (notice: StorageNotice) => void
    send({
      kind: 'lease',
      leaseId: 'db/creds/app/abc',
      accessor: 'remote-accessor',
      path: 'db/creds/app',
      data: { user: 'app' },
      reason: 'expired',
      time: clock.now() - 800,
    })
    send({ kind: 'policy', name: 'app', time: clock.now() - 5 })
    assert.deepEqual(order, ['notice', 'revoked', 'notice'])
    assert.deepEqual(
      messages.map((m) => [m.store === store, m.kind, m.receivedAt - m.time]),
      [
        [true, 'lease', 800],
        [true, 'policy', 5],
      ],
    )
    assert.equal(messages[0]?.event, events[0])
    assert.equal(messages[1]?.event, null)
  } finally {
    stop()
    unsubscribe(NOTICE_CHANNEL, onNotice)
    await store.close()
  }
})

test('subscriptionState: unsupported, subscribing, down, subscribed, closed', async (t) => {
  t.mock.method(Math, 'random', () => 0.5)
  const memory = new TokenStore({ timers: false })
  assert.equal(memory.subscriptionState, 'unsupported')
  await memory.close()
  assert.equal(memory.subscriptionState, 'closed')

  let attempts = 0
  let answer: (() => void) | null = null
  const storage = overrideStorage(new MemoryStorage(), {
    subscribe: () => {
      attempts += 1
      if (attempts === 1) return Promise.reject(new Error('connection refused'))
      return new Promise((resolve) => {
        answer = () => {
          resolve(() => Promise.resolve())
        }
      })
    },
  })
  const { store, clock } = createTestStore({ storage })
  store.on('error', () => {})
  assert.equal(store.subscriptionState, 'subscribing')
  await clock.advance(0)
  assert.equal(store.subscriptionState, 'down')
  // The retry, 1 s later, is pending until answered (and the virtual clock awaits it).
  const retrying = clock.advance('1s')
  await new Promise<void>((resolve) => setImmediate(resolve))
  assert.equal(attempts, 2)
  assert.equal(store.subscriptionState, 'subscribing')
  ;(answer as unknown as () => void)()
  await retrying
  assert.equal(store.subscriptionState, 'subscribed')
  await store.close()
  assert.equal(store.subscriptionState, 'closed')
})
