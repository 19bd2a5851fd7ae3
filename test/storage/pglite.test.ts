/**
 * PostgresStorage on PGlite (PostgreSQL in-process, WebAssembly): the conformance suite tests the SQL on a machine
 * without a server. PGlite takes seconds to start, so the whole file shares one instance.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'

import { PGlite } from '@electric-sql/pglite'

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
    assert.equal(rows[0]?.n, 4)
  })
})
