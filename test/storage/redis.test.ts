/**
 * RedisStorage: the conformance suite against a real Redis, then what only a shared server can show.
 */
import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'

import { Redis } from 'ioredis'

import { TokenStoreError } from '../../src/index.js'
import { RedisStorage } from '../../src/storage/redis/index.js'
import { DRAIN_LISTING } from '../../src/storage/redis/scripts.js'
import type { RevocationNotice } from '../../src/storage/storage.js'
import { runStorageConformance } from '../../src/testing/conformance.js'
import type { HashedTokenId, TokenRecord } from '../../src/types.js'
import { REDIS_URL, skipReason, uniqueSuffix } from './helpers/services.js'
import { runSharedStorageTests } from './helpers/shared-storage-tests.js'
import { TcpProxy } from './helpers/tcp-proxy.js'

const skip = await skipReason('Redis', REDIS_URL, 6379)
const PREFIX = `tokentree-test:${uniqueSuffix()}:`

if (skip !== null) {
  test('RedisStorage', { skip }, () => undefined)
} else {
  const admin = new Redis(REDIS_URL)
  const { hostname, port } = new URL(REDIS_URL)

  after(async () => {
    await deleteKeys(admin, `${PREFIX}*`)
    await admin.quit()
  })

  runStorageConformance(
    { test, describe },
    () => new RedisStorage({ connection: REDIS_URL, keyPrefix: `${PREFIX}conformance:` }),
    { name: 'RedisStorage conformance' },
  )

  runSharedStorageTests({
    name: 'redis',
    addresses: [{ host: hostname, port: Number(port || 6379) }],
    namespace: (label) => Promise.resolve(`${PREFIX}${label}:`),
    storage: (namespace) => new RedisStorage({ connection: REDIS_URL, keyPrefix: namespace }),
    storageVia: (ports, namespace) => {
      const storage = new RedisStorage({
        connection: { host: '127.0.0.1', port: Number(ports[0]), connectTimeout: 1000 },
        keyPrefix: namespace,
      })
      return { storage, close: () => storage.close() }
    },
    countTokens: async (namespace) => admin.hlen(`${namespace}acc`),
    dump: (namespace) => dumpKeys(admin, `${namespace}*`),
    trimNotices: async (namespace) => {
      await admin.xtrim(`${namespace}notices`, 'MAXLEN', 0)
    },
    resetNotices: async (namespace) => {
      await admin.del(`${namespace}notices`, `${namespace}seq`, `${namespace}epoch`)
    },
  })

  describe('RedisStorage', () => {
    test('a subtree deletion passes over indexed children that are gone, and leaves no key of the subtree', async () => {
      const keyPrefix = `${PREFIX}ghosts:`
      const storage = new RedisStorage({ connection: REDIS_URL, keyPrefix })
      try {
        const [top, a, b, c, d, e] = (await insertTokens(storage, 6)) as [
          TokenRecord,
          TokenRecord,
          TokenRecord,
          TokenRecord,
          TokenRecord,
          TokenRecord,
        ]
        const others = [a, b, c, d, e]
        // top has a, b, c; a has d, e: inserted again under their parents (insertTokens makes roots).
        const tree = [
          top,
          { ...a, parent: top.id },
          { ...b, parent: top.id },
          { ...c, parent: top.id },
          { ...d, parent: a.id },
          { ...e, parent: a.id },
        ]
        for (const r of others) await storage.deleteToken(r.id, 'explicit', 1)
        for (const r of tree.slice(1)) assert.equal(await storage.insertToken(r), 'inserted')
        // Index entries whose tokens are gone (as a crash of an older version could leave them).
        await admin.sadd(`${keyPrefix}c:${top.id}`, 'ghost-1', 'ghost-2')
        await admin.sadd(`${keyPrefix}c:${a.id}`, 'ghost-3')
        await storage.markRevoking(top.id, 'explicit')
        const seen: HashedTokenId[] = []
        for (let calls = 0; ; calls++) {
          assert.ok(calls < 20, 'deleteSubtree never finished')
          const result = await storage.deleteSubtree(top.id, 'explicit', 1, 2)
          seen.push(...result.tokens.map((t) => t.id))
          if (result.done) break
        }
        assert.deepEqual([...seen].sort(), tree.map((r) => r.id).sort())
        await storage.listingCleanupSettled()
        for (const kind of ['t', 'c', 'pc', 'tl']) {
          for (const r of tree)
            assert.equal(await admin.exists(`${keyPrefix}${kind}:${r.id}`), 0, `${kind}:${r.id}`)
        }
        assert.equal(await admin.hlen(`${keyPrefix}acc`), 0)
        assert.equal(await admin.zcard(`${keyPrefix}ls`), 0)
        assert.equal(await admin.exists(`${keyPrefix}lsg`), 0)
      } finally {
        await storage.close()
      }
    })

    test('a batch deletion leaves its listing entries to the cleanup, which runs once the deletion is done', async () => {
      const keyPrefix = `${PREFIX}listing-cleanup:`
      const storage = new RedisStorage({ connection: REDIS_URL, keyPrefix })
      try {
        const [top, other, ...rest] = (await insertTokens(storage, 6)) as [
          TokenRecord,
          TokenRecord,
          ...TokenRecord[],
        ]
        const children = rest.map((r) => ({ ...r, parent: top.id }))
        for (const r of rest) await storage.deleteToken(r.id, 'explicit', 1)
        for (const r of children) assert.equal(await storage.insertToken(r), 'inserted')
        await storage.markRevoking(top.id, 'explicit')
        const listed = (): Promise<string[]> => admin.zrange(`${keyPrefix}ls`, '0', '-1')
        // Two of the five: not done, so no cleanup yet; the entries wait in the queue and listings skip them.
        const first = await storage.deleteSubtree(top.id, 'explicit', 1, 2)
        assert.equal(first.done, false)
        assert.equal(first.tokens.length, 2)
        await new Promise((resolve) => setTimeout(resolve, 20))
        assert.deepEqual(
          (await admin.lrange(`${keyPrefix}lsg`, 0, -1)).sort(),
          first.tokens.map((t) => `${t.path} ${t.accessor}`).sort(),
        )
        assert.equal((await listed()).length, 6)
        const page = await storage.listTokens({ limit: 10, cursor: null, now: 1 })
        // The top and what is left under it are being revoked: only `other` is live.
        assert.deepEqual(
          page.records.map((r) => r.accessor),
          [other.accessor],
        )
        let done = false
        while (!done) done = (await storage.deleteSubtree(top.id, 'explicit', 1, 2)).done
        await storage.listingCleanupSettled()
        assert.deepEqual(await listed(), [`${other.path} ${other.accessor}`])
        assert.equal(await admin.exists(`${keyPrefix}lsg`), 0)
      } finally {
        await storage.close()
      }
    })

    test('the listing cleanup keeps an entry whose accessor was inserted again on the same path, and tidy() drains what a dead instance queued', async () => {
      const keyPrefix = `${PREFIX}listing-reuse:`
      const storage = new RedisStorage({ connection: REDIS_URL, keyPrefix })
      try {
        const [kept, gone, moved] = (await insertTokens(storage, 3)) as [
          TokenRecord,
          TokenRecord,
          TokenRecord,
        ]
        const entry = (r: TokenRecord, path = r.path): string => `${path} ${r.accessor}`
        // As a batch deletion would leave them: each queued, its `ls` entry still there. `kept` is live again
        // (deleted, then inserted with its accessor and path); `gone` is gone; `moved` is live on another path.
        await storage.deleteToken(gone.id, 'explicit', 1)
        await admin.zadd(`${keyPrefix}ls`, '0', entry(gone), '0', entry(moved, 'auth/old'))
        await admin.rpush(`${keyPrefix}lsg`, entry(kept), entry(gone), entry(moved, 'auth/old'))
        const result = await storage.tidy()
        assert.equal(await admin.exists(`${keyPrefix}lsg`), 0)
        assert.deepEqual(
          await admin.zrange(`${keyPrefix}ls`, '0', '-1'),
          [entry(kept), entry(moved)].sort(),
        )
        // The queued entries were not damage: tidy() counts none of them.
        assert.equal(result.indexEntriesRemoved, 0)
        const page = await storage.listTokens({ limit: 10, cursor: null, now: 1 })
        assert.deepEqual(
          page.records.map((r) => r.accessor).sort(),
          [kept, moved].map((r) => r.accessor).sort(),
        )
      } finally {
        await storage.close()
      }
    })

    test('the listing cleanup compacts the listing in order when most of it is queued, and by the queue otherwise', async () => {
      const keyPrefix = `${PREFIX}listing-compaction:`
      const storage = new RedisStorage({ connection: REDIS_URL, keyPrefix })
      const key = (kind: string): string => `${keyPrefix}${kind}`
      const step = async (count: number): Promise<number> =>
        Number(await admin.eval(DRAIN_LISTING.lua, 0, keyPrefix, String(count)))
      try {
        const live = await insertTokens(storage, 3)
        const entry = (r: TokenRecord): string => `${r.path} ${r.accessor}`
        const listedNow = async (): Promise<string[]> => admin.zrange(key('ls'), '0', '-1')
        // Ten entries of tokens that are gone, before, between and after the live ones in `ls` (an entry that
        // extends a live one sorts right after it), all queued; and the entry of a live token queued too (its
        // accessor inserted again after a deletion).
        const gone = [
          'auth/test a0',
          'auth/test a1',
          ...live.flatMap((r) => [`${entry(r)}~0`, `${entry(r)}~1`]),
          'auth/test zz0',
          'auth/test zz1',
        ]
        for (const m of gone) await admin.zadd(key('ls'), '0', m)
        await admin.rpush(key('lsg'), ...gone, entry(live[0] as TokenRecord))
        assert.ok((await step(4)) > 0)
        assert.equal(await admin.exists(key('lsc')), 1, '11 queued of 13 listed: compaction')
        // Queued while the compaction runs: an entry before its cursor, left to the queue.
        const late = `auth/a-late ${uniqueSuffix()}`
        await admin.zadd(key('ls'), '0', late)
        await admin.rpush(key('lsg'), late)
        let steps = 1
        while ((await step(4)) > 0) assert.ok(++steps < 20, 'the cleanup never ended')
        assert.deepEqual(await listedNow(), live.map(entry).sort())
        for (const kind of ['lsg', 'lsc', 'lsn'])
          assert.equal(await admin.exists(key(kind)), 0, kind)

        // One queued among many listed: by the queue, no compaction.
        const more = await insertTokens(storage, 4)
        const stray = `auth/test acc-stray-${uniqueSuffix()}`
        await admin.zadd(key('ls'), '0', stray)
        await admin.rpush(key('lsg'), stray)
        assert.equal(await step(4), 0)
        assert.equal(await admin.exists(key('lsc')), 0)
        assert.deepEqual(await listedNow(), [...live, ...more].map(entry).sort())
      } finally {
        await storage.close()
      }
    })

    test('a subscriber whose connection drops catches up on what it missed', async () => {
      const keyPrefix = `${PREFIX}reconnect:`
      const a = new RedisStorage({ connection: REDIS_URL, keyPrefix })
      const b = new RedisStorage({ connection: REDIS_URL, keyPrefix, pollInterval: 60_000 })
      const received: RevocationNotice[] = []
      const stop = await b.subscribe((notice) => notice.kind !== 'policy' && received.push(notice))
      try {
        const records = await insertTokens(a, 5)
        await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub')
        // Written while b's listening connection is down.
        for (const r of records) await a.deleteToken(r.id, 'explicit', 1)
        const deadline = Date.now() + 5000
        while (received.length < 5 && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 20))
        }
        assert.deepEqual(
          received.map((n) => n.accessor),
          records.map((r) => r.accessor),
        )
      } finally {
        await stop()
        await a.close()
        await b.close()
      }
    })

    test('tidy() removes every kind of stale index entry and orphans the children of a vanished parent', async () => {
      const keyPrefix = `${PREFIX}tidy:`
      const storage = new RedisStorage({ connection: REDIS_URL, keyPrefix })
      try {
        const [a, b, c] = await insertTokens(storage, 3)
        assert.ok(a && b && c)
        // b under a, c under b: re-insert them with parents.
        for (const r of [b, c]) await storage.deleteToken(r.id, 'explicit', 1)
        const child = { ...b, parent: a.id }
        const grandchild = { ...c, parent: b.id }
        assert.equal(await storage.insertToken(child), 'inserted')
        assert.equal(await storage.insertToken(grandchild), 'inserted')
        const lease = {
          id: 'db/creds/app/x1',
          token: b.id,
          accessor: b.accessor,
          path: 'db/creds/app',
          data: null,
          issueTime: 0,
          ttl: 60,
          expiresAt: 4_000_000_000_000,
          renewable: true,
          lastRenewalTime: null,
        }
        assert.equal(await storage.insertLease(lease, 2), 'inserted')
        const k = (key: string): string => `${keyPrefix}${key}`
        // Stale entries of every index (10), as a crash or a hand edit could leave them.
        await admin.hset(k('acc'), 'ghost-accessor', 'ghost-id')
        await admin.sadd(k('p:auth/ghost'), 'ghost-id')
        await admin.zadd(k('paths'), 0, 'auth/ghost')
        await admin.zadd(k('exp'), 123, 'ghost-id')
        await admin.zadd(k('rv'), 0, 'ghost-id', 0, a.id)
        await admin.sadd(k(`c:${a.id}`), 'ghost-child')
        await admin.sadd(k(`tl:${a.id}`), 'ghost-lease')
        await admin.zadd(k('lexp'), 5, 'ghost-lease')
        await admin.zadd(k('lids'), 0, 'ghost-lease')
        // b's hash vanishes alone: its accessor, path, child and listing (`ls`, a's `pc:`) entries go stale (5), c
        // becomes an orphan, and its lease is left without a token.
        await admin.del(k(`t:${b.id}`))
        const result = await storage.tidy()
        assert.deepEqual(result, {
          indexEntriesRemoved: 15,
          childrenOrphaned: 1,
          danglingLeases: [lease.id],
        })
        assert.equal((await storage.getToken(c.id))?.parent, null)
        assert.ok(await storage.getLiveToken(c.id, 2))
        assert.deepEqual(await storage.getToken(a.id), a)
        assert.deepEqual(await storage.listChildren(a.id), [])
        assert.deepEqual(await storage.listRevoking(10), [])
        assert.deepEqual(await storage.listExpiredTokens(1000, 10), [])
        assert.deepEqual(await storage.listExpiredLeases(1000, 10), [])
        assert.deepEqual(await storage.findByPathPrefix('auth/ghost'), [])
        assert.equal(await admin.hexists(k('acc'), b.accessor), 0)
        assert.equal(await admin.zscore(k('ls'), `${b.path} ${b.accessor}`), null)
        assert.equal(await admin.exists(k(`pc:${a.id}`)), 0)
        assert.deepEqual(await storage.tidy(), {
          indexEntriesRemoved: 0,
          childrenOrphaned: 0,
          danglingLeases: [lease.id],
        })
      } finally {
        await storage.close()
      }
    })

    test('tidy() adds the listing entries of tokens written before listings existed', async () => {
      const keyPrefix = `${PREFIX}backfill:`
      const storage = new RedisStorage({ connection: REDIS_URL, keyPrefix })
      try {
        const [a, b] = await insertTokens(storage, 2)
        assert.ok(a && b)
        const child = { ...b, parent: a.id }
        await storage.deleteToken(b.id, 'explicit', 1)
        assert.equal(await storage.insertToken(child), 'inserted')
        // What an earlier version wrote: no `ls` and no `pc:` entries.
        await admin.del(`${keyPrefix}ls`, `${keyPrefix}pc:${a.id}`)
        const query = { pathPrefix: 'auth/test', now: 2, limit: 10, cursor: null }
        assert.deepEqual((await storage.listTokens(query)).records, [])
        await storage.tidy()
        const listed = (await storage.listTokens(query)).records.map((r) => r.accessor)
        assert.deepEqual(new Set(listed), new Set([a.accessor, b.accessor]))
        const children = await storage.listTokens({ parent: a.id, now: 2, limit: 10, cursor: null })
        assert.deepEqual(
          children.records.map((r) => r.accessor),
          [b.accessor],
        )
      } finally {
        await storage.close()
      }
    })

    test('a client given by the caller is used and left open', async () => {
      const client = new Redis(REDIS_URL, { autoResendUnfulfilledCommands: false })
      const storage = new RedisStorage({ client, keyPrefix: `${PREFIX}given:` })
      assert.equal(await storage.getToken(hashed('missing')), null)
      await storage.close()
      assert.equal(await client.ping(), 'PONG')
      await client.quit()
    })

    test('a script the server lost (NOSCRIPT) is sent whole; if that fails too: storage_unavailable', async () => {
      const client = new Redis(REDIS_URL, { autoResendUnfulfilledCommands: false })
      const storage = new RedisStorage({ client, keyPrefix: `${PREFIX}noscript:` })
      try {
        const [record] = await insertTokens(storage, 1)
        assert.ok(record)
        let evalshaCalls = 0
        client.evalsha = () => {
          evalshaCalls++
          return Promise.reject(new Error('NOSCRIPT No matching script. Please use EVAL.'))
        }
        assert.equal((await storage.useToken(record.id, Date.now()))?.id, record.id)
        assert.equal(evalshaCalls, 1)
        let evalCalls = 0
        client.eval = () => {
          evalCalls++
          return Promise.reject(new Error('LOADING Redis is loading'))
        }
        await assert.rejects(storage.useToken(record.id, Date.now()), (error: unknown) => {
          assert.ok(error instanceof TokenStoreError)
          assert.equal(error.code, 'storage_unavailable')
          assert.match((error.cause as Error).message, /^LOADING/)
          return true
        })
        // Any other failure of EVALSHA is not retried.
        client.evalsha = () => Promise.reject(new Error('BUSY'))
        await assert.rejects(storage.getLiveToken(record.id, Date.now()), {
          code: 'storage_unavailable',
        })
        assert.equal(evalCalls, 1)
      } finally {
        await storage.close()
        await client.quit()
      }
    })

    test('a script whose reply is lost with its connection fails, and is not run again: a lost reply spends one use', async () => {
      const proxy = new TcpProxy({ host: hostname, port: Number(port || 6379) })
      await proxy.open()
      const keyPrefix = `${PREFIX}lost-reply:`
      const storage = new RedisStorage({ connection: `redis://127.0.0.1:${proxy.port}`, keyPrefix })
      const direct = new RedisStorage({ connection: REDIS_URL, keyPrefix })
      try {
        const [record] = await insertTokens(storage, 1, { numUses: 5 })
        const id = (record as TokenRecord).id
        assert.equal((await storage.useToken(id, 0))?.numUses, 4)
        proxy.dropNextReplyTo(/eval/i)
        await assert.rejects(storage.useToken(id, 0), { code: 'storage_unavailable' })
        assert.equal(proxy.waitingToDrop, false, 'the proxy dropped a reply')
        // The script ran once, its reply lost: one use gone, not two (ioredis would send it again on reconnecting).
        assert.equal((await direct.getToken(id))?.numUses, 3)
        assert.equal((await storage.useToken(id, 0))?.numUses, 2)
      } finally {
        await storage.close()
        await direct.close()
        await proxy.cut()
      }
    })

    test('an unreachable server: storage_unavailable, without the arguments in the cause', async () => {
      const storage = new RedisStorage({
        connection: { host: '127.0.0.1', port: 1, connectTimeout: 500 },
      })
      try {
        await assert.rejects(storage.useToken(hashed('x'), 0), (error: unknown) => {
          assert.ok(error instanceof TokenStoreError)
          assert.equal(error.code, 'storage_unavailable')
          assert.ok(!JSON.stringify(error.cause ?? null).includes(hashed('x')))
          return true
        })
      } finally {
        await storage.close()
      }
    })
  })
}

function hashed(text: string): HashedTokenId {
  return `hashed-${text}` as HashedTokenId
}

async function insertTokens(
  storage: RedisStorage,
  count: number,
  overrides: Partial<TokenRecord> = {},
): Promise<TokenRecord[]> {
  const records: TokenRecord[] = Array.from({ length: count }, (_, i) => ({
    id: hashed(`${uniqueSuffix()}-${i}`),
    accessor: `acc-${uniqueSuffix()}`,
    parent: null,
    policies: [],
    path: 'auth/test',
    metadata: {},
    displayName: '',
    numUses: 0,
    creationTime: 0,
    creationTtl: 0,
    ttl: 0,
    expiresAt: null,
    explicitMaxTtl: 0,
    period: 0,
    renewable: false,
    lastRenewalTime: null,
    revoking: null,
    ...overrides,
  }))
  for (const r of records) await storage.insertToken(r)
  return records
}

async function deleteKeys(client: Redis, pattern: string): Promise<void> {
  let cursor = '0'
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
    cursor = next
    if (keys.length > 0) await client.del(...keys)
  } while (cursor !== '0')
}

/** Every key matching `pattern` with its value, whatever its type, as text. */
async function dumpKeys(client: Redis, pattern: string): Promise<string> {
  const parts: string[] = []
  let cursor = '0'
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
    cursor = next
    for (const key of keys) {
      parts.push(key)
      const type = await client.type(key)
      if (type === 'string') parts.push((await client.get(key)) ?? '')
      else if (type === 'hash') parts.push(JSON.stringify(await client.hgetall(key)))
      else if (type === 'set') parts.push(JSON.stringify(await client.smembers(key)))
      else if (type === 'zset') parts.push(JSON.stringify(await client.zrange(key, 0, '-1')))
      else if (type === 'stream') parts.push(JSON.stringify(await client.xrange(key, '-', '+')))
      else parts.push(`<${type}>`)
    }
  } while (cursor !== '0')
  return parts.join('\n')
}
