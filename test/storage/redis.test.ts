/**
 * RedisStorage: the conformance suite against a real Redis, then what only a shared server can show.
 */
import { after, describe, test } from 'node:test'

import { Redis } from 'ioredis'

import { RedisStorage } from '../../src/storage/redis/index.js'
import { runStorageConformance } from '../../src/testing/conformance.js'
import { REDIS_URL, skipReason, uniqueSuffix } from './helpers/services.js'

const skip = await skipReason('Redis', REDIS_URL, 6379)
const PREFIX = `tokentree-test:${uniqueSuffix()}:`

if (skip !== null) {
  test('RedisStorage', { skip }, () => undefined)
} else {
  runStorageConformance(
    { test, describe },
    () => new RedisStorage({ connection: REDIS_URL, keyPrefix: `${PREFIX}conformance:` }),
    { name: 'RedisStorage conformance' },
  )

  after(async () => {
    const client = new Redis(REDIS_URL)
    let cursor = '0'
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${PREFIX}*`, 'COUNT', 1000)
      cursor = next
      if (keys.length > 0) await client.del(...keys)
    } while (cursor !== '0')
    await client.quit()
  })
}
