/**
 * RedisStorage: `authenticate` against one raw ioredis EVALSHA round trip (goal: within 1.5×), and revoking a
 * 10,000-token subtree (goal: under 2 s). Needs Redis at REDIS_URL (default redis://127.0.0.1:6379); without it
 * the rows say so.
 */
import { randomBytes } from 'node:crypto'

import { Redis } from 'ioredis'

import { TokenStore } from '../src/index.js'
import { RedisStorage } from '../src/storage/redis/index.js'
import { measure, perOp, timeMs, type Row } from './harness.js'
import { buildSubtree, interleaved, SUBTREE_SIZE } from './subtree.js'

/** Where the Redis bench connects. */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
/** Tokens authenticated in turn. */
const TOKENS = 1000
/** Sequential operations per measured round. */
const OPS = 2000
/** The baseline: one script that reads one hash field and writes it back, as small as a use can be. */
const BASELINE_LUA = `local u = redis.call('HGET', KEYS[1], 'u') redis.call('HSET', KEYS[1], 'u', u) return u`

/** Runs the Redis scenarios; resolves to their rows. */
export async function benchRedis(): Promise<Row[]> {
  const keyPrefix = `tokentree-bench:${randomBytes(4).toString('hex')}:`
  const admin = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 })
  admin.on('error', () => undefined)
  try {
    await admin.connect()
  } catch {
    admin.disconnect()
    return [skipped('redis authenticate'), skipped('redis revoke 10k subtree')]
  }
  const storage = new RedisStorage({ client: admin, keyPrefix })
  const store = new TokenStore({ storage, secret: randomBytes(32), timers: false })
  try {
    const root = await store.createRoot()
    const tokens: string[] = []
    for (let i = 0; i < TOKENS; i++) {
      tokens.push(
        (await store.create({ parent: root.clientToken, numUses: 1_000_000 })).clientToken,
      )
    }
    const sha = (await admin.script('LOAD', BASELINE_LUA)) as string
    const key = `${keyPrefix}baseline`
    await admin.hset(key, 'u', '1000000')
    // Rounds alternate baseline and subject, so that load from elsewhere on the machine hits both alike.
    const { baseline, subject, ratio } = await interleaved(
      async () => {
        for (let i = 0; i < OPS; i++) await admin.evalsha(sha, 1, key)
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
        scenario: 'redis authenticate',
        subject: perOp(subject.median),
        baseline: `EVALSHA round trip: ${perOp(baseline.median)}`,
        ratio: `${ratio.toFixed(2)}×`,
        goal: '≤ 1.5×',
        met: ratio <= 1.5,
      },
      {
        scenario: `redis revoke ${SUBTREE_SIZE.toLocaleString('en')}-token subtree`,
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
    await deleteKeys(admin, `${keyPrefix}*`)
    await admin.quit()
  }
}

function skipped(scenario: string): Row {
  return {
    scenario,
    subject: `skipped: no Redis at ${REDIS_URL}`,
    baseline: '-',
    ratio: '-',
    goal: '-',
    met: true,
  }
}

async function deleteKeys(client: Redis, pattern: string): Promise<void> {
  let cursor = '0'
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
    cursor = next
    if (keys.length > 0) await client.del(...keys)
  } while (cursor !== '0')
}
