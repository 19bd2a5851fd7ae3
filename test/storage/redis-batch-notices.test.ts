/**
 * RedisStorage's batch notices: a deleteSubtree or sweepExpired call writes the notices of its whole batch as one
 * stream entry, and subscriptions read them one by one, exactly once, as if each had its own entry.
 */
import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'

import { Redis } from 'ioredis'

import { RedisStorage } from '../../src/storage/redis/index.js'
import type { TokenRecord } from '../../src/types.js'
import {
  deleteSubtreeInBatches,
  Inbox,
  parentLeaseNotice,
  plantMarkedFamily,
  token,
} from './helpers/batch-notices.js'
import { deleteRedisKeys, REDIS_URL, skipReason, uniqueSuffix } from './helpers/services.js'

const skip = await skipReason('Redis', REDIS_URL, 6379)
const PREFIX = `tokentree-test:${uniqueSuffix()}:`

if (skip !== null) {
  test('RedisStorage batch notices', { skip }, () => undefined)
} else {
  const admin = new Redis(REDIS_URL)

  after(async () => {
    await deleteRedisKeys(admin, PREFIX)
    await admin.quit()
  })

  /** A client that records the fields of every stream entry its \`xrange\` calls return. */
  function recordingClient(): { client: Redis; fetched: string[][] } {
    const client = new Redis(REDIS_URL, { autoResendUnfulfilledCommands: false })
    const fetched: string[][] = []
    const xrange = client.xrange.bind(client)
    client.xrange = (async (...args: Parameters<typeof xrange>) => {
      const entries = await xrange(...args)
      for (const [, fields] of entries) fetched.push(fields)
      return entries
    }) as typeof client.xrange
    return { client, fetched }
  }

  describe('RedisStorage batch notices', () => {
    test('deleteSubtree(): one stream entry per batch; another storage is told of each token and lease once, in order', async () => {
      const keyPrefix = `${PREFIX}subtree:`
      const a = new RedisStorage({ connection: REDIS_URL, keyPrefix })
      const b = new RedisStorage({ connection: REDIS_URL, keyPrefix })
      const inbox = new Inbox()
      const stop = await b.subscribe(inbox.add, { onGap: inbox.gap })
      try {
        const { top, children, leaseRecord } = await plantMarkedFamily(a)
        const entriesBefore = await admin.xlen(`${keyPrefix}notices`)

        const { calls, expected } = await deleteSubtreeInBatches(a, top, 2)
        assert.equal(calls, 3, '5 tokens, 2 a call')
        assert.equal(await admin.xlen(`${keyPrefix}notices`), entriesBefore + calls)
        assert.equal(expected.length, 6)
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
        assert.deepEqual(inbox.gaps, [])
      } finally {
        await stop()
        await a.close()
        await b.close()
      }
    })

    test('a subscription resumed inside a batch entry gets only the rest of it, without a gap', async () => {
      const keyPrefix = `${PREFIX}resume:`
      const a = new RedisStorage({ connection: REDIS_URL, keyPrefix })
      const b = new RedisStorage({ connection: REDIS_URL, keyPrefix })
      try {
        const records = Array.from({ length: 5 }, (_, i) => token(`e${i}`, null, 100))
        for (const r of records) assert.equal(await a.insertToken(r), 'inserted')
        const head = Number((await admin.get(`${keyPrefix}seq`)) ?? 0)
        const sweep = await a.sweepExpired(200, 10)
        assert.equal(sweep.tokens.length, 5)
        assert.equal(await admin.xlen(`${keyPrefix}notices`), 1, 'one entry for the batch')

        const inbox = new Inbox()
        const positions: number[] = []
        const stop = await b.subscribe(inbox.add, {
          after: head + 2,
          onGap: inbox.gap,
          onPosition: (seq) => positions.push(seq),
        })
        try {
          const rest = sweep.tokens.slice(2).map((t) => `token ${t.accessor} expired`)
          assert.deepEqual(await inbox.waitFor(3), rest)
          assert.equal(positions.at(-1), head + 5)
          assert.deepEqual(inbox.gaps, [])
        } finally {
          await stop()
        }
      } finally {
        await a.close()
        await b.close()
      }
    })

    test("a storage's own batch entries are skipped whole: no notice, no gap, the position passes them", async () => {
      const keyPrefix = `${PREFIX}own:`
      const a = new RedisStorage({ connection: REDIS_URL, keyPrefix })
      const b = new RedisStorage({ connection: REDIS_URL, keyPrefix })
      const inbox = new Inbox()
      const positions: number[] = []
      const stop = await a.subscribe(inbox.add, {
        onGap: inbox.gap,
        onPosition: (seq) => positions.push(seq),
      })
      try {
        const records = Array.from({ length: 4 }, (_, i) => token(`o${i}`, null, 100))
        for (const r of records) assert.equal(await a.insertToken(r), 'inserted')
        assert.equal((await a.sweepExpired(200, 10)).tokens.length, 4)
        const other = token('other', null)
        assert.equal(await b.insertToken(other), 'inserted')
        await b.deleteToken(other.id, 'explicit', 300)
        assert.deepEqual(await inbox.waitFor(1), [`token ${other.accessor} explicit`])
        const head = Number(await admin.get(`${keyPrefix}seq`))
        assert.equal(positions.at(-1), head)
        assert.deepEqual(inbox.gaps, [])
      } finally {
        await stop()
        await a.close()
        await b.close()
      }
    })

    test("a storage never reads back its own batch entries: resumed before them, it reads only the others' and reports only trimmed ones as lost", async () => {
      const keyPrefix = `${PREFIX}unread:`
      const stream = `${keyPrefix}notices`
      const { client, fetched } = recordingClient()
      const a = new RedisStorage({ client, keyPrefix })
      const b = new RedisStorage({ connection: REDIS_URL, keyPrefix })
      try {
        const head = Number((await admin.get(`${keyPrefix}seq`)) ?? 0)
        const others: string[] = []
        const byB = async (name: string): Promise<void> => {
          const other = token(name, null)
          assert.equal(await b.insertToken(other), 'inserted')
          await b.deleteToken(other.id, 'explicit', 300)
          others.push(`token ${other.accessor} explicit`)
        }
        const sweepByA = async (names: string[]): Promise<void> => {
          for (const name of names)
            assert.equal(await a.insertToken(token(name, null, 100)), 'inserted')
          assert.equal((await a.sweepExpired(200, 10)).tokens.length, names.length)
        }
        // head+1, head+2: b's; head+3..5: a's batch; head+6: b's; head+7..8: a's; head+9: b's.
        await byB('t1')
        await byB('t2')
        await sweepByA(['s1', 's2', 's3'])
        await byB('t6')
        await sweepByA(['s7', 's8'])
        await byB('t9')
        assert.equal(Number(await admin.get(`${keyPrefix}seq`)), head + 9)
        // The two entries before a's first batch are trimmed away, as an old log's are.
        await admin.xtrim(stream, 'MINID', `0-${head + 3}`)

        const inbox = new Inbox()
        const positions: number[] = []
        const stop = await a.subscribe(inbox.add, {
          after: head,
          onGap: inbox.gap,
          onPosition: (seq) => positions.push(seq),
        })
        try {
          assert.deepEqual(await inbox.waitFor(2), others.slice(2))
          assert.equal(positions.at(-1), head + 9)
          assert.deepEqual(inbox.gaps, [{ lost: 2, atMost: false }])
          assert.ok(fetched.length >= 2, 'the entries of b were read')
          assert.deepEqual(
            fetched.filter((fields) => fields.includes('batch')),
            [],
            'no batch entry of a was read',
          )
        } finally {
          await stop()
        }
      } finally {
        await a.close()
        await b.close()
        await client.quit()
      }
    })

    test('a subscribed storage revoking in batches does not read its entries back, though each wakes it up', async () => {
      const keyPrefix = `${PREFIX}live:`
      const { client, fetched } = recordingClient()
      const a = new RedisStorage({ client, keyPrefix })
      const b = new RedisStorage({ connection: REDIS_URL, keyPrefix })
      const inbox = new Inbox()
      const stop = await a.subscribe(inbox.add, { onGap: inbox.gap })
      try {
        const top = token('top', null)
        assert.equal(await a.insertToken(top), 'inserted')
        for (let i = 0; i < 40; i++) {
          assert.equal(await a.insertToken(token(`c${i}`, top.id)), 'inserted')
        }
        await a.markRevoking(top.id, 'explicit')
        const { calls } = await deleteSubtreeInBatches(a, top, 2)
        assert.equal(calls, 21)
        const other = token('other', null)
        assert.equal(await b.insertToken(other), 'inserted')
        await b.deleteToken(other.id, 'explicit', 300)
        assert.deepEqual(await inbox.waitFor(1), [`token ${other.accessor} explicit`])
        assert.deepEqual(
          fetched.filter((fields) => fields.includes('batch')).length,
          0,
          'no batch entry of a was read',
        )
        assert.deepEqual(inbox.gaps, [])
      } finally {
        await stop()
        await a.close()
        await b.close()
        await client.quit()
      }
    })
  })
}
