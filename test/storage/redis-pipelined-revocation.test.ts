/**
 * RedisStorage with two deletion scripts in flight (`revocationCallsInFlight: 2`): a revocation and an expiry storm many
 * batches long report every token once, children before parents, and another instance is told of each once.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, describe, test } from 'node:test'

import { Redis } from 'ioredis'

import { TokenStore, TokenStoreError, type RevokedEvent } from '../../src/index.js'
import { RedisStorage } from '../../src/storage/redis/index.js'
import type { TokenRecord } from '../../src/types.js'
import { hid, rec, T0 } from './helpers/records.js'
import { deleteRedisKeys, REDIS_URL, skipReason, uniqueSuffix } from './helpers/services.js'

const skip = await skipReason('Redis', REDIS_URL, 6379)
const PREFIX = `tokentree-test:${uniqueSuffix()}:`
const SECRET = randomBytes(32)

/** Tokens of the tree: a top with WIDTH children (a set Redis stores as a hash table), each with two of its own. */
const WIDTH = 150

if (skip !== null) {
  test('RedisStorage pipelined revocation', { skip }, () => undefined)
} else {
  const admin = new Redis(REDIS_URL)

  after(async () => {
    await deleteRedisKeys(admin, PREFIX)
    await admin.quit()
  })

  /** Two stores on one key prefix: `a` revokes, `b` is told. */
  async function pair(label: string, clock: () => number) {
    const keyPrefix = `${PREFIX}${label}:`
    const storageA = new RedisStorage({
      connection: REDIS_URL,
      keyPrefix,
      revocationCallsInFlight: 2,
    })
    const storageB = new RedisStorage({ connection: REDIS_URL, keyPrefix })
    const a = new TokenStore({ storage: storageA, secret: SECRET, timers: false, clock })
    const b = new TokenStore({ storage: storageB, secret: SECRET, timers: false, clock })
    const seenA: RevokedEvent[] = []
    const seenB: RevokedEvent[] = []
    a.on('revoked', (event) => seenA.push(event))
    b.on('revoked', (event) => seenB.push(event))
    // b listens before anything is revoked.
    await b.ready()
    const close = async (): Promise<void> => {
      await a.close()
      await b.close()
      await storageA.close()
      await storageB.close()
    }
    return { storage: storageA, a, seenA, seenB, close }
  }

  async function waitFor(events: RevokedEvent[], count: number): Promise<void> {
    for (let i = 0; i < 200 && events.length < count; i++) {
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
  }

  describe('RedisStorage pipelined revocation', () => {
    test('revocationCallsInFlight: 2 unless given; a positive integer, else invalid_request', async () => {
      const plain = new RedisStorage({ connection: REDIS_URL, keyPrefix: `${PREFIX}plain:` })
      assert.equal(plain.revocationCallsInFlight, 2)
      await plain.close()
      const one = new RedisStorage({
        connection: REDIS_URL,
        keyPrefix: `${PREFIX}one:`,
        revocationCallsInFlight: 1,
      })
      assert.equal(one.revocationCallsInFlight, 1)
      await one.close()
      for (const bad of [0, 1.5, -1, Number.NaN]) {
        assert.throws(
          () => new RedisStorage({ connection: REDIS_URL, revocationCallsInFlight: bad }),
          (error: unknown) => error instanceof TokenStoreError && error.code === 'invalid_request',
        )
      }
    })

    test('a subtree of many batches: every token once, children before parents, the top last; the other instance too', async () => {
      const { storage, a, seenA, seenB, close } = await pair('subtree', () => T0)
      try {
        assert.equal(storage.revocationCallsInFlight, 2)
        const top = rec('top')
        const records: TokenRecord[] = [top]
        for (let i = 0; i < WIDTH; i++) {
          const child = rec(`c${i}`, { parent: top.id })
          records.push(child)
          for (let j = 0; j < 2; j++) records.push(rec(`c${i}-${j}`, { parent: child.id }))
        }
        for (const r of records) assert.equal(await storage.insertToken(r), 'inserted')
        assert.ok(records.length > 8 * storage.revocationBatchSize)

        await a.revokeAccessor(top.accessor)

        const order = seenA.map((e) => (e.kind === 'token' ? e.accessor : ''))
        assert.equal(new Set(order).size, records.length, 'each token once')
        assert.deepEqual([...order].sort(), records.map((r) => r.accessor).sort())
        const position = new Map(order.map((accessor, i) => [accessor, i]))
        for (const r of records) {
          if (r.parent === null) continue
          const parent = records.find((p) => p.id === r.parent) as TokenRecord
          assert.ok(
            (position.get(r.accessor) as number) < (position.get(parent.accessor) as number),
            'a child goes before its parent',
          )
        }
        assert.equal(order.at(-1), top.accessor)
        assert.equal(await storage.getToken(hid('top')), null)

        await waitFor(seenB, records.length)
        assert.deepEqual(
          seenB.map((e) => (e.kind === 'token' ? e.accessor : '')),
          order,
          'the other instance is told of each, in order',
        )
      } finally {
        await close()
      }
    })

    test('an expiry storm of many batches, with a parent among the expired: every token once', async () => {
      let now = T0
      const { storage, a, seenA, seenB, close } = await pair('storm', () => now)
      try {
        const expiresAt = T0 + 1000
        const records: TokenRecord[] = []
        for (let i = 0; i < 400; i++) records.push(rec(`e${i}`, { expiresAt, ttl: 1 }))
        const parent = rec('parent', { expiresAt, ttl: 1 })
        const kids = [0, 1, 2].map((i) => rec(`kid${i}`, { parent: parent.id, expiresAt, ttl: 1 }))
        records.push(parent, ...kids)
        for (const r of records) assert.equal(await storage.insertToken(r), 'inserted')

        now = expiresAt + 1
        await a.revokeExpired()

        const order = seenA.map((e) => (e.kind === 'token' ? e.accessor : ''))
        assert.deepEqual([...order].sort(), records.map((r) => r.accessor).sort())
        for (const kid of kids) {
          assert.ok(order.indexOf(kid.accessor) < order.indexOf(parent.accessor))
        }
        assert.deepEqual(await storage.listExpiredTokens(now, 10), [])
        await waitFor(seenB, records.length)
        assert.deepEqual(
          [...seenB.map((e) => (e.kind === 'token' ? e.accessor : ''))].sort(),
          [...order].sort(),
        )
      } finally {
        await close()
      }
    })
  })
}
