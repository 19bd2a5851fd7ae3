/**
 * Process kill mid-revoke on Redis, Redis Cluster (REDIS_CLUSTER_URL) and PostgreSQL: a child process (kill-child.ts) builds a big tree with leases
 * and starts revoking it; the parent kills it with SIGKILL at a random point, then checks from its own store
 * that the invariants hold (no token of the tree usable once its top was marked), and that `revokeExpired()`,
 * which finishes cut-off revocations, removes the whole tree and its leases.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { after, test } from 'node:test'
import { fileURLToPath } from 'node:url'

import { TokenStore, type Storage } from 'tokentree'

import { checkInvariants } from '../model/invariants.js'
import {
  DATABASE_URL,
  deleteClusterKeys,
  newClusterClient,
  postgresKind,
  REDIS_CLUSTER_URL,
  redisClusterKind,
  redisKind,
  REDIS_URL,
  type Availability,
} from '../model/storages.js'

const ROUNDS = Number(process.env.KILL_ROUNDS ?? 2)
const CHILD = fileURLToPath(new URL('./kill-child.ts', import.meta.url))

interface Built {
  root: string
  tree: string[]
  leases: string[]
}

/** Runs the child until it starts revoking, then kills it after `delay` ms. */
async function killMidRevoke(
  env: Record<string, string>,
  delay: number,
): Promise<{ built: Built; finished: boolean }> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()))
  return new Promise((resolve, reject) => {
    let built: Built | null = null
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      if (built === null && out.includes('\nREVOKING\n')) {
        built = JSON.parse(out.slice(0, out.indexOf('\n'))) as Built
        setTimeout(() => child.kill('SIGKILL'), delay)
      }
    })
    child.on('exit', (code, signal) => {
      if (built === null)
        reject(new Error(`child exited (${String(code ?? signal)}) before revoking: ${err}`))
      else resolve({ built, finished: signal === null && out.includes('DONE') })
    })
  })
}

async function rounds(
  name: string,
  open: (namespace: string) => Promise<{ storage: Storage; cleanup: () => Promise<void> }>,
  storageName: string,
): Promise<void> {
  let cut = 0
  for (let round = 0; round < ROUNDS; round++) {
    const namespace =
      storageName !== 'postgres'
        ? `tokentree-kill:${randomBytes(4).toString('hex')}:`
        : `tokentree_kill_${randomBytes(4).toString('hex')}`
    const secret = randomBytes(32).toString('hex')
    const { storage, cleanup } = await open(namespace)
    try {
      const delay = Math.floor(Math.random() * (storageName === 'redis' ? 400 : 500))
      const { built, finished } = await killMidRevoke(
        {
          KILL_STORAGE: storageName,
          KILL_NAMESPACE: namespace,
          KILL_SECRET: secret,
          KILL_TOKENS: storageName === 'redis' ? '600' : '300',
        },
        delay,
      )
      const known = {
        tokens: built.tree.map((accessor) => ({ accessor, granted: 0 })),
        leases: built.leases,
      }
      const topRecord = await storage.getTokenByAccessor(built.tree[0] as string)
      const started = topRecord === null || topRecord.revoking !== null
      const found = await checkInvariants(storage, Date.now(), known, {
        mustBeUnusable: started ? built.tree : [],
      })
      if (!finished && found.size > 0) cut += 1
      const store = new TokenStore({ storage, secret, timers: false })
      await store.revokeExpired()
      const left = await checkInvariants(storage, Date.now(), known, { noRevoking: true })
      if (started) {
        assert.equal(
          left.size,
          0,
          `${name}: ${left.size} tokens of the tree left after revokeExpired()`,
        )
        for (const leaseId of built.leases)
          assert.equal(await storage.getLease(leaseId), null, `${name}: lease ${leaseId} left`)
      } else {
        // Killed before the mark: nothing of the tree was touched.
        assert.equal(left.size, built.tree.length)
      }
      await store.close()
    } finally {
      await cleanup()
    }
  }
  process.stdout.write(
    `# process kill on ${name}: ${ROUNDS} rounds, ${cut} killed with the tree half revoked\n`,
  )
}

async function define(
  name: string,
  storageName: 'redis' | 'redis-cluster' | 'postgres',
  load: () => Promise<Availability>,
): Promise<void> {
  const availability = await load().catch((error: unknown) => ({ skip: String(error) }))
  const title = `process kill: SIGKILL mid-revoke on ${name} leaves the invariants true, and revokeExpired() finishes`
  if ('skip' in availability) {
    test(
      title,
      {
        skip: availability.skip.startsWith('adapter not available')
          ? 'adapter not available'
          : availability.skip,
      },
      () => undefined,
    )
    return
  }
  after(() => availability.kind.close())
  test(title, { timeout: 240_000 }, async () => {
    if (storageName === 'redis-cluster') {
      const { RedisStorage } = await import('tokentree/redis')
      const client = await newClusterClient(REDIS_CLUSTER_URL ?? '')
      try {
        await rounds(
          name,
          (keyPrefix) =>
            Promise.resolve({
              storage: new RedisStorage({ client, keyPrefix }),
              cleanup: () => deleteClusterKeys(client, `${keyPrefix}*`),
            }),
          storageName,
        )
      } finally {
        await client.quit()
      }
    } else if (storageName === 'redis') {
      const { RedisStorage } = await import('tokentree/redis')
      const { Redis } = await import('ioredis')
      await rounds(
        name,
        (keyPrefix) => {
          const storage = new RedisStorage({ connection: REDIS_URL, keyPrefix })
          return Promise.resolve({
            storage,
            cleanup: async () => {
              await storage.close()
              const client = new Redis(REDIS_URL)
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
        storageName,
      )
    } else {
      const { PostgresStorage, migrate } = await import('tokentree/postgres')
      const { default: pg } = await import('pg')
      const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 4 })
      pool.on('error', () => undefined)
      try {
        await rounds(
          name,
          async (schema) => {
            await migrate(pool, { schema })
            return {
              storage: new PostgresStorage({ pool, schema }),
              cleanup: async () => {
                await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
              },
            }
          },
          storageName,
        )
      } finally {
        await pool.end()
      }
    }
  })
}

await define('Redis', 'redis', redisKind)
await define('Redis Cluster', 'redis-cluster', redisClusterKind)
await define('PostgreSQL', 'postgres', postgresKind)
