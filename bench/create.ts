/**
 * `create` against the floor of one insert: one HMAC-SHA-256 and one `Map.set` of an object shaped like a stored
 * token. Goal: within 3× of the floor's time.
 */
import { createHmac, randomBytes } from 'node:crypto'

import { TokenStore } from '../src/index.js'
import { median, perOp, timeMs, type Row } from './harness.js'

/** Tokens created per measured round (each round starts from an empty store). */
const OPS = 20_000
const ROUNDS = { warmup: 2, rounds: 11 }

export async function benchCreate(): Promise<Row> {
  const key = randomBytes(32)
  // Ids made up front: the floor measures the insert, not id generation.
  const ids = Array.from({ length: OPS }, (_, i) => `hvs.${String(i).padStart(32, 'x')}`)
  const policies = Object.freeze(['app', 'default'])
  const metadata = Object.freeze({})
  const floorRound = async (): Promise<number> => {
    const table = new Map<string, object>()
    return (
      (await timeMs(() => {
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
      })) / OPS
    )
  }

  const subjectRound = async (): Promise<number> => {
    const store = new TokenStore({ timers: false })
    const ms = await timeMs(async () => {
      for (let i = 0; i < OPS; i++) await store.create({ policies: ['app'], ttl: 3600 })
    })
    await store.close()
    return ms / OPS
  }

  // Rounds alternate floor and subject, in an order flipped every round, and the ratio is the median of the
  // per-round ratios: turns a moment apart see the same load on a shared machine.
  const floorTimes: number[] = []
  const subjectTimes: number[] = []
  for (let round = 0; round < ROUNDS.warmup + ROUNDS.rounds; round++) {
    const first = round % 2 === 0 ? floorRound : subjectRound
    const second = first === floorRound ? subjectRound : floorRound
    const a = await first()
    const b = await second()
    if (round < ROUNDS.warmup) continue
    floorTimes.push(first === floorRound ? a : b)
    subjectTimes.push(first === floorRound ? b : a)
  }
  const floor = { median: median(floorTimes) }
  const subject = { median: median(subjectTimes) }
  const slowdown = median(subjectTimes.map((time, i) => time / (floorTimes[i] as number)))
  return {
    scenario: 'create',
    subject: perOp(subject.median),
    baseline: `HMAC + Map.set: ${perOp(floor.median)}`,
    ratio: `${slowdown.toFixed(2)}× floor time`,
    goal: '≤ 3× floor time',
    met: slowdown <= 3,
  }
}
