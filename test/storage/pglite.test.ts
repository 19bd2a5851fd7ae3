/**
 * PostgresStorage on PGlite (PostgreSQL in-process, WebAssembly): the conformance suite tests the SQL on a machine
 * without a server. PGlite takes seconds to start, so the whole file shares one instance.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'

import { PGlite } from '@electric-sql/pglite'

import { TokenStore, TokenStoreError, type RevokedEvent } from '../../src/index.js'
import { PostgresStorage, SCHEMA_VERSION, migrate } from '../../src/storage/postgres/index.js'
import { runStorageConformance } from '../../src/testing/conformance.js'

const db = await PGlite.create()

/** HMAC secret of the stores in this file: PGlite is storage that outlives a store, so it needs one. */
const SECRET = 'pglite test secret of at least 32 bytes'
await migrate(db, { schema: 'conformance' })

after(async () => {
  await db.close()
})

runStorageConformance(
  { test, describe },
  () => new PostgresStorage({ pool: db, schema: 'conformance' }),
  {
    name: 'PostgresStorage on PGlite: conformance',
  },
)

describe('PostgresStorage on PGlite', () => {
  before(async () => {
    await migrate(db, { schema: 'adapter' })
  })

  test('migrate() is idempotent', async () => {
    await migrate(db, { schema: 'adapter' })
    await migrate(db, { schema: 'adapter' })
    const { rows } = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'adapter'`,
    )
    // tokens, leases, roles, policies, notices, notice_seq, schema_version
    assert.equal(rows[0]?.n, 7)
  })

  test('rows never contain a token id', async () => {
    const storage = new PostgresStorage({ pool: db, schema: 'adapter' })
    const store = new TokenStore({ storage, secret: SECRET, timers: false })
    const root = await store.createRoot()
    const child = await store.create({ parent: root.clientToken, numUses: 2 })
    await store.authenticate(child.clientToken)
    await store.createLease(root.clientToken, { path: 'aws/creds/x', data: { id: 1 } })
    const gone = await store.create({ parent: root.clientToken })
    await store.revoke(gone.clientToken)
    const parts: string[] = []
    for (const table of ['tokens', 'leases', 'notices', 'notice_seq']) {
      const { rows } = await db.query<{ row: string }>(
        `SELECT t::text AS row FROM adapter.${table} t`,
      )
      parts.push(...rows.map((r) => r.row))
    }
    const text = parts.join('\n')
    assert.ok(text.includes(child.accessor))
    for (const auth of [root, child, gone]) assert.ok(!text.includes(auth.clientToken))
    await store.close()
    await storage.close()
  })

  test('a second instance on the same PGlite receives notices through listen()', async () => {
    const a = new PostgresStorage({ pool: db, schema: 'adapter', pollInterval: 60_000 })
    const b = new PostgresStorage({ pool: db, schema: 'adapter', pollInterval: 60_000 })
    const store = new TokenStore({ storage: a, secret: SECRET, timers: false })
    const accessors: string[] = []
    const stop = await b.subscribe(
      (notice) => notice.kind !== 'policy' && accessors.push(notice.accessor),
    )
    const auth = await store.createRoot()
    await store.revoke(auth.clientToken)
    const deadline = Date.now() + 5000
    while (accessors.length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    assert.deepEqual(accessors, [auth.accessor])
    await stop()
    await store.close()
  })

  test('a store whose database answers late still receives a revocation made right after its construction', async () => {
    let open: () => void = () => undefined
    const gate = new Promise<void>((resolve) => {
      open = resolve
    })
    // The new instance's database: the same PGlite, answering only once the gate opens (a slow first connection).
    const late = {
      query: async (text: string, params?: unknown[]) => {
        await gate
        return db.query(text, params)
      },
      listen: async (channel: string, callback: (payload: string) => void) => {
        await gate
        return db.listen(channel, callback)
      },
    }
    const a = new TokenStore({
      storage: new PostgresStorage({ pool: db, schema: 'adapter' }),
      secret: SECRET,
      timers: false,
    })
    const auth = await a.create({ policies: ['x'] })
    const b = new TokenStore({
      storage: new PostgresStorage({ pool: late, schema: 'adapter' }),
      secret: SECRET,
      timers: false,
    })
    const events: RevokedEvent[] = []
    b.on('revoked', (event) => events.push(event))
    await a.revoke(auth.clientToken)
    open()
    await b.ready()
    const deadline = Date.now() + 5000
    const count = (): number => events.filter((e) => e.accessor === auth.accessor).length
    while (count() === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    await new Promise((resolve) => setTimeout(resolve, 30))
    // Exactly once (revocations of the tests before, within NOTICE_START_MARGIN, may come too).
    assert.equal(count(), 1)
    await b.close()
    await a.close()
  })

  test('a schema migrate() never ran: storage_misconfigured naming migrate(); migrate() records the version', async () => {
    const storage = new PostgresStorage({ pool: db, schema: 'never_migrated' })
    const store = new TokenStore({ storage, secret: SECRET, timers: false })
    store.on('error', () => undefined)
    for (const call of [
      () => store.create({ policies: ['x'] }),
      () => store.ping(),
      () => store.ready(),
    ]) {
      await assert.rejects(call(), (error: unknown) => {
        assert.ok(error instanceof TokenStoreError)
        assert.equal(error.code, 'storage_misconfigured')
        assert.match(error.message, /migrate\(pool, \{ schema: 'never_migrated' \}\)/)
        return true
      })
    }
    await migrate(db, { schema: 'never_migrated' })
    await store.ping()
    await store.ready()
    const { rows } = await db.query<{ version: number }>(
      'SELECT version FROM never_migrated.schema_version',
    )
    assert.deepEqual(rows, [{ version: SCHEMA_VERSION }])
    await store.close()
  })
})
