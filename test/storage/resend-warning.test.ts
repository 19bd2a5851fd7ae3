/**
 * RedisStorage warns, once per process, when the ioredis client it is given would send a script again after its
 * connection closed before the reply (a use spent twice). Its own file: the warning is once per process. No server
 * is needed: the clients never connect (`lazyConnect`).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { Cluster, Redis } from 'ioredis'

import { RedisStorage } from '../../src/storage/redis/index.js'
import { RESEND_WARNING_CODE, resendingOption } from '../../src/storage/redis/resend-warning.js'

/** The warnings with the resend code emitted while `run` runs (and the turn after it). */
async function resendWarnings(run: () => void): Promise<Error[]> {
  const seen: Error[] = []
  const listener = (warning: Error & { code?: string }): void => {
    if (warning.code === RESEND_WARNING_CODE) seen.push(warning)
  }
  process.on('warning', listener)
  try {
    run()
    await new Promise((resolve) => setImmediate(resolve))
  } finally {
    process.off('warning', listener)
  }
  return seen
}

const redis = (options: { autoResendUnfulfilledCommands?: boolean }): Redis =>
  new Redis({ lazyConnect: true, ...options })
const cluster = (options: {
  retryDelayOnFailover?: number
  clusterNodeRetryStrategy?: () => number
  redisOptions?: { autoResendUnfulfilledCommands: boolean }
}): Cluster => new Cluster([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true, ...options })

test('resendingOption(): Redis resends unless autoResendUnfulfilledCommands is false; Cluster unless retryDelayOnFailover is 0', () => {
  assert.equal(resendingOption(redis({})), 'autoResendUnfulfilledCommands: true')
  assert.equal(resendingOption(redis({ autoResendUnfulfilledCommands: false })), null)
  assert.equal(resendingOption(cluster({})), 'retryDelayOnFailover: 100')
  assert.equal(resendingOption(cluster({ retryDelayOnFailover: 0 })), null)
  // A Cluster's node connections do not reconnect by default: their own resend option plays no part then.
  assert.equal(
    resendingOption(
      cluster({ retryDelayOnFailover: 0, redisOptions: { autoResendUnfulfilledCommands: true } }),
    ),
    null,
  )
  // With a clusterNodeRetryStrategy they do, and resend unless told not to.
  const retry = (): number => 50
  assert.equal(
    resendingOption(cluster({ retryDelayOnFailover: 0, clusterNodeRetryStrategy: retry })),
    'clusterNodeRetryStrategy and redisOptions.autoResendUnfulfilledCommands: true',
  )
  assert.equal(
    resendingOption(
      cluster({
        retryDelayOnFailover: 0,
        clusterNodeRetryStrategy: retry,
        redisOptions: { autoResendUnfulfilledCommands: false },
      }),
    ),
    null,
  )
})

test('RedisStorage warns once per process about a resending client, never about a safe one', async () => {
  const safe = await resendWarnings(() => {
    new RedisStorage({ client: redis({ autoResendUnfulfilledCommands: false }) })
    new RedisStorage({ client: cluster({ retryDelayOnFailover: 0 }) })
    new RedisStorage({ connection: { lazyConnect: true } })
  })
  assert.deepEqual(safe, [])
  const warned = await resendWarnings(() => {
    new RedisStorage({ client: redis({}) })
    new RedisStorage({ client: cluster({}) })
  })
  const [warning] = warned
  assert.equal(warned.length, 1)
  assert.ok(warning)
  assert.equal(warning.name, 'TokenStoreWarning')
  assert.match(warning.message, /autoResendUnfulfilledCommands: false/)
})
