/**
 * MemoryStorage against the Storage contract (src/storage/storage.ts), method by method. The shared conformance
 * suite runs on it too (memory-conformance.test.ts); these tests pin the reference implementation's details.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import {
  MemoryStorage,
  type HashedTokenId,
  type RevokeReason,
  type Storage,
  type TokenRecord,
} from '../../src/index.js'
import { hid, rec, T0 } from './helpers/records.js'

/** `deleteToken` through the Storage interface, which takes the reason and time a shared adapter publishes. */
function del(
  storage: Storage,
  id: HashedTokenId,
  reason: RevokeReason,
  now: number,
): Promise<TokenRecord | null> {
  return storage.deleteToken(id, reason, now)
}

/** A storage holding a chain a → b → c (and `extra`). */
async function chain(extra: Partial<Record<'a' | 'b' | 'c', Partial<TokenRecord>>> = {}) {
  const storage = new MemoryStorage()
  assert.equal(await storage.insertToken(rec('a', extra.a)), 'inserted')
  assert.equal(await storage.insertToken(rec('b', { parent: hid('a'), ...extra.b })), 'inserted')
  assert.equal(await storage.insertToken(rec('c', { parent: hid('b'), ...extra.c })), 'inserted')
  return storage
}

describe('MemoryStorage.insertToken()', () => {
  test('insertToken(): inserts a record, found by id and by accessor', async () => {
    const storage = new MemoryStorage()
    const record = rec('a', { metadata: { k: 'v' } })
    assert.equal(await storage.insertToken(record), 'inserted')
    assert.deepEqual(await storage.getToken(hid('a')), record)
    assert.deepEqual(await storage.getTokenByAccessor('accessor-a'), record)
    assert.equal(storage.size, 1)
    assert.equal(await storage.getToken(hid('missing')), null)
    assert.equal(await storage.getTokenByAccessor('missing'), null)
  })

  test('insertToken(): an existing id is id_exists and writes nothing', async () => {
    const storage = new MemoryStorage()
    await storage.insertToken(rec('a'))
    const clash = rec('a', { accessor: 'other-accessor', policies: ['x'] })
    assert.equal(await storage.insertToken(clash), 'id_exists')
    assert.deepEqual((await storage.getToken(hid('a')))?.policies, ['default'])
    assert.equal(await storage.getTokenByAccessor('other-accessor'), null)
    assert.equal(storage.size, 1)
  })

  test('insertToken(): an existing accessor is accessor_exists and writes nothing', async () => {
    const storage = new MemoryStorage()
    await storage.insertToken(rec('a'))
    assert.equal(await storage.insertToken(rec('b', { accessor: 'accessor-a' })), 'accessor_exists')
    assert.equal(await storage.getToken(hid('b')), null)
    assert.equal((await storage.getTokenByAccessor('accessor-a'))?.id, hid('a'))
  })

  test('insertToken(): a missing parent is parent_gone and writes nothing', async () => {
    const storage = new MemoryStorage()
    assert.equal(await storage.insertToken(rec('b', { parent: hid('nope') })), 'parent_gone')
    assert.equal(storage.size, 0)
    assert.deepEqual(await storage.listChildren(hid('nope')), [])
  })

  test('insertToken(): a parent or any ancestor being revoked is parent_gone and writes nothing', async () => {
    for (const marked of ['a', 'b'] as const) {
      const storage = await chain()
      await storage.markRevoking(hid(marked), 'explicit')
      assert.equal(await storage.insertToken(rec('d', { parent: hid('b') })), 'parent_gone', marked)
      assert.equal(await storage.getToken(hid('d')), null)
      assert.deepEqual(await storage.listChildren(hid('b')), [hid('c')])
      assert.equal(await storage.getTokenByAccessor('accessor-d'), null)
    }
  })

  test('insertToken(): an expired parent is accepted: liveness is checked by the store, in time', async () => {
    const storage = await chain({ a: { expiresAt: T0 + 1000 } })
    assert.equal(await storage.insertToken(rec('d', { parent: hid('a') })), 'inserted')
  })
})

describe('MemoryStorage.getLiveToken()', () => {
  test('getLiveToken(): a token is live strictly before its expiry', async () => {
    const storage = new MemoryStorage()
    await storage.insertToken(rec('a', { expiresAt: T0 + 60_000 }))
    assert.ok(await storage.getLiveToken(hid('a'), T0 + 59_999))
    assert.equal(await storage.getLiveToken(hid('a'), T0 + 60_000), null)
    // Changes nothing: the record is still stored.
    assert.ok(await storage.getToken(hid('a')))
  })

  test('getLiveToken(): a token under an expired ancestor is not live, whatever its own expiry', async () => {
    const storage = await chain({ a: { expiresAt: T0 + 1000 }, c: { expiresAt: T0 + 10_000_000 } })
    assert.ok(await storage.getLiveToken(hid('c'), T0 + 999))
    assert.equal(await storage.getLiveToken(hid('c'), T0 + 1000), null)
    assert.equal(await storage.getLiveToken(hid('b'), T0 + 1000), null)
  })

  test('getLiveToken(): a token being revoked, or under an ancestor being revoked, is not live', async () => {
    const storage = await chain()
    await storage.markRevoking(hid('b'), 'explicit')
    assert.ok(await storage.getLiveToken(hid('a'), T0))
    assert.equal(await storage.getLiveToken(hid('b'), T0), null)
    assert.equal(await storage.getLiveToken(hid('c'), T0), null)
  })

  test('getLiveToken(): a token whose ancestor is missing is not live', async () => {
    const storage = await chain()
    await del(storage, hid('a'), 'explicit', T0)
    assert.equal(await storage.getLiveToken(hid('c'), T0), null)
  })

  test('getLiveToken(): walks a 12,000-deep ancestry without recursion', async () => {
    const storage = new MemoryStorage()
    await storage.insertToken(rec('n0'))
    // Inserting checks the ancestry too, so keep the chain modest (7e7 steps); deeper than a recursive walk could go.
    const depth = 12_000
    for (let i = 1; i < depth; i++) {
      const result = await storage.insertToken(rec(`n${i}`, { parent: hid(`n${i - 1}`) }))
      if (result !== 'inserted') assert.fail(`level ${i}: ${result}`)
    }
    assert.ok(await storage.getLiveToken(hid(`n${depth - 1}`), T0))
    await storage.markRevoking(hid('n0'), 'explicit')
    assert.equal(await storage.getLiveToken(hid(`n${depth - 1}`), T0), null)
  })
})

describe('MemoryStorage.useToken()', () => {
  test('useToken(): an unlimited token is returned unchanged', async () => {
    const storage = new MemoryStorage()
    const record = rec('a')
    await storage.insertToken(record)
    for (let i = 0; i < 3; i++) assert.deepEqual(await storage.useToken(hid('a'), T0), record)
    assert.deepEqual(await storage.getToken(hid('a')), record)
  })

  test('useToken(): each use decrements; the last sets revoking uses_exhausted; then the token is not live', async () => {
    const storage = new MemoryStorage()
    await storage.insertToken(rec('a', { numUses: 3 }))
    assert.equal((await storage.useToken(hid('a'), T0))?.numUses, 2)
    assert.equal((await storage.getToken(hid('a')))?.numUses, 2)
    const second = await storage.useToken(hid('a'), T0)
    assert.equal(second?.numUses, 1)
    assert.equal(second.revoking, null)
    const last = await storage.useToken(hid('a'), T0)
    assert.equal(last?.numUses, 0)
    assert.equal(last.revoking, 'uses_exhausted')
    assert.deepEqual(await storage.listRevoking(10), [hid('a')])
    assert.equal(await storage.useToken(hid('a'), T0), null)
    assert.equal(await storage.getLiveToken(hid('a'), T0), null)
    assert.equal((await storage.getToken(hid('a')))?.numUses, 0)
  })

  test('useToken(): exactly numUses of many concurrent calls succeed, and the count never goes below zero', async () => {
    const storage = new MemoryStorage()
    await storage.insertToken(rec('a', { numUses: 5 }))
    const results = await Promise.all(
      Array.from({ length: 40 }, () => storage.useToken(hid('a'), T0)),
    )
    assert.equal(results.filter((r) => r !== null).length, 5)
    assert.deepEqual(
      results.filter((r) => r !== null).map((r) => r.numUses),
      [4, 3, 2, 1, 0],
    )
    assert.equal((await storage.getToken(hid('a')))?.numUses, 0)
  })

  test('useToken(): a token that is not live is not used', async () => {
    const storage = await chain({ a: { expiresAt: T0 + 1000 }, c: { numUses: 2 } })
    assert.equal(await storage.useToken(hid('c'), T0 + 1000), null)
    assert.equal((await storage.getToken(hid('c')))?.numUses, 2)
    assert.equal(await storage.useToken(hid('missing'), T0), null)
  })
})

describe('MemoryStorage.renewToken()', () => {
  test('renewToken(): applies the update to a live token and moves its expiry', async () => {
    const storage = new MemoryStorage()
    await storage.insertToken(rec('a', { expiresAt: T0 + 1000, ttl: 1, renewable: true }))
    const update = {
      expectedExpiresAt: T0 + 1000,
      expiresAt: T0 + 60_000,
      ttl: 60,
      lastRenewalTime: T0 + 500,
    }
    const renewed = await storage.renewToken(hid('a'), T0 + 500, update)
    assert.equal(renewed?.expiresAt, T0 + 60_000)
    assert.equal(renewed.ttl, 60)
    assert.equal(renewed.lastRenewalTime, T0 + 500)
    assert.deepEqual(await storage.getToken(hid('a')), renewed)
    assert.deepEqual(await storage.listExpiredTokens(T0 + 59_999, 10), [])
    assert.equal(await storage.nextExpiry(), T0 + 60_000)
  })

  test('renewToken(): a renewal computed from an expiry that has since changed is refused', async () => {
    const storage = new MemoryStorage()
    await storage.insertToken(rec('a', { expiresAt: T0 + 1000, ttl: 1, renewable: true }))
    const first = {
      expectedExpiresAt: T0 + 1000,
      expiresAt: T0 + 9000,
      ttl: 9,
      lastRenewalTime: T0,
    }
    assert.ok(await storage.renewToken(hid('a'), T0, first))
    assert.equal(
      await storage.renewToken(hid('a'), T0, { ...first, expiresAt: T0 + 2000, ttl: 2 }),
      null,
    )
    assert.equal((await storage.getToken(hid('a')))?.expiresAt, T0 + 9000)
  })

  test('renewToken(): a token that is not live is not renewed', async () => {
    const storage = await chain({ a: { expiresAt: T0 + 1000 } })
    const update = {
      expectedExpiresAt: T0 + 1000,
      expiresAt: T0 + 60_000,
      ttl: 60,
      lastRenewalTime: T0 + 2000,
    }
    assert.equal(await storage.renewToken(hid('a'), T0 + 2000, update), null)
    assert.equal(await storage.renewToken(hid('c'), T0 + 2000, update), null)
    assert.equal((await storage.getToken(hid('a')))?.expiresAt, T0 + 1000)
    await storage.markRevoking(hid('b'), 'explicit')
    assert.equal(await storage.renewToken(hid('b'), T0, update), null)
  })
})

describe('MemoryStorage.markRevoking() / listRevoking()', () => {
  test('markRevoking(): marks the token and keeps the first reason', async () => {
    const storage = await chain()
    assert.equal((await storage.markRevoking(hid('b'), 'expired'))?.revoking, 'expired')
    assert.equal((await storage.markRevoking(hid('b'), 'explicit'))?.revoking, 'expired')
    assert.equal((await storage.getToken(hid('b')))?.revoking, 'expired')
    assert.deepEqual(await storage.listRevoking(10), [hid('b')])
  })

  test('markRevoking(): a subtree reason supersedes orphan; orphan does not supersede anything', async () => {
    const storage = await chain()
    assert.equal((await storage.markRevoking(hid('b'), 'orphan'))?.revoking, 'orphan')
    assert.equal((await storage.markRevoking(hid('b'), 'orphan'))?.revoking, 'orphan')
    assert.equal((await storage.markRevoking(hid('b'), 'explicit'))?.revoking, 'explicit')
    assert.equal((await storage.markRevoking(hid('b'), 'orphan'))?.revoking, 'explicit')
  })

  test('markRevoking(): a missing token is null', async () => {
    const storage = new MemoryStorage()
    assert.equal(await storage.markRevoking(hid('missing'), 'explicit'), null)
    assert.deepEqual(await storage.listRevoking(10), [])
  })

  test('listRevoking(): honours the limit', async () => {
    const storage = new MemoryStorage()
    for (const name of ['a', 'b', 'c']) {
      await storage.insertToken(rec(name))
      await storage.markRevoking(hid(name), 'explicit')
    }
    assert.equal((await storage.listRevoking(2)).length, 2)
    assert.equal((await storage.listRevoking(10)).length, 3)
  })
})

describe('MemoryStorage.listChildren() / orphanChildren()', () => {
  test('listChildren(): direct children only; empty for a leaf or a missing token', async () => {
    const storage = await chain()
    await storage.insertToken(rec('b2', { parent: hid('a') }))
    assert.deepEqual((await storage.listChildren(hid('a'))).sort(), [hid('b'), hid('b2')])
    assert.deepEqual(await storage.listChildren(hid('c')), [])
    assert.deepEqual(await storage.listChildren(hid('missing')), [])
  })

  test('orphanChildren(): re-parents the direct children only and reports how many', async () => {
    const storage = await chain()
    await storage.insertToken(rec('b2', { parent: hid('a') }))
    assert.equal(
      await storage.orphanChildren(hid('a'), T0),
      null,
      'refused until a is marked orphan',
    )
    await storage.markRevoking(hid('a'), 'orphan')
    assert.equal(await storage.orphanChildren(hid('a'), T0), 2)
    assert.equal((await storage.getToken(hid('b')))?.parent, null)
    assert.equal((await storage.getToken(hid('b2')))?.parent, null)
    assert.equal((await storage.getToken(hid('c')))?.parent, hid('b'))
    assert.deepEqual(await storage.listChildren(hid('a')), [])
    assert.equal(await storage.orphanChildren(hid('a'), T0), 0)
    // b no longer depends on a.
    await storage.markRevoking(hid('a'), 'explicit')
    assert.ok(await storage.getLiveToken(hid('c'), T0))
  })
})

describe('MemoryStorage.deleteToken()', () => {
  test('deleteToken(): removes the record and its index entries, and reports it once', async () => {
    const storage = await chain()
    await storage.markRevoking(hid('c'), 'explicit')
    const deleted = await del(storage, hid('c'), 'explicit', T0)
    assert.equal(deleted?.id, hid('c'))
    assert.equal(await del(storage, hid('c'), 'explicit', T0), null)
    assert.equal(await storage.getToken(hid('c')), null)
    assert.equal(await storage.getTokenByAccessor('accessor-c'), null)
    assert.deepEqual(await storage.listChildren(hid('b')), [])
    assert.deepEqual(await storage.listRevoking(10), [])
    assert.deepEqual((await storage.findByPathPrefix('auth/token')).sort(), [hid('a'), hid('b')])
    assert.equal(storage.size, 2)
  })

  test('deleteToken(): of two concurrent deletions, exactly one reports the token', async () => {
    const storage = await chain()
    const results = await Promise.all([
      del(storage, hid('b'), 'explicit', T0),
      del(storage, hid('b'), 'parent', T0),
      del(storage, hid('b'), 'expired', T0),
    ])
    assert.equal(results.filter((r) => r !== null).length, 1)
  })

  test('deleteToken(): the accessor of a deleted token can be reused', async () => {
    const storage = await chain()
    await del(storage, hid('c'), 'explicit', T0)
    assert.equal(await storage.insertToken(rec('c2', { accessor: 'accessor-c' })), 'inserted')
  })
})

describe('MemoryStorage.findByPathPrefix()', () => {
  test('findByPathPrefix(): matches the prefix itself and paths below it, segment by segment', async () => {
    const storage = new MemoryStorage()
    const paths: Record<string, string> = {
      exact: 'auth/github',
      below: 'auth/github/login',
      deeper: 'auth/github/login/x',
      sibling: 'auth/github-old/login',
      longer: 'auth/githubx',
      other: 'auth/approle/login',
    }
    for (const [name, path] of Object.entries(paths)) await storage.insertToken(rec(name, { path }))
    const found = (await storage.findByPathPrefix('auth/github')).sort()
    assert.deepEqual(found, [hid('below'), hid('deeper'), hid('exact')])
    assert.deepEqual(await storage.findByPathPrefix('auth/nothing'), [])
    assert.equal((await storage.findByPathPrefix('auth')).length, 6)
  })
})

describe('MemoryStorage.listExpiredTokens() / nextExpiry()', () => {
  test('listExpiredTokens(): ids expired at or before now, soonest first, up to the limit; changes nothing', async () => {
    const storage = new MemoryStorage()
    await storage.insertToken(rec('late', { expiresAt: T0 + 3000 }))
    await storage.insertToken(rec('early', { expiresAt: T0 + 1000 }))
    await storage.insertToken(rec('mid', { expiresAt: T0 + 2000 }))
    await storage.insertToken(rec('never'))
    await storage.insertToken(rec('future', { expiresAt: T0 + 9000 }))
    assert.deepEqual(await storage.listExpiredTokens(T0 + 999, 10), [])
    assert.deepEqual(await storage.listExpiredTokens(T0 + 1000, 10), [hid('early')])
    assert.deepEqual(await storage.listExpiredTokens(T0 + 5000, 10), [
      hid('early'),
      hid('mid'),
      hid('late'),
    ])
    assert.deepEqual(await storage.listExpiredTokens(T0 + 5000, 2), [hid('early'), hid('mid')])
    // Listing again gives the same answer, and nothing was deleted.
    assert.deepEqual(await storage.listExpiredTokens(T0 + 5000, 10), [
      hid('early'),
      hid('mid'),
      hid('late'),
    ])
    assert.equal(storage.size, 5)
  })

  test('listExpiredTokens(): deleted and renewed tokens drop out of the expiry index', async () => {
    const storage = new MemoryStorage()
    await storage.insertToken(rec('a', { expiresAt: T0 + 1000 }))
    await storage.insertToken(rec('b', { expiresAt: T0 + 1000 }))
    await del(storage, hid('a'), 'explicit', T0)
    await storage.renewToken(hid('b'), T0, {
      expectedExpiresAt: T0 + 1000,
      expiresAt: T0 + 5000,
      ttl: 5,
      lastRenewalTime: T0,
    })
    assert.deepEqual(await storage.listExpiredTokens(T0 + 4999, 10), [])
    assert.deepEqual(await storage.listExpiredTokens(T0 + 5000, 10), [hid('b')])
  })

  test('listExpiredTokens(): a token renewed twice to the same expiry is listed once', async () => {
    const storage = new MemoryStorage()
    await storage.insertToken(rec('a', { expiresAt: T0 + 1000 }))
    const update = {
      expectedExpiresAt: T0 + 1000,
      expiresAt: T0 + 2000,
      ttl: 2,
      lastRenewalTime: T0,
    }
    assert.ok(await storage.renewToken(hid('a'), T0, update))
    assert.ok(await storage.renewToken(hid('a'), T0, { ...update, expectedExpiresAt: T0 + 2000 }))
    assert.deepEqual(await storage.listExpiredTokens(T0 + 3000, 10), [hid('a')])
  })

  test('nextExpiry(): the earliest current expiry, skipping deleted and renewed tokens; null when none', async () => {
    const storage = new MemoryStorage()
    assert.equal(await storage.nextExpiry(), null)
    await storage.insertToken(rec('never'))
    assert.equal(await storage.nextExpiry(), null)
    await storage.insertToken(rec('a', { expiresAt: T0 + 1000 }))
    await storage.insertToken(rec('b', { expiresAt: T0 + 2000 }))
    await storage.insertToken(rec('c', { expiresAt: T0 + 3000 }))
    assert.equal(await storage.nextExpiry(), T0 + 1000)
    await del(storage, hid('a'), 'expired', T0 + 1000)
    assert.equal(await storage.nextExpiry(), T0 + 2000)
    await storage.renewToken(hid('b'), T0, {
      expectedExpiresAt: T0 + 2000,
      expiresAt: T0 + 4000,
      ttl: 4,
      lastRenewalTime: T0,
    })
    assert.equal(await storage.nextExpiry(), T0 + 3000)
    await del(storage, hid('c'), 'explicit', T0)
    assert.equal(await storage.nextExpiry(), T0 + 4000)
    await del(storage, hid('b'), 'explicit', T0)
    assert.equal(await storage.nextExpiry(), null)
  })
})
