/**
 * `npm run bench:million` (issue 15): revoking a million-token subtree, and sweeping a million tokens that expire
 * in the same second, while the same process keeps authenticating unrelated tokens.
 *
 * For each storage (memory; Redis and PostgreSQL when they answer): a 1,000 × 1,000 subtree (plus its top) is
 * loaded straight into the storage in parallel batches (not measured), then `revokeAccessor` on the top runs while
 * a loop authenticates unrelated tokens back to back, yielding to the event loop between calls. Each latency runs
 * from the moment the loop was ready for the next request to the moment it was answered, so a revocation that
 * holds the event loop (or the storage) shows up in it. Then a million tokens expiring in the same second are
 * swept by `revokeExpired()` (what the expiration manager's timer calls) under the same loop. The baseline is the
 * same loop with nothing else running, measured in the same run. Peak heap and RSS growth over the state before
 * each operation are sampled every 10 ms. On Redis, each row also gives the server's work during the operation:
 * its main thread's CPU time and the bytes it sent (from `INFO`); neither counts the time Redis waited for a core. On Redis, the listing cleanup that follows each (the removal of the deleted
 * tokens' listing entries, deferred until no deletion runs) is measured too, under the same loop, as its own rows.
 *
 * Size: `BENCH_MILLION_SIZE` (default 1,000,000; e.g. 100000 for a quick try), rounded to a square fan-out.
 * `BENCH_MILLION_STORAGES` picks storages (default `memory,redis,postgres`).
 * `BENCH_REDIS_IN_FLIGHT` and `BENCH_REDIS_BATCH` set `RedisStorage`'s `revocationCallsInFlight` and
 * `revocationBatchSize`. Not part of `npm test`.
 */
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { setImmediate as yieldToLoop } from 'node:timers/promises'

import { Redis } from 'ioredis'

import { MemoryStorage, TokenStore } from '../src/index.js'
import type { Storage } from '../src/storage/storage.js'
import { PostgresStorage } from '../src/storage/postgres/index.js'
import { RedisStorage } from '../src/storage/redis/index.js'
import type { Accessor, TokenRecord, UnixMillis } from '../src/types.js'
import { median, printTable, type Row } from './harness.js'
import { DATABASE_URL, openBenchSchema } from './postgres.js'
import { syntheticRecord } from './synthetic-record.js'
import { REDIS_URL } from './redis.js'

/** Tokens in each scenario. */
const SIZE = Number(process.env.BENCH_MILLION_SIZE ?? 1_000_000)
/** The subtree's fan-out: the top has `FANOUT` children, each with `FANOUT - 1`, so that it holds about SIZE. */
const FANOUT = Math.max(2, Math.round(Math.sqrt(SIZE)))
/** Which storages to run. */
const STORAGES = (process.env.BENCH_MILLION_STORAGES ?? 'memory,redis,postgres').split(',')
/** `RedisStorage`'s `revocationCallsInFlight` (`BENCH_REDIS_IN_FLIGHT`; unset: the storage's default). */
const REDIS_IN_FLIGHT =
  process.env.BENCH_REDIS_IN_FLIGHT === undefined
    ? undefined
    : Number(process.env.BENCH_REDIS_IN_FLIGHT)
/** `RedisStorage`'s `revocationBatchSize` (`BENCH_REDIS_BATCH`; unset: the storage's default). */
const REDIS_BATCH =
  process.env.BENCH_REDIS_BATCH === undefined ? undefined : Number(process.env.BENCH_REDIS_BATCH)
/** Unrelated tokens the loop authenticates in turn. */
const UNRELATED = 100
/** How long the baseline loop runs, in ms. */
const BASELINE_MS = 1000
/** Goals per storage, in ms: the issue's. */
const GOALS: Record<string, number> = { memory: 1_000, redis: 15_000, postgres: 30_000 }
/** The latency goal for unrelated requests, in ms. */
const P99_GOAL = 5

/** How a storage is loaded in bulk (unmeasured): by default `insertToken` with many calls in flight. */
type BulkLoad = (records: TokenRecord[]) => Promise<void>

function insertLoader(storage: Storage, inFlight: number): BulkLoad {
  return async (records) => {
    for (let i = 0; i < records.length; i += inFlight) {
      const results = await Promise.all(
        records.slice(i, i + inFlight).map((r) => storage.insertToken(r)),
      )
      const failed = results.find((result) => result !== 'inserted')
      if (failed !== undefined) throw new Error(`bulk load: ${failed}`)
    }
  }
}

/**
 * What the storage server did, read before and after an operation: its CPU time (Redis's main thread, user and
 * system) and the bytes it sent. Unlike the operation's time, neither counts the moments the server waited for a
 * core; the CPU time does count what the kernel did for it (page faults, TLB flushes after the allocator returns
 * memory), and the bytes are the same on any machine.
 */
interface ServerReading {
  readonly cpuSeconds: number
  readonly sentBytes: number
}

type ServerProbe = () => Promise<ServerReading>

/** One operation under the authenticate loop: its time, the loop's latencies, memory growth, server work. */
interface Measured {
  ms: number
  latencies: number[]
  heapMb: number
  rssMb: number
  server: ServerReading | undefined
}

/** Reads Redis's `INFO` for a {@link ServerReading} (the main thread's CPU where Redis reports it apart). */
function redisProbe(client: Redis): ServerProbe {
  return async () => {
    const info = await client.info('all')
    const field = (name: string): number | undefined => {
      const match = new RegExp(`^${name}:([0-9.]+)`, 'm').exec(info)
      return match === null ? undefined : Number(match[1])
    }
    const user = field('used_cpu_user_main_thread') ?? field('used_cpu_user') ?? 0
    const sys = field('used_cpu_sys_main_thread') ?? field('used_cpu_sys') ?? 0
    return { cpuSeconds: user + sys, sentBytes: field('total_net_output_bytes') ?? 0 }
  }
}

/** The server's work during an operation, for a row's baseline column ('' without a probe). */
function serverText(server: ServerReading | undefined): string {
  if (server === undefined) return ''
  const mb = server.sentBytes / 1e6
  return `; server CPU ${server.cpuSeconds.toFixed(1)} s, sent ${mb.toFixed(0)} MB`
}

/** Loads the 1 + FANOUT + FANOUT × (FANOUT - 1) subtree level by level; resolves to the top's accessor and size. */
async function loadSubtree(
  load: BulkLoad,
  tag: string,
  now: UnixMillis,
): Promise<{ top: Accessor; size: number }> {
  const top = syntheticRecord(`${tag}-top`, null, null, now)
  await load([top])
  const heads = Array.from({ length: FANOUT }, (_, a) =>
    syntheticRecord(`${tag}-${a}`, top.id, null, now),
  )
  await load(heads)
  let size = 1 + heads.length
  const chunk: TokenRecord[] = []
  for (const head of heads) {
    for (let b = 1; b < FANOUT; b++)
      chunk.push(syntheticRecord(`${head.id}-${b}`, head.id, null, now))
    if (chunk.length >= 20_000) {
      size += chunk.length
      await load(chunk.splice(0))
    }
  }
  size += chunk.length
  await load(chunk)
  return { top: top.accessor, size }
}

/** Loads `count` orphan tokens that all expire at `expiresAt`. */
async function loadExpiring(
  load: BulkLoad,
  tag: string,
  count: number,
  expiresAt: UnixMillis,
  now: UnixMillis,
): Promise<void> {
  for (let i = 0; i < count; i += 20_000) {
    const chunk: TokenRecord[] = []
    for (let j = i; j < Math.min(count, i + 20_000); j++) {
      chunk.push(syntheticRecord(`${tag}-e${j}`, null, expiresAt, now))
    }
    await load(chunk)
  }
}

/** Latencies (ms) of back-to-back authentications of unrelated tokens, until `until` settles. */
async function authenticateLoop(
  store: TokenStore,
  tokens: readonly string[],
  until: Promise<unknown>,
): Promise<number[]> {
  // An object, so that the loop's condition reads what the callback wrote.
  const state = { running: true }
  void until.finally(() => {
    state.running = false
  })
  const latencies: number[] = []
  let ready = performance.now()
  for (let i = 0; state.running; i++) {
    await yieldToLoop()
    await store.authenticate(tokens[i % tokens.length] ?? '')
    const done = performance.now()
    latencies.push(done - ready)
    ready = done
  }
  return latencies
}

/** Peak growth of heap and RSS over their values now, sampled every 10 ms until `stop` is called. */
function memorySampler(): () => { heapMb: number; rssMb: number } {
  globalThis.gc?.()
  const start = process.memoryUsage()
  let heap = 0
  let rss = 0
  const sample = (): void => {
    const now = process.memoryUsage()
    heap = Math.max(heap, now.heapUsed - start.heapUsed)
    rss = Math.max(rss, now.rss - start.rss)
  }
  const timer = setInterval(sample, 10)
  return () => {
    sample()
    clearInterval(timer)
    return { heapMb: heap / 2 ** 20, rssMb: rss / 2 ** 20 }
  }
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? Number.NaN
}

function latencyText(values: readonly number[]): string {
  const f = (ms: number): string => ms.toFixed(2)
  // Not Math.max(...values): a revocation that runs for minutes collects more samples than a call's arguments may hold.
  const max = values.reduce((a, b) => Math.max(a, b), Number.NEGATIVE_INFINITY)
  return `p50 ${f(median(values))} / p99 ${f(percentile(values, 99))} / max ${f(max)} ms (n=${values.length})`
}

/** Runs `operation` under the authenticate loop; resolves to its duration, the latencies and peak memory. */
async function underLoad(
  store: TokenStore,
  tokens: readonly string[],
  operation: () => Promise<unknown>,
  probe?: ServerProbe,
): Promise<Measured> {
  const before = await probe?.()
  const stopSampling = memorySampler()
  const started = performance.now()
  const running = operation()
  const latencies = authenticateLoop(store, tokens, running)
  await running
  const ms = performance.now() - started
  const memory = stopSampling()
  const after = await probe?.()
  const server =
    before === undefined || after === undefined
      ? undefined
      : {
          cpuSeconds: after.cpuSeconds - before.cpuSeconds,
          sentBytes: after.sentBytes - before.sentBytes,
        }
  return { ms, latencies: await latencies, ...memory, server }
}

/** One storage's four rows: revoke and expiry storm, each with its duration and the unrelated p99. */
async function scenario(
  name: string,
  storage: Storage,
  load: BulkLoad,
  secret?: Buffer,
  probe?: ServerProbe,
): Promise<Row[]> {
  let now = Date.now()
  const store = new TokenStore({
    storage,
    ...(secret === undefined ? {} : { secret }),
    timers: false,
    clock: () => now,
  })
  const goal = GOALS[name] ?? 1000
  const rows: Row[] = []
  try {
    const tokens: string[] = []
    for (let i = 0; i < UNRELATED; i++) tokens.push((await store.create({})).clientToken)
    let revoked = 0
    store.on('revoked', () => {
      revoked += 1
    })
    const tag = randomBytes(3).toString('hex')

    process.stderr.write(`bench:million: ${name}: baseline loop...\n`)
    const baseline = await authenticateLoop(
      store,
      tokens,
      new Promise((resolve) => setTimeout(resolve, BASELINE_MS)),
    )
    const baseP99 = percentile(baseline, 99)

    process.stderr.write(`bench:million: ${name}: loading a subtree of about ${SIZE}...\n`)
    const tree = await loadSubtree(load, tag, now)
    process.stderr.write(`bench:million: ${name}: revoking ${tree.size}...\n`)
    const revoke = await underLoad(store, tokens, () => store.revokeAccessor(tree.top), probe)
    if (revoked !== tree.size) throw new Error(`${name}: revoked ${revoked} of ${tree.size}`)
    // Written at once: a run cut short (a timeout) still tells what it measured.
    process.stderr.write(`bench:million: ${name}: revoked in ${revoke.ms.toFixed(0)} ms\n`)
    rows.push(...rowsFor(name, 'revoke', tree.size, revoke, goal, baseP99))
    rows.push(...(await cleanupRows(name, 'revocation', storage, store, tokens, baseP99, probe)))

    process.stderr.write(`bench:million: ${name}: loading ${tree.size} expiring tokens...\n`)
    revoked = 0
    const expiresAt = now + 60_000
    await loadExpiring(load, tag, tree.size, expiresAt, now)
    now = expiresAt + 500
    process.stderr.write(`bench:million: ${name}: sweeping...\n`)
    const sweep = await underLoad(store, tokens, () => store.revokeExpired(), probe)
    if (revoked !== tree.size) throw new Error(`${name}: swept ${revoked} of ${tree.size}`)
    process.stderr.write(`bench:million: ${name}: swept in ${sweep.ms.toFixed(0)} ms\n`)
    rows.push(...rowsFor(name, 'expiry storm', tree.size, sweep, goal, baseP99))
    rows.push(...(await cleanupRows(name, 'sweep', storage, store, tokens, baseP99, probe)))
    return rows
  } finally {
    await store.close()
  }
}

function rowsFor(
  name: string,
  what: 'revoke' | 'expiry storm',
  size: number,
  result: Measured,
  goal: number,
  baseP99: number,
): Row[] {
  const count = size.toLocaleString('en-US')
  const p99 = percentile(result.latencies, 99)
  const scenarioName =
    what === 'revoke'
      ? `${name}: revoke a ${count}-token subtree`
      : `${name}: sweep ${count} expired`
  return [
    {
      scenario: scenarioName,
      subject: `${result.ms.toFixed(0)} ms`,
      baseline: `peak heap +${result.heapMb.toFixed(0)} MB, RSS +${result.rssMb.toFixed(0)} MB${serverText(result.server)}`,
      ratio: `${((size / result.ms) * 1000).toFixed(0)} tokens/s`,
      goal: `< ${goal / 1000} s`,
      met: result.ms < goal,
      enforced: false,
    },
    {
      scenario: `${name}: authenticate during ${what}`,
      subject: latencyText(result.latencies),
      baseline: `alone: p99 ${baseP99.toFixed(2)} ms`,
      ratio: `p99 ${(p99 / baseP99).toFixed(1)}×`,
      goal: `p99 < ${P99_GOAL} ms`,
      met: p99 < P99_GOAL,
      enforced: false,
    },
  ]
}

/**
 * The listing cleanup after a revocation or a sweep (RedisStorage's `listingCleanupSettled`), under the same loop:
 * its time (reported: it runs after the operation, not within it) and the unrelated p99 during it (the same goal).
 * None for a storage without one.
 */
async function cleanupRows(
  name: string,
  after: 'revocation' | 'sweep',
  storage: Storage,
  store: TokenStore,
  tokens: readonly string[],
  baseP99: number,
  probe?: ServerProbe,
): Promise<Row[]> {
  if (!(storage instanceof RedisStorage)) return []
  const cleanup = await underLoad(store, tokens, () => storage.listingCleanupSettled(), probe)
  process.stderr.write(`bench:million: ${name}: listing cleanup in ${cleanup.ms.toFixed(0)} ms\n`)
  const p99 = percentile(cleanup.latencies, 99)
  return [
    {
      scenario: `${name}: listing cleanup after the ${after}`,
      subject: `${cleanup.ms.toFixed(0)} ms; authenticate ${latencyText(cleanup.latencies)}`,
      baseline: `alone: p99 ${baseP99.toFixed(2)} ms${serverText(cleanup.server)}`,
      ratio: `p99 ${(p99 / baseP99).toFixed(1)}×`,
      goal: `p99 < ${P99_GOAL} ms`,
      met: p99 < P99_GOAL,
      enforced: false,
    },
  ]
}

async function memoryRows(): Promise<Row[]> {
  const storage = new MemoryStorage()
  return scenario('memory', storage, insertLoader(storage, 1))
}

async function redisRows(): Promise<Row[]> {
  const client = new Redis(REDIS_URL, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    autoResendUnfulfilledCommands: false,
  })
  client.on('error', () => undefined)
  try {
    await client.connect()
  } catch {
    client.disconnect()
    return [skipped('redis', REDIS_URL)]
  }
  const keyPrefix = `tokentree-million:${randomBytes(4).toString('hex')}:`
  const storage = new RedisStorage({
    client,
    keyPrefix,
    ...(REDIS_IN_FLIGHT === undefined ? {} : { revocationCallsInFlight: REDIS_IN_FLIGHT }),
    ...(REDIS_BATCH === undefined ? {} : { revocationBatchSize: REDIS_BATCH }),
  })
  try {
    return await scenario(
      'redis',
      storage,
      insertLoader(storage, 200),
      randomBytes(32),
      redisProbe(client),
    )
  } finally {
    // Whatever a failed run left: the keys under the prefix, in batches.
    let cursor = '0'
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 1000)
      if (keys.length > 0) await client.unlink(...keys)
      cursor = next
    } while (cursor !== '0')
    await storage.close()
    client.disconnect()
  }
}

async function postgresRows(): Promise<Row[]> {
  const opened = await openBenchSchema('tokentree_million')
  if (opened === null) return [skipped('postgres', DATABASE_URL)]
  const { pool, schema } = opened
  // Bulk load with unnest: one statement per 5,000 rows (the bench does not measure loading).
  const load: BulkLoad = async (records) => {
    for (let i = 0; i < records.length; i += 5000) {
      const rows = records.slice(i, i + 5000)
      await pool.query(
        `INSERT INTO ${schema}.tokens
           (id, accessor, parent, path, num_uses, ttl, expires_at, last_renewal_time, revoking, record)
         SELECT id, accessor, parent, path, 0, ttl, expires_at, NULL, NULL, record::jsonb
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::float8[], $7::text[])
           AS u(id, accessor, parent, path, ttl, expires_at, record)`,
        [
          rows.map((r) => r.id),
          rows.map((r) => r.accessor),
          rows.map((r) => r.parent),
          rows.map((r) => r.path),
          rows.map((r) => r.ttl),
          rows.map((r) => r.expiresAt),
          rows.map((r) => JSON.stringify(r)),
        ],
      )
    }
    await pool.query(`ANALYZE ${schema}.tokens`)
  }
  try {
    return await scenario('postgres', new PostgresStorage({ pool, schema }), load, randomBytes(32))
  } finally {
    await pool.query(`DROP SCHEMA ${schema} CASCADE`)
    await pool.end()
  }
}

function skipped(name: string, url: string): Row {
  return {
    scenario: `${name}: million-token revoke and sweep`,
    subject: `skipped: not reachable at ${url}`,
    baseline: '-',
    ratio: '-',
    goal: '-',
    met: true,
  }
}

const rows: Row[] = []
const runs: Record<string, () => Promise<Row[]>> = {
  memory: memoryRows,
  redis: redisRows,
  postgres: postgresRows,
}
for (const name of STORAGES) {
  const run = runs[name.trim()]
  if (run === undefined) throw new Error(`BENCH_MILLION_STORAGES: unknown storage ${name}`)
  rows.push(...(await run()))
}
console.log(`\ntokentree million bench · ${SIZE} tokens · Node ${process.version}\n`)
printTable(rows)
