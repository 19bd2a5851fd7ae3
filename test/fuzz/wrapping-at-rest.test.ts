/**
 * Wrapped values at rest, on every adapter: while a value is held, everything the storage keeps (every Redis key and
 * value, every PostgreSQL or PGlite row of the store's schema, the memory record) holds its ciphertext, but neither
 * the value, nor the token inside it, nor the wrapping token; once unwrapped, revoked or expired, not even the
 * ciphertext is left. PGlite runs the PostgreSQL adapter's SQL unchanged, so the PostgreSQL case covers its rows;
 * the conformance suite checks on PGlite too that the ciphertext goes with the record.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, test } from 'node:test'

import type { Pool } from 'pg'
import { MemoryStorage, TokenStore, type Storage } from 'tokentree'

import { DATABASE_URL, REDIS_URL, redisKind } from '../model/storages.js'

const REQUIRE = process.env.TOKENTREE_REQUIRE_SERVICES === '1'

/** A storage, what it keeps at rest as text, and how to dispose of it. */
interface Subject {
  readonly storage: Storage
  readonly dump: () => Promise<string>
  readonly cleanup: () => Promise<void>
}

async function check(subject: Subject): Promise<void> {
  let now = Date.UTC(2030, 0, 1)
  const store = new TokenStore({
    storage: subject.storage,
    secret: randomBytes(32),
    clock: () => now,
    timers: false,
  })
  try {
    const root = await store.createRoot()
    const child = await store.create({ parent: root.clientToken, ttl: '1h' })
    const marker = `plaintext-${randomBytes(8).toString('hex')}`
    const value = { token: child.clientToken, note: marker }
    const encodings = (text: string): string[] => [
      text,
      Buffer.from(text).toString('base64'),
      Buffer.from(text).toString('base64url'),
      Buffer.from(text).toString('hex'),
    ]
    const unwrapped = await store.wrap(value, { ttl: 60 })
    const revoked = await store.wrap(value, { ttl: 60 })
    const expiring = await store.wrap(value, { ttl: 10 })
    const sealed = await Promise.all(
      [unwrapped, revoked, expiring].map(async (info) => {
        const record = await subject.storage.getTokenByAccessor(info.accessor)
        assert.ok(record?.wrapped)
        return record.wrapped
      }),
    )
    const held = await subject.dump()
    for (const ciphertext of sealed) assert.ok(held.includes(ciphertext), 'the scan sees records')
    for (const secret of [marker, child.clientToken, unwrapped.token, revoked.token]) {
      for (const form of encodings(secret)) {
        assert.ok(!held.includes(form), 'a secret is readable at rest')
      }
    }

    assert.deepEqual(await store.unwrap(unwrapped.token), value)
    await store.revoke(revoked.token)
    now += 10_000
    assert.equal(await store.revokeExpired(), 1)
    const left = await subject.dump()
    for (const ciphertext of sealed)
      assert.ok(!left.includes(ciphertext), 'a ciphertext outlived its token')
    process.stdout.write(`# wrapped values at rest: ${held.length} characters scanned\n`)
  } finally {
    await store.close()
    await subject.cleanup()
  }
}

test('wrapped values at rest: memory', async () => {
  const storage = new MemoryStorage()
  const accessors: string[] = []
  const recording: Storage = new Proxy(storage, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver)
      if (property !== 'insertToken' || typeof value !== 'function') {
        return typeof value === 'function'
          ? (value as (...args: unknown[]) => unknown).bind(target)
          : value
      }
      return (record: { accessor: string }, ...rest: unknown[]) => {
        accessors.push(record.accessor)
        return (value as (...args: unknown[]) => unknown).call(target, record, ...rest)
      }
    },
  })
  await check({
    storage: recording,
    dump: async () => {
      const records = await Promise.all(accessors.map((a) => storage.getTokenByAccessor(a)))
      return JSON.stringify(records)
    },
    cleanup: () => Promise.resolve(),
  })
})

const redis = await redisKind()
if ('skip' in redis) {
  test('wrapped values at rest: Redis', { skip: redis.skip }, () => undefined)
} else {
  after(() => redis.kind.close())
  test('wrapped values at rest: Redis', async () => {
    const fresh = await redis.kind.make()
    const prefix = (fresh.storage as unknown as { keyPrefix: string }).keyPrefix
    const { Redis } = await import('ioredis')
    const client = new Redis(REDIS_URL)
    try {
      await check({
        storage: fresh.storage,
        dump: async () => {
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
              else if (type === 'zset')
                parts.push(JSON.stringify(await client.zrange(key, '0', '-1')))
              else if (type === 'list')
                parts.push(JSON.stringify(await client.lrange(key, '0', '-1')))
              else if (type === 'stream')
                parts.push(JSON.stringify(await client.xrange(key, '-', '+')))
            }
          } while (cursor !== '0')
          return parts.join('\n')
        },
        cleanup: fresh.cleanup,
      })
    } finally {
      await client.quit()
    }
  })
}

async function sqlSubject(db: Pool, label: string): Promise<Subject> {
  const { PostgresStorage, migrate } = await import('tokentree/postgres')
  const schema = `tokentree_wrap_${randomBytes(5).toString('hex')}`
  await migrate(db, { schema })
  const storage = new PostgresStorage({ pool: db, schema })
  return {
    storage,
    dump: async () => {
      const { rows } = await db.query(
        `SELECT table_name FROM information_schema.tables WHERE table_schema = '${schema}'`,
      )
      assert.ok(rows.length > 0, `${label}: no tables found`)
      const parts: string[] = []
      for (const row of rows as Array<{ table_name: string }>) {
        const result = await db.query(
          `SELECT row_to_json(t)::text AS j FROM "${schema}"."${row.table_name}" t`,
        )
        for (const item of result.rows as Array<{ j: string }>) parts.push(item.j)
      }
      return parts.join('\n')
    },
    cleanup: async () => {
      await storage.close()
      await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    },
  }
}

test('wrapped values at rest: PostgreSQL', async (t) => {
  const { default: pg } = await import('pg')
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 2 })
  pool.on('error', () => undefined)
  try {
    try {
      await pool.query('SELECT 1')
    } catch (error) {
      if (REQUIRE) throw error
      t.skip(`PostgreSQL not reachable at ${DATABASE_URL}`)
      return
    }
    await check(await sqlSubject(pool, 'PostgreSQL'))
  } finally {
    await pool.end()
  }
})
