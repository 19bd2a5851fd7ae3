/**
 * The model-based property on every storage: random sequences of create / authenticate / renew / revoke /
 * revokeOrphan / revokeAccessor / revokePrefix / createLease / revokeLease and clock advances, some issued at
 * once, against the reference model (see model.ts and runner.ts for what is compared after every step).
 *
 * Memory runs in `npm test` with MODEL_RUNS runs (default 300, each with and without an expiration timer); Redis,
 * Redis Cluster (REDIS_CLUSTER_URL), PostgreSQL and PGlite run fewer when their adapter and server are there
 * (ADAPTER_MODEL_RUNS, default 8). FC_SEED replays a failure.
 */
import { after, test } from 'node:test'

import { runModelProperty } from './runner.js'
import {
  memoryKind,
  pgliteKind,
  postgresKind,
  redisClusterKind,
  redisKind,
  type Availability,
  type StorageKind,
} from './storages.js'

const MEMORY_RUNS = Number(process.env.MODEL_RUNS ?? 300)
const ADAPTER_RUNS = Number(process.env.ADAPTER_MODEL_RUNS ?? 8)
const SEED = process.env.FC_SEED === undefined ? undefined : Number(process.env.FC_SEED)

async function propertyOn(
  kind: StorageKind,
  numRuns: number,
  maxCommands: number,
  lazyExpiry: boolean,
): Promise<void> {
  const started = Date.now()
  const { runs, commands, groups, looseGroups } = await runModelProperty(kind, {
    numRuns,
    maxCommands,
    lazyExpiry,
    ...(SEED === undefined ? {} : { seed: SEED }),
  }).catch((error: unknown) => {
    // fast-check's report names the counterexample; the assertion that failed is its cause.
    for (let cause = error instanceof Error ? error.cause : undefined; cause instanceof Error;) {
      process.stdout.write(`# cause: ${cause.stack ?? cause.message}\n`)
      cause = cause.cause
    }
    throw error
  })
  process.stdout.write(
    `# model property on ${kind.name}${lazyExpiry ? ' (lazy expiry)' : ''}: ${runs} runs, ${commands} commands (${groups} concurrent groups, ${looseGroups} matching a serial order only up to revoke reasons or counts) in ${Date.now() - started} ms\n`,
  )
}

test('model: random operation sequences on MemoryStorage match the reference model', async () => {
  await propertyOn(memoryKind, MEMORY_RUNS, 40, false)
})

test('model: the same without an expiration timer (expired tokens linger until revokeExpired) on MemoryStorage', async () => {
  await propertyOn(memoryKind, MEMORY_RUNS, 40, true)
})

const adapters: Array<[string, () => Promise<Availability>]> = [
  ['Redis', redisKind],
  ['Redis Cluster', redisClusterKind],
  ['PostgreSQL', postgresKind],
  ['PGlite', pgliteKind],
]
for (const [name, load] of adapters) {
  const availability = await load()
  if ('skip' in availability) {
    test(
      `model: random operation sequences on ${name} match the reference model`,
      { skip: availability.skip },
      () => undefined,
    )
    continue
  }
  const { kind } = availability
  after(() => kind.close())
  test(`model: random operation sequences on ${name} match the reference model`, async () => {
    await propertyOn(kind, ADAPTER_RUNS, 25, false)
    await propertyOn(kind, ADAPTER_RUNS, 25, true)
  })
}
