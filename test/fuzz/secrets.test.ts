/**
 * Secrets. What is checked:
 *
 * 1. No token id, and no HMAC of one (the hashed id storage keys on), appears in any `audit`, `revoked` or
 *    `error` event, in any error message, stack or `cause` chain (including storage failures and listener
 *    failures), in any `console` call or process warning, during a run of every operation, good and bad.
 * 2. Keyed hashes at rest: no stored token or lease record (memory, and every Redis key and value and every
 *    PostgreSQL row when those adapters run) contains a raw token id.
 * 3. Token ids are compared through a hash lookup, never as strings: no raw token id ever reaches a storage
 *    method (every argument of every storage call is recorded), so the only comparison is the storage's lookup
 *    of the HMAC; a token differing from a real one in its last character finds nothing.
 */
import assert from 'node:assert/strict'
import { after, test } from 'node:test'

import { MemoryStorage, TokenStore, type HashedTokenId, type Storage } from 'tokentree'
import { ManualClock } from 'tokentree/testing'

import { FaultyStorage } from '../faults/fault-storage.js'
import { DATABASE_URL, postgresKind, REDIS_URL, redisKind, type Fresh } from '../model/storages.js'

/** Records the arguments of every storage call. */
function recordingStorage(inner: Storage, args: unknown[]): Storage {
  return new Proxy(inner, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver)
      if (typeof value !== 'function') return value
      const fn = value as (...a: unknown[]) => unknown
      return (...a: unknown[]) => {
        args.push(...a)
        return fn.apply(target, a)
      }
    },
  })
}

function text(value: unknown, seen = new Set<unknown>()): string {
  if (value instanceof Error) {
    if (seen.has(value)) return ''
    seen.add(value)
    return `${value.message}\n${value.stack ?? ''}\n${text(value.cause, seen)}\n${JSON.stringify(Object.entries(value))}`
  }
  try {
    // JSON.stringify returns undefined for undefined and functions, although typed `string`.
    const json = JSON.stringify(value) as unknown
    return typeof json === 'string' ? json : String(value)
  } catch {
    return String(value)
  }
}

/** The storage arguments of the run in progress, for scans midway. */
let run0Args: unknown[] = []

interface Run {
  ids: string[]
  hashes: string[]
  said: string[]
  storageArgs: unknown[]
  storage: Storage
}

/** Every operation, good and bad, with storage failures and a throwing listener. */
/* eslint-disable no-console, @typescript-eslint/unbound-method -- the run replaces console's methods to capture
   whatever the store prints, and puts them back */
async function exercise(inner: Storage, midway?: () => Promise<void>): Promise<Run> {
  const said: string[] = []
  const storageArgs: unknown[] = []
  run0Args = storageArgs
  const faulty = new FaultyStorage(recordingStorage(inner, storageArgs))
  const clock = new ManualClock()
  const store = new TokenStore({
    storage: faulty.storage,
    secret: 'fuzz test secret of at least 32 bytes',
    clock: clock.now,
    timers: clock,
  })
  const consoleMethods = ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const
  const saved = consoleMethods.map((m) => [m, console[m]] as const)
  for (const m of consoleMethods)
    console[m] = (...a: unknown[]) => said.push(a.map((x) => text(x)).join(' '))
  const onWarning = (warning: Error): void => {
    said.push(text(warning))
  }
  process.on('warning', onWarning)
  store.on('audit', (e) => said.push(text(e)))
  store.on('revoked', (e) => said.push(text(e)))
  store.on('error', (e) => said.push(text(e)))
  const attempt = async (p: Promise<unknown>): Promise<void> => {
    // Results are the caller's (lookup returns the id it was given); errors are what leaks into logs.
    try {
      await p
    } catch (error) {
      said.push(text(error))
    }
  }
  const ids: string[] = []
  try {
    const root = await store.createRoot()
    const a = await store.create({ parent: root.clientToken, policies: ['a'], ttl: '1h' })
    const b = await store.create({ parent: a.clientToken, numUses: 1 })
    const c = await store.create({ parent: root.clientToken, id: 'custom-secret-id-123456' })
    const d = await store.create({ ttl: 60 })
    ids.push(root.clientToken, a.clientToken, b.clientToken, c.clientToken, d.clientToken)
    const { leaseId } = await store.createLease(a.clientToken, {
      path: 'aws/creds/x',
      data: { k: 1 },
    })
    await midway?.()
    const near = (t: string): string => t.slice(0, -1) + (t.endsWith('A') ? 'B' : 'A')
    for (const t of ids) {
      await attempt(store.lookup(near(t)))
      await attempt(store.authenticate(near(t)))
      await attempt(store.renew(near(t)))
      await attempt(store.create({ parent: near(t) }))
      await attempt(store.createLease(near(t), { path: 'aws/x' }))
      await attempt(store.lookup(t))
    }
    await attempt(store.create({ parent: a.clientToken, policies: ['root'] }))
    await attempt(store.create({ parent: root.clientToken, id: 'custom-secret-id-123456' }))
    await attempt(store.renew(root.clientToken))
    await attempt(store.authenticate(b.clientToken))
    await attempt(store.authenticate(b.clientToken))
    // A listener that throws: its error goes to `error`.
    const bad = (): never => {
      throw new Error('listener failed')
    }
    store.on('revoked', bad)
    // Storage failures at every call of a revoke, then its retry.
    for (let k = 1; k <= 6; k++) {
      faulty.arm(k, 'fail')
      await attempt(store.revoke(c.clientToken))
      await attempt(store.renew(a.clientToken, 60))
      faulty.disarm()
    }
    store.off('revoked', bad)
    await attempt(store.revoke(c.clientToken))
    await clock.advance(120)
    await attempt(store.revokePrefix('auth/token'))
    await attempt(store.revokeLease(leaseId))
    await attempt(store.tidy())
  } finally {
    for (const [m, fn] of saved) console[m] = fn
    process.off('warning', onWarning)
    await store.close()
  }
  const hashes: string[] = []
  for (const entry of storageArgs) {
    if (typeof entry === 'object' && entry !== null && 'id' in entry && 'policies' in entry) {
      hashes.push(String((entry as { id: unknown }).id))
    }
  }
  return { ids, hashes: [...new Set(hashes)], said, storageArgs, storage: inner }
}
/* eslint-enable no-console, @typescript-eslint/unbound-method */

function assertNoSecrets(run: Run): void {
  const everything = run.said.join('\n')
  for (const id of run.ids)
    assert.ok(!everything.includes(id), `a token id appeared in events, errors or console output`)
  assert.ok(run.hashes.length >= run.ids.length, 'the hashed ids were not observed')
  for (const hash of run.hashes) {
    const where = run.said.find((entry) => entry.includes(hash))
    assert.equal(
      where,
      undefined,
      `a hashed token id appeared in events, errors or output: ${String(where).slice(0, 3000)}`,
    )
  }
  // 3: raw ids never reach storage; everything storage sees is a hash.
  const args = text(run.storageArgs)
  for (const id of run.ids) {
    assert.ok(!args.includes(id), 'a raw token id was passed to storage')
    assert.ok(!run.hashes.includes(id), 'a hashed id equals a raw id')
  }
}

test('secrets: no token id or HMAC in events, errors, stacks or console output; storage sees only hashes (memory)', async () => {
  const memory = new MemoryStorage()
  let atRest = ''
  const run = await exercise(memory, async () => {
    // Every stored record reachable from what storage was handed (hashes, accessors, lease ids).
    for (const arg of new Set(run0Args)) {
      if (typeof arg !== 'string') continue
      atRest += JSON.stringify([
        await memory.getToken(arg as HashedTokenId),
        await memory.getTokenByAccessor(arg),
        await memory.getLease(arg),
      ])
    }
  })
  assertNoSecrets(run)
  assert.ok(atRest.includes('"policies"'), 'no record was scanned')
  for (const id of run.ids) assert.ok(!atRest.includes(id), 'a raw token id is stored in memory')
  assert.ok(run.said.length > 50, 'the run said too little to be a check')
  process.stdout.write(
    `# secrets: ${run.said.length} events, errors and outputs scanned for ${run.ids.length} token ids and ${run.hashes.length} hashes\n`,
  )
})

async function onAdapter(name: string, fresh: Fresh, dump: () => Promise<string>): Promise<void> {
  try {
    let atRest = ''
    const run = await exercise(fresh.storage, async () => {
      atRest = await dump()
    })
    assertNoSecrets(run)
    assert.ok(atRest.length > 0, `${name}: nothing found at rest to scan`)
    for (const id of run.ids) assert.ok(!atRest.includes(id), `${name}: a raw token id is stored`)
    process.stdout.write(
      `# secrets at rest on ${name}: ${atRest.length} characters of keys/values scanned while every token was live\n`,
    )
  } finally {
    await fresh.cleanup()
  }
}

const redis = await redisKind()
if ('skip' in redis) {
  test(
    'secrets at rest: Redis keys and values hold no raw token id',
    { skip: redis.skip },
    () => undefined,
  )
} else {
  after(() => redis.kind.close())
  test('secrets at rest: Redis keys and values hold no raw token id', async () => {
    const fresh = await redis.kind.make()
    const { Redis } = await import('ioredis')
    const prefix = (fresh.storage as unknown as { keyPrefix: string }).keyPrefix
    await onAdapter('Redis', fresh, async () => {
      const client = new Redis(REDIS_URL)
      const parts: string[] = []
      let cursor = '0'
      do {
        const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
        cursor = next
        for (const key of keys) {
          parts.push(key)
          const type = await client.type(key)
          if (type === 'string') parts.push(String(await client.get(key)))
          else if (type === 'hash') parts.push(JSON.stringify(await client.hgetall(key)))
          else if (type === 'set') parts.push(JSON.stringify(await client.smembers(key)))
          else if (type === 'zset') parts.push(JSON.stringify(await client.zrange(key, '0', '-1')))
          else if (type === 'list') parts.push(JSON.stringify(await client.lrange(key, '0', '-1')))
          else if (type === 'stream') parts.push(JSON.stringify(await client.xrange(key, '-', '+')))
        }
      } while (cursor !== '0')
      await client.quit()
      return parts.join('\n')
    })
  })
}

const postgres = await postgresKind()
if ('skip' in postgres) {
  test(
    'secrets at rest: PostgreSQL rows hold no raw token id',
    { skip: postgres.skip },
    () => undefined,
  )
} else {
  after(() => postgres.kind.close())
  test('secrets at rest: PostgreSQL rows hold no raw token id', async () => {
    const fresh = await postgres.kind.make()
    const { default: pg } = await import('pg')
    await onAdapter('PostgreSQL', fresh, async () => {
      const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 1 })
      try {
        const { rows: tables } = await pool.query<{ table_schema: string; table_name: string }>(
          `SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema LIKE 'tokentree_model_%'`,
        )
        const parts: string[] = []
        for (const { table_schema, table_name } of tables) {
          const { rows } = await pool.query(
            `SELECT row_to_json(t)::text AS j FROM "${table_schema}"."${table_name}" t`,
          )
          for (const row of rows as Array<{ j: string }>) parts.push(row.j)
        }
        return parts.join('\n')
      } finally {
        await pool.end()
      }
    })
  })
}
