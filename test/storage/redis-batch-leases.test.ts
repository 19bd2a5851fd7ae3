/**
 * RedisStorage batch deletion and leases: a batch looks up its tokens' leases only when the key space holds a lease
 * at all (its lease expiry index exists). Either way, the deleted tokens come back as their `DeletedToken` fields as
 * stored, and the leases of deleted tokens go with them.
 */
import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'

import { Redis } from 'ioredis'

import { RedisStorage } from '../../src/storage/redis/index.js'
import type { TokenRecord } from '../../src/types.js'
import { deletedFields } from '../../src/testing/deleted-token.js'
import { lease } from './helpers/batch-notices.js'
import { hid, rec } from './helpers/records.js'
import { deleteRedisKeys, REDIS_URL, skipReason, uniqueSuffix } from './helpers/services.js'

const skip = await skipReason('Redis', REDIS_URL, 6379)
const PREFIX = `tokentree-test:${uniqueSuffix()}:`

if (skip !== null) {
  test('RedisStorage batch deletion and leases', { skip }, () => undefined)
} else {
  const admin = new Redis(REDIS_URL)

  after(async () => {
    await deleteRedisKeys(admin, PREFIX)
    await admin.quit()
  })

  /** Stores `<tag>-top` with three children, the last with a limited use count and an expiry. */
  async function family(storage: RedisStorage, tag: string): Promise<TokenRecord[]> {
    const top = rec(`${tag}-top`)
    const children = [0, 1, 2].map((i) =>
      rec(`${tag}-c${i}`, {
        parent: top.id,
        path: `auth/${tag}/c${i}`,
        metadata: { i: String(i) },
        ...(i === 2 ? { numUses: 3, expiresAt: 4_000_000_000_000, ttl: 60 } : {}),
      }),
    )
    for (const r of [top, ...children]) assert.equal(await storage.insertToken(r), 'inserted')
    return [top, ...children]
  }

  /** The keys left under `keyPrefix` besides the notice stream and its counter, which outlive every token. */
  async function leftOver(keyPrefix: string): Promise<string[]> {
    const keys = await admin.keys(`${keyPrefix}*`)
    return keys.filter(
      (k) => ![`${keyPrefix}notices`, `${keyPrefix}seq`, `${keyPrefix}epoch`].includes(k),
    )
  }

  /** Deletes the subtree under `top` (marked `explicit` first) in one call; returns the batch. */
  async function deleteAll(storage: RedisStorage, top: TokenRecord) {
    await storage.markRevoking(top.id, 'explicit')
    const batch = await storage.deleteSubtree(top.id, 'explicit', 7, 100)
    assert.equal(batch.done, true)
    // The listing entries go once the deletion is done, after it (see RedisStorage.listingCleanupSettled).
    await storage.listingCleanupSettled()
    return batch
  }

  describe('RedisStorage batch deletion and leases', () => {
    test('in a key space without leases: the tokens come back as their DeletedToken fields, and nothing is left', async () => {
      const keyPrefix = `${PREFIX}none:`
      const storage = new RedisStorage({ connection: REDIS_URL, keyPrefix })
      try {
        const stored = await family(storage, 'a')
        const batch = await deleteAll(storage, stored[0] as TokenRecord)
        assert.deepEqual(batch.leases, [])
        // Children first; each token as its DeletedToken fields as stored, exactly: none missing, and nothing else
        // (Redis sends no record JSON for a batch deletion).
        const byId = new Map(batch.tokens.map((t) => [t.id, t]))
        assert.equal(batch.tokens.at(-1)?.id, hid('a-top'))
        for (const r of stored) {
          const expected = r.id === hid('a-top') ? { ...r, revoking: 'explicit' as const } : r
          assert.deepEqual(byId.get(r.id), deletedFields(expected))
        }
        assert.deepEqual(await leftOver(keyPrefix), [])
      } finally {
        await storage.close()
      }
    })

    test("with the space's only lease on a deleted token: the lease goes with it", async () => {
      const keyPrefix = `${PREFIX}own:`
      const storage = new RedisStorage({ connection: REDIS_URL, keyPrefix })
      try {
        const stored = await family(storage, 'b')
        const held = lease('b', stored[2] as TokenRecord)
        assert.equal(await storage.insertLease(held, 1), 'inserted')
        const batch = await deleteAll(storage, stored[0] as TokenRecord)
        assert.deepEqual(
          batch.leases.map((l) => l.id),
          [held.id],
        )
        assert.equal(batch.tokens.length, 4)
        assert.equal(await storage.getLease(held.id), null)
        assert.deepEqual(await leftOver(keyPrefix), [])
      } finally {
        await storage.close()
      }
    })

    test('with a lease only outside the subtree: it stays, and the subtree goes', async () => {
      const keyPrefix = `${PREFIX}other:`
      const storage = new RedisStorage({ connection: REDIS_URL, keyPrefix })
      try {
        const outside = rec('c-outside')
        assert.equal(await storage.insertToken(outside), 'inserted')
        const kept = lease('kept', outside)
        assert.equal(await storage.insertLease(kept, 1), 'inserted')
        const stored = await family(storage, 'c')
        const batch = await deleteAll(storage, stored[0] as TokenRecord)
        assert.deepEqual(batch.leases, [])
        assert.equal(batch.tokens.length, 4)
        assert.equal((await storage.getLease(kept.id))?.id, kept.id)
        assert.equal((await storage.getToken(outside.id))?.id, outside.id)
      } finally {
        await storage.close()
      }
    })
  })
}
