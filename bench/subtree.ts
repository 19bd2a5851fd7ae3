/**
 * The 10,000-token subtree the shared-storage benches revoke: a top token, 100 children, 99 grandchildren each.
 */
import type { TokenStore } from '../src/index.js'
import { median, timeMs } from './harness.js'

const CHILDREN = 100
const GRANDCHILDREN = 99

/** Tokens in the subtree: 1 + 100 + 100 × 99. */
export const SUBTREE_SIZE = 1 + CHILDREN + CHILDREN * GRANDCHILDREN

/** Creates the subtree (grandchildren in parallel batches) and resolves to its top token. */
export async function buildSubtree(store: TokenStore): Promise<string> {
  const top = (await store.createRoot()).clientToken
  for (let c = 0; c < CHILDREN; c++) {
    const child = (await store.create({ parent: top })).clientToken
    await Promise.all(Array.from({ length: GRANDCHILDREN }, () => store.create({ parent: child })))
  }
  return top
}

/** Warm-up and measured rounds of the latency comparisons. */
const ROUNDS = { warmup: 1, rounds: 7 }

/**
 * Times `baseline` and `subject` in alternating rounds (so that load from elsewhere hits both alike) and returns
 * the median milliseconds per operation of each; each function runs `ops` operations per round.
 */
export async function interleaved(
  baseline: () => Promise<void>,
  subject: () => Promise<void>,
  ops: number,
): Promise<{ baseline: { median: number }; subject: { median: number } }> {
  const b: number[] = []
  const s: number[] = []
  for (let round = 0; round < ROUNDS.warmup + ROUNDS.rounds; round++) {
    const tb = (await timeMs(baseline)) / ops
    const ts = (await timeMs(subject)) / ops
    if (round >= ROUNDS.warmup) {
      b.push(tb)
      s.push(ts)
    }
  }
  return { baseline: { median: median(b) }, subject: { median: median(s) } }
}
