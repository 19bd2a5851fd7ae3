/**
 * Batch tokens carry their own entry, so authenticating one is one HMAC check and one AES-256-CTR decryption (plus
 * a parent lookup for a child). Against, in the same run: a service token's `authenticate`, and jose's HS256 JWT
 * verify, the usual way to check a self-contained token in Node. Goal: faster than the JWT verify.
 *
 * All three are CPU-bound, so they are compared by main-thread CPU time over many short rounds in turns (see
 * `compareInTurns`); the wall-clock ratio is printed beside it. jose v6 signs through WebCrypto, whose HMAC runs
 * on libuv's thread pool: main-thread CPU time leaves that out, so the ratio to jose understates batch's lead (the
 * wall-clock one, taken on a busy machine, overstates it).
 */
import { randomBytes } from 'node:crypto'

import { SignJWT, jwtVerify } from 'jose'

import { TokenStore } from '../src/index.js'
import { clockNote, compareInTurns, perOp, type Row } from './harness.js'

/** Calls per round of each kind: about 10 ms each, so that a burst of load spoils few rounds. */
const OPS = { batch: 2_000, service: 5_000, jose: 100 }
const ROUNDS = { warmup: 4, rounds: 41 }

/** One round: `ops` awaited calls of `operation`. */
function rounds(operation: () => Promise<unknown>, ops: number): () => Promise<void> {
  return async () => {
    for (let i = 0; i < ops; i++) await operation()
  }
}

export async function benchBatch(): Promise<Row[]> {
  const store = new TokenStore({ timers: false })
  const claims = { policies: ['app', 'default'], metadata: { team: 'web' } }
  const batch = (
    await store.create({ type: 'batch', policies: ['app'], metadata: claims.metadata })
  ).clientToken
  const service = (await store.create({ policies: ['app'], metadata: claims.metadata })).clientToken
  const key = randomBytes(32)
  const jwt = await new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(key)

  const batchRound = rounds(() => store.authenticate(batch), OPS.batch)
  const vsJose = await compareInTurns(
    rounds(() => jwtVerify(jwt, key, { algorithms: ['HS256'] }), OPS.jose),
    batchRound,
    { ...ROUNDS, ops: { baseline: OPS.jose, subject: OPS.batch } },
  )
  const vsService = await compareInTurns(
    rounds(() => store.authenticate(service), OPS.service),
    batchRound,
    { ...ROUNDS, ops: { baseline: OPS.service, subject: OPS.batch } },
  )
  await store.close()
  // Speed is the inverse of time: with an odd number of rounds, the median of per-round speed ratios.
  const joseSpeed = 1 / vsJose.ratio
  return [
    {
      scenario: 'batch authenticate',
      subject: perOp(vsJose.subject),
      baseline: `jose HS256 jwtVerify: ${perOp(vsJose.baseline)}`,
      ratio: `${joseSpeed.toFixed(2)}× JWT verify speed (${clockNote(vsJose, `${(1 / vsJose.wallRatio).toFixed(2)}×`)})`,
      goal: '> 1× JWT verify speed',
      met: joseSpeed > 1,
    },
    {
      scenario: 'batch vs service authenticate',
      subject: perOp(vsService.subject),
      baseline: `service authenticate: ${perOp(vsService.baseline)}`,
      ratio: `${(1 / vsService.ratio).toFixed(2)}× service speed (${clockNote(vsService, `${(1 / vsService.wallRatio).toFixed(2)}×`)})`,
      goal: '(reported)',
      met: true,
    },
  ]
}
