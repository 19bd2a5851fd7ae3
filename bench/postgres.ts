/**
 * PostgresStorage: `authenticate` against one `UPDATE … RETURNING` round trip on the same table (goal: within
 * 1.5×), and revoking a 10,000-token subtree (goal: under 2 s). Needs PostgreSQL at DATABASE_URL (default
 * postgres://postgres@127.0.0.1:5432/test); without it the rows say so.
 */
import { randomBytes } from 'node:crypto'

import pg from 'pg'

import { TokenStore } from '../src/index.js'
import { PostgresStorage, migrate } from '../src/storage/postgres/index.js'
import { measure, perOp, timeMs, type Row } from './harness.js'
import { buildSubtree, interleaved, SUBTREE_SIZE } from './subtree.js'

/** Where the PostgreSQL bench connects. */
export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
/** Tokens authenticated in turn. */
const TOKENS = 1000
/** Sequential operations per measured round. */
const OPS = 2000

/**
 * A pool on DATABASE_URL and a new, migrated schema named `<prefix>_<random>` for one bench run, or `null` (pool
 * closed) when PostgreSQL does not answer. The caller drops the schema and ends the pool.
 */
export async function openBenchSchema(
  prefix: string,
): Promise<{ pool: pg.Pool; schema: string } | null> {
  const schema = `${prefix}_${randomBytes(4).toString('hex')}`
  const pool = new pg.Pool({
    connectionString: DATABASE_URL,
    max: 10,
    connectionTimeoutMillis: 2000,
  })
  pool.on('error', () => undefined)
  try {
    await migrate(pool, { schema })
  } catch {
    await pool.end()
    return null
  }
  return { pool, schema }
}

/** Runs the PostgreSQL scenarios; resolves to their rows. */
export async function benchPostgres(): Promise<Row[]> {
  const opened = await openBenchSchema('tokentree_bench')
  if (opened === null) {
    return [skipped('postgres authenticate'), skipped('postgres revoke 10k subtree')]
  }
  const { pool, schema } = opened
  const storage = new PostgresStorage({ pool, schema })
  const store = new TokenStore({ storage, secret: randomBytes(32), timers: false })
  try {
    const root = await store.createRoot()
    const tokens: string[] = []
    for (let i = 0; i < TOKENS; i++) {
      tokens.push(
        (await store.create({ parent: root.clientToken, numUses: 1_000_000 })).clientToken,
      )
    }
    const ids = (await pool.query<{ id: string }>(`SELECT id FROM ${schema}.tokens`)).rows.map(
      (row) => row.id,
    )
    const update = `UPDATE ${schema}.tokens SET num_uses = num_uses - 1 WHERE id = $1 RETURNING num_uses`
    // Rounds alternate baseline and subject, so that load from elsewhere on the machine hits both alike.
    const { baseline, subject, ratio } = await interleaved(
      async () => {
        for (let i = 0; i < OPS; i++) await pool.query(update, [ids[i % ids.length]])
      },
      async () => {
        for (let i = 0; i < OPS; i++) await store.authenticate(tokens[i % TOKENS] ?? '')
      },
      OPS,
    )

    const revoke = await measure(
      async () => {
        const top = await buildSubtree(store)
        return timeMs(() => store.revoke(top))
      },
      { warmup: 0, rounds: 3 },
    )

    return [
      {
        scenario: 'postgres authenticate',
        subject: perOp(subject.median),
        baseline: `UPDATE … RETURNING: ${perOp(baseline.median)}`,
        ratio: `${ratio.toFixed(2)}×`,
        goal: '≤ 1.5×',
        met: ratio <= 1.5,
      },
      {
        scenario: `postgres revoke ${SUBTREE_SIZE.toLocaleString('en')}-token subtree`,
        subject: `${revoke.median.toFixed(0)} ms`,
        baseline: '-',
        ratio: '-',
        goal: '< 2000 ms',
        met: revoke.median < 2000,
      },
    ]
  } finally {
    await store.close()
    await storage.close()
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    await pool.end()
  }
}

function skipped(scenario: string): Row {
  return {
    scenario,
    subject: `skipped: no PostgreSQL at ${DATABASE_URL}`,
    baseline: '-',
    ratio: '-',
    goal: '-',
    met: true,
  }
}
