/**
 * `authenticate` against its floor: one HMAC-SHA-256 (node:crypto `createHmac`, 32-byte key, 36-character id) and
 * one `Map.get`, the least any keyed-hash token lookup can cost. Goal: at least 0.8× the floor's speed.
 *
 * Rounds alternate floor and subject, so load on the machine weighs on both alike.
 */
import { createHmac, randomBytes } from 'node:crypto'
import { pathToFileURL } from 'node:url'

import { TokenStore } from '../src/index.js'
import { median, perOp, printTable, timeMs, type Row } from './harness.js'

/** Tokens in the store (and keys in the floor's map), so lookups hit a realistically sized table. */
const TOKENS = 10_000
/** Operations per measured round. */
const OPS = 50_000
const ROUNDS = { warmup: 2, rounds: 9 }
/** The goal: at least this fraction of the floor's speed. */
const GOAL = 0.8

export async function benchAuthenticate(): Promise<Row> {
  const store = new TokenStore({ timers: false })
  const tokens: string[] = []
  for (let i = 0; i < TOKENS; i++)
    tokens.push((await store.create({ policies: ['app'] })).clientToken)

  // The floor: the same ids (36 characters: 'hvs.' + 32), hashed and looked up in a Map.
  const key = randomBytes(32)
  const table = new Map<string, { accessor: string }>()
  for (const token of tokens) {
    table.set(createHmac('sha256', key).update(token).digest('base64url'), { accessor: token })
  }
  let found = 0
  const floorRound = async (): Promise<number> =>
    (await timeMs(() => {
      for (let i = 0; i < OPS; i++) {
        const token = tokens[i % TOKENS] ?? ''
        if (table.get(createHmac('sha256', key).update(token).digest('base64url'))) found += 1
      }
    })) / OPS
  const subjectRound = async (): Promise<number> =>
    (await timeMs(async () => {
      for (let i = 0; i < OPS; i++) await store.authenticate(tokens[i % TOKENS] ?? '')
    })) / OPS

  const floorRounds: number[] = []
  const subjectRounds: number[] = []
  for (let round = 0; round < ROUNDS.warmup + ROUNDS.rounds; round++) {
    const floorTime = await floorRound()
    const subjectTime = await subjectRound()
    if (round < ROUNDS.warmup) continue
    floorRounds.push(floorTime)
    subjectRounds.push(subjectTime)
  }
  await store.close()
  if (found === 0) throw new Error('the floor found nothing')

  const floor = median(floorRounds)
  const subject = median(subjectRounds)
  const speed = floor / subject
  return {
    scenario: 'authenticate',
    subject: perOp(subject),
    baseline: `HMAC + Map.get: ${perOp(floor)}`,
    ratio: `${speed.toFixed(2)}× floor speed`,
    goal: `≥ ${GOAL}× floor speed`,
    met: speed >= GOAL,
  }
}

// Run alone: node --import tsx bench/authenticate.ts
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  printTable([await benchAuthenticate()])
}
