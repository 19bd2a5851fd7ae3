/**
 * PostgresStorage: the conformance suite against a real PostgreSQL, then what only a shared server can show.
 */
import { after, describe, test } from 'node:test'

import pg from 'pg'

import { PostgresStorage, migrate } from '../../src/storage/postgres/index.js'
import { runStorageConformance } from '../../src/testing/conformance.js'
import { DATABASE_URL, skipReason, uniqueSuffix } from './helpers/services.js'

const skip = await skipReason('PostgreSQL', DATABASE_URL, 5432)
const SCHEMA = `tokentree_test_${uniqueSuffix()}`

if (skip !== null) {
  test('PostgresStorage', { skip }, () => undefined)
} else {
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 20 })
  pool.on('error', () => undefined)
  await migrate(pool, { schema: SCHEMA })

  after(async () => {
    await pool.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`)
    await pool.end()
  })

  runStorageConformance({ test, describe }, () => new PostgresStorage({ pool, schema: SCHEMA }), {
    name: 'PostgresStorage conformance',
  })
}
