import assert from 'node:assert/strict'
import { test } from 'node:test'

import {
  MemoryStorage,
  TokenStore,
  TokenStoreError,
  type RevocationNotice,
  type RevokedEvent,
  type Storage,
  type SubscribeOptions,
} from 'tokentree'
import { createTestStore } from 'tokentree/testing'

import { overrideStorage } from './helpers/storage.js'

const NOTICE: RevocationNotice = {
  kind: 'token',
  accessor: 'remote-accessor',
  path: 'auth/token/create',
  reason: 'explicit',
  time: 0,
}

const refused = (): Promise<never> => Promise.reject(new Error('connection refused'))
const stopped = (): Promise<() => Promise<void>> => Promise.resolve(() => Promise.resolve())

test("a shared storage's notices become revoked events; a failed subscription is retried with backoff", async (t) => {
  // Full jitter draws each delay from [0, cap): with draws of 0.5, the retries come 0.5 s and then 1 s apart.
  t.mock.method(Math, 'random', () => 0.5)
  let attempts = 0
  let deliver: ((notice: RevocationNotice) => void) | null = null
  let stopCalled = false
  const storage = overrideStorage(new MemoryStorage(), {
    subscribe: (listener) => {
      attempts += 1
      if (attempts < 3) return refused()
      deliver = listener
      return Promise.resolve(() => {
        stopCalled = true
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
  await clock.advance('499ms')
  assert.equal(attempts, 1)
  await clock.advance('1ms') // the first retry: fails again
  assert.equal(attempts, 2)
  await clock.advance('999ms')
  assert.equal(attempts, 2)
  await clock.advance('1ms') // the second, 1 s later: succeeds
  assert.equal(attempts, 3)
  assert.equal(errors.length, 2)
  assert.ok(deliver)
  const notice = { ...NOTICE, time: clock.now() }
  ;(deliver as (notice: RevocationNotice) => void)(notice)
  assert.deepEqual(events, [{ ...notice, time: new Date(notice.time) }])
  await store.close()
  assert.equal(stopCalled, true)
  assert.equal(clock.pendingTimers, 0)
})

test('close() during the backoff cancels the retry', async () => {
  let attempts = 0
  const storage = overrideStorage(new MemoryStorage(), {
    subscribe: () => {
      attempts += 1
      return refused()
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

test('the first attempt asks for every notice since construction; a retry resumes after the last position', async (t) => {
  t.mock.method(Math, 'random', () => 0.5)
  const calls: SubscribeOptions[] = []
  const before = performance.now()
  const storage = overrideStorage(new MemoryStorage(), {
    subscribe: (_listener, options = {}) => {
      calls.push(options)
      // The first attempt gets as far as a position, then fails; the second fails before; the third succeeds.
      if (calls.length === 1) {
        options.onPosition?.(41)
        options.onPosition?.(42)
        return refused()
      }
      return calls.length === 2 ? refused() : stopped()
    },
  })
  const { store, clock } = createTestStore({ storage })
  const after = performance.now()
  store.on('error', () => {})
  await clock.advance(0)
  await clock.advance('1s')
  await clock.advance('2s')
  assert.equal(calls.length, 3)
  const since = calls[0]?.since
  assert.ok(
    since !== undefined && since >= before && since <= after,
    'since is the construction time',
  )
  assert.equal(calls[0]?.after, undefined)
  assert.deepEqual(
    calls.slice(1).map((c) => [c.after, c.since]),
    [
      [42, undefined],
      [42, undefined],
    ],
  )
  await store.close()
})

test('ready(): at once without subscribe; with it, once subscribed', async () => {
  const plain = new TokenStore({ timers: false })
  await plain.ready()
  await plain.close()

  let release: (() => void) | null = null
  const storage = overrideStorage(new MemoryStorage(), {
    subscribe: () =>
      new Promise((resolve) => {
        release = () => {
          resolve(() => Promise.resolve())
        }
      }),
  })
  const { store, clock } = createTestStore({ storage })
  let settled = false
  const ready = store.ready().then(() => {
    settled = true
  })
  await clock.advance(0)
  assert.equal(settled, false)
  ;(release as unknown as () => void)()
  await ready
  assert.equal(settled, true)
  await store.ready()
  await store.close()
  assert.equal(clock.pendingTimers, 0)
})

test('ready() rejects with storage_unavailable while the subscription fails, attempting again at once', async () => {
  let attempts = 0
  let up = false
  const storage = overrideStorage(new MemoryStorage(), {
    subscribe: () => {
      attempts += 1
      return up ? stopped() : refused()
    },
  })
  const { store, clock } = createTestStore({ storage })
  const errors: unknown[] = []
  store.on('error', (error) => errors.push(error))
  await assert.rejects(store.ready(), (error: unknown) => {
    assert.ok(error instanceof TokenStoreError)
    assert.equal(error.code, 'storage_unavailable')
    assert.match((error.cause as Error).message, /connection refused/)
    return true
  })
  // The constructor's attempt was joined, not doubled.
  assert.equal(attempts, 1)
  assert.equal(clock.pendingTimers, 1, 'the background retry is scheduled')
  await assert.rejects(store.ready(), { code: 'storage_unavailable' })
  assert.equal(attempts, 2, 'ready() attempted at once, without waiting for the backoff')
  assert.equal(clock.pendingTimers, 1, 'one retry timer, not one per call')
  up = true
  await store.ready()
  assert.equal(attempts, 3)
  assert.equal(clock.pendingTimers, 0, 'no retry timer left once subscribed')
  assert.equal(errors.length, 2)
  await store.close()
  await assert.rejects(store.ready(), { code: 'storage_unavailable' })
})

test('ready() with timers: false attempts on each call; nothing retries in the background', async () => {
  let attempts = 0
  const storage = overrideStorage(new MemoryStorage(), {
    subscribe: () => {
      attempts += 1
      return attempts < 2 ? refused() : stopped()
    },
  })
  const store = new TokenStore({ storage, timers: false })
  store.on('error', () => {})
  await assert.rejects(store.ready(), { code: 'storage_unavailable' })
  await new Promise((resolve) => setTimeout(resolve, 20))
  assert.equal(attempts, 1)
  await store.ready()
  assert.equal(attempts, 2)
  await store.close()
})

test('notices lost from the log are an error event naming how many', async () => {
  const storage = overrideStorage(new MemoryStorage(), {
    subscribe: async (_listener, options = {}) => {
      await Promise.resolve()
      options.onGap?.({ lost: 3, atMost: false })
      options.onGap?.({ lost: 250, atMost: true })
      return () => Promise.resolve()
    },
  })
  const { store } = createTestStore({ storage })
  const errors: unknown[] = []
  store.on('error', (error) => errors.push(error))
  await store.ready()
  assert.equal(errors.length, 2)
  assert.ok(errors[0] instanceof TokenStoreError)
  assert.match(errors[0].message, /^3 revocation notice\(s\) .* lost/)
  assert.match((errors[1] as Error).message, /^Up to 250 revocation notice\(s\) .* lost/)
  await store.close()
})

test('ping(): resolves on memory; storage_unavailable when the storage does not answer', async () => {
  const store = new TokenStore({ timers: false })
  await store.ping()
  const down = overrideStorage(new MemoryStorage(), { ping: () => refused() })
  const failing = new TokenStore({ storage: down, timers: false })
  await assert.rejects(failing.ping(), (error: unknown) => {
    assert.ok(error instanceof TokenStoreError)
    assert.equal(error.code, 'storage_unavailable')
    return true
  })
  // A storage without ping() is asked for a token.
  const base = new MemoryStorage()
  let reads = 0
  // exactOptionalPropertyTypes forbids `ping: undefined` in a Partial<Storage>; the Proxy reads it as absent.
  const withoutPing = (overrides: Partial<Storage>): Storage =>
    overrideStorage(base, { ...overrides, ping: undefined } as unknown as Partial<Storage>)
  const noPing = withoutPing({
    getToken: (id) => {
      reads += 1
      return base.getToken(id)
    },
  })
  await new TokenStore({ storage: noPing, timers: false }).ping()
  assert.equal(reads, 1)
  const broken = withoutPing({ getToken: () => refused() })
  await assert.rejects(new TokenStore({ storage: broken, timers: false }).ping(), {
    code: 'storage_unavailable',
  })
})
