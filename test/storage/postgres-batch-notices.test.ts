/**
 * PostgresStorage's batch notices and resumable sweep: a deleteSubtree or sweepExpired call logs the notices of its
 * whole batch as one row, which subscriptions read one by one, exactly once, as if each had its own row; and a
 * sweep resumes after the key where its last batch stopped, yet says `done` only after a pass from the start.
 */
import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'

import pg from 'pg'

import { PostgresStorage, SCHEMA_VERSION, migrate } from '../../src/storage/postgres/index.js'
import { deletedFields } from '../../src/testing/deleted-token.js'
import type { RevokeReason, TokenRecord } from '../../src/types.js'
import {
  deleteSubtreeInBatches,
  Inbox,
  parentLeaseNotice,
  plantMarkedFamily,
  token,
} from './helpers/batch-notices.js'
import { DATABASE_URL, skipReason, uniqueSuffix } from './helpers/services.js'

const skip = await skipReason('PostgreSQL', DATABASE_URL, 5432)
const SCHEMA = `tokentree_batch_${uniqueSuffix()}`

if (skip !== null) {
  test('PostgresStorage batch notices', { skip }, () => undefined)
} else {
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 10 })
  pool.on('error', () => undefined)
  const schemas = new Set<string>()
  const prepare = async (label: string): Promise<string> => {
    const schema = `${SCHEMA}_${label}`
    schemas.add(schema)
    await migrate(pool, { schema })
    return schema
  }
  const head = async (schema: string): Promise<number> =>
    Number((await pool.query<{ seq: string }>(`SELECT seq FROM ${schema}.notice_seq`)).rows[0]?.seq)
  const rowCount = async (schema: string): Promise<number> =>
    Number(
      (await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${schema}.notices`)).rows[0]?.n,
    )

  after(async () => {
    for (const schema of schemas) await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    await pool.end()
  })

  describe('PostgresStorage batch notices', () => {
    test('deleteSubtree(): one row per batch; another storage is told of each token and lease once, in order', async () => {
      const schema = await prepare('subtree')
      const a = new PostgresStorage({ pool, schema })
      const b = new PostgresStorage({ pool, schema })
      const inbox = new Inbox()
      const stop = await b.subscribe(inbox.add, { onGap: inbox.gap })
      try {
        const { top, children, grandchild, leaseRecord } = await plantMarkedFamily(a)
        const rowsBefore = await rowCount(schema)
        const headBefore = await head(schema)

        const { calls, expected } = await deleteSubtreeInBatches(a, top, 2)
        assert.equal(calls, 3, '5 tokens, 2 a call')
        assert.equal(await rowCount(schema), rowsBefore + calls, 'one row per batch')
        assert.equal(await head(schema), headBefore + 6, 'numbered per notice')
        const { rows } = await pool.query<{ n: number }>(
          `SELECT n FROM ${schema}.notices WHERE seq > $1 ORDER BY seq`,
          [headBefore],
        )
        assert.equal(
          rows.reduce((sum, row) => sum + row.n, 0),
          6,
        )
        assert.ok(
          expected.includes(`token ${(children[2] as TokenRecord).accessor} uses_exhausted`),
        )
        assert.ok(expected.includes(`lease ${leaseRecord.id} parent`))

        assert.deepEqual(await inbox.waitFor(6), expected)
        // Nothing comes twice, and every notice carries the batch's time.
        await new Promise((resolve) => setTimeout(resolve, 100))
        assert.deepEqual(inbox.texts(), expected)
        assert.ok(inbox.notices.every((n) => n.time === 7))
        assert.deepEqual(
          inbox.notices.find((n) => n.kind === 'lease'),
          parentLeaseNotice(leaseRecord),
        )
        assert.deepEqual(
          inbox.notices.find((n) => n.kind === 'token'),
          {
            kind: 'token',
            accessor: grandchild.accessor,
            path: 'auth/test',
            reason: 'parent',
            time: 7,
          },
        )
        assert.deepEqual(inbox.gaps, [])
      } finally {
        await stop()
        await a.close()
        await b.close()
      }
    })

    test('batches larger than a read: every notice once, in order; resumed inside a batch, only the rest', async () => {
      const schema = await prepare('large')
      const a = new PostgresStorage({ pool, schema })
      const b = new PostgresStorage({ pool, schema })
      const start = await head(schema)
      await insertMany(pool, schema, 1200, 100)
      const swept: string[] = []
      for (let done = false; !done;) {
        const batch = await a.sweepExpired(200, 500)
        swept.push(...batch.tokens.map((t) => `token ${t.accessor} expired`))
        done = batch.done
      }
      assert.equal(swept.length, 1200)
      assert.equal(await rowCount(schema), 3, 'rows of 500, 500 and 200 notices')

      for (const after of [start, start + 250, start + 500, start + 1199]) {
        const inbox = new Inbox()
        const positions: number[] = []
        const stop = await b.subscribe(inbox.add, {
          after,
          onGap: inbox.gap,
          onPosition: (seq) => positions.push(seq),
        })
        try {
          const rest = swept.slice(after - start)
          assert.deepEqual(await inbox.waitFor(rest.length), rest, `after ${after}`)
          await new Promise((resolve) => setTimeout(resolve, 50))
          assert.equal(inbox.notices.length, rest.length, 'none twice')
          assert.equal(positions.at(-1), start + 1200)
          // Positions move one notice at a time through the batches.
          assert.deepEqual(
            positions.slice(1),
            Array.from(rest, (_, i) => after + i + 1),
          )
          assert.deepEqual(inbox.gaps, [])
        } finally {
          await stop()
        }
      }
      await a.close()
      await b.close()
    })

    test("a storage's own batch rows are skipped whole: no notice, no gap, the position passes them", async () => {
      const schema = await prepare('own')
      const a = new PostgresStorage({ pool, schema })
      const b = new PostgresStorage({ pool, schema })
      const inbox = new Inbox()
      const positions: number[] = []
      const stop = await a.subscribe(inbox.add, {
        onGap: inbox.gap,
        onPosition: (seq) => positions.push(seq),
      })
      try {
        await insertMany(pool, schema, 4, 100)
        assert.equal((await a.sweepExpired(200, 10)).tokens.length, 4)
        const other = token('other', null)
        assert.equal(await b.insertToken(other), 'inserted')
        await b.deleteToken(other.id, 'explicit', 300)
        assert.deepEqual(await inbox.waitFor(1), [`token ${other.accessor} explicit`])
        assert.equal(positions.at(-1), await head(schema))
        assert.deepEqual(inbox.gaps, [])
      } finally {
        await stop()
        await a.close()
        await b.close()
      }
    })

    test('rows written one notice each (before version 4) are read as before, between batch rows', async () => {
      const schema = await prepare('mixed')
      const a = new PostgresStorage({ pool, schema })
      const b = new PostgresStorage({ pool, schema })
      const inbox = new Inbox()
      const stop = await b.subscribe(inbox.add, { onGap: inbox.gap })
      try {
        await insertMany(pool, schema, 2, 100)
        await a.sweepExpired(200, 10)
        // What a version-3 writer logs: one row per notice, without `n`.
        await pool.query(`
          WITH counter AS (UPDATE ${schema}.notice_seq SET seq = seq + 1 RETURNING seq)
          INSERT INTO ${schema}.notices (seq, origin, notice)
          SELECT seq, 'old', '{"kind":"token","accessor":"acc-old","path":"auth/x","reason":"explicit","time":5}'
          FROM counter`)
        await insertMany(pool, schema, 1, 100, 'late')
        await a.sweepExpired(200, 10)
        const texts = await inbox.waitFor(4)
        assert.equal(texts.length, 4)
        assert.equal(texts[2], 'token acc-old explicit')
        assert.deepEqual(inbox.gaps, [])
      } finally {
        await stop()
        await a.close()
        await b.close()
      }
    })

    test('a trimmed batch is a gap of its notices; a new subscriber with since starts at its first', async () => {
      const schema = await prepare('trim')
      const a = new PostgresStorage({ pool, schema, noticeLogLength: 3 })
      const b = new PostgresStorage({ pool, schema })
      const start = await head(schema)
      await insertMany(pool, schema, 5, 100)
      await a.sweepExpired(200, 10)
      // The row of 5 is kept whole although the log keeps 3: it is trimmed once a later row passes it.
      assert.equal(await rowCount(schema), 1)
      const since = performance.now() - 60_000
      const early = new Inbox()
      const stopEarly = await b.subscribe(early.add, { onGap: early.gap, since })
      assert.equal((await early.waitFor(5)).length, 5, 'the oldest row read from its first notice')
      await stopEarly()
      // Numbers 6 to 9: the log keeps 7 to 9, so the row of 1 to 5 goes.
      await insertMany(pool, schema, 4, 100, 'next')
      await a.sweepExpired(200, 10)
      assert.equal(await rowCount(schema), 1, 'the row of 5 is trimmed')
      const late = new Inbox()
      const stop = await b.subscribe(late.add, { after: start + 1, onGap: late.gap })
      try {
        assert.equal((await late.waitFor(4)).length, 4)
        assert.deepEqual(late.gaps, [{ lost: 4, atMost: false }])
      } finally {
        await stop()
        await a.close()
        await b.close()
      }
    })
  })

  describe('PostgresStorage batches resume', () => {
    test('deleteSubtree resumes its walk, and finishes exactly when the path it saved was deleted by another instance', async () => {
      const schema = await prepare('walk')
      const a = new PostgresStorage({ pool, schema })
      const b = new PostgresStorage({ pool, schema })
      try {
        // top → [c0 → 4 leaves, c1 → 4 leaves, c2 → 4 leaves].
        const top = token('top', null)
        const heads = [0, 1, 2].map((i) => token(`c${i}`, top.id))
        const leaves = heads.flatMap((h, i) => [0, 1, 2, 3].map((j) => token(`l${i}${j}`, h.id)))
        for (const r of [top, ...heads, ...leaves]) assert.equal(await a.insertToken(r), 'inserted')
        await a.markRevoking(top.id, 'explicit')
        const deleted: string[] = []
        const first = await a.deleteSubtree(top.id, 'explicit', 1, 2)
        deleted.push(...first.tokens.map((t) => t.id))
        assert.equal(first.tokens.length, 2)
        // Another instance finishes what `a` stood inside of, and more, behind its back.
        for (let done = false; !done;) {
          const batch = await b.deleteSubtree(top.id, 'explicit', 1, 5)
          deleted.push(...batch.tokens.map((t) => t.id))
          done = batch.done || deleted.length >= 8
        }
        for (let done = false; !done;) {
          const batch = await a.deleteSubtree(top.id, 'explicit', 1, 2)
          deleted.push(...batch.tokens.map((t) => t.id))
          done = batch.done
        }
        assert.equal(new Set(deleted).size, deleted.length, 'each token deleted once')
        assert.deepEqual([...deleted].sort(), [top, ...heads, ...leaves].map((t) => t.id).sort())
        assert.equal(deleted.at(-1), top.id, 'the top last')
        assert.equal(
          Number(
            (await pool.query<{ count: string }>(`SELECT count(*) FROM ${schema}.tokens`)).rows[0]
              ?.count,
          ),
          0,
        )
      } finally {
        await a.close()
        await b.close()
      }
    })

    test('batch deletions report DeletedToken fields only, as stored when deleted, in deletion order', async () => {
      const schema = await prepare('deleted')
      const a = new PostgresStorage({ pool, schema })
      try {
        const fields = (t: TokenRecord, revoking: RevokeReason | null) =>
          deletedFields({ ...t, revoking })
        // top → [marked child → leaf, plain child]: two steps of the walk, a mark kept, `parent` for the others.
        const top = token('top', null)
        const marked = token('marked', top.id)
        const leaf = token('leaf', marked.id)
        const plain = token('plain', top.id)
        for (const r of [top, marked, leaf, plain]) assert.equal(await a.insertToken(r), 'inserted')
        await a.markRevoking(marked.id, 'uses_exhausted')
        await a.markRevoking(top.id, 'explicit')
        const subtree = await a.deleteSubtree(top.id, 'explicit', 1, 100)
        assert.equal(subtree.done, true)
        const byId = new Map(subtree.tokens.map((t) => [t.id, t]))
        assert.deepEqual(byId.get(leaf.id), fields(leaf, null))
        assert.deepEqual(byId.get(marked.id), fields(marked, 'uses_exhausted'))
        assert.deepEqual(byId.get(plain.id), fields(plain, null))
        assert.deepEqual(subtree.tokens.at(-1), fields(top, 'explicit'))
        const at = (id: string): number => subtree.tokens.findIndex((t) => t.id === id)
        assert.ok(at(leaf.id) < at(marked.id), 'a child before its parent')

        const due = token('due', null, 100)
        assert.equal(await a.insertToken(due), 'inserted')
        const swept = await a.sweepExpired(200, 10)
        assert.deepEqual(swept.tokens, [fields(due, null)])
      } finally {
        await a.close()
      }
    })

    test('a token skipped while locked behind the resume key is swept by the pass from the start, before done', async () => {
      const schema = await prepare('resume')
      const storage = new PostgresStorage({ pool, schema })
      // Same expiry for all: the key's id orders the ties.
      await insertMany(pool, schema, 5, 100)
      const sorted = (
        await pool.query<{ id: string }>(`SELECT id FROM ${schema}.tokens ORDER BY expires_at, id`)
      ).rows.map((row) => row.id)
      const blocker = await pool.connect()
      try {
        await blocker.query('BEGIN')
        await blocker.query(`SELECT 1 FROM ${schema}.tokens WHERE id = $1 FOR UPDATE`, [sorted[0]])
        const first = await storage.sweepExpired(200, 2)
        assert.deepEqual(
          first.tokens.map((t) => t.id),
          sorted.slice(1, 3),
        )
        assert.equal(first.done, false)
        await blocker.query('COMMIT')
        const second = await storage.sweepExpired(200, 2)
        assert.deepEqual(
          second.tokens.map((t) => t.id),
          sorted.slice(3, 5),
          'resumed after the key, not from the start',
        )
        assert.equal(second.done, false)
        const third = await storage.sweepExpired(200, 2)
        assert.deepEqual(
          third.tokens.map((t) => t.id),
          [],
          'a short batch from the key',
        )
        assert.equal(third.done, false, 'not done before a pass from the start')
        const fourth = await storage.sweepExpired(200, 2)
        assert.deepEqual(
          fourth.tokens.map((t) => t.id),
          sorted.slice(0, 1),
        )
        assert.equal(fourth.done, true)
        assert.equal(
          Number(
            (await pool.query<{ count: string }>(`SELECT count(*) FROM ${schema}.tokens`)).rows[0]
              ?.count,
          ),
          0,
        )
      } finally {
        await blocker.query('ROLLBACK').catch(() => undefined)
        blocker.release()
        await storage.close()
      }
    })

    test('migrate() brings a version-3 schema to version 4: the n column and the (expires_at, id) index', async () => {
      const schema = await prepare('upgrade4')
      await pool.query(`
        DROP INDEX ${schema}.tokens_expires_at_id;
        CREATE INDEX tokens_expires_at ON ${schema}.tokens (expires_at) WHERE expires_at IS NOT NULL;
        ALTER TABLE ${schema}.notices DROP COLUMN n;
        UPDATE ${schema}.schema_version SET version = 3`)
      const storage = new PostgresStorage({ pool, schema })
      await assert.rejects(storage.ping(), { code: 'storage_misconfigured' })
      await migrate(pool, { schema })
      await storage.ping()
      const { rows } = await pool.query<{ indexname: string }>(
        `SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = 'tokens' ORDER BY 1`,
        [schema],
      )
      const names = rows.map((row) => row.indexname)
      assert.ok(names.includes('tokens_expires_at_id'))
      assert.ok(!names.includes('tokens_expires_at'))
      assert.equal(
        (await pool.query<{ version: number }>(`SELECT version FROM ${schema}.schema_version`))
          .rows[0]?.version,
        SCHEMA_VERSION,
      )
      await insertMany(pool, schema, 3, 100)
      assert.equal((await storage.sweepExpired(200, 10)).tokens.length, 3)
      await storage.close()
    })
  })
}

/** Inserts `count` orphan tokens expiring at `expiresAt` in one statement; resolves to their ids. */
async function insertMany(
  pool: pg.Pool,
  schema: string,
  count: number,
  expiresAt: number,
  label = 'e',
): Promise<string[]> {
  const records = Array.from({ length: count }, (_, i) => token(`${label}${i}`, null, expiresAt))
  await pool.query(
    `INSERT INTO ${schema}.tokens (id, accessor, parent, path, num_uses, ttl, expires_at, record)
     SELECT r->>'id', r->>'accessor', NULL, r->>'path', 0, 60, (r->>'expiresAt')::float8, r
     FROM jsonb_array_elements($1::jsonb) AS r`,
    [JSON.stringify(records)],
  )
  return records.map((r) => r.id)
}
