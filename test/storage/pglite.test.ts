/**
 * PostgresStorage on PGlite (PostgreSQL in-process, WebAssembly): the conformance suite tests the SQL on a machine
 * without a server. PGlite takes seconds to start, so the whole file shares one instance.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'

import { PGlite } from '@electric-sql/pglite'

import { TokenStore } from '../../src/index.js'
import { PostgresStorage, migrate } from '../../src/storage/postgres/index.js'
import { runStorageConformance } from '../../src/testing/conformance.js'

const db = await PGlite.create()
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
    // tokens, leases, roles, policies, notices, notice_seq
    assert.equal(rows[0]?.n, 6)
  })

  test('rows never contain a token id', async () => {
    const storage = new PostgresStorage({ pool: db, schema: 'adapter' })
    const store = new TokenStore({ storage, timers: false })
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
    const store = new TokenStore({ storage: a, timers: false })
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
})
