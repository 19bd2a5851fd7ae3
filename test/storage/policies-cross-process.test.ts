/**
 * A policy written in one process takes effect in another within the notice latency: the other process compiled
 * (and cached) the old ACL, and drops it when the policy-change notice arrives. Redis and PostgreSQL.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, describe, test } from 'node:test'

import pg from 'pg'

import { TokenStore } from '../../src/index.js'
import { PostgresStorage, migrate } from '../../src/storage/postgres/index.js'
import { RedisStorage } from '../../src/storage/redis/index.js'
import type { Storage } from '../../src/storage/storage.js'
import { Worker } from './helpers/processes.js'
import { clusterSkipReason, deleteClusterKeys, newCluster } from './helpers/cluster.js'
import { DATABASE_URL, REDIS_URL, skipReason, uniqueSuffix } from './helpers/services.js'

/** How long a change may take to reach the other process (the notice latency, with a wide margin). */
const LATENCY = 5000

const secret = randomBytes(32)

/** Asks the worker until it answers `expected`, or the latency bound passes; resolves to the last answer. */
async function eventually(worker: Worker, token: string, expected: string): Promise<string> {
  const deadline = Date.now() + LATENCY
  for (;;) {
    const answer = await worker.send<string>({ op: 'authorize', token, path: 'app/reports' })
    if (answer === expected || Date.now() > deadline) return answer
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

async function writeTakesEffectElsewhere(
  backend: 'redis' | 'redis-cluster' | 'postgres',
  namespace: string,
  storage: Storage,
): Promise<void> {
  const store = new TokenStore({ storage, secret, timers: false })
  const worker = new Worker({
    TT_BACKEND: backend,
    TT_NAMESPACE: namespace,
    TT_SECRET: secret.toString('hex'),
  })
  try {
    await worker.ready
    const { clientToken } = await store.create({ policies: ['reports'] })
    // The worker compiles the ACL of ['default', 'reports'] while `reports` does not exist yet.
    assert.equal(await eventually(worker, clientToken, 'permission_denied'), 'permission_denied')
    await store.policies.write('reports', 'path "app/*" { capabilities = ["read"] }')
    assert.equal(await eventually(worker, clientToken, 'ok'), 'ok')
    await store.policies.write('reports', 'path "app/*" { capabilities = ["deny"] }')
    assert.equal(await eventually(worker, clientToken, 'permission_denied'), 'permission_denied')
    await store.policies.write('reports', 'path "app/*" { capabilities = ["read"] }')
    assert.equal(await eventually(worker, clientToken, 'ok'), 'ok')
    await store.policies.delete('reports')
    assert.equal(await eventually(worker, clientToken, 'permission_denied'), 'permission_denied')
  } finally {
    await worker.stop()
    await store.close()
  }
}

describe('policies across processes', async () => {
  const redisSkip = await skipReason('Redis', REDIS_URL, 6379)
  test(
    'Redis: a policy write in one process takes effect in another within the notice latency',
    { skip: redisSkip ?? false, timeout: 60_000 },
    async () => {
      const namespace = `tokentree:test:policies:${uniqueSuffix()}:`
      const storage = new RedisStorage({ connection: REDIS_URL, keyPrefix: namespace })
      try {
        await writeTakesEffectElsewhere('redis', namespace, storage)
      } finally {
        await storage.close()
      }
    },
  )

  const clusterSkip = await clusterSkipReason()
  test(
    'Redis Cluster: a policy write in one process takes effect in another within the notice latency',
    { skip: clusterSkip ?? false, timeout: 60_000 },
    async () => {
      const namespace = `tokentree:test:policies:${uniqueSuffix()}:`
      const cluster = newCluster()
      const storage = new RedisStorage({ client: cluster, keyPrefix: namespace })
      try {
        await writeTakesEffectElsewhere('redis-cluster', namespace, storage)
      } finally {
        await storage.close()
        await deleteClusterKeys(cluster, `${namespace}*`)
        await cluster.quit()
      }
    },
  )

  const pgSkip = await skipReason('PostgreSQL', DATABASE_URL, 5432)
  const pool = pgSkip === null ? new pg.Pool({ connectionString: DATABASE_URL, max: 4 }) : null
  pool?.on('error', () => undefined)
  const schema = `tokentree_test_policies_${uniqueSuffix()}`
  after(async () => {
    if (pool === null) return
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    await pool.end()
  })
  test(
    'PostgreSQL: a policy write in one process takes effect in another within the notice latency',
    { skip: pgSkip ?? false, timeout: 60_000 },
    async () => {
      assert.ok(pool !== null)
      await migrate(pool, { schema })
      const storage = new PostgresStorage({ pool, schema })
      try {
        await writeTakesEffectElsewhere('postgres', schema, storage)
      } finally {
        await storage.close()
      }
    },
  )
})
