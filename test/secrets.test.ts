import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import {
  MemoryStorage,
  TokenStore,
  TokenStoreError,
  type SecretOption,
  type Storage,
} from '../src/index.js'
import { SpyStorage, VirtualClock, harness, rejectsWith, throwsWith } from './helpers/index.js'
import { overrideStorage } from './helpers/storage.js'

const OLD = 'the old secret, at least thirty-two bytes long'
const NEW = 'the new secret, at least thirty-two bytes long'
const NEWER = Buffer.alloc(32, 7)

/** Two stores over one storage and one clock, with the secrets given. */
function storesOver(
  memory: Storage,
  clock: VirtualClock,
  ...secrets: SecretOption[]
): TokenStore[] {
  return secrets.map(
    (secret) =>
      new TokenStore({
        storage: memory,
        clock: clock.read,
        timers: false,
        secret,
      }),
  )
}

describe('secret: rotation with [current, ...previous]', () => {
  test('tokens issued under a previous secret keep working for every operation; new ones use the current secret', async () => {
    const memory = new MemoryStorage()
    const clock = new VirtualClock()
    const [before] = storesOver(memory, clock, OLD) as [TokenStore]
    const root = await before.createRoot()
    const parent = await before.create({ parent: root.clientToken, policies: ['app'], ttl: '1h' })
    const batch = await before.create({
      parent: root.clientToken,
      type: 'batch',
      policies: ['app'],
    })
    const custom = await before.createRoot({ id: 'custom-id-under-the-old-secret' })
    const orphaned = await before.create({ parent: root.clientToken, ttl: '1h' })
    const orphanChild = await before.create({ parent: orphaned.clientToken, ttl: '1h' })

    const rotated = new TokenStore({
      storage: memory,
      clock: clock.read,
      timers: false,
      secret: [NEW, OLD],
    })
    // Lookup, authenticate, renew, batch tokens, children, leases: all as before.
    assert.equal((await rotated.lookup(parent.clientToken))?.accessor, parent.accessor)
    assert.equal((await rotated.authenticate(parent.clientToken)).accessor, parent.accessor)
    assert.equal((await rotated.renew(parent.clientToken, '2h')).leaseDuration, 7200)
    assert.equal((await rotated.authenticate(batch.clientToken)).type, 'batch')
    assert.ok(await rotated.lookup(batch.clientToken))
    const child = await rotated.create({ parent: parent.clientToken })
    assert.equal((await rotated.lookup(child.clientToken))?.orphan, false)
    const lease = await rotated.createLease(parent.clientToken, { path: 'aws/creds/x', ttl: 60 })
    const batchLease = await rotated.createLease(batch.clientToken, {
      path: 'aws/creds/y',
      ttl: 60,
    })
    assert.ok(await rotated.lookupLease(lease.leaseId))
    assert.ok(await rotated.lookupLease(batchLease.leaseId))
    // A custom id taken under the old secret is still taken.
    await rejectsWith(rotated.createRoot({ id: 'custom-id-under-the-old-secret' }), 'conflict')
    assert.ok(await rotated.lookup(custom.clientToken))

    // New tokens are hashed and sealed under the current secret: the old secret alone does not know them.
    const [oldOnly] = storesOver(memory, clock, OLD) as [TokenStore]
    assert.equal(await oldOnly.lookup(child.clientToken), null)
    const newBatch = await rotated.create({
      parent: root.clientToken,
      type: 'batch',
      policies: ['app'],
    })
    assert.equal(await oldOnly.lookup(newBatch.clientToken), null)
    const [newOnly] = storesOver(memory, clock, NEW) as [TokenStore]
    assert.ok(await newOnly.lookup(child.clientToken))
    assert.ok(await newOnly.lookup(newBatch.clientToken))

    // revokeOrphan and revoke by a token issued under the old secret.
    await rotated.revokeOrphan(orphaned.clientToken)
    assert.equal(await rotated.lookup(orphaned.clientToken), null)
    assert.ok(await rotated.lookup(orphanChild.clientToken))
    await rotated.revoke(parent.clientToken)
    assert.equal(await rotated.lookup(parent.clientToken), null)
    assert.equal(await rotated.lookup(child.clientToken), null)
    assert.equal(await rotated.lookupLease(lease.leaseId), null)
    for (const store of [before, rotated, oldOnly, newOnly]) await store.close()
  })

  test('a secret dropped from the list retires its tokens, service and batch', async () => {
    const memory = new MemoryStorage()
    const clock = new VirtualClock()
    const [before] = storesOver(memory, clock, OLD) as [TokenStore]
    const root = await before.createRoot()
    const service = await before.create({ parent: root.clientToken, ttl: '1h' })
    const batch = await before.create({ parent: root.clientToken, type: 'batch', policies: ['a'] })
    const [dropped] = storesOver(memory, clock, NEW) as [TokenStore]
    for (const token of [service.clientToken, batch.clientToken, root.clientToken]) {
      assert.equal(await dropped.lookup(token), null)
      await rejectsWith(dropped.authenticate(token), 'invalid_token')
    }
    for (const token of [service.clientToken, root.clientToken]) {
      await rejectsWith(dropped.create({ parent: token }), 'invalid_token')
    }
    await rejectsWith(dropped.renew(service.clientToken), 'invalid_token')
    await before.close()
    await dropped.close()
  })

  test('a valid token costs one extra storage read per older secret, and only when not found under the current one', async () => {
    const spy = new SpyStorage()
    const clock = new VirtualClock()
    const [oldest] = storesOver(spy.storage, clock, OLD) as [TokenStore]
    const underOld = await oldest.create({ ttl: '1h' })
    const store = new TokenStore({
      storage: spy.storage,
      clock: clock.read,
      timers: false,
      secret: [NEWER, NEW, OLD],
    })
    const underCurrent = await store.create({ ttl: '1h' })
    const reads = async (token: string): Promise<number> => {
      const before = spy.counts.get('getLiveToken') ?? 0
      await store.lookup(token)
      return (spy.counts.get('getLiveToken') ?? 0) - before
    }
    assert.equal(await reads(underCurrent.clientToken), 1)
    assert.equal(await reads(underOld.clientToken), 3)
    assert.equal(await reads('hvs.unknownunknownunknownunknown1'), 3)
    await oldest.close()
    await store.close()
  })

  test('secret: each at least 32 bytes, strings or bytes, not empty, not repeated', () => {
    for (const bad of [
      [],
      ['short'],
      [NEW, 'short'],
      [NEW, NEW],
      [NEW, 42],
      'short',
      [NEW, Buffer.from(NEW)],
    ]) {
      throwsWith(() => harness({ secret: bad as string[] }), 'invalid_request')
    }
    assert.ok(harness({ secret: [NEW, NEWER, OLD] }).store)
    assert.ok(harness({ secret: [NEWER] }).store)
  })
})

describe('secret: required for shared storage', () => {
  test('a store over storage that says it is shared throws invalid_request naming `secret` without one', () => {
    const sharedStorage = new Proxy(new MemoryStorage(), {
      get: (target, key) => {
        if (key === 'shared') return true
        const value: unknown = Reflect.get(target, key, target)
        return typeof value === 'function' ? (value as () => unknown).bind(target) : value
      },
    }) as Storage
    const error = throwsWith(
      () => new TokenStore({ storage: sharedStorage, timers: false }),
      'invalid_request',
    )
    assert.match(error.message, /`secret`/)
    const store = new TokenStore({ storage: sharedStorage, timers: false, secret: NEW })
    assert.ok(store)
    // Storage that does not say so (MemoryStorage) needs none.
    assert.ok(new TokenStore({ storage: new MemoryStorage(), timers: false }))
  })
})

describe('options must be plain objects; a storage that throws is the caller’s error', () => {
  test('a Date, a Map or a class instance as options is invalid_request, and writes nothing', async () => {
    const { store, memory } = harness()
    const root = await store.createRoot()
    const size = memory.size
    class Options {
      ttl = '1h'
    }
    for (const bad of [new Date(), new Map(), new Options(), [] as unknown]) {
      await rejectsWith(store.create(bad as object), 'invalid_request')
      await rejectsWith(store.createRoot(bad as object), 'invalid_request')
      await rejectsWith(store.createLease(root.clientToken, bad as never), 'invalid_request')
      await rejectsWith(store.roles.write('r', bad as object), 'invalid_request')
      throwsWith(() => new TokenStore(bad as object), 'invalid_request')
    }
    assert.equal(memory.size, size)
    assert.ok(await store.create(Object.assign(Object.create(null) as object, { ttl: '1h' })))
  })

  test('a storage whose getters throw makes the constructor throw a TokenStoreError', () => {
    const throwing = new Proxy(new MemoryStorage(), {
      get: () => {
        throw new Error('getter failed')
      },
    }) as Storage
    const error = throwsWith(
      () => new TokenStore({ storage: throwing, timers: false }),
      'invalid_request',
    )
    assert.ok(error instanceof TokenStoreError)
    const subscribeThrows = overrideStorage(new MemoryStorage(), {})
    Object.defineProperty(subscribeThrows, 'subscribe', {
      get: () => {
        throw new Error('no')
      },
    })
    throwsWith(() => new TokenStore({ storage: subscribeThrows }), 'invalid_request')
    throwsWith(
      () =>
        new TokenStore({
          get storage(): Storage {
            throw new Error('no')
          },
        }),
      'invalid_request',
    )
    throwsWith(() => new TokenStore({ storage: {} as Storage }), 'invalid_request')
  })
})
