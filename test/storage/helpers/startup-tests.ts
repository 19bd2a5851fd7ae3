/**
 * Issue 10, defect 1: a new `TokenStore` on shared storage receives, exactly once, every revocation written after
 * its construction, however late its subscription comes up; a gap the log cannot fill is an `error` event.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import { TokenStore, TokenStoreError } from '../../../src/index.js'
import type { Storage } from '../../../src/storage/storage.js'
import { Worker } from './processes.js'
import { outageProxy, type SharedBackend } from './shared-storage-tests.js'
import { ProxyGroup } from './tcp-proxy.js'

/** Rounds of the start-up race; each is a fresh instance next to a busy one. */
const ROUNDS = 20

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Counts `revoked` events per accessor. */
function countRevoked(store: TokenStore): Map<string, number> {
  const seen = new Map<string, number>()
  store.on('revoked', (event) => seen.set(event.accessor, (seen.get(event.accessor) ?? 0) + 1))
  return seen
}

/** Waits until every accessor was seen (or 5 s passed), then a moment more for a duplicate to show. */
async function waitSeen(seen: Map<string, number>, accessors: readonly string[]): Promise<void> {
  const deadline = Date.now() + 5000
  while (accessors.some((a) => !seen.has(a)) && Date.now() < deadline) await sleep(5)
  await sleep(50)
}

/** The request the policy tests authorize, and the policy `app` that allows it, then denies it. */
const READ_REPORT = { path: 'secret/report', operation: 'read' } as const
const APP_ALLOWS = 'path "secret/*" { capabilities = ["read"] }'
const APP_DENIES = 'path "secret/*" { capabilities = ["deny"] }'

/**
 * Writes `app` (allowing {@link READ_REPORT}) through `writer` and has `reader` compile it by authorizing a token
 * of it; resolves to that token.
 */
async function compiledApp(writer: TokenStore, reader: TokenStore): Promise<string> {
  await writer.policies.write('app', APP_ALLOWS)
  const auth = await writer.create({ policies: ['app'] })
  await reader.authorize(auth.clientToken, READ_REPORT)
  return auth.clientToken
}

/** Asserts that `store` refuses `token` {@link READ_REPORT}: it uses `app` as it is now, not as it compiled it. */
async function assertDenied(store: TokenStore, token: string): Promise<void> {
  await assert.rejects(store.authorize(token, READ_REPORT), (error: unknown) => {
    assert.ok(error instanceof TokenStoreError)
    assert.equal(error.code, 'permission_denied')
    return true
  })
}

/** Keeps `store` revoking fresh tokens until the returned function is called (and awaited). */
function keepBusy(store: TokenStore): () => Promise<void> {
  const state = { busy: true }
  const loop = (async () => {
    while (state.busy) {
      const auth = await store.create({ policies: ['busy'] })
      await store.revoke(auth.clientToken)
    }
  })()
  return async () => {
    state.busy = false
    await loop
  }
}

/** Registers the start-up tests for one backend. */
export function runStartupTests(
  backend: SharedBackend,
  secret: Buffer,
  workerEnv: (namespace: string) => Record<string, string>,
): void {
  /** A store on its own storage instance over the namespace, and how to close both. */
  const open = (
    namespace: string,
    storage: Storage = backend.storage(namespace),
  ): { store: TokenStore; close: () => Promise<void> } => {
    const store = new TokenStore({ storage, secret, timers: false })
    return {
      store,
      close: async () => {
        await store.close()
        await storage.close?.()
      },
    }
  }

  /**
   * Runs an outage test's body with a store `a` on a fresh namespace and a store `b` whose storage reaches it
   * through the outage proxies (cut before `b` is made when `startCut`), with the revocations and errors `b`
   * reports; afterwards closes both stores and cuts the proxies. Skips the test on a backend without proxies.
   */
  const withCutOffPair = async (
    t: { skip: (reason: string) => void },
    label: string,
    startCut: boolean,
    body: (pair: {
      a: { store: TokenStore }
      b: TokenStore
      proxy: ProxyGroup
      seen: Map<string, number>
      errors: unknown[]
      namespace: string
    }) => Promise<void>,
  ): Promise<void> => {
    const cut = outageProxy(backend, t)
    if (cut === null) return
    const namespace = await backend.namespace(label)
    const a = open(namespace)
    const proxy = new ProxyGroup(cut.addresses)
    await proxy.open()
    if (startCut) await proxy.cut()
    const via = cut.storageVia(proxy.ports, namespace)
    const b = new TokenStore({ storage: via.storage, secret, timers: false })
    const seen = countRevoked(b)
    const errors: unknown[] = []
    b.on('error', (error) => errors.push(error))
    try {
      await body({ a, b, proxy, seen, errors, namespace })
    } finally {
      await b.close()
      await via.close()
      await proxy.cut()
      await a.close()
    }
  }

  describe(`${backend.name}: a new instance follows every revocation from its construction`, () => {
    test(`a revocation right after a new store is created reaches it exactly once (${ROUNDS} rounds, next to a busy store)`, async () => {
      const namespace = await backend.namespace('startup')
      const a = open(namespace)
      const stopBusy = keepBusy(a.store)
      // Each new store gets fresh connections (through an open proxy, where there is one), as a new instance would.
      const proxy = backend.addresses === undefined ? null : new ProxyGroup(backend.addresses)
      await proxy?.open()
      try {
        for (let round = 0; round < ROUNDS; round++) {
          const auth = await a.store.create({ policies: ['x'] })
          const via = freshStorage(backend, namespace, proxy?.ports)
          const b = new TokenStore({ storage: via.storage, secret, timers: false })
          const seen = countRevoked(b)
          try {
            await a.store.revoke(auth.clientToken)
            await waitSeen(seen, [auth.accessor])
            assert.equal(seen.get(auth.accessor) ?? 0, 1, `round ${round}`)
          } finally {
            await b.close()
            await via.close()
          }
        }
      } finally {
        await stopBusy()
        await a.close()
        await proxy?.cut()
      }
    })

    test(`a second process started next to a busy first one receives every revocation (${ROUNDS} rounds)`, async () => {
      const namespace = await backend.namespace('startup_procs')
      const a = open(namespace)
      const stopBusy = keepBusy(a.store)
      const worker = new Worker(workerEnv(namespace))
      try {
        await worker.ready
        for (let round = 0; round < ROUNDS; round++) {
          const auth = await a.store.create({ policies: ['x'] })
          await worker.send({ op: 'open' })
          await a.store.revoke(auth.clientToken)
          const counts = await worker.send<Record<string, number>>({
            op: 'seen',
            accessors: [auth.accessor],
            timeout: 5000,
          })
          assert.deepEqual(counts, { [auth.accessor]: 1 }, `round ${round}`)
        }
      } finally {
        await worker.stop()
        await stopBusy()
        await a.close()
      }
    })

    test(
      'storage down at construction: ready() rejects; once it returns, every revocation since arrives once',
      { timeout: 60_000 },
      async (t) => {
        await withCutOffPair(t, 'startup_down', true, async ({ a, b, proxy, seen, errors }) => {
          const tokens = await Promise.all([1, 2, 3].map(() => a.store.create({ policies: ['x'] })))
          await a.store.revoke(tokens[0]?.clientToken ?? '')
          await assert.rejects(b.ready(), (error: unknown) => {
            assert.ok(error instanceof TokenStoreError)
            assert.equal(error.code, 'storage_unavailable')
            return true
          })
          await a.store.revoke(tokens[1]?.clientToken ?? '')
          await proxy.open()
          await a.store.revoke(tokens[2]?.clientToken ?? '')
          const deadline = Date.now() + 15_000
          for (;;) {
            try {
              await b.ready()
              break
            } catch (error) {
              if (Date.now() > deadline) throw error
              await sleep(100)
            }
          }
          const accessors = tokens.map((t) => t.accessor)
          await waitSeen(seen, accessors)
          assert.deepEqual(
            accessors.map((accessor) => seen.get(accessor) ?? 0),
            [1, 1, 1],
          )
          assert.ok(errors.length >= 1, 'the failed attempts were reported')
          assert.ok(
            errors.every((e) => e instanceof TokenStoreError && !/lost/.test(e.message)),
            'no loss was reported',
          )
        })
      },
    )

    test(
      'notices trimmed from the log while an instance was cut off: an error event naming how many',
      { timeout: 60_000 },
      async (t) => {
        await withCutOffPair(
          t,
          'startup_gap',
          false,
          async ({ a, b, proxy, seen, errors, namespace }) => {
            await b.ready()
            await proxy.cut()
            // Children of one root: one tree, so one notice stream on a sharded storage, where a gap shows once a
            // later notice of the same stream is read.
            const root = await a.store.create({ policies: ['x'] })
            const tokens = await Promise.all(
              [1, 2, 3, 4].map(() => a.store.create({ policies: ['x'], parent: root.clientToken })),
            )
            for (const auth of tokens.slice(0, 3)) await a.store.revoke(auth.clientToken)
            await backend.trimNotices(namespace)
            await a.store.revoke(tokens[3]?.clientToken ?? '')
            await proxy.open()
            const last = tokens[3]?.accessor ?? ''
            await waitSeen(seen, [last])
            assert.equal(seen.get(last), 1)
            for (const auth of tokens.slice(0, 3)) assert.equal(seen.has(auth.accessor), false)
            const lost = errors.filter((e) => e instanceof Error && /lost/.test(e.message))
            assert.equal(lost.length, 1)
            assert.match((lost[0] as Error).message, /^3 revocation notice\(s\)/)
          },
        )
      },
    )

    test(
      'a policy change trimmed from the log while an instance was cut off: it drops its compiled policies',
      { timeout: 60_000 },
      async (t) => {
        await withCutOffPair(
          t,
          'startup_policy_gap',
          false,
          async ({ a, b, proxy, errors, namespace }) => {
            await b.ready()
            const token = await compiledApp(a.store, b)
            await proxy.cut()
            await a.store.policies.write('app', APP_DENIES)
            await backend.trimNotices(namespace)
            // A later policy notice, in the same stream: the one that shows b the gap.
            await a.store.policies.write('other', 'path "other/*" { capabilities = ["read"] }')
            await proxy.open()
            const deadline = Date.now() + 15_000
            while (!errors.some((e) => e instanceof Error && /lost/.test(e.message))) {
              assert.ok(Date.now() < deadline, 'the loss was never reported')
              await sleep(50)
            }
            await assertDenied(b, token)
          },
        )
      },
    )

    test(
      'the notice log started over (the storage lost it): an instance reads it from its start, drops its compiled policies, and says so',
      { timeout: 60_000 },
      async (t) => {
        if (backend.resetNotices === undefined) {
          t.skip(`${backend.name}: a subscriber does not detect a log that started over`)
          return
        }
        const resetNotices = backend.resetNotices.bind(backend)
        await withCutOffPair(
          t,
          'startup_reset',
          false,
          async ({ a, b, seen, errors, namespace }) => {
            await b.ready()
            const token = await compiledApp(a.store, b)
            // Some notices, so that b's position is past what the log will hold after it starts over.
            const before = await Promise.all(
              [1, 2, 3].map(() => a.store.create({ policies: ['x'] })),
            )
            for (const token of before) await a.store.revoke(token.clientToken)
            await waitSeen(
              seen,
              before.map((token) => token.accessor),
            )
            await resetNotices(namespace)
            await a.store.policies.write('app', APP_DENIES)
            const after = await a.store.create({ policies: ['x'] })
            await a.store.revoke(after.clientToken)
            await waitSeen(seen, [after.accessor])
            assert.equal(seen.get(after.accessor), 1)
            assert.ok(
              errors.some((e) => e instanceof Error && /started over/.test(e.message)),
              'the restart of the log was reported',
            )
            await assertDenied(b, token)
          },
        )
      },
    )
  })
}

/** A storage of its own on the namespace: through the proxies on `ports` when there are some, else directly. */
function freshStorage(
  backend: SharedBackend,
  namespace: string,
  ports: readonly number[] | undefined,
): { storage: Storage; close: () => Promise<void> } {
  if (ports !== undefined && backend.storageVia !== undefined)
    return backend.storageVia(ports, namespace)
  const storage = backend.storage(namespace)
  return { storage, close: async () => storage.close?.() }
}
