/**
 * `authenticate` against its floor: one HMAC-SHA-256 (node:crypto `createHmac`, 32-byte key, 36-character id) and
 * one `Map.get`, the least any keyed-hash token lookup can cost. Goal: at least 0.8× the floor's speed.
 *
 * Both are CPU-bound and single-threaded, so they are compared by main-thread CPU time over many short rounds in
 * turns (see `compareInTurns`); the wall-clock ratio is printed beside it.
 */
import { createHmac, randomBytes } from 'node:crypto'
import { pathToFileURL } from 'node:url'

import { TokenStore } from '../src/index.js'
import { clockNote, compareInTurns, perOp, printTable, type Row } from './harness.js'

/** Tokens in the store (and keys in the floor's map), so lookups hit a realistically sized table. */
const TOKENS = 10_000
/** Operations per round: about 10 ms of `authenticate`, so that a burst of load spoils few rounds. */
const OPS = 10_000
const ROUNDS = { warmup: 4, rounds: 41 }
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
  const floorRound = (): void => {
    for (let i = 0; i < OPS; i++) {
      const token = tokens[i % TOKENS] ?? ''
      if (table.get(createHmac('sha256', key).update(token).digest('base64url'))) found += 1
    }
  }
  const subjectRound = async (): Promise<void> => {
    for (let i = 0; i < OPS; i++) await store.authenticate(tokens[i % TOKENS] ?? '')
  }

  const comparison = await compareInTurns(floorRound, subjectRound, { ...ROUNDS, ops: OPS })
  await store.close()
  if (found === 0) throw new Error('the floor found nothing')

  // Speed is the inverse of time: with an odd number of rounds, the median of per-round speed ratios.
  const speed = 1 / comparison.ratio
  return {
    scenario: 'authenticate',
    subject: perOp(comparison.subject),
    baseline: `HMAC + Map.get: ${perOp(comparison.baseline)}`,
    ratio: `${speed.toFixed(2)}× floor speed (${clockNote(comparison, `${(1 / comparison.wallRatio).toFixed(2)}×`)})`,
    goal: `≥ ${GOAL}× floor speed`,
    met: speed >= GOAL,
  }
}

// Run alone: node --import tsx bench/authenticate.ts
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  printTable([await benchAuthenticate()])
}
