/**
 * Soak test (`npm run soak`, not part of `npm test`): N worker processes share one Redis or PostgreSQL store for a
 * bounded time, mixing every operation on short-lived token trees with leases, real expiry, and one limited-use
 * token they all authenticate at once. The parent prints operations done, errors by code and every invariant
 * broken, and exits 1 if any invariant broke.
 *
 *   npm run soak -- --storage redis|postgres --workers 4 --seconds 30
 *
 * Env: REDIS_URL (default redis://127.0.0.1:6379), DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test).
 * Traffic goes only to those servers; every loop is bounded in time and stops by itself.
 */
import { fork } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'

import { TokenStore, TokenStoreError, type Storage } from 'tokentree'

import { checkInvariants } from '../test/model/invariants.js'

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

const { values } = parseArgs({
  options: {
    storage: { type: 'string', default: 'redis' },
    workers: { type: 'string', default: '4' },
    seconds: { type: 'string', default: '30' },
    worker: { type: 'string' },
    namespace: { type: 'string' },
    secret: { type: 'string' },
    shared: { type: 'string' },
  },
})
const kind = values.storage
if (kind !== 'redis' && kind !== 'postgres') {
  console.error(`--storage must be redis or postgres, got ${kind}`)
  process.exit(2)
}
const seconds = Number(values.seconds)
const workers = Number(values.workers)
/** Uses of the token every worker authenticates at once. */
const SHARED_USES = 300

async function openStorage(
  namespace: string,
): Promise<{ storage: Storage; close: () => Promise<void> }> {
  try {
    if (kind === 'redis') {
      const { RedisStorage } = await import('tokentree/redis')
      const storage = new RedisStorage({ connection: REDIS_URL, keyPrefix: namespace })
      return { storage, close: () => storage.close() }
    }
    const { PostgresStorage, migrate } = await import('tokentree/postgres')
    const { default: pg } = await import('pg')
    const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 4 })
    pool.on('error', () => undefined)
    if (values.worker === undefined) await migrate(pool, { schema: namespace })
    const storage = new PostgresStorage({ pool, schema: namespace })
    return {
      storage,
      close: async () => {
        await storage.close()
        await pool.end()
      },
    }
  } catch (error) {
    console.error(`the ${kind} adapter is not available: ${String(error)}`)
    process.exit(2)
  }
}

interface Report {
  ops: number
  errors: Record<string, number>
  violations: string[]
  sharedOk: number
  sharedTried: number
  tokens: Array<{ accessor: string; granted: number }>
  leases: string[]
}

async function worker(
  index: number,
  namespace: string,
  secret: string,
  shared: string,
): Promise<void> {
  const { storage, close } = await openStorage(namespace)
  const store = new TokenStore({ storage, secret, defaultTtl: 5, maxTtl: 20 })
  store.on('error', () => undefined)
  const report: Report = {
    ops: 0,
    errors: {},
    violations: [],
    sharedOk: 0,
    sharedTried: 0,
    tokens: [],
    leases: [],
  }
  const live: Array<{ token: string; accessor: string; uses: number }> = []
  const leases: string[] = []
  const pick = <T>(list: readonly T[]): T | undefined =>
    list[Math.floor(Math.random() * list.length)]
  const run = async (op: () => Promise<unknown>): Promise<void> => {
    report.ops += 1
    try {
      await op()
    } catch (error) {
      const code = error instanceof TokenStoreError ? error.code : `crash: ${String(error)}`
      report.errors[code] = (report.errors[code] ?? 0) + 1
      if (!(error instanceof TokenStoreError))
        report.violations.push(`worker ${index}: ${String(error)}`)
    }
  }
  const remember = (auth: { clientToken: string; accessor: string; numUses: number }): void => {
    live.push({ token: auth.clientToken, accessor: auth.accessor, uses: auth.numUses })
    report.tokens.push({ accessor: auth.accessor, granted: auth.numUses })
  }
  const deadline = Date.now() + seconds * 1000
  let sinceCheck = 0
  while (Date.now() < deadline) {
    const roll = Math.random()
    const target = pick(live)
    if (roll < 0.2 || target === undefined) {
      await run(async () => {
        remember(
          await store.create({
            path: `auth/soak/w${index}`,
            ttl: 1 + Math.floor(Math.random() * 8),
          }),
        )
      })
    } else if (roll < 0.35) {
      await run(async () => {
        remember(
          await store.create({
            parent: target.token,
            ttl: Math.floor(Math.random() * 10),
            numUses: Math.random() < 0.3 ? 2 : 0,
          }),
        )
      })
    } else if (roll < 0.5) {
      await run(() => store.authenticate(target.token))
    } else if (roll < 0.55) {
      // Every worker hammers one limited-use token: across all of them, exactly SHARED_USES may succeed.
      const results = await Promise.allSettled(
        Array.from({ length: 5 }, () => store.authenticate(shared)),
      )
      report.sharedTried += results.length
      report.sharedOk += results.filter((r) => r.status === 'fulfilled').length
      report.ops += results.length
    } else if (roll < 0.6) {
      await run(() => store.lookup(target.token))
    } else if (roll < 0.67) {
      await run(() => store.renew(target.token, 1 + Math.floor(Math.random() * 10)))
    } else if (roll < 0.77) {
      await run(async () => {
        const { leaseId } = await store.createLease(target.token, {
          path: `aws/soak/w${index}`,
          ttl: 1 + Math.floor(Math.random() * 10),
        })
        leases.push(leaseId)
        report.leases.push(leaseId)
      })
    } else if (roll < 0.8) {
      await run(() => store.revokeLease(pick(leases) ?? 'aws/none/x'))
    } else if (roll < 0.86) {
      await run(() => store.revoke(target.token))
    } else if (roll < 0.9) {
      await run(() => store.revokeOrphan(target.token))
    } else if (roll < 0.93) {
      await run(() => store.revokeAccessor(target.accessor))
    } else if (roll < 0.95) {
      // Sometimes another worker's prefix: revocations cross processes.
      await run(() => store.revokePrefix(`auth/soak/w${Math.floor(Math.random() * workers)}`))
    } else {
      await run(() => store.revokeExpired())
    }
    if (live.length > 300) live.splice(0, 150)
    if (++sinceCheck >= 300) {
      sinceCheck = 0
      // The checker reads record by record while other workers revoke, so one failure may be a race (a token
      // deleted between two reads). A broken index or a usable orphaned subtree persists: count three in a row.
      const recent = { tokens: report.tokens.slice(-300), leases: report.leases.slice(-300) }
      let failure: string | null = null
      for (let attempt = 0; attempt < 3; attempt++) {
        failure = await checkInvariants(storage, Date.now(), recent).then(
          () => null,
          (error: unknown) => (error instanceof Error ? error.message : String(error)),
        )
        if (failure === null) break
      }
      if (failure !== null) report.violations.push(`worker ${index}: ${failure}`)
    }
  }
  await store.close()
  await close()
  process.send?.(report)
}

async function parent(): Promise<void> {
  const namespace =
    kind === 'redis'
      ? `tokentree-soak:${randomBytes(4).toString('hex')}:`
      : `tokentree_soak_${randomBytes(4).toString('hex')}`
  const secret = randomBytes(32).toString('hex')
  const { storage, close } = await openStorage(namespace)
  const store = new TokenStore({ storage, secret, timers: false })
  const shared = await store.create({ numUses: SHARED_USES, ttl: seconds + 120 })
  console.log(`soak: ${workers} workers on ${kind} (${namespace}) for ${seconds} s`)
  const started = Date.now()
  const reports = await Promise.all(
    Array.from(
      { length: workers },
      (_, i) =>
        new Promise<Report>((resolve, reject) => {
          const child = fork(
            process.argv[1] ?? '',
            [
              '--storage',
              kind,
              '--seconds',
              String(seconds),
              '--workers',
              String(workers),
              '--worker',
              String(i),
              '--namespace',
              namespace,
              '--secret',
              secret,
              '--shared',
              shared.clientToken,
            ],
            {
              execArgv: ['--import', 'tsx'],
            },
          )
          let report: Report | null = null
          child.on('message', (message) => {
            report = message as Report
          })
          child.on('exit', (code) => {
            if (report === null)
              reject(new Error(`worker ${i} exited with ${String(code)} without a report`))
            else resolve(report)
          })
        }),
    ),
  )
  const violations = reports.flatMap((r) => r.violations)
  const errors: Record<string, number> = {}
  for (const r of reports)
    for (const [code, n] of Object.entries(r.errors)) errors[code] = (errors[code] ?? 0) + n
  const sharedOk = reports.reduce((n, r) => n + r.sharedOk, 0)
  const sharedTried = reports.reduce((n, r) => n + r.sharedTried, 0)
  if (sharedOk !== Math.min(sharedTried, SHARED_USES)) {
    violations.push(
      `${sharedOk} of ${sharedTried} authentications of a ${SHARED_USES}-use token succeeded`,
    )
  }
  // Finish what expiry left, then every token and lease of every worker must satisfy the invariants.
  await store.revokeExpired()
  await checkInvariants(
    storage,
    Date.now(),
    {
      tokens: reports.flatMap((r) => r.tokens),
      leases: reports.flatMap((r) => r.leases),
    },
    { noRevoking: true },
  ).catch((error: unknown) => {
    violations.push(`final check: ${error instanceof Error ? error.message : String(error)}`)
  })
  await store.close()
  if (kind === 'redis') {
    const { Redis } = await import('ioredis')
    const client = new Redis(REDIS_URL)
    let cursor = '0'
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${namespace}*`, 'COUNT', 1000)
      cursor = next
      if (keys.length > 0) await client.del(...keys)
    } while (cursor !== '0')
    await client.quit()
  } else {
    const { default: pg } = await import('pg')
    const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 1 })
    await pool.query(`DROP SCHEMA IF EXISTS ${namespace} CASCADE`)
    await pool.end()
  }
  await close()
  const ops = reports.reduce((n, r) => n + r.ops, 0)
  const elapsed = (Date.now() - started) / 1000
  console.log(
    `operations: ${ops} in ${elapsed.toFixed(1)} s (${Math.round(ops / elapsed)}/s), per worker ${JSON.stringify(reports.map((r) => r.ops))}`,
  )
  console.log(`errors by code: ${JSON.stringify(errors)}`)
  console.log(
    `shared ${SHARED_USES}-use token: ${sharedOk} of ${sharedTried} authentications succeeded`,
  )
  console.log(`invariants broken: ${violations.length}`)
  for (const v of violations.slice(0, 50)) console.log(`  ${v}`)
  process.exit(violations.length > 0 ? 1 : 0)
}

if (values.worker === undefined) await parent()
else
  await worker(
    Number(values.worker),
    values.namespace ?? '',
    values.secret ?? '',
    values.shared ?? '',
  )
