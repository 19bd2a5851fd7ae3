/**
 * PostgresStorage: the conformance suite against a real PostgreSQL, then what only a shared server can show.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, describe, test } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'

import pg from 'pg'

import { TokenStore, TokenStoreError } from '../../src/index.js'
import {
  PostgresStorage,
  SCHEMA_VERSION,
  migrate,
  schemaSql,
} from '../../src/storage/postgres/index.js'
import type { RevocationNotice } from '../../src/storage/storage.js'
import { runStorageConformance } from '../../src/testing/conformance.js'
import type { HashedTokenId, TokenRecord } from '../../src/types.js'
import { DATABASE_URL, skipReason, uniqueSuffix } from './helpers/services.js'
import { runSharedStorageTests } from './helpers/shared-storage-tests.js'

const skip = await skipReason('PostgreSQL', DATABASE_URL, 5432)
const SCHEMA = `tokentree_test_${uniqueSuffix()}`

if (skip !== null) {
  test('PostgresStorage', { skip }, () => undefined)
} else {
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 20 })
  pool.on('error', () => undefined)
  const schemas = new Set<string>()
  const prepare = async (label: string): Promise<string> => {
    const schema = `${SCHEMA}_${label}`
    await migrate(pool, { schema })
    schemas.add(schema)
    return schema
  }
  const { hostname, port } = new URL(DATABASE_URL)

  after(async () => {
    for (const schema of schemas) await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    await pool.end()
  })

  const conformance = await prepare('conformance')
  runStorageConformance(
    { test, describe },
    () => new PostgresStorage({ pool, schema: conformance }),
    { name: 'PostgresStorage conformance' },
  )

  runSharedStorageTests({
    name: 'postgres',
    addresses: [{ host: hostname, port: Number(port || 5432) }],
    namespace: prepare,
    storage: (schema) => new PostgresStorage({ pool, schema }),
    storageVia: (ports, schema) => {
      const url = new URL(DATABASE_URL)
      url.hostname = '127.0.0.1'
      url.port = String(ports[0])
      const viaProxy = new pg.Pool({
        connectionString: url.toString(),
        connectionTimeoutMillis: 1000,
        max: 4,
      })
      viaProxy.on('error', () => undefined)
      const storage = new PostgresStorage({ pool: viaProxy, schema })
      return {
        storage,
        close: async () => {
          await storage.close()
          await viaProxy.end()
        },
      }
    },
    countTokens: async (schema) => {
      const { rows } = await pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ${schema}.tokens`,
      )
      return rows[0]?.n ?? 0
    },
    dump: (schema) => dumpSchema(pool, schema),
    trimNotices: async (schema) => {
      await pool.query(`DELETE FROM ${schema}.notices`)
    },
    resetNotices: async (schema) => {
      await pool.query(`DELETE FROM ${schema}.notices`)
      await pool.query(`UPDATE ${schema}.notice_seq SET seq = 0`)
    },
  })

  describe('PostgresStorage', () => {
    test('migrate() is idempotent and safe to run concurrently', async () => {
      const schema = `${SCHEMA}_migrate`
      schemas.add(schema)
      await Promise.all([
        migrate(pool, { schema }),
        migrate(pool, { schema }),
        migrate(pool, { schema }),
      ])
      await migrate(pool, { schema })
      const { rows } = await pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = $1`,
        [schema],
      )
      // tokens, leases, roles, policies, notices, notice_seq, schema_version
      assert.equal(rows[0]?.n, 7)
      const version = await pool.query(`SELECT one, version FROM ${schema}.schema_version`)
      assert.deepEqual(version.rows, [{ one: true, version: SCHEMA_VERSION }])
    })

    test('a subscriber whose LISTEN connection drops catches up on what it missed', async () => {
      const schema = await prepare('reconnect')
      const a = new PostgresStorage({ pool, schema })
      const b = new PostgresStorage({ pool, schema, pollInterval: 60_000 })
      const received: RevocationNotice[] = []
      const stop = await b.subscribe((notice) => notice.kind !== 'policy' && received.push(notice))
      try {
        const records = await insertTokens(a, 5)
        await pool.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = $1`,
          [`LISTEN ${schema}_notices`],
        )
        for (const r of records) await a.deleteToken(r.id, 'explicit', 1)
        const deadline = Date.now() + 5000
        while (received.length < 5 && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 20))
        }
        assert.deepEqual(
          received.map((n) => n.accessor),
          records.map((r) => r.accessor),
        )
      } finally {
        await stop()
        await a.close()
        await b.close()
      }
    })

    test('orphanChildren sees an ancestor marked while it waited for a row lock', async () => {
      const schema = await prepare('orphan_race')
      const storage = new PostgresStorage({ pool, schema })
      const store = new TokenStore({ storage, timers: false, secret: 'x'.repeat(32) })
      const blocker = await pool.connect()
      try {
        const root = await store.createRoot()
        const p = await store.create({ parent: root.clientToken })
        const x = await store.create({ parent: p.clientToken })
        const c = await store.create({ parent: x.clientToken })
        const idOf = async (accessor: string): Promise<HashedTokenId> =>
          (await storage.getTokenByAccessor(accessor))?.id as HashedTokenId
        const pId = await idOf(p.accessor)
        const xId = await idOf(x.accessor)
        const cId = await idOf(c.accessor)
        // revokeOrphan(X) has marked X; its children stay usable until they become orphans.
        assert.equal((await storage.markRevoking(xId, 'orphan'))?.revoking, 'orphan')
        // Another transaction holds X: orphanChildren(X) takes its snapshot, then waits for X's row lock.
        await blocker.query('BEGIN')
        await blocker.query(`SELECT 1 FROM ${schema}.tokens WHERE id = $1 FOR UPDATE`, [xId])
        const orphaning = storage.orphanChildren(xId, Date.now())
        const deadline = Date.now() + 5000
        for (;;) {
          const { rows } = await pool.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM pg_stat_activity
             WHERE wait_event_type = 'Lock' AND query LIKE $1`,
            [`%${schema}.tokens%`],
          )
          if ((rows[0]?.n ?? 0) > 0) break
          assert.ok(Date.now() < deadline, 'orphanChildren never waited for the lock on X')
          await new Promise((resolve) => setTimeout(resolve, 10))
        }
        // revoke(P) marks P, after orphanChildren's snapshot: C is dead from now on.
        assert.equal((await storage.markRevoking(pId, 'explicit'))?.revoking, 'explicit')
        assert.equal(await storage.getLiveToken(cId, Date.now()), null)
        await blocker.query('COMMIT')
        assert.equal(await orphaning, null)
        assert.equal((await storage.getToken(cId))?.parent, xId)
        assert.equal(await storage.getLiveToken(cId, Date.now()), null)
        assert.equal(await store.lookup(c.clientToken), null)
        await store.revoke(p.clientToken)
        assert.equal(await storage.getToken(cId), null)
      } finally {
        await blocker.query('ROLLBACK').catch(() => undefined)
        blocker.release()
        await store.close()
        await storage.close()
      }
    })

    test('on a pool, sweepExpired deletes in one call, and skips a token an insert under it holds', async () => {
      const schema = await prepare('sweep_lock')
      const storage = new PostgresStorage({ pool, schema })
      const blocker = await pool.connect()
      try {
        const [lone, held] = await insertTokens(storage, 2, { expiresAt: 1000 })
        const ownIds = (tokens: readonly { id: HashedTokenId }[]): HashedTokenId[] =>
          tokens.map((t) => t.id).filter((id) => id === lone?.id || id === held?.id)
        // An insert of a child under `held` locks it FOR SHARE until it commits.
        await blocker.query('BEGIN')
        await blocker.query(`SELECT 1 FROM ${schema}.tokens WHERE id = $1 FOR SHARE`, [held?.id])
        const first = await storage.sweepExpired(2000, 100)
        // Deleted in this call: the lock taken before the statement's snapshot leaves no marking round.
        assert.deepEqual(ownIds(first.tokens), [lone?.id])
        assert.equal(first.tokens[0]?.revoking, null)
        assert.deepEqual(ownIds(first.marked), [])
        assert.equal((await storage.getToken(held?.id as HashedTokenId))?.revoking, null)
        // The child commits; the next sweep sees it and hands `held` over rather than deleting it.
        const [child] = await insertTokens(storage, 1, { parent: held?.id ?? null })
        await blocker.query('COMMIT')
        const second = await storage.sweepExpired(2000, 100)
        assert.deepEqual(ownIds(second.tokens), [])
        assert.deepEqual(ownIds(second.marked), [held?.id])
        assert.equal((await storage.getToken(child?.id as HashedTokenId))?.parent, held?.id)
      } finally {
        await blocker.query('ROLLBACK').catch(() => undefined)
        blocker.release()
        await storage.close()
      }
    })

    test('a failed subscribe gives its LISTEN connection back to the pool', async () => {
      const small = new pg.Pool({
        connectionString: DATABASE_URL,
        max: 2,
        connectionTimeoutMillis: 2000,
      })
      small.on('error', () => undefined)
      // Not migrated: reading the notice log fails (storage_misconfigured).
      const storage = new PostgresStorage({ pool: small, schema: `${SCHEMA}_unmigrated` })
      try {
        for (let attempt = 0; attempt < 4; attempt++) {
          await assert.rejects(
            storage.subscribe(() => undefined, attempt % 2 === 0 ? {} : { since: 0 }),
            (error: unknown) => {
              assert.ok(error instanceof TokenStoreError)
              assert.equal(error.code, 'storage_misconfigured')
              return true
            },
          )
        }
        const answered = small.query<{ one: number }>('SELECT 1 AS one')
        const timeout = delay(3000, undefined, { ref: false }).then(() => {
          throw new Error('the pool is exhausted')
        })
        assert.equal((await Promise.race([answered, timeout])).rows[0]?.one, 1)
        assert.equal(small.waitingCount, 0)
      } finally {
        await storage.close()
        // Bounded: a leaked connection would keep end() waiting.
        await Promise.race([small.end(), delay(1000, undefined, { ref: false })])
      }
    })

    test('backends terminated under load: calls fail with storage_unavailable, the process lives, then all works again', async () => {
      const schema = await prepare('terminated')
      const application = `tokentree-terminated-${uniqueSuffix()}`
      const busy = new pg.Pool({
        connectionString: DATABASE_URL,
        max: 6,
        application_name: application,
      })
      busy.on('error', () => undefined)
      const store = new TokenStore({
        storage: new PostgresStorage({ pool: busy, schema }),
        timers: false,
        secret: 'x'.repeat(32),
      })
      const uncaught: unknown[] = []
      const onUncaught = (error: unknown): void => {
        uncaught.push(error)
      }
      process.on('uncaughtException', onUncaught)
      try {
        const root = await store.createRoot()
        const failures = new Map<string, number>()
        let running = true
        const loops = Array.from({ length: 12 }, async () => {
          while (running) {
            try {
              const child = await store.create({ parent: root.clientToken })
              await store.authenticate(child.clientToken)
              await store.create({ parent: child.clientToken })
              await store.revoke(child.clientToken)
            } catch (error) {
              const code = error instanceof TokenStoreError ? error.code : String(error)
              failures.set(code, (failures.get(code) ?? 0) + 1)
            }
          }
        })
        // pg's pool listens for errors on idle connections only: before the storage gave each connection a
        // listener of its own, one of these terminations ended the process in six runs out of six.
        for (let round = 0; round < 8; round++) {
          await delay(150)
          await pool.query(
            'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1',
            [application],
          )
        }
        running = false
        // Without the listeners, a crashed connection's statement never settles: bounded, so the test fails.
        const settled = await Promise.race([
          Promise.all(loops).then(() => true),
          delay(15_000, false, { ref: false }),
        ])
        assert.deepEqual(uncaught, [])
        assert.equal(settled, true, 'calls still pending 15 s after the last termination')
        assert.deepEqual(
          [...failures.keys()].filter((code) => code !== 'storage_unavailable'),
          [],
        )
        const after = await store.create({ parent: root.clientToken, numUses: 2 })
        assert.equal((await store.authenticate(after.clientToken)).numUses, 1)
      } finally {
        process.off('uncaughtException', onUncaught)
        await Promise.race([
          Promise.all([store.close(), busy.end()]),
          delay(1000, undefined, { ref: false }),
        ])
      }
    })

    test('a value PostgreSQL cannot hold (NUL in a looked-up string) is invalid_request, not an outage', async () => {
      const storage = new PostgresStorage({ pool, schema: conformance })
      const store = new TokenStore({ storage, secret: randomBytes(32), timers: false })
      try {
        await rejectsCode(store.lookupAccessor('abc\u0000def'), 'invalid_request')
        await rejectsCode(store.lookupLease('aws/creds/\u0000x'), 'invalid_request')
        // What the store validates is refused before PostgreSQL, as on every storage.
        await rejectsCode(store.create({ metadata: { a: 'b\u0000' } }), 'invalid_request')
        await rejectsCode(store.create({ metadata: { a: 'b\ud800' } }), 'invalid_request')
        const holder = (await store.create({})).clientToken
        await rejectsCode(
          store.createLease(holder, { path: 'aws/creds/x', data: { u: '\udc00' } }),
          'invalid_request',
        )
        await rejectsCode(
          store.createLease(holder, { path: 'aws/creds/x', data: { ['k\u0000']: 1 } }),
          'invalid_request',
        )
        await rejectsCode(store.create({ numUses: 2 ** 31 }), 'invalid_request')
        assert.ok(await store.create({ numUses: 2 ** 31 - 1 }))
      } finally {
        await store.close()
      }
    })

    test('a server on the wrong port: storage_unavailable', async () => {
      const wrong = new pg.Pool({
        host: '127.0.0.1',
        port: 1,
        user: 'postgres',
        connectionTimeoutMillis: 500,
      })
      wrong.on('error', () => undefined)
      const storage = new PostgresStorage({ pool: wrong, schema: conformance })
      await assert.rejects(storage.getToken('x' as HashedTokenId), (error: unknown) => {
        assert.ok(error instanceof TokenStoreError)
        assert.equal(error.code, 'storage_unavailable')
        return true
      })
      await wrong.end()
      await assert.rejects(storage.ping(), { code: 'storage_unavailable' })
    })

    test('a schema migrate() never ran: storage_misconfigured (not retryable, HTTP 500) naming migrate()', async () => {
      const schema = `${SCHEMA}_nomigrate`
      const storage = new PostgresStorage({ pool, schema })
      const store = new TokenStore({ storage, timers: false, secret: 'x'.repeat(32) })
      store.on('error', () => undefined)
      try {
        for (const call of [
          () => store.create({ policies: ['x'] }),
          () => store.lookup('hvs.whatever'),
          () => store.ping(),
          () => store.ready(),
        ]) {
          await assert.rejects(call(), (error: unknown) => {
            assert.ok(error instanceof TokenStoreError)
            assert.equal(error.code, 'storage_misconfigured')
            assert.match(
              error.message,
              new RegExp(`migrate\\(pool, \\{ schema: '${schema}' \\}\\)`),
            )
            return true
          })
        }
      } finally {
        await store.close()
      }
    })

    test('schemaSql() applied by another tool gives a working schema at SCHEMA_VERSION; migrate() after is a no-op', async () => {
      const schema = `${SCHEMA}_own_tool`
      schemas.add(schema)
      const ddl = schemaSql({ schema })
      assert.match(ddl, new RegExp(`CREATE TABLE IF NOT EXISTS ${schema}\\.tokens`))
      assert.doesNotMatch(ddl, /\bBEGIN;|\bCOMMIT;/, 'the tool owns the transaction')
      const client = await pool.connect()
      try {
        await client.query('BEGIN')
        await client.query(ddl)
        await client.query('COMMIT')
      } finally {
        client.release()
      }
      const storage = new PostgresStorage({ pool, schema })
      await storage.ping()
      await migrate(pool, { schema })
      const { rows } = await pool.query(`SELECT version FROM ${schema}.schema_version`)
      assert.deepEqual(rows, [{ version: SCHEMA_VERSION }])
      assert.throws(() => schemaSql({ schema: 'Bad-Name' }), { code: 'invalid_request' })
    })

    test('migrate() upgrades a version-1 schema in place and refuses one of a newer version', async () => {
      const schema = await prepare('upgrade')
      const storage = new PostgresStorage({ pool, schema })
      const store = new TokenStore({ storage, timers: false, secret: 'x'.repeat(32) })
      store.on('error', () => undefined)
      const auth = await store.create({ policies: ['x'] })
      // Back to what version 1 created: no version table, no written_at.
      await pool.query(
        `DROP TABLE ${schema}.schema_version; ALTER TABLE ${schema}.notices DROP COLUMN written_at`,
      )
      await assert.rejects(storage.ping(), { code: 'storage_misconfigured' })
      const listener = new PostgresStorage({ pool, schema })
      await assert.rejects(
        listener.subscribe(() => undefined, { since: performance.now() }),
        { code: 'storage_misconfigured' },
      )
      // Tokens stay usable meanwhile.
      assert.ok(await store.lookup(auth.clientToken))
      await migrate(pool, { schema })
      await storage.ping()
      assert.ok(await store.lookup(auth.clientToken))
      const stop = await listener.subscribe(() => undefined, { since: performance.now() })
      await stop()

      await pool.query(`UPDATE ${schema}.schema_version SET version = ${SCHEMA_VERSION + 1}`)
      await assert.rejects(migrate(pool, { schema }), (error: unknown) => {
        assert.ok(error instanceof TokenStoreError)
        assert.equal(error.code, 'storage_misconfigured')
        assert.match(error.message, /newer version of tokentree/)
        return true
      })
      const { rows } = await pool.query(`SELECT version FROM ${schema}.schema_version`)
      assert.deepEqual(rows, [{ version: SCHEMA_VERSION + 1 }], 'left untouched')
      // The pool's connections are not left in an aborted transaction.
      await storage.ping()
      await store.close()
    })
  })
}

async function insertTokens(
  storage: PostgresStorage,
  count: number,
  overrides: Partial<TokenRecord> = {},
): Promise<TokenRecord[]> {
  const records: TokenRecord[] = Array.from({ length: count }, (_, i) => ({
    id: `hashed-${uniqueSuffix()}-${i}` as HashedTokenId,
    accessor: `acc-${uniqueSuffix()}`,
    parent: null,
    policies: [],
    path: 'auth/test',
    metadata: {},
    displayName: '',
    numUses: 0,
    creationTime: 0,
    creationTtl: 0,
    ttl: 0,
    expiresAt: null,
    explicitMaxTtl: 0,
    period: 0,
    renewable: false,
    lastRenewalTime: null,
    revoking: null,
    ...overrides,
  }))
  for (const r of records) assert.equal(await storage.insertToken(r), 'inserted')
  return records
}

/** Every row of the schema's tables, as text. */
async function dumpSchema(pool: pg.Pool, schema: string): Promise<string> {
  const parts: string[] = []
  for (const table of ['tokens', 'leases', 'roles', 'notices', 'notice_seq', 'schema_version']) {
    const { rows } = await pool.query<{ row: string }>(
      `SELECT t::text AS row FROM ${schema}.${table} t`,
    )
    parts.push(...rows.map((r) => r.row))
  }
  return parts.join('\n')
}

/** Asserts that `promise` rejects with a TokenStoreError of `code`. */
async function rejectsCode(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof TokenStoreError, String(error))
    assert.equal(error.code, code, error.message)
    return true
  })
}
