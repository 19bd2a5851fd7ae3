/**
 * `create` against the floor of one insert: one HMAC-SHA-256 and one `Map.set` of an object shaped like a stored
 * token. Goal: within 3× of the floor's time.
 *
 * Both are CPU-bound and single-threaded, so rounds are timed by the main thread's time on a CPU (see
 * `mainThreadCpuMs`; wall clock where the platform does not tell it), and the wall-clock ratio is printed beside
 * it: on a loaded machine a wall-clock round also times the other processes.
 */
import { createHmac, randomBytes } from 'node:crypto'

import { TokenStore } from '../src/index.js'
import { clockNote, perOp, takeTurns, timeRound, type RoundTime, type Row } from './harness.js'

/** Tokens created per measured round (each round starts from an empty store). */
const OPS = 20_000
const ROUNDS = { warmup: 2, rounds: 21 }

export async function benchCreate(): Promise<Row> {
  const key = randomBytes(32)
  // Ids made up front: the floor measures the insert, not id generation.
  const ids = Array.from({ length: OPS }, (_, i) => `hvs.${String(i).padStart(32, 'x')}`)
  const policies = Object.freeze(['app', 'default'])
  const metadata = Object.freeze({})
  const floorRound = async (): Promise<RoundTime> => {
    const table = new Map<string, object>()
    return await timeRound(() => {
      for (let i = 0; i < OPS; i++) {
        const id = ids[i] ?? ''
        const hashed = createHmac('sha256', key).update(id).digest('base64url')
        table.set(hashed, {
          id: hashed,
          accessor: id,
          parent: null,
          policies,
          path: 'auth/token/create-orphan',
          metadata,
          displayName: 'token',
          numUses: 0,
          creationTime: i,
          creationTtl: 3600,
          ttl: 3600,
          expiresAt: i + 3_600_000,
          explicitMaxTtl: 0,
          period: 0,
          renewable: true,
          lastRenewalTime: null,
          revoking: null,
        })
      }
    }, OPS)
  }

  const subjectRound = async (): Promise<RoundTime> => {
    const store = new TokenStore({ timers: false })
    const time = await timeRound(async () => {
      for (let i = 0; i < OPS; i++) await store.create({ policies: ['app'], ttl: 3600 })
    }, OPS)
    await store.close()
    return time
  }

  // Rounds alternate floor and subject, in an order flipped every round, and the ratio is the median of the
  // per-round ratios: turns a moment apart see the same load on a shared machine.
  const comparison = await takeTurns(floorRound, subjectRound, ROUNDS)
  const slowdown = comparison.ratio
  return {
    scenario: 'create',
    subject: perOp(comparison.subject),
    baseline: `HMAC + Map.set: ${perOp(comparison.baseline)}`,
    ratio: `${slowdown.toFixed(2)}× floor time (${clockNote(comparison, `${comparison.wallRatio.toFixed(2)}×`)})`,
    goal: '≤ 3× floor time',
    met: slowdown <= 3,
  }
}
