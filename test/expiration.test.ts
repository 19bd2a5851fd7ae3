import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { describe, test } from 'node:test'

import { MemoryStorage, TokenStore, type RevokedEvent } from 'tokentree'
import { ManualClock, createTestStore } from 'tokentree/testing'

import { overrideStorage } from './helpers/storage.js'

function recordRevocations(store: TokenStore) {
  const events: RevokedEvent[] = []
  store.on('revoked', (event) => events.push(event))
  return events
}

describe('expiration manager on the virtual clock', () => {
  test('a token is revoked on its own at its expiry, with reason expired, and not a moment before', async () => {
    const { store, clock } = createTestStore()
    const events = recordRevocations(store)
    const token = await store.create({ ttl: '1h' })
    await clock.advance('59m59s')
    assert.equal(events.length, 0)
    await clock.advance(1)
    assert.deepEqual(
      events.map((event) => [event.kind, event.accessor, event.reason]),
      [['token', token.accessor, 'expired']],
    )
    assert.equal(await store.storage.getTokenByAccessor(token.accessor), null)
  })

  test("children outliving their parent's TTL are revoked with it, reason parent", async () => {
    const { store, clock } = createTestStore()
    const events = recordRevocations(store)
    const root = await store.createRoot()
    const parent = await store.create({ parent: root.clientToken, ttl: '1h' })
    const child = await store.create({ parent: parent.clientToken, ttl: '10h' })
    const grandchild = await store.create({ parent: child.clientToken, ttl: '10h' })
    await clock.advance('1h')
    assert.deepEqual(
      events.map((event) => [event.accessor, event.reason]),
      [
        [grandchild.accessor, 'parent'],
        [child.accessor, 'parent'],
        [parent.accessor, 'expired'],
      ],
    )
    assert.ok(await store.lookup(root.clientToken))
  })

  test('one timer, aimed at the next expiry, however many tokens are stored', async () => {
    const { store, clock } = createTestStore()
    for (let index = 1; index <= 50; index++) await store.create({ ttl: index * 60 })
    await store.create({ ttl: 30 })
    assert.equal(clock.pendingTimers, 1)
    await clock.advance(30)
    assert.equal(clock.pendingTimers, 1)
    await clock.advance('50m')
    assert.equal(clock.pendingTimers, 0)
  })

  test('a renewed token is not revoked at its old expiry', async () => {
    const { store, clock } = createTestStore()
    const events = recordRevocations(store)
    const token = await store.create({ ttl: '1h' })
    await clock.advance('30m')
    await store.renew(token.clientToken, '1h')
    await clock.advance('59m')
    assert.equal(events.length, 0)
    assert.ok(await store.lookup(token.clientToken))
    await clock.advance('1m')
    assert.equal(events.length, 1)
  })

  test('revokeExpired(): counts what expired on its own, not the descendants revoked with it', async () => {
    const clock = new ManualClock()
    const store = new TokenStore({ clock: clock.now, timers: false })
    const root = await store.createRoot()
    const parent = await store.create({ parent: root.clientToken, ttl: 60 })
    await store.create({ parent: parent.clientToken, ttl: 600 })
    await store.create({ parent: parent.clientToken, ttl: 600 })
    await store.createLease(root.clientToken, { path: 'db/creds', ttl: 60 })
    await store.create({ ttl: 600 })
    await clock.advance(60)
    assert.equal(clock.pendingTimers, 0)
    assert.equal(await store.revokeExpired(), 2)
    assert.equal(await store.revokeExpired(), 0)
  })

  test('a sweep that fails is reported as an error event and retried', async () => {
    const memory = new MemoryStorage()
    let failures = 1
    // The sweep lists expired tokens in batches (sweepExpired): that is the call that fails.
    const flaky = overrideStorage(memory, {
      sweepExpired: async (now, limit) => {
        if (failures-- > 0) throw new Error('connection reset')
        return memory.sweepExpired(now, limit)
      },
    })
    const { store, clock } = createTestStore({ storage: flaky })
    const errors: unknown[] = []
    store.on('error', (error) => errors.push(error))
    const events = recordRevocations(store)
    await store.create({ ttl: 60 })
    await clock.advance(60)
    assert.equal(errors.length, 1)
    assert.equal(events.length, 0)
    await clock.advance(5)
    assert.equal(events.length, 1)
  })

  test('sweeps never overlap: an expiry reported during a sweep is aimed at once the sweep ends', async () => {
    const memory = new MemoryStorage()
    let release: (() => void) | null = null
    let stall = true
    const stalling = overrideStorage(memory, {
      sweepExpired: async (now, limit) => {
        if (stall) {
          stall = false
          await new Promise<void>((resolve) => {
            release = resolve
          })
        }
        return memory.sweepExpired(now, limit)
      },
    })
    const { store, clock } = createTestStore({ storage: stalling })
    const events = recordRevocations(store)
    await store.create({ ttl: 60 })
    const advancing = clock.advance(60)
    await new Promise((resolve) => setImmediate(resolve))
    assert.ok(release, 'the sweep is running')
    await store.create({ ttl: 1 })
    assert.equal(clock.pendingTimers, 0, 'no second timer while the sweep runs')
    ;(release as () => void)()
    await advancing
    assert.equal(events.length, 1)
    assert.equal(clock.pendingTimers, 1, 're-aimed after the sweep')
    await clock.advance(1)
    assert.equal(events.length, 2)
    await store.close()
  })

  test('listeners that throw or reject never break the sweep; their errors go to the error event', async () => {
    const { store, clock } = createTestStore()
    const errors: unknown[] = []
    const seen: string[] = []
    store.on('error', (error) => errors.push(error))
    store.on('revoked', () => {
      throw new Error('listener bug')
    })
    // eslint-disable-next-line @typescript-eslint/no-misused-promises -- this listener rejects on purpose
    store.on('revoked', async () => {
      await Promise.resolve()
      throw new Error('async listener bug')
    })
    store.on('revoked', (event) => seen.push(event.accessor))
    const first = await store.create({ ttl: 60 })
    const second = await store.create({ ttl: 60 })
    await clock.advance(60)
    await new Promise((resolve) => setImmediate(resolve))
    assert.deepEqual(seen.sort(), [first.accessor, second.accessor].sort())
    assert.equal(errors.length, 4)
    assert.ok(errors.every((error) => error instanceof Error && /listener bug/.test(error.message)))
  })

  test('close(): stops the timer, and nothing is revoked afterwards', async () => {
    const { store, clock } = createTestStore()
    const events = recordRevocations(store)
    await store.create({ ttl: 60 })
    await store.close()
    await store.close()
    assert.equal(clock.pendingTimers, 0)
    await clock.advance('1h')
    assert.equal(events.length, 0)
  })
})

describe('expiration manager on the real clock', () => {
  test('a token with a 1 s TTL is revoked on its own, with its child and lease', async () => {
    const store = new TokenStore()
    const events = recordRevocations(store)
    const root = await store.createRoot()
    const parent = await store.create({ parent: root.clientToken, ttl: 1 })
    const child = await store.create({ parent: parent.clientToken, ttl: 60 })
    await store.createLease(child.clientToken, { path: 'db/creds', ttl: 60 })
    const started = Date.now()
    await new Promise<void>((resolve, reject) => {
      // This timer is ref'd: it keeps the process alive while the store's unref'd timer runs, and bounds the wait.
      const guard = setTimeout(() => {
        reject(new Error('no expiry within 5 s'))
      }, 5000)
      store.on('revoked', (event) => {
        if (event.kind === 'token' && event.reason === 'expired') {
          clearTimeout(guard)
          resolve()
        }
      })
    })
    const elapsed = Date.now() - started
    assert.ok(elapsed >= 900 && elapsed < 3000, `expired after ${elapsed} ms`)
    assert.deepEqual(
      events.map((event) => [event.kind, event.reason]),
      [
        ['lease', 'parent'],
        ['token', 'parent'],
        ['token', 'expired'],
      ],
    )
    assert.equal(await store.lookup(child.clientToken), null)
    await store.close()
  })

  test("the timer is unref'd: a process holding a long-lived token exits at once", () => {
    const script = `
      import { TokenStore } from 'tokentree'
      const store = new TokenStore()
      await store.create({ ttl: '1h' })
      console.log('created')
    `
    const started = Date.now()
    const result = spawnSync(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      {
        encoding: 'utf8',
        timeout: 20_000,
      },
    )
    assert.equal(result.status, 0, result.stderr)
    assert.match(result.stdout, /created/)
    assert.ok(Date.now() - started < 15_000)
  })
})
