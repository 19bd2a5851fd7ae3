/**
 * Tree shards: the pure rules that put a token tree in one shard of a partitioned storage, and TokenStore minting
 * by them over a storage that declares `treeShards`.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, test } from 'node:test'

import { MemoryStorage, TokenStore, TokenStoreError } from '../src/index.js'
import type { Storage } from '../src/storage/storage.js'
import {
  MAX_TREE_SHARDS,
  TreeShards,
  shardChar,
  shardOfId,
  shardOfLeaseId,
  shardedHash,
  treeShardsOf,
} from '../src/tree-shard.js'
import type { HashedTokenId } from '../src/types.js'

describe('tree-shard rules', () => {
  test('every shard has its own character, read back from ids, accessors and lease ids', () => {
    const chars = new Set<string>()
    for (let shard = 0; shard < MAX_TREE_SHARDS; shard++) {
      const char = shardChar(shard)
      chars.add(char)
      assert.equal(shardOfId(`${char}rest`, MAX_TREE_SHARDS), shard)
      assert.equal(shardOfLeaseId(`a/b/${char}rest`, MAX_TREE_SHARDS), shard)
    }
    assert.equal(chars.size, MAX_TREE_SHARDS)
    assert.throws(() => shardChar(MAX_TREE_SHARDS), RangeError)
  })

  test('any text maps to a shard below the count (ids from elsewhere are simply not found there)', () => {
    for (const text of ['', '.', '~x', 'é', 'zzz', '_']) {
      const shard = shardOfId(text, 16)
      assert.ok(Number.isInteger(shard) && shard >= 0 && shard < 16, `${text} → ${shard}`)
    }
  })

  test("a hashed id names the token id's shard: after hvs. for minted ids, the HMAC's first character else", () => {
    const hmac = 'Qabcdefghijklmnopqrstuvwxyz0123456789-_ABCD'
    assert.equal(shardedHash('hvs.Kxyz', hmac), `K${hmac}`)
    assert.equal(shardedHash('my-custom-id', hmac), `Q${hmac}`)
  })

  test("TreeShards mints children, accessors and lease ids in the parent's shard, new trees anywhere", () => {
    const shards = new TreeShards(16)
    const seen = new Set<number>()
    for (let i = 0; i < 400; i++) {
      const shard = shards.shardFor(null)
      assert.ok(shard >= 0 && shard < 16)
      seen.add(shard)
      const token = shards.tokenId(shard)
      assert.match(token, /^hvs\.[\w-]{32}$/)
      const id = shardedHash(token, randomBytes(32).toString('base64url'))
      assert.equal(shards.shardOf(id), shard)
      assert.equal(shards.shardFor(id), shard)
      const accessor = shards.accessor(id)
      assert.equal(accessor.length, 24)
      assert.equal(shards.shardOf(accessor), shard)
      assert.equal(shardOfLeaseId(shards.leaseId('aws/creds/x', id), 16), shard)
    }
    assert.equal(seen.size, 16, 'new trees draw every shard')
  })

  test('treeShardsOf: none for a storage that declares none; invalid_request for a count out of range', () => {
    assert.equal(treeShardsOf({}), null)
    assert.equal(treeShardsOf({ treeShards: 8 })?.count, 8)
    for (const bad of [0, 65, 1.5, Number.NaN]) {
      assert.throws(
        () => treeShardsOf({ treeShards: bad }),
        (error: unknown) => error instanceof TokenStoreError && error.code === 'invalid_request',
      )
    }
  })
})

/** A MemoryStorage that declares tree shards, so TokenStore mints by them. */
class ShardedMemory extends MemoryStorage implements Storage {
  readonly treeShards = 8
}

describe('TokenStore over a storage with tree shards', () => {
  test("a child, its accessor, its leases and its hashed id carry the parent's shard", async () => {
    const storage = new ShardedMemory()
    const store = new TokenStore({ storage, secret: randomBytes(32), timers: false })
    try {
      for (let i = 0; i < 20; i++) {
        const root = await store.create({ policies: ['a'] })
        const child = await store.create({ parent: root.clientToken })
        const lease = await store.createLease(child.clientToken, { path: 'db/creds/x', ttl: 60 })
        const shard = shardOfId(root.accessor, 8)
        assert.equal(shardOfId(child.clientToken.slice(4), 8), shard)
        assert.equal(shardOfId(child.accessor, 8), shard)
        assert.equal(shardOfLeaseId(lease.leaseId, 8), shard)
        const record = await storage.getTokenByAccessor(child.accessor)
        assert.equal(shardOfId(record?.id as HashedTokenId, 8), shard)
        assert.equal(shardOfId(record?.parent as HashedTokenId, 8), shard)
      }
    } finally {
      await store.close()
    }
  })

  test("a custom id under a parent is refused (it cannot name the parent's shard), and nothing is written", async () => {
    const storage = new ShardedMemory()
    const store = new TokenStore({ storage, secret: randomBytes(32), timers: false })
    try {
      const root = await store.createRoot()
      await assert.rejects(
        store.create({ parent: root.clientToken, id: 'custom-child' }),
        (error: unknown) => error instanceof TokenStoreError && error.code === 'invalid_request',
      )
      assert.equal(await store.lookup('custom-child'), null)
      const orphan = await store.create({
        parent: root.clientToken,
        id: 'custom-orphan',
        noParent: true,
      })
      assert.equal(orphan.clientToken, 'custom-orphan')
      assert.ok(await store.lookup('custom-orphan'))
    } finally {
      await store.close()
    }
  })

  test('a storage declaring an impossible number of shards is refused at construction', () => {
    const storage = Object.assign(new MemoryStorage(), { treeShards: 100 })
    assert.throws(
      () => new TokenStore({ storage, timers: false }),
      (error: unknown) => error instanceof TokenStoreError && error.code === 'invalid_request',
    )
  })
})
