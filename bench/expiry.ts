/**
 * The expiration manager's cost grows with what expires, not with what is stored: a sweep that revokes 1,000
 * expired tokens among 1,000,000 live ones, against the same sweep with only the 1,000 stored. Goal: within 2×.
 *
 * The million live tokens are written straight into MemoryStorage (creating them through the store would only make
 * the bench slower; the sweep does not care how they got there).
 *
 * A sweep in memory is CPU-bound and single-threaded, so the two are compared by main-thread CPU time over many
 * rounds in turns (see `takeTurns`); the wall-clock ratio is printed beside it.
 */
import { MemoryStorage, TokenStore, type HashedTokenId, type TokenRecord } from '../src/index.js'
import { ManualClock } from '../src/testing/index.js'
import { clockNote, perOp, takeTurns, timeRound, type RoundTime, type Row } from './harness.js'

const LIVE = 1_000_000
const EXPIRING = 1_000
const ROUNDS = { warmup: 4, rounds: 41 }

let sequence = 0

function record(expiresAt: number, now: number): TokenRecord {
  sequence += 1
  return {
    id: `bench-${sequence}` as HashedTokenId,
    accessor: `accessor-${sequence}`,
    parent: null,
    policies: ['default'],
    path: 'auth/token/create-orphan',
    metadata: {},
    displayName: 'token',
    numUses: 0,
    creationTime: now,
    creationTtl: 3600,
    ttl: 3600,
    expiresAt,
    explicitMaxTtl: 0,
    period: 0,
    renewable: true,
    lastRenewalTime: null,
    revoking: null,
  }
}

/** A store on a virtual clock holding `live` tokens that expire far in the future. */
async function storeWith(
  live: number,
): Promise<{ store: TokenStore; storage: MemoryStorage; clock: ManualClock }> {
  const clock = new ManualClock()
  const storage = new MemoryStorage()
  for (let i = 0; i < live; i++)
    await storage.insertToken(record(clock.now() + 365 * 86_400_000, clock.now()))
  return { store: new TokenStore({ storage, clock: clock.now, timers: false }), storage, clock }
}

/** Stores `EXPIRING` tokens due in one minute, moves past it, and times the sweep: milliseconds per round. */
async function sweepRound(setup: {
  store: TokenStore
  storage: MemoryStorage
  clock: ManualClock
}): Promise<RoundTime> {
  const { store, storage, clock } = setup
  for (let i = 0; i < EXPIRING; i++)
    await storage.insertToken(record(clock.now() + 60_000, clock.now()))
  await clock.advance(61)
  let expired = 0
  const time = await timeRound(async () => {
    expired = await store.revokeExpired()
  }, 1)
  if (expired !== EXPIRING) throw new Error(`expected ${EXPIRING} to expire, got ${expired}`)
  return time
}

export async function benchExpiry(): Promise<Row> {
  const small = await storeWith(0)
  const large = await storeWith(LIVE)
  const comparison = await takeTurns(
    () => sweepRound(small),
    () => sweepRound(large),
    ROUNDS,
  )
  const { baseline, subject, ratio } = comparison
  return {
    scenario: `sweep ${EXPIRING.toLocaleString('en')} expired among ${LIVE.toLocaleString('en')} live`,
    subject: `${subject.toFixed(1)} ms (${perOp(subject / EXPIRING)})`,
    baseline: `same sweep, ${EXPIRING.toLocaleString('en')} stored: ${baseline.toFixed(1)} ms`,
    ratio: `${ratio.toFixed(2)}× baseline time (${clockNote(comparison, `${comparison.wallRatio.toFixed(2)}×`)})`,
    goal: '≤ 2× baseline time',
    met: ratio <= 2,
  }
}
