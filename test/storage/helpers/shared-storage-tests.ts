/**
 * Tests that only a storage shared by several processes can fail, run the same way on Redis and PostgreSQL:
 * secrets at rest, an outage and recovery, use counting and revocation across processes, revocations cut off
 * half-way (an injected error at each step, and a SIGKILL), and `revoked` events reaching another instance.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, test } from 'node:test'

import { TokenStore, TokenStoreError } from '../../../src/index.js'
import type { Storage } from '../../../src/storage/storage.js'
import type { RevokedEvent } from '../../../src/events.js'
import { ManualClock } from '../../../src/testing/manual-clock.js'
import { Worker } from './processes.js'
import { runStartupTests } from './startup-tests.js'
import { ProxyGroup } from './tcp-proxy.js'

/** What the shared tests need to know about a backend. */
export interface SharedBackend {
  readonly name: 'redis' | 'redis-cluster' | 'postgres'
  /** The addresses the outage tests cut (each node of a Redis Cluster); without them, those tests skip. */
  readonly addresses?: readonly { host: string; port: number }[]
  /** Prepares a fresh namespace (key prefix or schema) for one test and returns its name. */
  namespace(label: string): Promise<string>
  /** A storage on the namespace. */
  storage(namespace: string): Storage
  /**
   * A storage on the namespace that connects through the outage proxies (`ports`, in the order of `addresses`),
   * and how to close it.
   */
  storageVia?(
    ports: readonly number[],
    namespace: string,
  ): { storage: Storage; close: () => Promise<void> }
  /** How many tokens the namespace holds. */
  countTokens(namespace: string): Promise<number>
  /** Every key and value (or row) of the namespace, as text. */
  dump(namespace: string): Promise<string>
  /** Deletes every notice from the namespace's notice log, as trimming does. */
  trimNotices(namespace: string): Promise<void>
  /**
   * Empties the namespace's notice log and restarts its numbering, as a storage that lost its data does (Redis: its
   * epoch too); absent where a subscriber does not detect that (the test that needs it then skips, saying so).
   */
  resetNotices?(namespace: string): Promise<void>
}

/** Registers the shared-storage tests for one backend. */
export function runSharedStorageTests(backend: SharedBackend): void {
  const secret = randomBytes(32)
  const workerEnv = (namespace: string): Record<string, string> => ({
    TT_BACKEND: backend.name,
    TT_NAMESPACE: namespace,
    TT_SECRET: secret.toString('hex'),
  })

  /** Runs `fn` with a store (no timers) on a fresh namespace, closing both afterwards. */
  const withStore = async (
    label: string,
    fn: (store: TokenStore, storage: Storage, namespace: string) => Promise<void>,
  ): Promise<void> => {
    const namespace = await backend.namespace(label)
    const storage = backend.storage(namespace)
    const store = new TokenStore({ storage, secret, timers: false })
    try {
      await fn(store, storage, namespace)
    } finally {
      await store.close()
      await storage.close?.()
    }
  }

  const withWorkers = async (
    namespace: string,
    count: number,
    fn: (workers: Worker[]) => Promise<void>,
  ): Promise<void> => {
    const workers = Array.from({ length: count }, () => new Worker(workerEnv(namespace)))
    try {
      await Promise.all(workers.map((w) => w.ready))
      await fn(workers)
    } finally {
      await Promise.all(workers.map((w) => w.stop()))
    }
  }

  runStoreLevelTests(backend, secret)
  runStartupTests(backend, secret, workerEnv)

  describe(`${backend.name}: shared by several processes`, () => {
    test('keys, values and rows never contain a token id', async () => {
      await withStore('secrets', async (store, _storage, namespace) => {
        const root = await store.createRoot()
        const child = await store.create({ parent: root.clientToken, policies: ['deploy'] })
        const limited = await store.create({ policies: ['ci'], numUses: 3, path: 'auth/ci/login' })
        const custom = await store.createRoot({ id: 'custom-root-token-id-0123456789' })
        await store.authenticate(limited.clientToken)
        await store.createLease(child.clientToken, { path: 'aws/creds/deploy', data: { k: 1 } })
        const gone = await store.create({ parent: root.clientToken })
        await store.revoke(gone.clientToken)
        const text = await backend.dump(namespace)
        assert.ok(text.includes(child.accessor), 'the dump holds the stored data')
        for (const auth of [root, child, limited, custom, gone]) {
          assert.ok(!text.includes(auth.clientToken), 'a token id was stored')
          // Nor its random part alone (ids are `hvs.` + 32 characters).
          assert.ok(!text.includes(auth.clientToken.slice(4)), 'a token id was stored')
        }
      })
    })

    test(
      'storage down: storage_unavailable, fast; then it works again when storage returns',
      { timeout: 60_000 },
      async (t) => {
        const cut = outageProxy(backend, t)
        if (cut === null) return
        const namespace = await backend.namespace('outage')
        const proxy = new ProxyGroup(cut.addresses)
        await proxy.open()
        const { storage, close } = cut.storageVia(proxy.ports, namespace)
        const store = new TokenStore({ storage, secret, timers: false })
        try {
          const auth = await store.create({ policies: ['x'] })
          assert.ok(await store.lookup(auth.clientToken))
          await proxy.cut()
          for (const call of [
            () => store.authenticate(auth.clientToken),
            () => store.lookup(auth.clientToken),
            () => store.create({ policies: ['x'] }),
            () => store.revoke(auth.clientToken),
          ]) {
            const started = Date.now()
            await assert.rejects(call(), (error: unknown) => {
              assert.ok(error instanceof TokenStoreError)
              assert.equal(error.code, 'storage_unavailable')
              return true
            })
            assert.ok(Date.now() - started < 5000, 'a call waited too long while storage was down')
          }
          await proxy.open()
          const deadline = Date.now() + 15_000
          for (;;) {
            try {
              const info = await store.authenticate(auth.clientToken)
              assert.equal(info.accessor, auth.accessor)
              break
            } catch (error) {
              assert.ok(error instanceof TokenStoreError && error.code === 'storage_unavailable')
              if (Date.now() > deadline) throw error
              await new Promise((resolve) => setTimeout(resolve, 100))
            }
          }
          assert.ok(await store.lookup(auth.clientToken))
        } finally {
          await store.close()
          await close()
          await proxy.cut()
        }
      },
    )

    test('4 processes, 1,000 concurrent authenticate calls on an N-use token: exactly N succeed', async () => {
      await withStore('uses', async (store, _storage, namespace) => {
        const uses = 37
        const auth = await store.create({ policies: ['x'], numUses: uses })
        await withWorkers(namespace, 4, async (workers) => {
          const counts = await Promise.all(
            workers.map((w) =>
              w.send<Record<string, number>>({
                op: 'authenticate',
                token: auth.clientToken,
                count: 250,
              }),
            ),
          )
          const total = (code: string): number => counts.reduce((sum, c) => sum + (c[code] ?? 0), 0)
          // Every outcome by code, for the message: a call that timed out (storage_unavailable, on an overloaded
          // machine) counts under neither, and its use may or may not have been spent.
          const outcomes = JSON.stringify(counts)
          assert.equal(total('ok'), uses, outcomes)
          assert.equal(total('invalid_token'), 1000 - uses, outcomes)
        })
        assert.equal(await store.lookup(auth.clientToken), null)
      })
    })

    test('a subtree revoked in one process is refused by every process', async () => {
      await withStore('subtree', async (store, _storage, namespace) => {
        const root = await store.createRoot()
        const tree: string[] = [root.clientToken]
        for (let i = 0; i < 3; i++) {
          const child = await store.create({ parent: root.clientToken })
          tree.push(child.clientToken)
          for (let j = 0; j < 3; j++) {
            tree.push((await store.create({ parent: child.clientToken })).clientToken)
          }
        }
        const bystander = (await store.createRoot()).clientToken
        await withWorkers(namespace, 4, async (workers) => {
          for (const w of workers) {
            assert.equal(await w.send({ op: 'usable', tokens: tree }), tree.length)
          }
          await (workers[0] as Worker).send({ op: 'revoke', token: root.clientToken })
          const usable = await Promise.all(
            workers.map((w) => w.send<number>({ op: 'usable', tokens: [...tree, bystander] })),
          )
          assert.deepEqual(usable, [1, 1, 1, 1])
        })
      })
    })

    test('a revocation cut off by a storage error at any step leaves nothing usable; revokeExpired() finishes it', async () => {
      await withStore('inject', async (store, storage) => {
        for (let step = 1; step < 200; step++) {
          const root = await store.createRoot()
          const tokens = [root]
          for (let i = 0; i < 2; i++) {
            const child = await store.create({ parent: root.clientToken })
            tokens.push(child)
            for (let j = 0; j < 2; j++)
              tokens.push(await store.create({ parent: child.clientToken }))
          }
          const lease = await store.createLease((tokens[1] as (typeof tokens)[0]).clientToken, {
            path: 'aws/creds/deploy',
          })
          const failing = new TokenStore({ storage: failAt(storage, step), secret, timers: false })
          const finished = await failing.revoke(root.clientToken).then(
            () => true,
            (error: unknown) => {
              assert.ok(error instanceof TokenStoreError)
              assert.equal(error.code, 'storage_unavailable')
              return false
            },
          )
          await failing.close()
          const top = await storage.getTokenByAccessor(root.accessor)
          const marked = top === null || top.revoking !== null
          for (const auth of tokens) {
            const live = await store.lookup(auth.clientToken)
            assert.equal(
              live !== null,
              !marked,
              `step ${step}: a token is ${marked ? '' : 'not '}usable`,
            )
          }
          if (marked) await store.revokeExpired()
          else await store.revoke(root.clientToken)
          for (const auth of tokens)
            assert.equal(await storage.getTokenByAccessor(auth.accessor), null)
          assert.equal(await storage.getLease(lease.leaseId), null)
          if (finished) return
        }
        assert.fail('the revocation never completed')
      })
    })

    test('a revocation cut off by SIGKILL leaves nothing usable; revokeExpired() finishes it', async () => {
      await withStore('sigkill', async (store, _storage, namespace) => {
        const root = await store.createRoot()
        const tokens = [root.clientToken]
        for (let i = 0; i < 20; i++) {
          const child = await store.create({ parent: root.clientToken })
          tokens.push(child.clientToken)
          const grandchildren = await Promise.all(
            Array.from({ length: 60 }, () => store.create({ parent: child.clientToken })),
          )
          tokens.push(...grandchildren.map((g) => g.clientToken))
        }
        const initial = await backend.countTokens(namespace)
        assert.equal(initial, tokens.length)
        // Batches of 10 on Redis (about 120 for this tree), and killed as soon as the first is gone: with batches
        // of 50, waiting until a tenth was gone, a revocation once finished before the kill landed.
        const worker = new Worker({ ...workerEnv(namespace), TT_REVOCATION_BATCH: '10' })
        await worker.ready
        void worker.send({ op: 'revoke', token: root.clientToken }).catch(() => undefined)
        while ((await backend.countTokens(namespace)) === initial) {
          await new Promise((resolve) => setTimeout(resolve, 1))
        }
        await worker.kill()
        const left = await backend.countTokens(namespace)
        assert.ok(left > 0 && left < initial, `cut off with ${left} of ${initial} left`)
        const live = await Promise.all(tokens.map((t) => store.lookup(t)))
        assert.equal(live.filter((info) => info !== null).length, 0)
        await assert.rejects(store.authenticate(tokens.at(-1) as string), { code: 'invalid_token' })
        await store.revokeExpired()
        assert.equal(await backend.countTokens(namespace), 0)
      })
    })

    test('secret rotation across processes: add the new secret in front everywhere, roll, then drop the old one', async () => {
      // Two instances: this process, and a worker process; each restart is a new store with new secrets.
      const namespace = await backend.namespace('rotation')
      const oldSecret = randomBytes(32)
      const newSecret = randomBytes(32)
      const storage = backend.storage(namespace)
      const stores: TokenStore[] = []
      const here = (secrets: Buffer[]): TokenStore => {
        const store = new TokenStore({ storage, secret: secrets, timers: false })
        stores.push(store)
        return store
      }
      const workers: Worker[] = []
      const there = async (secrets: Buffer[]): Promise<Worker> => {
        const worker = new Worker({
          TT_BACKEND: backend.name,
          TT_NAMESPACE: namespace,
          TT_SECRETS: secrets.map((secret) => secret.toString('hex')).join(','),
        })
        workers.push(worker)
        await worker.ready
        return worker
      }
      try {
        // Before: both instances on the old secret.
        let first = here([oldSecret])
        let second = await there([oldSecret])
        const root = (await first.createRoot()).clientToken
        const service = (await first.create({ parent: root, ttl: '1h' })).clientToken
        const batch = (await first.create({ parent: root, type: 'batch', policies: ['app'] }))
          .clientToken
        const old = [root, service, batch]
        assert.deepEqual(await second.send({ op: 'lookup', tokens: old }), [true, true, true])

        // Step 1: [new, old] on every instance, one restart at a time.
        second = await there([newSecret, oldSecret])
        await workers[0]?.stop()
        assert.deepEqual(await second.send({ op: 'lookup', tokens: old }), [true, true, true])
        const during = await second.send<string>({ op: 'create', options: { policies: ['app'] } })
        // Mid-roll, an instance still on the old secret alone does not know the new tokens yet.
        assert.equal(await first.lookup(during), null)
        first = here([newSecret, oldSecret])
        for (const token of [...old, during]) assert.ok(await first.lookup(token))
        assert.equal(await second.send({ op: 'renew', token: service }), 3600)
        const after = (await first.create({ parent: service, ttl: '10m' })).clientToken
        assert.deepEqual(await second.send({ op: 'lookup', tokens: [after] }), [true])

        // Step 2, once every token issued under the old secret has expired (the max TTL): drop the old secret.
        // Tokens presented under it are then refused, expired or not; tokens issued since work everywhere.
        first = here([newSecret])
        second = await there([newSecret])
        const expected = [false, false, false, true, true]
        assert.deepEqual(
          await second.send({ op: 'lookup', tokens: [...old, during, after] }),
          expected,
        )
        const seen = await Promise.all(
          [...old, during, after].map(async (token) => (await first.lookup(token)) !== null),
        )
        assert.deepEqual(seen, expected)
      } finally {
        await Promise.all(workers.map((worker) => worker.stop()))
        for (const store of stores) await store.close()
        await storage.close?.()
      }
    })

    test('revoked events reach a TokenStore on another storage instance', async () => {
      await withStore('events', async (storeA, _storage, namespace) => {
        const storageB = backend.storage(namespace)
        const storeB = new TokenStore({ storage: storageB, secret, timers: false })
        const events: RevokedEvent[] = []
        storeB.on('revoked', (event) => events.push(event))
        try {
          // The subscription starts with the store; give it a moment to listen.
          await new Promise((resolve) => setTimeout(resolve, 300))
          const root = await storeA.createRoot()
          const child = await storeA.create({ parent: root.clientToken })
          const lease = await storeA.createLease(child.clientToken, {
            path: 'db/creds/app',
            data: { user: 'u1' },
          })
          await storeA.revoke(root.clientToken)
          const deadline = Date.now() + 5000
          while (events.length < 3 && Date.now() < deadline) {
            await new Promise((resolve) => setTimeout(resolve, 20))
          }
          assert.deepEqual(
            events.map((e) => [e.kind, e.accessor, e.reason]),
            [
              ['lease', child.accessor, 'parent'],
              ['token', child.accessor, 'parent'],
              ['token', root.accessor, 'explicit'],
            ],
          )
          const first = events[0]
          assert.ok(first?.kind === 'lease')
          assert.equal(first.leaseId, lease.leaseId)
          assert.deepEqual(first.data, { user: 'u1' })
        } finally {
          await storeB.close()
          await storageB.close?.()
        }
      })
    })
  })
}

/**
 * Roles, tidy and batched subtree revocation through `TokenStore`, on the shared storage: what the conformance
 * suite checks method by method, seen from the store's API and across two instances.
 */
function runStoreLevelTests(backend: SharedBackend, secret: Buffer): void {
  /** Two stores on two storage instances over one fresh namespace, sharing a manual clock. */
  const withTwoStores = async (
    label: string,
    fn: (a: TokenStore, b: TokenStore, clock: ManualClock, storage: Storage) => Promise<void>,
  ): Promise<void> => {
    const namespace = await backend.namespace(label)
    const storageA = backend.storage(namespace)
    const storageB = backend.storage(namespace)
    const clock = new ManualClock()
    const a = new TokenStore({ storage: storageA, secret, clock: clock.now, timers: false })
    const b = new TokenStore({ storage: storageB, secret, clock: clock.now, timers: false })
    try {
      await fn(a, b, clock, storageA)
    } finally {
      await a.close()
      await b.close()
      await storageA.close?.()
      await storageB.close?.()
    }
  }

  describe(`${backend.name}: roles, tidy and subtree revocation through TokenStore`, () => {
    test('a role written by one instance: another creates against it, and its renewals re-read it', async () => {
      await withTwoStores('roles', async (a, b, clock) => {
        const written = await a.roles.write('deployer', {
          allowedPolicies: ['deploy'],
          tokenPeriod: '1h',
          pathSuffix: 'v1',
        })
        assert.deepEqual(await b.roles.read('deployer'), written)
        assert.deepEqual(await b.roles.list(), ['deployer'])
        const admin = await b.createRoot()
        const token = await b.create({ parent: admin.clientToken, role: 'deployer' })
        const info = await b.lookup(token.clientToken)
        assert.equal(info?.path, 'auth/token/create/deployer/v1')
        assert.deepEqual(info.policies, ['default', 'deploy'])
        assert.equal(token.leaseDuration, 3600)
        // Renewal re-reads the role from storage: the other instance's change applies.
        await a.roles.write('deployer', { allowedPolicies: ['deploy'], tokenPeriod: '10m' })
        await clock.advance('30m')
        assert.equal((await b.renew(token.clientToken)).leaseDuration, 600)
        await a.roles.delete('deployer')
        assert.deepEqual(await b.roles.list(), [])
        await assert.rejects(b.renew(token.clientToken), { code: 'not_renewable' })
        assert.ok(await b.authenticate(token.clientToken))
        await assert.rejects(b.create({ parent: admin.clientToken, role: 'deployer' }), {
          code: 'invalid_request',
        })
      })
    })

    test("tidy() repairs a parent deleted behind the store's back: children orphaned, its leases revoked", async () => {
      await withTwoStores('tidy', async (a, b, _clock, storage) => {
        const events: RevokedEvent[] = []
        a.on('revoked', (event) => events.push(event))
        const root = await a.createRoot()
        const parent = await a.create({ parent: root.clientToken })
        const child = await a.create({ parent: parent.clientToken })
        const grandchild = await a.create({ parent: child.clientToken })
        const lease = await a.createLease(parent.clientToken, { path: 'db/creds/app' })
        const stored = await storage.getTokenByAccessor(parent.accessor)
        assert.ok(stored)
        // A crash half-way through a walk, as an old version or a manual edit could leave it.
        await storage.deleteToken(stored.id, 'explicit', Date.now())
        assert.equal(await b.lookup(child.clientToken), null)
        const report = await a.tidy()
        assert.deepEqual(report, {
          indexEntriesRemoved: 0,
          childrenOrphaned: 1,
          leasesRevoked: 1,
          revocationsFinished: 0,
        })
        assert.equal((await b.lookup(child.clientToken))?.orphan, true)
        assert.ok(await b.lookup(grandchild.clientToken))
        assert.equal(await b.lookupLease(lease.leaseId), null)
        assert.deepEqual(
          events.map((e) => [e.kind, e.reason]),
          [['lease', 'parent']],
        )
        // Nothing left to repair; the root's tree is sound.
        assert.deepEqual(await b.tidy(), {
          indexEntriesRemoved: 0,
          childrenOrphaned: 0,
          leasesRevoked: 0,
          revocationsFinished: 0,
        })
        assert.ok(await b.lookup(root.clientToken))
      })
    })

    test('a subtree larger than one deleteSubtree batch: revoked in full, events children first', async () => {
      await withTwoStores('batches', async (a) => {
        const events: RevokedEvent[] = []
        a.on('revoked', (event) => events.push(event))
        const root = await a.createRoot()
        const children = await Promise.all(
          Array.from({ length: 3 }, () => a.create({ parent: root.clientToken })),
        )
        const below = new Map<string, string[]>()
        const grandchildren = []
        for (const child of children) {
          const level = await Promise.all(
            Array.from({ length: 250 }, () => a.create({ parent: child.clientToken })),
          )
          below.set(
            child.accessor,
            level.map((g) => g.accessor),
          )
          grandchildren.push(...level)
        }
        const owner = grandchildren[7] as (typeof grandchildren)[0]
        await a.createLease(owner.clientToken, { path: 'aws/creds/ci' })
        const marked = await a.create({ parent: root.clientToken, numUses: 1 })
        await a.authenticate(marked.clientToken)
        await a.revoke(root.clientToken)
        const tokens = events.filter((e) => e.kind === 'token')
        assert.equal(tokens.length, 1 + 3 + 750 + 1)
        assert.equal(new Set(tokens.map((e) => e.accessor)).size, tokens.length)
        const position = new Map(tokens.map((e, i) => [e.accessor, i]))
        for (const child of children) {
          const at = position.get(child.accessor) ?? -1
          for (const accessor of below.get(child.accessor) ?? []) {
            assert.ok((position.get(accessor) ?? Infinity) < at, 'a parent went before its child')
          }
        }
        assert.equal(tokens.at(-1)?.accessor, root.accessor)
        assert.equal(tokens.at(-1)?.reason, 'explicit')
        const reasons = new Map(tokens.map((e) => [e.accessor, e.reason]))
        assert.equal(reasons.get(marked.accessor), 'uses_exhausted')
        assert.equal(reasons.get(children[0]?.accessor ?? ''), 'parent')
        // The lease goes with its token's reason, just before it.
        const leaseEvent = events.findIndex((e) => e.kind === 'lease')
        assert.equal(events[leaseEvent]?.reason, 'parent')
        assert.equal(events[leaseEvent + 1]?.kind, 'token')
        assert.equal(events[leaseEvent + 1]?.accessor, owner.accessor)
        for (const auth of [root, marked, ...children, ...grandchildren]) {
          assert.equal(await a.lookup(auth.clientToken), null)
        }
      })
    })
  })
}

/** The storage, except that its `step`-th call (counting every method) fails as a dropped connection would. */
function failAt(storage: Storage, step: number): Storage {
  let calls = 0
  return new Proxy(storage, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver)
      if (typeof value !== 'function') return value
      const method = value as (...a: unknown[]) => unknown
      // Private fields need the real instance as `this`.
      if (property === 'subscribe' || property === 'close') return method.bind(target)
      return (...args: unknown[]): unknown => {
        calls += 1
        if (calls === step) return Promise.reject(new Error('injected storage failure'))
        return method.apply(target, args)
      }
    },
  })
}

/** What an outage test needs: the addresses to cut, and a storage through their proxies. */
interface OutageProxy {
  readonly addresses: readonly { host: string; port: number }[]
  readonly storageVia: NonNullable<SharedBackend['storageVia']>
}

/**
 * The backend's addresses and `storageVia`, or `null` after skipping the test (with the reason) on a backend that
 * gives none.
 */
export function outageProxy(
  backend: SharedBackend,
  t: { skip: (reason: string) => void },
): OutageProxy | null {
  const { addresses } = backend
  if (addresses !== undefined && backend.storageVia !== undefined) {
    const storageVia = backend.storageVia.bind(backend)
    return { addresses, storageVia }
  }
  t.skip(`${backend.name}: no addresses for the outage proxy`)
  return null
}
