/**
 * A child process holding its own TokenStore on a shared storage, driven by the multi-process tests: one JSON
 * command per stdin line, one JSON reply per stdout line. Environment: TT_BACKEND (`redis` | `redis-cluster` | `postgres`),
 * TT_NAMESPACE (key prefix or schema), TT_SECRET (hex HMAC secret shared with the test) or TT_SECRETS (a
 * comma-separated list of hex secrets, current first, for rotation tests), REDIS_URL, REDIS_CLUSTER_URL, DATABASE_URL.
 */
import { createInterface } from 'node:readline'

import pg from 'pg'

import { TokenStore, TokenStoreError, type CreateTokenOptions } from '../../../src/index.js'
import { PostgresStorage } from '../../../src/storage/postgres/index.js'
import { RedisStorage } from '../../../src/storage/redis/index.js'
import type { Storage } from '../../../src/storage/storage.js'
import { newCluster } from './cluster.js'
import { DATABASE_URL, REDIS_URL } from './services.js'

/** A command from the test. */
export type WorkerCommand =
  | { op: 'authenticate'; token: string; count: number }
  | { op: 'usable'; tokens: string[] }
  | { op: 'revoke'; token: string }
  /** Replaces the follower (a fresh storage and TokenStore recording `revoked` accessors); answers at once. */
  | { op: 'open' }
  /** Waits (up to `timeout` ms) until the follower saw every accessor, then a moment more; answers the counts. */
  | { op: 'seen'; accessors: string[]; timeout: number }
  | { op: 'createRoot' }
  | { op: 'create'; options: CreateTokenOptions }
  | { op: 'lookup'; tokens: string[] }
  | { op: 'renew'; token: string }
  | { op: 'authorize'; token: string; path: string }

const namespace = process.env.TT_NAMESPACE ?? ''
const secret =
  process.env.TT_SECRETS === undefined
    ? Buffer.from(process.env.TT_SECRET ?? '', 'hex')
    : process.env.TT_SECRETS.split(',').map((hex) => Buffer.from(hex, 'hex'))
let pool: pg.Pool | null = null
const cluster = process.env.TT_BACKEND === 'redis-cluster' ? newCluster() : null
if (process.env.TT_BACKEND === 'postgres') {
  pool = new pg.Pool({ connectionString: DATABASE_URL, max: 10 })
  pool.on('error', () => undefined)
}
/** `TT_REVOCATION_BATCH`: `RedisStorage`'s `revocationBatchSize`, for a test that needs a revocation to take longer. */
const redisBatch =
  process.env.TT_REVOCATION_BATCH === undefined
    ? {}
    : { revocationBatchSize: Number(process.env.TT_REVOCATION_BATCH) }
const newStorage = (): Storage =>
  pool !== null
    ? new PostgresStorage({ pool, schema: namespace })
    : cluster !== null
      ? new RedisStorage({ client: cluster, keyPrefix: namespace, ...redisBatch })
      : new RedisStorage({ connection: REDIS_URL, keyPrefix: namespace, ...redisBatch })
const storage = newStorage()
const store = new TokenStore({ storage, secret, timers: false })

/** The store of the `open` command, and how often it saw each accessor revoked. */
let follower: { store: TokenStore; storage: Storage; seen: Map<string, number> } | null = null

async function closeFollower(): Promise<void> {
  if (follower === null) return
  await follower.store.close()
  await follower.storage.close?.()
  follower = null
}

/** Resolves after `ms` milliseconds. */
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

async function run(command: WorkerCommand): Promise<unknown> {
  switch (command.op) {
    case 'authenticate': {
      const outcomes = await Promise.all(
        Array.from({ length: command.count }, () =>
          store.authenticate(command.token).then(
            () => 'ok',
            (error: unknown) => (error instanceof TokenStoreError ? error.code : 'crash'),
          ),
        ),
      )
      const counts: Record<string, number> = {}
      for (const outcome of outcomes) counts[outcome] = (counts[outcome] ?? 0) + 1
      return counts
    }
    case 'usable': {
      // A token counts as usable if either check lets it through.
      const usable = await Promise.all(
        command.tokens.map(async (token) => {
          const info = await store.lookup(token)
          const used = await store.authenticate(token).then(
            () => true,
            () => false,
          )
          return info !== null || used
        }),
      )
      return usable.filter(Boolean).length
    }
    case 'revoke':
      await store.revoke(command.token)
      return 'done'
    case 'open': {
      await closeFollower()
      const followerStorage = newStorage()
      const seen = new Map<string, number>()
      const followerStore = new TokenStore({ storage: followerStorage, secret, timers: false })
      followerStore.on('revoked', (event) =>
        seen.set(event.accessor, (seen.get(event.accessor) ?? 0) + 1),
      )
      follower = { store: followerStore, storage: followerStorage, seen }
      return 'open'
    }
    case 'seen': {
      const current = follower
      if (current === null) throw new Error('no follower: send open first')
      const deadline = Date.now() + command.timeout
      while (command.accessors.some((a) => !current.seen.has(a)) && Date.now() < deadline) {
        await sleep(5)
      }
      // A duplicate would follow at once: give it the chance.
      await sleep(50)
      return Object.fromEntries(command.accessors.map((a) => [a, current.seen.get(a) ?? 0]))
    }
    case 'createRoot':
      return (await store.createRoot()).clientToken
    case 'create':
      return (await store.create(command.options)).clientToken
    case 'lookup':
      // Which of the tokens this process finds live, without using a use.
      return Promise.all(command.tokens.map(async (token) => (await store.lookup(token)) !== null))
    case 'renew':
      return (await store.renew(command.token)).leaseDuration
    case 'authorize':
      // `ok`, or the refusal's code: whether this process's compiled policies allow a read.
      return store.authorize(command.token, { path: command.path, operation: 'read' }).then(
        () => 'ok',
        (error: unknown) => (error instanceof TokenStoreError ? error.code : 'crash'),
      )
  }
}

const lines = createInterface({ input: process.stdin })
lines.on('line', (line) => {
  const command = JSON.parse(line) as WorkerCommand
  run(command).then(
    (result) => process.stdout.write(`${JSON.stringify({ result })}\n`),
    (error: unknown) => process.stdout.write(`${JSON.stringify({ error: String(error) })}\n`),
  )
})
lines.on('close', () => {
  void (async () => {
    await closeFollower()
    await store.close()
    await storage.close?.()
    await pool?.end()
    await cluster?.quit()
  })()
})
process.stdout.write(`${JSON.stringify({ ready: true })}\n`)
