/**
 * Response wrapping: a `wrap` then an `unwrap` of a small value (a token, as a deployer hands one to a CI job) is a
 * single-use token created and spent, plus one HKDF and an AES-256-GCM seal and open. Against, in the same run: a
 * single-use token created and authenticated (`create({ numUses: 1 })` then `authenticate`), the same storage work
 * without the crypto. Reported: the difference is the sealing (an HMAC, a random IV, AES-256-GCM both ways) and
 * one more read, which is what wrapping costs.
 */
import { TokenStore } from '../src/index.js'
import { measure, perOp, timeMs, type Row } from './harness.js'

const OPS = 5_000
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

export async function benchWrapping(): Promise<Row> {
  const store = new TokenStore({ timers: false })
  const value = {
    token: 'hvs.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
    accessor: 'bbbbbbbbbbbbbbbbbbbbbbbb',
  }
  const baseline = await perOperation(async () => {
    const auth = await store.create({ numUses: 1, ttl: 300 })
    await store.authenticate(auth.clientToken)
  })
  const wrapping = await perOperation(async () => {
    const info = await store.wrap(value, { ttl: 300 })
    await store.unwrap(info.token)
  })
  await store.close()
  const ratio = wrapping / baseline
  return {
    scenario: 'wrap + unwrap (memory)',
    subject: perOp(wrapping),
    baseline: `create numUses 1 + authenticate: ${perOp(baseline)}`,
    ratio: `${ratio.toFixed(2)}× baseline time`,
    goal: '(reported)',
    met: true,
  }
}
