/**
 * The storages the property and fault tests run on: memory always, and Redis, PostgreSQL and PGlite when their
 * adapter module exists and their server answers. The adapters are imported dynamically, so this file works
 * before they are written. A missing module or server skips with a printed reason, unless
 * TOKENTREE_REQUIRE_SERVICES=1 and the adapter module exists, which makes it a failure.
 */
import { randomBytes } from 'node:crypto'
import net from 'node:net'

import type * as PGliteModule from '@electric-sql/pglite'
import type { Cluster } from 'ioredis'
import { MemoryStorage, type Storage } from 'tokentree'
import type * as PostgresModule from 'tokentree/postgres'
import type * as RedisModule from 'tokentree/redis'

/** A fresh, empty storage and how to dispose of it. */
export interface Fresh {
  readonly storage: Storage
  readonly cleanup: () => Promise<void>
}

/** A storage kind the tests can run on. */
export interface StorageKind {
  readonly name: string
  /** Builds a fresh, empty storage. */
  readonly make: () => Promise<Fresh>
  /** Releases what the kind shares between storages (a pool, a PGlite instance). */
  readonly close: () => Promise<void>
}

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
/** One master of a local Redis Cluster (`scripts/redis-cluster.sh start`), or `undefined`: cluster runs skip. */
export const REDIS_CLUSTER_URL = process.env.REDIS_CLUSTER_URL
export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const REQUIRE = process.env.TOKENTREE_REQUIRE_SERVICES === '1'

export const memoryKind: StorageKind = {
  name: 'memory',
  make: () => Promise.resolve({ storage: new MemoryStorage(), cleanup: () => Promise.resolve() }),
  close: () => Promise.resolve(),
}

/** A kind, or the reason it is skipped. */
export type Availability = { kind: StorageKind } | { skip: string }

function suffix(): string {
  return randomBytes(5).toString('hex')
}

async function reachable(url: string, defaultPort: number): Promise<boolean> {
  const { hostname, port } = new URL(url)
  return new Promise<boolean>((resolve) => {
    const socket = net.connect({
      host: hostname === '' ? '127.0.0.1' : hostname,
      port: port === '' ? defaultPort : Number(port),
    })
    socket.setTimeout(1000)
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('timeout', () => {
      socket.destroy()
      resolve(false)
    })
    socket.once('error', () => {
      resolve(false)
    })
  })
}

/** Skips (printing why) unless the module exists and the service is required. */
function unavailable(name: string, reason: string, moduleExists: boolean): Availability {
  if (REQUIRE && moduleExists)
    throw new Error(`${name}: ${reason} and TOKENTREE_REQUIRE_SERVICES=1`)
  process.stdout.write(`# ${name}: skipped: ${reason}\n`)
  return { skip: reason }
}

export async function redisKind(): Promise<Availability> {
  let mod: typeof RedisModule
  try {
    mod = await import('tokentree/redis')
  } catch (error) {
    return unavailable('Redis', `adapter not available (${String(error)})`, false)
  }
  if (!(await reachable(REDIS_URL, 6379)))
    return unavailable('Redis', `Redis not reachable at ${REDIS_URL}`, true)
  const { Redis } = await import('ioredis')
  const { RedisStorage } = mod
  return {
    kind: {
      name: 'redis',
      make: () => {
        const keyPrefix = `tokentree-model:${suffix()}:`
        // A generous command timeout: the Redis server is shared with other test runs and benchmarks on a
        // 2-core machine, and a stall there is not what these tests are about.
        const client = new Redis(REDIS_URL, {
          commandTimeout: 20_000,
          maxRetriesPerRequest: 1,
          autoResendUnfulfilledCommands: false,
        })
        client.on('error', () => undefined)
        const storage = new RedisStorage({ client, keyPrefix })
        return Promise.resolve({
          storage,
          cleanup: async () => {
            await storage.close()
            let cursor = '0'
            do {
              const [next, keys] = await client.scan(
                cursor,
                'MATCH',
                `${keyPrefix}*`,
                'COUNT',
                1000,
              )
              cursor = next
              if (keys.length > 0) await client.del(...keys)
            } while (cursor !== '0')
            await client.quit()
          },
        })
      },
      close: () => Promise.resolve(),
    },
  }
}

export async function postgresKind(): Promise<Availability> {
  let mod: typeof PostgresModule
  try {
    mod = await import('tokentree/postgres')
  } catch (error) {
    return unavailable('PostgreSQL', `adapter not available (${String(error)})`, false)
  }
  if (!(await reachable(DATABASE_URL, 5432)))
    return unavailable('PostgreSQL', `PostgreSQL not reachable at ${DATABASE_URL}`, true)
  const { default: pg } = await import('pg')
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 8 })
  pool.on('error', () => undefined)
  const { PostgresStorage, migrate } = mod
  return {
    kind: {
      name: 'postgres',
      make: async () => {
        const schema = `tokentree_model_${suffix()}`
        await migrate(pool, { schema })
        const storage = new PostgresStorage({ pool, schema })
        return {
          storage,
          cleanup: async () => {
            await storage.close()
            await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
          },
        }
      },
      close: () => pool.end(),
    },
  }
}

export async function pgliteKind(): Promise<Availability> {
  let mod: typeof PostgresModule
  try {
    mod = await import('tokentree/postgres')
  } catch (error) {
    return unavailable('PGlite', `adapter not available (${String(error)})`, false)
  }
  let PGlite: typeof PGliteModule.PGlite
  try {
    ;({ PGlite } = await import('@electric-sql/pglite'))
  } catch (error) {
    return unavailable('PGlite', `@electric-sql/pglite not installed (${String(error)})`, true)
  }
  const db = await PGlite.create()
  const { PostgresStorage, migrate } = mod
  return {
    kind: {
      name: 'pglite',
      make: async () => {
        const schema = `tokentree_model_${suffix()}`
        await migrate(db, { schema })
        const storage = new PostgresStorage({ pool: db, schema })
        return {
          storage,
          cleanup: async () => {
            await storage.close()
            await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
          },
        }
      },
      close: () => db.close(),
    },
  }
}

/**
 * A client of the test cluster, with the same generous command timeout as the Redis kind's (the nodes share 2
 * cores with other test runs).
 */
export async function newClusterClient(url: string): Promise<Cluster> {
  const { Cluster } = await import('ioredis')
  const { hostname, port } = new URL(url)
  const cluster = new Cluster([{ host: hostname || '127.0.0.1', port: Number(port || 7000) }], {
    retryDelayOnFailover: 0,
    redisOptions: { commandTimeout: 20_000, maxRetriesPerRequest: 1 },
  })
  cluster.on('error', () => undefined)
  return cluster
}

/** Deletes every key matching `pattern` on every master of the cluster. */
export async function deleteClusterKeys(cluster: Cluster, pattern: string): Promise<void> {
  for (const node of cluster.nodes('master')) {
    let cursor = '0'
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
      cursor = next
      for (const key of keys) await cluster.del(key)
    } while (cursor !== '0')
  }
}

/**
 * RedisStorage on a Redis Cluster (16 tree shards over three masters). Skipped with a printed reason when
 * REDIS_CLUSTER_URL is not set; when it is set but does not answer, as the other services.
 */
export async function redisClusterKind(): Promise<Availability> {
  const url = REDIS_CLUSTER_URL
  if (url === undefined || url === '') {
    const reason = 'REDIS_CLUSTER_URL is not set (scripts/redis-cluster.sh start prints it)'
    process.stdout.write(`# Redis Cluster: skipped: ${reason}\n`)
    return { skip: reason }
  }
  let mod: typeof RedisModule
  try {
    mod = await import('tokentree/redis')
  } catch (error) {
    return unavailable('Redis Cluster', `adapter not available (${String(error)})`, false)
  }
  if (!(await reachable(url, 7000)))
    return unavailable('Redis Cluster', `Redis Cluster not reachable at ${url}`, true)
  const { RedisStorage } = mod
  return {
    kind: {
      name: 'redis-cluster',
      make: async () => {
        const keyPrefix = `tokentree-model:${suffix()}:`
        const client = await newClusterClient(url)
        const storage = new RedisStorage({ client, keyPrefix })
        return {
          storage,
          cleanup: async () => {
            await storage.close()
            await deleteClusterKeys(client, `${keyPrefix}*`)
            await client.quit()
          },
        }
      },
      close: () => Promise.resolve(),
    },
  }
}
