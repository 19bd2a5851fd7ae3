/**
 * Batch tokens against the fastest JWT verifiers, in the same run: fast-jwt's HS256 verifier (built once, no
 * cache) and jose's `jwtVerify` with a key imported once (a `KeyObject`, so jose does not import it on every
 * call). Goal (a target, reported without failing the run): batch `authenticate` at least 1.5× fast-jwt's speed.
 */
import { createSecretKey, randomBytes } from 'node:crypto'
import { pathToFileURL } from 'node:url'

import { createVerifier } from 'fast-jwt'
import { SignJWT, jwtVerify } from 'jose'

import { TokenStore } from '../src/index.js'
import { median, perOp, printTable, timeMs, type Row } from './harness.js'

/** Operations per measured round: short rounds, so that a burst of load from elsewhere spoils few of them. */
const OPS = 2_000
/**
 * Rounds per verifier. The three verifiers take turns each round, in an order reversed every other round, and
 * each figure is the median of per-round ratios: on a shared machine a single long round varies by ±30%, while
 * turns a few milliseconds apart see the same load.
 */
const ROUNDS = 41
/** The goal: batch authenticate at least this many times fast-jwt's speed. */
const GOAL = 1.5

/** Milliseconds per operation over one round of {@link OPS} awaited calls. */
async function round(operation: () => unknown): Promise<number> {
  return (
    (await timeMs(async () => {
      for (let i = 0; i < OPS; i++) await operation()
    })) / OPS
  )
}

/** Runs the verifier comparison; resolves to its rows. */
export async function benchJwtVerifiers(): Promise<Row[]> {
  const store = new TokenStore({ timers: false })
  const metadata = { team: 'web' }
  const batch = (await store.create({ type: 'batch', policies: ['app'], metadata })).clientToken
  const secret = randomBytes(32)
  const jwt = await new SignJWT({ policies: ['app', 'default'], metadata })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(secret)
  const fastJwt = createVerifier({
    key: secret,
    algorithms: ['HS256'],
    cache: false,
  })
  const keyObject = createSecretKey(secret)

  const operations = {
    batch: () => store.authenticate(batch),
    fastJwt: (): unknown => fastJwt(jwt) as unknown,
    jose: () => jwtVerify(jwt, keyObject, { algorithms: ['HS256'] }),
  }
  // Check every verifier accepts its token before timing it.
  for (const operation of Object.values(operations)) await operation()
  const times: Record<keyof typeof operations, number[]> = { batch: [], fastJwt: [], jose: [] }
  const names = Object.keys(operations) as Array<keyof typeof operations>
  for (let i = 0; i < ROUNDS; i++) {
    for (const name of i % 2 === 0 ? names : [...names].reverse()) {
      times[name].push(await round(operations[name]))
    }
  }
  await store.close()
  // The first round of each is warm-up.
  const med = (values: number[]): number => median(values.slice(1))
  const batchTime = med(times.batch)
  const fastTime = med(times.fastJwt)
  const joseTime = med(times.jose)
  const perRound = (other: number[]): number[] =>
    other.map((time, i) => time / (times.batch[i] as number))
  const vsFast = med(perRound(times.fastJwt))
  const vsJose = med(perRound(times.jose))
  return [
    {
      scenario: 'batch authenticate vs fast-jwt',
      subject: perOp(batchTime),
      baseline: `fast-jwt HS256 verifier (no cache): ${perOp(fastTime)}`,
      ratio: `${vsFast.toFixed(2)}× fast-jwt speed`,
      goal: `≥ ${GOAL}× (target)`,
      met: vsFast >= GOAL,
      enforced: false,
    },
    {
      scenario: 'batch authenticate vs jose (key imported once)',
      subject: perOp(batchTime),
      baseline: `jose jwtVerify, KeyObject: ${perOp(joseTime)}`,
      ratio: `${vsJose.toFixed(2)}× jose speed`,
      goal: '(reported)',
      met: true,
    },
  ]
}

// Run alone: node --import tsx bench/jwt-verifiers.ts
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  printTable(await benchJwtVerifiers())
}
