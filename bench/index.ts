/**
 * `npm run bench`: every scenario against its baseline, measured in the same run, printed as one table.
 *
 * Each scenario warms up, then measures several rounds and reports the median. The heap scenario runs in a child
 * process (`--expose-gc`). The Redis and PostgreSQL rows run when their servers answer (REDIS_URL, DATABASE_URL,
 * defaults on 127.0.0.1); otherwise a note says so and their rows are skipped. The protected-route scenario
 * loads Express servers from autocannon in a child process (about 40 s). The whole run takes three to four
 * minutes.
 *
 * `BENCH_ROWS` (names from {@link SCENARIOS}, comma-separated) runs only those, in that order, repeats allowed: to
 * rerun one row, or to check whether a row reads the same after others in the same process
 * (`BENCH_ROWS='batch vs JWT verifiers,expiry sweep,batch vs JWT verifiers'`).
 */
import net from 'node:net'

import { benchAcl } from './acl.js'
import { benchAuthenticate } from './authenticate.js'
import { benchAuthorize } from './authorize.js'
import { benchBatch } from './batch.js'
import { benchCreate } from './create.js'
import { benchExpiry } from './expiry.js'
import { printTable, type Row } from './harness.js'
import { benchHttpRoute } from './http-route.js'
import { benchJwtVerifiers } from './jwt-verifiers.js'
import { benchMemory } from './memory.js'
import { benchOtel } from './otel.js'
import { benchPostgres, DATABASE_URL } from './postgres.js'
import { benchRedis, REDIS_URL } from './redis.js'
import { benchRevokeSubtree } from './revoke-subtree.js'
import { benchTracing } from './tracing.js'
import { benchWrapping } from './wrapping.js'

/** Whether a TCP connection to the URL's host and port opens within a second. */
function reachable(url: string, defaultPort: number): Promise<boolean> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve) => {
    const socket = net.connect({
      host: hostname === '' ? '127.0.0.1' : hostname,
      port: port === '' ? defaultPort : Number(port),
    })
    const done = (ok: boolean): void => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(1000)
    socket.once('connect', () => {
      done(true)
    })
    socket.once('timeout', () => {
      done(false)
    })
    socket.once('error', () => {
      done(false)
    })
  })
}

/** Runs a shared-storage bench when its server answers; otherwise prints a note and runs nothing. */
function whenReachable(
  name: string,
  url: string,
  defaultPort: number,
  run: () => Promise<Row[]>,
): () => Promise<Row[]> {
  return async () => {
    if (await reachable(url, defaultPort)) return run()
    process.stderr.write(`bench: ${name} not reachable at ${url}: skipping its rows\n`)
    return [
      {
        scenario: `${name.toLowerCase()} (authenticate, revoke subtree)`,
        subject: `skipped: not reachable at ${url}`,
        baseline: '-',
        ratio: '-',
        goal: '-',
        met: true,
      },
    ]
  }
}

/** A scenario: its name (for `BENCH_ROWS` and the progress line) and what runs it. */
type Scenario = readonly [name: string, run: () => Row | Row[] | Promise<Row | Row[]>]

/** Every scenario, in the order a full run takes them. */
const SCENARIOS: readonly Scenario[] = [
  ['authenticate', benchAuthenticate],
  ['authorize', benchAuthorize],
  ['acl check', benchAcl],
  ['create', benchCreate],
  ['revoke subtree', benchRevokeSubtree],
  ['tracing', benchTracing],
  ['opentelemetry', benchOtel],
  ['memory', benchMemory],
  ['expiry sweep', benchExpiry],
  ['batch tokens', benchBatch],
  ['batch vs JWT verifiers', benchJwtVerifiers],
  ['response wrapping', benchWrapping],
  ['redis', whenReachable('Redis', REDIS_URL, 6379, benchRedis)],
  ['postgres', whenReachable('PostgreSQL', DATABASE_URL, 5432, benchPostgres)],
  ['protected route (HTTP)', benchHttpRoute],
]

/** The scenarios `BENCH_ROWS` names, in its order; every scenario when it is unset or empty. */
function chosenScenarios(list: string | undefined): readonly Scenario[] {
  const names = (list ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '')
  if (names.length === 0) return SCENARIOS
  return names.map((name) => {
    const scenario = SCENARIOS.find(([known]) => known === name)
    if (scenario === undefined) {
      throw new Error(
        `BENCH_ROWS: no scenario named ${JSON.stringify(name)}; expected one of ${SCENARIOS.map(([known]) => JSON.stringify(known)).join(', ')}`,
      )
    }
    return scenario
  })
}

const started = Date.now()
const rows: Row[] = []
for (const [name, run] of chosenScenarios(process.env.BENCH_ROWS)) {
  process.stderr.write(`bench: ${name}...\n`)
  const result: Row | Row[] = await run()
  rows.push(...(Array.isArray(result) ? result : [result]))
}
console.log(`\ntokentree bench · Node ${process.version} · ${process.platform}/${process.arch}\n`)
printTable(rows)
console.log(
  `\nMedians of several rounds after warm-up; ${((Date.now() - started) / 1000).toFixed(0)} s in all.`,
)
if (rows.some((row) => !row.met && row.enforced !== false)) process.exitCode = 1
