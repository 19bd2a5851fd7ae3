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

/** Operations per measured round. */
const OPS = 10_000
/** Rounds per verifier; the three verifiers take turns each round, so machine load hits them alike. */
const ROUNDS = 7
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
  for (let i = 0; i < ROUNDS; i++) {
    times.batch.push(await round(operations.batch))
    times.fastJwt.push(await round(operations.fastJwt))
    times.jose.push(await round(operations.jose))
  }
  await store.close()
  // The first round of each is warm-up.
  const med = (values: number[]): number => median(values.slice(1))
  const batchTime = med(times.batch)
  const fastTime = med(times.fastJwt)
  const joseTime = med(times.jose)
  const vsFast = fastTime / batchTime
  const vsJose = joseTime / batchTime
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
