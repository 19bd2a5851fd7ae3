/**
 * Batch tokens carry their own entry, so authenticating one is one HMAC check and one AES-256-CTR decryption (plus
 * a parent lookup for a child). Against, in the same run: a service token's `authenticate`, and jose's HS256 JWT
 * verify, the usual way to check a self-contained token in Node. Goal: faster than the JWT verify.
 */
import { randomBytes } from 'node:crypto'

import { SignJWT, jwtVerify } from 'jose'

import { TokenStore } from '../src/index.js'
import { measure, perOp, timeMs, type Row } from './harness.js'

const OPS = 20_000
const ROUNDS = { warmup: 2, rounds: 7 }

async function perOperation(operation: () => Promise<unknown>): Promise<number> {
  return (
    await measure(
      async () =>
        (await timeMs(async () => {
          for (let i = 0; i < OPS; i++) await operation()
        })) / OPS,
      ROUNDS,
    )
  ).median
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

  const jose = await perOperation(() => jwtVerify(jwt, key, { algorithms: ['HS256'] }))
  const batchTime = await perOperation(() => store.authenticate(batch))
  const serviceTime = await perOperation(() => store.authenticate(service))
  await store.close()
  const vsJose = jose / batchTime
  return [
    {
      scenario: 'batch authenticate',
      subject: perOp(batchTime),
      baseline: `jose HS256 jwtVerify: ${perOp(jose)}`,
      ratio: `${vsJose.toFixed(2)}× JWT verify speed`,
      goal: '> 1× JWT verify speed',
      met: vsJose > 1,
    },
    {
      scenario: 'batch vs service authenticate',
      subject: perOp(batchTime),
      baseline: `service authenticate: ${perOp(serviceTime)}`,
      ratio: `${(serviceTime / batchTime).toFixed(2)}× service speed`,
      goal: '(reported)',
      met: true,
    },
  ]
}
