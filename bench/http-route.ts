/**
 * A protected route: an Express 5 route behind `tokenAuth` + `requirePolicies`, loaded by autocannon running in
 * another process (so the load generator does not share the server's event loop), against, in the same run:
 *
 * - the same route shape with two no-op middlewares (goal: tokentree in memory ≥ 0.95× its requests per second);
 * - express-session with connect-redis on the same Redis (goal: tokentree on Redis ≥ 1.2× its rate);
 * - a jose HS256 JWT middleware, key imported once (reported);
 * - tokentree on PostgreSQL (goal: at least express-session's rate).
 *
 * Every server listens on 127.0.0.1 (port 0), all in this process; one autocannon child, started once and warmed
 * up on every server, loads them in turn. Each round loads the servers in order, then in reverse (A B B A), each
 * for half of BENCH_HTTP_SECONDS, so machine load that drifts over a round and the position in it weigh on both
 * sides of a pair alike; a ratio is the median over the rounds of that round's two rates, so a burst of load
 * elsewhere during one round does not decide it. The in-memory pair is also compared by this process's CPU time
 * per request during each load (reported): on a shared machine it moves much less than a rate does. The goals are
 * targets: an unmet one prints `no (target)` without failing the run. The Redis and PostgreSQL rows are skipped
 * with a printed note when their servers do not answer.
 *
 * BENCH_HTTP_SECONDS sets each server's load per round (default 3); BENCH_HTTP_ROUNDS the number of measured rounds
 * (default 5); BENCH_HTTP_ONLY=memory runs only the in-memory route and its no-op baseline, for quick iterations on
 * the middleware; BENCH_HTTP_CONTROL=1 adds a second no-op server compared with the first (a noise gauge).
 */
import { spawn } from 'node:child_process'
import { createSecretKey, randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { createRequire } from 'node:module'
import { createInterface } from 'node:readline'
import { pathToFileURL } from 'node:url'

import RedisStore from 'connect-redis'
import express, { type RequestHandler } from 'express'
import session from 'express-session'
import { Redis } from 'ioredis'
import { SignJWT, jwtVerify } from 'jose'
import pg from 'pg'

import { TokenStore } from '../src/index.js'
import { requirePolicies, tokenAuth } from '../src/http/express.js'
import { PostgresStorage, migrate } from '../src/storage/postgres/index.js'
import { RedisStorage } from '../src/storage/redis/index.js'
import { median, printTable, type Row } from './harness.js'
import { DATABASE_URL } from './postgres.js'
import { REDIS_URL } from './redis.js'

declare module 'express-session' {
  interface SessionData {
    /** The policies the bench's login put in the session. */
    policies: string[]
  }
}

/** Seconds each server is loaded per measured round, in two halves (forward, then reverse order). */
const SECONDS = Number(process.env.BENCH_HTTP_SECONDS ?? 3)
/** Concurrent connections autocannon keeps open. */
const CONNECTIONS = 10
/**
 * Measured rounds; each server gets two loads per round, after one warm-up load of a second. Odd, so that the
 * median is one round's figure; five by default, because the machine is shared and single rounds stray: with five,
 * two disturbed rounds still leave the median to an undisturbed one (with three, two disturbed rounds decide it).
 */
const ROUNDS = Number(process.env.BENCH_HTTP_ROUNDS ?? 5)
/** `memory`: only the in-memory route and the no-op baseline (quick iterations); anything else: every row. */
const ONLY_MEMORY = process.env.BENCH_HTTP_ONLY === 'memory'
/**
 * `1`: one more no-op server, compared with the first the way the memory route is: the ratio of two identical
 * servers shows how far the machine's noise moves a ratio in this run (1.00× on a quiet machine).
 */
const CONTROL = process.env.BENCH_HTTP_CONTROL === '1'
/** The name of the control server. */
const CONTROL_NAME = 'two no-op middlewares, again'

/** One server under load: where to send requests, with which headers, and how to stop it. */
interface Target {
  readonly name: string
  readonly url: string
  readonly headers: Record<string, string>
  readonly close: () => Promise<void>
}

const ok: RequestHandler = (_req, res) => {
  res.json({ ok: true })
}
const noop: RequestHandler = (_req, _res, next) => {
  next()
}

/** Starts `app` on a loopback port. */
async function listen(app: express.Express): Promise<{ url: string; close: () => Promise<void> }> {
  const server = app.listen(0, '127.0.0.1')
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve)
    server.once('error', reject)
  })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/protected`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => {
          resolve()
        })
      }),
  }
}

/** The protected route on a store: tokenAuth + requirePolicies. */
async function tokentreeTarget(name: string, store: TokenStore): Promise<Target> {
  const token = (await store.create({ policies: ['app'] })).clientToken
  const app = express()
  app.get('/protected', tokenAuth(store), requirePolicies('app'), ok)
  return { name, headers: { 'x-vault-token': token }, ...(await listen(app)) }
}

/**
 * The same route with two no-op middlewares, sent the same request (token header included) as the route it is the
 * baseline of, so that only the middlewares' work differs, not the parsing of a longer request.
 */
async function noopTarget(
  headers: Record<string, string>,
  name = 'two no-op middlewares',
): Promise<Target> {
  const app = express()
  app.get('/protected', noop, noop, ok)
  return { name, headers, ...(await listen(app)) }
}

async function joseTarget(): Promise<Target> {
  const secret = randomBytes(32)
  const key = createSecretKey(secret)
  const jwt = await new SignJWT({ policies: ['app'] })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('1h')
    .sign(key)
  const verify: RequestHandler = (req, res, next) => {
    const header = req.headers.authorization
    if (header?.startsWith('Bearer ') !== true) {
      res.sendStatus(401)
      return
    }
    jwtVerify(header.slice(7), key, { algorithms: ['HS256'] }).then(
      ({ payload }) => {
        res.locals.policies = payload.policies
        next()
      },
      () => {
        res.sendStatus(403)
      },
    )
  }
  const policy: RequestHandler = (_req, res, next) => {
    if (Array.isArray(res.locals.policies) && res.locals.policies.includes('app')) next()
    else res.sendStatus(403)
  }
  const app = express()
  app.get('/protected', verify, policy, ok)
  return {
    name: 'jose HS256 JWT middleware',
    headers: { authorization: `Bearer ${jwt}` },
    ...(await listen(app)),
  }
}

async function sessionTarget(client: Redis, prefix: string): Promise<Target> {
  const app = express()
  const sessions = session({
    store: new RedisStore({ client, prefix }),
    secret: randomBytes(32).toString('hex'),
    resave: false,
    saveUninitialized: false,
    name: 'sid',
  })
  const policy: RequestHandler = (req, res, next) => {
    if (req.session.policies?.includes('app') === true) next()
    else res.sendStatus(403)
  }
  app.post('/login', sessions, (req, res) => {
    req.session.policies = ['app']
    res.sendStatus(204)
  })
  app.get('/protected', sessions, policy, ok)
  const server = await listen(app)
  const login = await fetch(server.url.replace(/\/protected$/, '/login'), { method: 'POST' })
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? ''
  return { name: 'express-session + connect-redis', headers: { cookie }, ...server }
}

/**
 * Throws unless `subject` and `baseline` answer their request with the same status, headers (but `Date`) and body:
 * the rates compare the middlewares' work only if both servers write the same bytes.
 */
async function checkSameAnswer(subject: Target, baseline: Target): Promise<void> {
  const answer = async (target: Target): Promise<string> => {
    const response = await fetch(target.url, { headers: target.headers })
    const headers = [...response.headers].filter(([name]) => name !== 'date')
    return JSON.stringify([response.status, headers, await response.text()])
  }
  const [mine, theirs] = [await answer(subject), await answer(baseline)]
  if (mine !== theirs) {
    throw new Error(`bench: ${subject.name} answers ${mine}, ${baseline.name} ${theirs}`)
  }
}

/** What the load child answers for one load: autocannon's result, reduced. */
interface LoadResult {
  readonly requests: number
  readonly seconds: number
  readonly non2xx: number
  readonly errors: number
}

/**
 * The load child: reads one autocannon options object a line from stdin, answers one {@link LoadResult} a line on
 * stdout. One child serves every load of the run, so the client's JIT is warm for every measured load alike (a
 * fresh child per load spent the start of each load compiling autocannon) and the two loads of a pair follow each
 * other without a process start in between.
 */
const LOAD_CHILD = `
import { createInterface } from 'node:readline'
const { default: autocannon } = await import(process.argv[1])
for await (const line of createInterface({ input: process.stdin })) {
  const result = await autocannon(JSON.parse(line))
  const { requests, duration: seconds, non2xx, errors, timeouts } = result
  process.stdout.write(JSON.stringify({ requests: requests.total, seconds, non2xx, errors: errors + timeouts }) + '\\n')
}
`

/** Autocannon in a child process, which loads one target at a time; {@link Loader.close} ends it. */
interface Loader {
  /** Loads `target` for `seconds`; resolves to the number of requests answered and the seconds it took. */
  readonly load: (target: Target, seconds: number) => Promise<{ requests: number; seconds: number }>
  readonly close: () => Promise<void>
}

/** Starts the load child. */
function startLoader(): Loader {
  const autocannon = pathToFileURL(createRequire(import.meta.url).resolve('autocannon')).href
  const child = spawn(process.execPath, ['--input-type=module', '-e', LOAD_CHILD, autocannon], {
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const exited = new Promise<number | null>((resolve) => {
    child.once('close', resolve)
    // A child that could not start emits `error` and may never emit `close`.
    child.once('error', () => {
      resolve(null)
    })
  })
  // Settles only if the child dies: a load waiting for its answer then fails instead of waiting forever.
  const died = exited.then((code) => {
    throw new Error(`bench: autocannon child exited with ${String(code)}`)
  })
  died.catch(() => undefined)
  const answers = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
  return {
    load: async (target, seconds) => {
      child.stdin.write(
        `${JSON.stringify({
          url: target.url,
          headers: target.headers,
          connections: CONNECTIONS,
          duration: seconds,
        })}\n`,
      )
      const answer = await Promise.race([answers.next(), died])
      if (answer.done === true) throw new Error('bench: autocannon child closed its output')
      const result = JSON.parse(answer.value) as LoadResult
      if (result.non2xx > 0 || result.errors > 0) {
        throw new Error(
          `bench: ${target.name}: ${result.non2xx} non-2xx answers, ${result.errors} errors`,
        )
      }
      return { requests: result.requests, seconds: result.seconds }
    },
    close: async () => {
      child.stdin.end()
      await exited
    },
  }
}

/** Opens Redis, or resolves to null (with a printed note) when it does not answer. */
async function openRedis(): Promise<Redis | null> {
  const client = new Redis(REDIS_URL, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    autoResendUnfulfilledCommands: false,
  })
  client.on('error', () => undefined)
  try {
    await client.connect()
    return client
  } catch {
    client.disconnect()
    process.stderr.write(
      `bench: Redis not reachable at ${REDIS_URL}: skipping its protected-route rows\n`,
    )
    return null
  }
}

/** Opens PostgreSQL with a fresh schema, or resolves to null (with a printed note) when it does not answer. */
async function openPostgres(schema: string): Promise<pg.Pool | null> {
  const pool = new pg.Pool({
    connectionString: DATABASE_URL,
    max: 10,
    connectionTimeoutMillis: 2000,
  })
  pool.on('error', () => undefined)
  try {
    await migrate(pool, { schema })
    return pool
  } catch {
    await pool.end()
    process.stderr.write(
      `bench: PostgreSQL not reachable at ${DATABASE_URL}: skipping its protected-route row\n`,
    )
    return null
  }
}

const rate = (value: number): string => `${Math.round(value).toLocaleString('en')} req/s`

/** Runs the protected-route scenario; resolves to its rows. */
export async function benchHttpRoute(): Promise<Row[]> {
  const cleanup: (() => Promise<unknown>)[] = []
  try {
    const memoryStore = new TokenStore({ timers: false })
    cleanup.push(() => memoryStore.close())
    const memoryTarget = await tokentreeTarget('tokentree, memory', memoryStore)
    const noopBaseline = await noopTarget(memoryTarget.headers)
    const targets: Target[] = [noopBaseline, memoryTarget]
    if (CONTROL) targets.push(await noopTarget(memoryTarget.headers, CONTROL_NAME))
    if (!ONLY_MEMORY) targets.push(await joseTarget())
    const redis = ONLY_MEMORY ? null : await openRedis()
    if (redis !== null) {
      const keyPrefix = `tokentree-bench:${randomBytes(4).toString('hex')}:`
      const storage = new RedisStorage({ client: redis, keyPrefix })
      const store = new TokenStore({ storage, secret: randomBytes(32), timers: false })
      cleanup.push(async () => {
        await store.close()
        await storage.close()
        await deleteKeys(redis, `${keyPrefix}*`)
        await redis.quit()
      })
      targets.push(await tokentreeTarget('tokentree, Redis', store))
      targets.push(await sessionTarget(redis, `${keyPrefix}sess:`))
    }
    const schema = `tokentree_bench_${randomBytes(4).toString('hex')}`
    const pool = ONLY_MEMORY ? null : await openPostgres(schema)
    if (pool !== null) {
      const storage = new PostgresStorage({ pool, schema })
      const store = new TokenStore({ storage, secret: randomBytes(32), timers: false })
      cleanup.push(async () => {
        await store.close()
        await storage.close()
        await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
        await pool.end()
      })
      targets.push(await tokentreeTarget('tokentree, PostgreSQL', store))
    }
    for (const target of targets) cleanup.push(target.close)
    await checkSameAnswer(memoryTarget, noopBaseline)

    const loader = startLoader()
    cleanup.push(loader.close)
    for (const target of targets) await loader.load(target, 1)
    const rates = new Map<string, number[]>(targets.map((target) => [target.name, []]))
    const reversed = [...targets].reverse()
    /** Per target, per round: this process's CPU microseconds per request answered, i.e. the server's cost. */
    const cpuCosts = new Map<string, number[]>(targets.map((target) => [target.name, []]))
    for (let i = 0; i < ROUNDS; i++) {
      // Forward, then backward (A B B A): each target is measured as early and as late in the round as any other,
      // so neither load drifting over the round nor a position in it favours one side of a pair.
      const totals = new Map<string, { requests: number; seconds: number; cpu: number }>()
      for (const target of [...targets, ...reversed]) {
        const before = process.cpuUsage()
        const { requests, seconds } = await loader.load(target, SECONDS / 2)
        const used = process.cpuUsage(before)
        const total = totals.get(target.name) ?? { requests: 0, seconds: 0, cpu: 0 }
        totals.set(target.name, {
          requests: total.requests + requests,
          seconds: total.seconds + seconds,
          cpu: total.cpu + used.user + used.system,
        })
      }
      for (const [name, total] of totals) {
        rates.get(name)?.push(total.requests / total.seconds)
        cpuCosts.get(name)?.push(total.cpu / total.requests)
      }
    }
    const of = (name: string): readonly number[] | undefined => rates.get(name)
    const noopRate = of('two no-op middlewares') ?? []
    const memoryRate = of('tokentree, memory') ?? []
    const memoryRow = compare(
      'protected route, memory',
      memoryRate,
      'two no-op middlewares',
      noopRate,
      0.95,
    )
    // The servers all run in this process, so its CPU time during a load is that server's (plus a little IPC):
    // a cost that depends much less than a rate on how much of the machine other processes take meanwhile.
    const memoryCpuRow = compareCost(
      'protected route, memory (server CPU)',
      cpuCosts.get('tokentree, memory') ?? [],
      'two no-op middlewares',
      cpuCosts.get('two no-op middlewares') ?? [],
    )
    const controlRows = CONTROL
      ? [
          compare(
            'control: no-op vs no-op',
            of(CONTROL_NAME) ?? [],
            'two no-op middlewares',
            noopRate,
          ),
          compareCost(
            'control: no-op vs no-op (server CPU)',
            cpuCosts.get(CONTROL_NAME) ?? [],
            'two no-op middlewares',
            cpuCosts.get('two no-op middlewares') ?? [],
          ),
        ]
      : []
    if (ONLY_MEMORY) return [memoryRow, memoryCpuRow, ...controlRows]
    const joseRate = of('jose HS256 JWT middleware') ?? []
    const rows: Row[] = [
      memoryRow,
      memoryCpuRow,
      ...controlRows,
      compare('protected route, memory vs JWT', memoryRate, 'jose HS256 JWT middleware', joseRate),
    ]
    const redisRate = of('tokentree, Redis')
    const sessionRate = of('express-session + connect-redis')
    if (redisRate !== undefined && sessionRate !== undefined) {
      rows.push(
        compare(
          'protected route, Redis',
          redisRate,
          'express-session + connect-redis',
          sessionRate,
          1.2,
        ),
      )
    } else rows.push(skipped('protected route, Redis', `no Redis at ${REDIS_URL}`))
    const postgresRate = of('tokentree, PostgreSQL')
    if (postgresRate === undefined) {
      rows.push(skipped('protected route, PostgreSQL', `no PostgreSQL at ${DATABASE_URL}`))
    } else if (sessionRate === undefined) {
      rows.push(
        compare('protected route, PostgreSQL', postgresRate, 'two no-op middlewares', noopRate),
      )
    } else {
      rows.push(
        compare(
          'protected route, PostgreSQL',
          postgresRate,
          'express-session + connect-redis',
          sessionRate,
          1,
        ),
      )
    }
    return rows
  } finally {
    for (const step of cleanup.reverse()) await step()
  }
}

/**
 * A row comparing two servers' rates, round by round: their medians, and the median of the rounds' ratios. With a
 * goal, the goal is a target (reported, not failing the run).
 */
function compare(
  scenario: string,
  subject: readonly number[],
  baselineName: string,
  baseline: readonly number[],
  goal?: number,
): Row {
  const ratio = median(subject.map((value, round) => value / (baseline[round] ?? Number.NaN)))
  return {
    scenario,
    subject: rate(median(subject)),
    baseline: `${baselineName}: ${rate(median(baseline))}`,
    ratio: `${ratio.toFixed(2)}×`,
    goal: goal === undefined ? '(reported)' : `≥ ${goal}× (target)`,
    met: goal === undefined || ratio >= goal,
    enforced: false,
  }
}

/**
 * A row comparing two servers' CPU time per request, round by round; the ratio is the baseline's cost over the
 * subject's (the rate each would reach with a core to itself), median over the rounds. Reported, not a goal.
 */
function compareCost(
  scenario: string,
  subject: readonly number[],
  baselineName: string,
  baseline: readonly number[],
): Row {
  const ratio = median(subject.map((value, round) => (baseline[round] ?? Number.NaN) / value))
  const cost = (value: number): string => `${value.toFixed(0)} µs CPU/req`
  return {
    scenario,
    subject: cost(median(subject)),
    baseline: `${baselineName}: ${cost(median(baseline))}`,
    ratio: `${ratio.toFixed(2)}×`,
    goal: '(reported)',
    met: true,
  }
}

function skipped(scenario: string, reason: string): Row {
  return {
    scenario,
    subject: `skipped: ${reason}`,
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

// Run alone: node --import tsx bench/http-route.ts
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  printTable(await benchHttpRoute())
}
