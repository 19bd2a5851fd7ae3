/**
 * RedisStorage on Redis Cluster: the conformance suite on a real local cluster (three masters), then what only a
 * cluster can show: every key of a tree in one slot, different trees spread over the nodes.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, describe, test } from 'node:test'

import type { Cluster } from 'ioredis'

import { TokenStore, TokenStoreError } from '../../src/index.js'
import { RedisStorage } from '../../src/storage/redis/index.js'
import { runStorageConformance } from '../../src/testing/conformance.js'
import { treeHashedId, treeString } from '../../src/testing/tree-ids.js'
import { shardOfId } from '../../src/tree-shard.js'
import type { HashedTokenId, TokenRecord } from '../../src/types.js'
import {
  clusterKeys,
  clusterMasters,
  clusterSkipReason,
  deleteClusterKeys,
  dumpClusterKeys,
  newCluster,
  newClusterVia,
} from './helpers/cluster.js'
import { uniqueSuffix } from './helpers/services.js'
import { ProxyGroup } from './helpers/tcp-proxy.js'
import { runSharedStorageTests } from './helpers/shared-storage-tests.js'

const skip = await clusterSkipReason()
const PREFIX = `tokentree-test:${uniqueSuffix()}:`
const SECRET = randomBytes(32)

if (skip !== null) {
  test('RedisStorage on Redis Cluster', { skip }, () => undefined)
} else {
  const cluster = newCluster()
  // Before any test is registered: the file's `after` would run once the tests registered so far are done.
  const masters = await clusterMasters(cluster)
  after(async () => {
    await deleteClusterKeys(cluster, `${PREFIX}*`)
    cluster.disconnect()
  })

  runStorageConformance(
    { test, describe },
    () => new RedisStorage({ client: cluster, keyPrefix: `${PREFIX}conformance:` }),
    { name: 'RedisStorage conformance on Redis Cluster' },
  )

  // Several processes and instances on the cluster; the outage tests cut every master (a proxy each).
  const spaces = (namespace: string): string[] => [
    ...Array.from({ length: 16 }, (_, s) => `${namespace}{${s}}`),
    `${namespace}{g}`,
  ]
  runSharedStorageTests({
    name: 'redis-cluster',
    namespace: (label) => Promise.resolve(`${PREFIX}${label}:`),
    storage: (namespace) => new RedisStorage({ client: cluster, keyPrefix: namespace }),
    addresses: masters,
    storageVia: (ports, namespace) => {
      const via = newClusterVia(masters, ports)
      const storage = new RedisStorage({ client: via, keyPrefix: namespace })
      return {
        storage,
        close: async () => {
          await storage.close()
          via.disconnect()
        },
      }
    },
    // In parallel: the SIGKILL test polls this to kill its worker part-way through a revocation.
    countTokens: async (namespace) => {
      const counts = await Promise.all(
        spaces(namespace).map((space) => cluster.hlen(`${space}acc`)),
      )
      return counts.reduce((sum, count) => sum + count, 0)
    },
    dump: (namespace) => dumpClusterKeys(cluster, `${namespace}*`),
    trimNotices: async (namespace) => {
      for (const space of spaces(namespace)) await cluster.xtrim(`${space}notices`, 'MAXLEN', 0)
    },
    resetNotices: async (namespace) => {
      for (const space of spaces(namespace))
        await cluster.del(`${space}notices`, `${space}seq`, `${space}epoch`)
    },
  })

  describe('RedisStorage on Redis Cluster: tree shards', () => {
    test('every key of one tree hashes to one slot; different trees spread over several slots and nodes', async () => {
      const keyPrefix = `${PREFIX}slots:`
      await withClusterStore(cluster, keyPrefix, async (store, storage) => {
        const treeSlots: number[] = []
        for (let i = 0; i < 12; i++) {
          const root = await store.create({ policies: ['a'], ttl: 3600 })
          const child = await store.create({ parent: root.clientToken, ttl: 600 })
          const grandchild = await store.create({ parent: child.clientToken, ttl: 60 })
          const lease = await store.createLease(grandchild.clientToken, {
            path: `db/creds/t${i}`,
            ttl: 60,
          })
          const ids: string[] = [lease.leaseId]
          for (const auth of [root, child, grandchild]) {
            const record = await storage.getTokenByAccessor(auth.accessor)
            assert.ok(record)
            ids.push(record.id, auth.accessor)
          }
          const slots = await slotsOf(cluster, keyPrefix, ids)
          assert.equal(slots.size, 1, `tree ${i}: keys in slots ${[...slots].join(', ')}`)
          treeSlots.push([...slots][0] as number)
        }
        const distinct = new Set(treeSlots)
        assert.ok(distinct.size >= 3, `12 trees in ${distinct.size} slots`)
        const nodes = new Set(await Promise.all([...distinct].map((slot) => nodeOf(cluster, slot))))
        assert.ok(nodes.size >= 2, `12 trees on ${nodes.size} node(s)`)
      })
    })

    test("a child, its accessor and its leases carry the parent's shard; revoking the root revokes the tree only", async () => {
      await withClusterStore(cluster, `${PREFIX}inherit:`, async (store) => {
        const root = await store.create({ policies: ['a'] })
        const other = await store.create({ policies: ['a'] })
        const child = await store.create({ parent: root.clientToken })
        const lease = await store.createLease(child.clientToken, { path: 'aws/creds/x', ttl: 60 })
        const shard = root.clientToken.charAt(4)
        assert.equal(child.clientToken.charAt(4), shard)
        assert.equal(root.accessor.charAt(0), shard)
        assert.equal(child.accessor.charAt(0), shard)
        assert.equal(lease.leaseId.charAt('aws/creds/x/'.length), shard)
        assert.match(child.clientToken, /^hvs\.[\w-]{32}$/)
        assert.equal(child.accessor.length, 24)
        await store.revoke(root.clientToken)
        assert.equal(await store.lookup(child.clientToken), null)
        assert.equal(await store.lookupLease(lease.leaseId), null)
        assert.ok(await store.lookup(other.clientToken))
      })
    })

    test("a custom id: refused under a parent (it cannot name the parent's shard), fine as an orphan or root", async () => {
      await withClusterStore(cluster, `${PREFIX}custom:`, async (store, storage) => {
        const parent = await store.create({ policies: ['root'] })
        const refused = `refused-${uniqueSuffix()}`
        await assert.rejects(
          store.create({ parent: parent.clientToken, id: refused }),
          (error: unknown) => error instanceof TokenStoreError && error.code === 'invalid_request',
        )
        assert.equal(await store.lookup(refused), null)
        const parentId = (await storage.getTokenByAccessor(parent.accessor))?.id as HashedTokenId
        assert.deepEqual(await storage.listChildren(parentId), [])
        const orphan = `orphan-${uniqueSuffix()}`
        await store.create({ parent: parent.clientToken, id: orphan, noParent: true })
        assert.ok(await store.lookup(orphan))
        const root = `root-${uniqueSuffix()}`
        await store.createRoot({ id: root })
        const child = await store.create({ parent: root })
        assert.ok(await store.lookup(child.clientToken))
        await store.revoke(root)
        assert.equal(await store.lookup(child.clientToken), null)
        assert.ok(await store.lookup(orphan))
      })
    })

    test("an orphan in another shard than its creator: refused once the creator's revocation began, nothing left", async () => {
      const storage = new RedisStorage({ client: cluster, keyPrefix: `${PREFIX}orphan:` })
      try {
        const creator = record(treeHashedId('A'))
        assert.equal(await storage.insertToken(creator), 'inserted')
        const first = record(treeHashedId('B'))
        assert.equal(await storage.insertToken(first, creator.id), 'inserted')
        await storage.markRevoking(creator.id, 'explicit')
        const late = record(treeHashedId('C'))
        assert.equal(await storage.insertToken(late, creator.id), 'parent_gone')
        assert.equal(await storage.getToken(late.id), null)
        assert.equal(await storage.getTokenByAccessor(late.accessor), null)
        assert.deepEqual(await storage.findByPathPrefix(late.path), [])
        assert.ok(await storage.getLiveToken(first.id, NOW))
      } finally {
        await storage.close()
      }
    })

    test('orphans created while their creator is revoked: each is refused or stays live, none is left half-made', async () => {
      const keyPrefix = `${PREFIX}orphan-race:`
      await withClusterStore(cluster, keyPrefix, async (store, storage) => {
        const creator = await store.create({ policies: ['root'] })
        const attempts = Array.from({ length: 60 }, (_, i) =>
          (async () => {
            // Spread the creations around the revocation.
            await new Promise((resolve) => setTimeout(resolve, i % 20))
            return store.create({ parent: creator.clientToken, noParent: true, ttl: 600 })
          })(),
        )
        const revocation = (async () => {
          await new Promise((resolve) => setTimeout(resolve, 8))
          await store.revoke(creator.clientToken)
        })()
        const results = await Promise.allSettled(attempts)
        await revocation
        const created = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
        for (const r of results) {
          if (r.status === 'rejected') {
            assert.ok(
              r.reason instanceof TokenStoreError && r.reason.code === 'invalid_token',
              String(r.reason),
            )
          }
        }
        for (const orphan of created) assert.ok(await store.lookup(orphan.clientToken))
        // Every token the storage holds is one a caller was given: no orphan was left behind by a refusal.
        const stored = await storage.findByPathPrefix('auth/token')
        assert.equal(stored.length, created.length)
      })
    })
  })

  /** What a test of an outage gets: a subscribed store that reaches the cluster through a proxy per master. */
  interface CutOff {
    readonly store: TokenStore
    readonly storage: RedisStorage
    readonly via: Cluster
    readonly proxy: ProxyGroup
    /** The accessors of the tokens `store` heard were revoked, in order. */
    readonly revoked: string[]
  }

  /** Runs `fn` with a {@link CutOff} and a store on the cluster itself (`other`), under `keyPrefix`. */
  const withCutOff = async (
    keyPrefix: string,
    pollInterval: number | undefined,
    fn: (cutOff: CutOff, other: TokenStore) => Promise<void>,
  ): Promise<void> => {
    const proxy = new ProxyGroup(masters)
    await proxy.open()
    const via = newClusterVia(masters, proxy.ports)
    const storage = new RedisStorage({
      client: via,
      keyPrefix,
      ...(pollInterval === undefined ? {} : { pollInterval }),
    })
    const store = new TokenStore({ storage, secret: SECRET, timers: false })
    const revoked: string[] = []
    store.on('revoked', (event) => {
      if (event.kind === 'token') revoked.push(event.accessor)
    })
    store.on('error', () => undefined)
    try {
      await store.ready()
      await withClusterStore(cluster, keyPrefix, (other) =>
        fn({ store, storage, via, proxy, revoked }, other),
      )
    } finally {
      await store.close()
      await storage.close()
      via.disconnect()
      await proxy.cut()
    }
  }

  /** Waits (up to 15 s) until `revoked` holds `count` accessors. */
  const waitRevoked = async (revoked: readonly string[], count: number): Promise<void> => {
    const deadline = Date.now() + 15_000
    while (revoked.length < count && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  describe('RedisStorage on Redis Cluster: a lost reply', () => {
    test('a script whose reply is lost with its connection fails, and is not sent again: one use spent, not two', async () => {
      const keyPrefix = `${PREFIX}lost-reply:`
      const proxy = new ProxyGroup(masters)
      await proxy.open()
      const via = newClusterVia(masters, proxy.ports)
      // Storage calls alone, no store: nothing else is sent through the proxies while the reply is dropped.
      const storage = new RedisStorage({ client: via, keyPrefix })
      const direct = new RedisStorage({ client: cluster, keyPrefix })
      try {
        const token = { ...record(treeHashedId()), numUses: 5 }
        assert.equal(await direct.insertToken(token), 'inserted')
        assert.equal((await storage.useToken(token.id, NOW))?.numUses, 4)
        const proxies = proxy.ports.map((_, index) => proxy.at(index))
        for (const each of proxies) each.dropNextReplyTo(/evalsha|eval/i)
        await assert.rejects(storage.useToken(token.id, NOW), { code: 'storage_unavailable' })
        assert.equal(proxies.filter((each) => !each.waitingToDrop).length, 1, 'one reply dropped')
        // The script ran once and its reply was lost: had the cluster client sent it again (after its
        // `retryDelayOnFailover`), the call would have succeeded at the price of two uses.
        assert.equal((await direct.getToken(token.id))?.numUses, 3)
        // Until the client has a new connection to that node (about 0.1 s), calls fail before they are sent.
        assert.equal((await servedAgain(() => storage.useToken(token.id, NOW)))?.numUses, 2)
      } finally {
        await storage.close()
        await direct.close()
        via.disconnect()
        await proxy.cut()
      }
    })
  })

  describe('RedisStorage on Redis Cluster: nodes unreachable', () => {
    test(
      'every node: a subscribed store tries them again with pauses, fails calls at once, and hears revocations once they are back',
      { timeout: 60_000 },
      async () => {
        await withCutOff(
          `${PREFIX}outage-all:`,
          undefined,
          async ({ store, proxy, revoked }, other) => {
            const held = await other.create({ policies: ['x'] })
            const before = proxy.connections
            // Each new connection is closed at once: what a client does then shows in how often it comes back.
            proxy.refuse()
            await new Promise((resolve) => setTimeout(resolve, 2000))
            const attempts = proxy.connections - before
            // With pauses: a few dozen (the cluster client's own reconnections, the subscription's); in a loop,
            // thousands (ioredis's cluster subscriber reselects a node the moment its connection ends).
            assert.ok(
              attempts < 200,
              `${attempts} connections in 2 s while every node refused them`,
            )
            const started = Date.now()
            await assert.rejects(store.lookup(held.clientToken), (error: unknown) => {
              assert.ok(error instanceof TokenStoreError)
              assert.equal(error.code, 'storage_unavailable')
              return true
            })
            assert.ok(Date.now() - started < 2500, 'a call waited for the cluster to come back')
            await proxy.open()
            await other.revoke(held.clientToken)
            await waitRevoked(revoked, 1)
            assert.deepEqual(revoked, [held.accessor])
          },
        )
      },
    )

    test(
      'one master: its trees fail fast, the others are served, and every revocation arrives once',
      { timeout: 60_000 },
      async () => {
        const keyPrefix = `${PREFIX}outage-one:`
        // No polling within the test: what arrives came through the subscription's wake-ups, or (the lost master's
        // streams, once it is back) through the followers' own retries of the reads that failed while it was away.
        await withCutOff(
          keyPrefix,
          600_000,
          async ({ store, storage, via, proxy, revoked }, other) => {
            // The master the subscription listens on first (ClusterWakeups starts with the cluster's first master):
            // losing it makes the subscription move to another.
            const down = proxy.ports.indexOf(Number(via.nodes('master')[0]?.options.port))
            assert.ok(down >= 0, 'the subscription listens through a proxy')
            const tokens = await Promise.all(
              Array.from({ length: 32 }, () => other.create({ policies: ['x'] })),
            )
            const slots = await cluster.cluster('SLOTS')
            const masterOf = async (accessor: string): Promise<number> => {
              const space = `${keyPrefix}{${shardOfId(accessor, storage.treeShards ?? 0)}}`
              const slot = await cluster.cluster('KEYSLOT', `${space}seq`)
              const node = slots.find(([from, to]) => slot >= from && slot <= to)?.[2]
              return masters.findIndex((m) => m.host === node?.[0] && m.port === node[1])
            }
            const lost = new Set<string>()
            for (const auth of tokens) {
              if ((await masterOf(auth.accessor)) === down) lost.add(auth.accessor)
            }
            assert.ok(lost.size > 0 && lost.size < tokens.length, 'tokens on both sides')
            proxy.at(down).refuse()
            for (const auth of tokens) {
              const started = Date.now()
              const outcome = await store.lookup(auth.clientToken).then(
                () => 'served',
                (error: unknown) => (error instanceof TokenStoreError ? error.code : String(error)),
              )
              assert.equal(outcome, lost.has(auth.accessor) ? 'storage_unavailable' : 'served')
              assert.ok(Date.now() - started < 2500, 'a call waited for the lost master')
            }
            for (const auth of tokens) await other.revoke(auth.clientToken)
            const served = tokens.map((t) => t.accessor).filter((accessor) => !lost.has(accessor))
            await waitRevoked(revoked, served.length)
            assert.deepEqual([...revoked].sort(), served.sort())
            // Back: the notices of the lost master's streams are read, once each, with no wake-up after its return:
            // their wake-ups came while it was away, and the reads they prompted failed.
            await proxy.open()
            await waitRevoked(revoked, tokens.length)
            assert.deepEqual([...revoked].sort(), tokens.map((t) => t.accessor).sort())
          },
        )
      },
    )
  })
}

/**
 * `call`'s answer once it is served: while a cluster client has no connection to the node, a call fails with
 * `storage_unavailable` before it is sent (within 3 s, or the last failure is thrown).
 */
async function servedAgain<T>(call: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 3000
  for (;;) {
    try {
      return await call()
    } catch (error) {
      const unavailable = error instanceof TokenStoreError && error.code === 'storage_unavailable'
      if (!unavailable || Date.now() > deadline) throw error
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
}

/** A store on the cluster under its own key prefix, closed (with its storage) after `fn`. */
async function withClusterStore(
  cluster: Cluster,
  keyPrefix: string,
  fn: (store: TokenStore, storage: RedisStorage) => Promise<void>,
): Promise<void> {
  const storage = new RedisStorage({ client: cluster, keyPrefix })
  const store = new TokenStore({ storage, secret: SECRET, timers: false })
  try {
    await fn(store, storage)
  } finally {
    await store.close()
    await storage.close()
  }
}

/** The slot of every key under `prefix` whose name holds one of `ids`. */
async function slotsOf(
  cluster: Cluster,
  prefix: string,
  ids: readonly string[],
): Promise<Set<number>> {
  const slots = new Set<number>()
  for (const key of await clusterKeys(cluster, `${prefix}*`)) {
    if (ids.some((id) => key.includes(id))) slots.add(await cluster.cluster('KEYSLOT', key))
  }
  return slots
}

/** The master serving `slot`, as `host:port`. */
async function nodeOf(cluster: Cluster, slot: number): Promise<string> {
  const ranges = await cluster.cluster('SLOTS')
  const range = ranges.find(([from, to]) => from <= slot && slot <= to)
  const master = range?.[2]
  assert.ok(master, `slot ${slot} is served`)
  return `${master[0]}:${master[1]}`
}

/** A time far from any real clock: records expire an hour after it. */
const NOW = 2_000_000_000_000

/** A live orphan record with this hashed id (its accessor in the same shard). */
function record(id: HashedTokenId): TokenRecord {
  return {
    id,
    accessor: treeString(24, id),
    parent: null,
    policies: ['default'],
    path: `cluster/${uniqueSuffix()}`,
    metadata: {},
    displayName: 'token',
    numUses: 0,
    creationTime: NOW - 1000,
    creationTtl: 3600,
    ttl: 3600,
    expiresAt: NOW + 3_600_000,
    explicitMaxTtl: 0,
    period: 0,
    renewable: true,
    lastRenewalTime: null,
    revoking: null,
  }
}
