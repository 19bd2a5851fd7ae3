/**
 * `authenticate` against its floor: one HMAC-SHA-256 (node:crypto `createHmac`, 32-byte key, 36-character id) and
 * one `Map.get`, the least any keyed-hash token lookup can cost. Goal: at least half the floor's speed.
 */
import { createHmac, randomBytes } from 'node:crypto'

import { TokenStore } from '../src/index.js'
import { measure, perOp, timeMs, type Row } from './harness.js'

/** Tokens in the store (and keys in the floor's map), so lookups hit a realistically sized table. */
const TOKENS = 10_000
/** Operations per measured round. */
const OPS = 50_000
const ROUNDS = { warmup: 2, rounds: 7 }

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
  const floor = await measure(
    async () =>
      (await timeMs(() => {
        for (let i = 0; i < OPS; i++) {
          const token = tokens[i % TOKENS] ?? ''
          if (table.get(createHmac('sha256', key).update(token).digest('base64url'))) found += 1
        }
      })) / OPS,
    ROUNDS,
  )

  const subject = await measure(
    async () =>
      (await timeMs(async () => {
        for (let i = 0; i < OPS; i++) await store.authenticate(tokens[i % TOKENS] ?? '')
      })) / OPS,
    ROUNDS,
  )
  await store.close()
  if (found === 0) throw new Error('the floor found nothing')

  const speed = floor.median / subject.median
  return {
    scenario: 'authenticate',
    subject: perOp(subject.median),
    baseline: `HMAC + Map.get: ${perOp(floor.median)}`,
    ratio: `${speed.toFixed(2)}× floor speed`,
    goal: '≥ 0.5× floor speed',
    met: speed >= 0.5,
  }
}
