/**
 * Large revocations and expiry storms in batches (issue 15): the store yields to the event loop between batches,
 * sweeps expired tokens through `sweepExpired` when the storage has it (and each on its own when not), reports
 * every token exactly once, and a sweep cut off half-way leaves nothing usable and is finished by the next.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import { MemoryStorage, type Storage, TokenStoreError } from '../src/index.js'
import { harness, recordRevoked } from './helpers/index.js'
import { overrideStorage } from './helpers/storage.js'

/** Hides `sweepExpired`: the proxy answers `undefined` for it, as for a storage that lacks it. */
const WITHOUT_SWEEP = { sweepExpired: undefined } as unknown as Partial<Storage>

/** More tokens than one batch of revocation (500) or of the sweep (500). */
const MANY = 1_300

/** Counts the calls of each storage method named in `names`. */
function counting(
  base: Storage,
  names: readonly (keyof Storage)[],
): { storage: Storage; calls: Map<string, number> } {
  const calls = new Map<string, number>()
  const overrides: Partial<Record<keyof Storage, unknown>> = {}
  for (const name of names) {
    if (typeof base[name] !== 'function') continue
    overrides[name] = (...args: unknown[]) => {
      calls.set(name, (calls.get(name) ?? 0) + 1)
      return (Reflect.get(base, name) as (...a: unknown[]) => unknown).apply(base, args)
    }
  }
  return { storage: overrideStorage(base, overrides as Partial<Storage>), calls }
}

describe('revocation in batches', () => {
  test('revoke(): a subtree larger than a batch lets the event loop run between batches, each token reported once', async () => {
    const { store } = harness()
    const top = await store.create({ policies: ['app'] })
    const children = []
    for (let i = 0; i < MANY; i++) children.push(await store.create({ parent: top.clientToken }))
    const events = recordRevoked(store)
    let ticks = 0
    let ticking = true
    const tick = (): void => {
      ticks += 1
      if (ticking) setImmediate(tick)
    }
    setImmediate(tick)
    await store.revoke(top.clientToken)
    ticking = false
    // A revocation that ran as one chain of microtasks would let no immediate run before it resolved.
    assert.ok(ticks >= 2, `the event loop ran ${ticks} times during the revocation`)
    assert.equal(events.length, MANY + 1)
    assert.equal(new Set(events.map((e) => e.accessor)).size, MANY + 1)
    for (const child of children) assert.equal(await store.lookup(child.clientToken), null)
  })
})

describe('revokeExpired() in batches', () => {
  test('an expiry storm goes through sweepExpired in batches: each token once, expired or (below one) parent', async () => {
    const { storage, calls } = counting(new MemoryStorage(), ['sweepExpired', 'listExpiredTokens'])
    const { store, clock } = harness({ storage })
    const parent = await store.create({ ttl: 60 })
    const below = []
    for (let i = 0; i < 5; i++)
      below.push(await store.create({ parent: parent.clientToken, ttl: 30 }))
    for (let i = 0; i < MANY; i++) await store.create({ ttl: 60 })
    const kept = await store.create({ ttl: 600 })
    const events = recordRevoked(store)
    clock.advance(61)
    const expired = await store.revokeExpired()
    assert.equal(events.length, MANY + 6)
    assert.equal(new Set(events.map((e) => e.accessor)).size, MANY + 6, 'each token once')
    assert.ok(events.every((e) => e.reason === 'expired' || e.reason === 'parent'))
    assert.ok(expired >= MANY + 1, `${expired} expired on their own`)
    assert.ok((calls.get('sweepExpired') ?? 0) >= Math.ceil(MANY / 500), 'in batches')
    assert.equal(calls.get('listExpiredTokens') ?? 0, 0, 'never token by token')
    assert.ok(await store.lookup(kept.clientToken))
  })

  test('a storage without sweepExpired is swept token by token, with the same events', async () => {
    const memory = new MemoryStorage()
    const { storage, calls } = counting(overrideStorage(memory, WITHOUT_SWEEP), [
      'listExpiredTokens',
    ])
    const { store, clock } = harness({ storage })
    for (let i = 0; i < 20; i++) await store.create({ ttl: 60 })
    const events = recordRevoked(store)
    clock.advance(61)
    assert.equal(await store.revokeExpired(), 20)
    assert.equal(events.length, 20)
    assert.ok(events.every((e) => e.reason === 'expired'))
    assert.ok((calls.get('listExpiredTokens') ?? 0) >= 1)
  })

  test('a sweep cut off while finishing a subtree leaves nothing usable; the next sweep finishes it, each token once', async () => {
    const memory = new MemoryStorage()
    let failures = 1
    const storage = overrideStorage(memory, {
      deleteSubtree: async (...args) => {
        if (failures-- > 0) throw new Error('connection reset')
        return memory.deleteSubtree(...args)
      },
    })
    const { store, clock } = harness({ storage })
    const parent = await store.create({ ttl: 60 })
    const child = await store.create({ parent: parent.clientToken, ttl: 600 })
    const events = recordRevoked(store)
    clock.advance(61)
    await assert.rejects(store.revokeExpired())
    // The parent is marked (expired anyway), so its child is unusable although it has not expired.
    assert.equal(await store.lookup(child.clientToken), null)
    await assert.rejects(store.authenticate(child.clientToken))
    await store.revokeExpired()
    assert.deepEqual(events.map((e) => e.reason).sort(), ['expired', 'parent'])
    assert.equal(memory.size, 0)
  })
})

describe('revocationBatchSize', () => {
  test("a storage's revocationBatchSize sets the batch of deleteSubtree and sweepExpired calls", async () => {
    const base = new MemoryStorage()
    const limits: Array<[string, number]> = []
    const storage = overrideStorage(base, {
      revocationBatchSize: 7,
      deleteSubtree: (id, reason, now, limit) => {
        limits.push(['deleteSubtree', limit])
        return base.deleteSubtree(id, reason, now, limit)
      },
      sweepExpired: (now, limit) => {
        limits.push(['sweepExpired', limit])
        return base.sweepExpired(now, limit)
      },
    })
    const { store, clock } = harness({ storage })
    const top = await store.create()
    for (let i = 0; i < 20; i++) await store.create({ parent: top.clientToken })
    for (let i = 0; i < 20; i++) await store.create({ ttl: 60 })
    const events = recordRevoked(store)
    await store.revoke(top.clientToken)
    assert.equal(events.length, 21)
    clock.advance(61)
    await store.revokeExpired()
    assert.equal(events.length, 41)
    const subtree = limits.filter(([name]) => name === 'deleteSubtree')
    const sweep = limits.filter(([name]) => name === 'sweepExpired')
    // 21 tokens in batches of 7, 20 expired in batches of 7 (the last call finds the rest done).
    assert.ok(
      subtree.length >= 3 && subtree.every(([, limit]) => limit === 7),
      JSON.stringify(subtree),
    )
    assert.ok(sweep.length >= 3 && sweep.every(([, limit]) => limit === 7), JSON.stringify(sweep))
  })

  test('RedisStorage asks for small batches: a script blocks the whole Redis server while it runs', async () => {
    const { RedisStorage } = await import('../src/storage/redis/index.js')
    const { Redis } = await import('ioredis')
    const client = new Redis({ lazyConnect: true, autoResendUnfulfilledCommands: false })
    const storage = new RedisStorage({ client })
    assert.ok(storage.revocationBatchSize <= 100)
    assert.equal(new RedisStorage({ client, revocationBatchSize: 64 }).revocationBatchSize, 64)
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      assert.throws(
        () => new RedisStorage({ client, revocationBatchSize: bad }),
        (error: unknown) => error instanceof TokenStoreError && error.code === 'invalid_request',
      )
    }
    client.disconnect()
  })
})
