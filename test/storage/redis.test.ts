/**
 * RedisStorage: the conformance suite against a real Redis, then what only a shared server can show.
 */
import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'

import { Redis } from 'ioredis'

import { TokenStoreError } from '../../src/index.js'
import { RedisStorage } from '../../src/storage/redis/index.js'
import type { RevocationNotice } from '../../src/storage/storage.js'
import { runStorageConformance } from '../../src/testing/conformance.js'
import type { HashedTokenId, TokenRecord } from '../../src/types.js'
import { REDIS_URL, skipReason, uniqueSuffix } from './helpers/services.js'
import { runSharedStorageTests } from './helpers/shared-storage-tests.js'

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
    address: { host: hostname, port: Number(port || 6379) },
    namespace: (label) => Promise.resolve(`${PREFIX}${label}:`),
    storage: (namespace) => new RedisStorage({ connection: REDIS_URL, keyPrefix: namespace }),
    storageVia: (proxyPort, namespace) => {
      const storage = new RedisStorage({
        connection: { host: '127.0.0.1', port: proxyPort, connectTimeout: 1000 },
        keyPrefix: namespace,
      })
      return { storage, close: () => storage.close() }
    },
    countTokens: async (namespace) => admin.hlen(`${namespace}acc`),
    dump: (namespace) => dumpKeys(admin, `${namespace}*`),
  })

  describe('RedisStorage', () => {
    test('a subscriber whose connection drops catches up on what it missed', async () => {
      const keyPrefix = `${PREFIX}reconnect:`
      const a = new RedisStorage({ connection: REDIS_URL, keyPrefix })
      const b = new RedisStorage({ connection: REDIS_URL, keyPrefix, pollInterval: 60_000 })
      const received: RevocationNotice[] = []
      const stop = await b.subscribe((notice) => received.push(notice))
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

    test('a client given by the caller is used and left open', async () => {
      const client = new Redis(REDIS_URL)
      const storage = new RedisStorage({ client, keyPrefix: `${PREFIX}given:` })
      assert.equal(await storage.getToken(hashed('missing')), null)
      await storage.close()
      assert.equal(await client.ping(), 'PONG')
      await client.quit()
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

async function insertTokens(storage: RedisStorage, count: number): Promise<TokenRecord[]> {
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
