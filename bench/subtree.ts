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
const ROUNDS = { warmup: 2, rounds: 11 }

/**
 * Times `baseline` and `subject` in alternating rounds (so that load from elsewhere hits both alike) and returns
 * the median milliseconds per operation of each, and the median of the per-round ratios (subject over baseline):
 * the figure to judge by, since turns a moment apart see the same load. Each function runs `ops` operations per
 * round.
 */
export async function interleaved(
  baseline: () => Promise<void>,
  subject: () => Promise<void>,
  ops: number,
): Promise<{ baseline: { median: number }; subject: { median: number }; ratio: number }> {
  const b: number[] = []
  const s: number[] = []
  for (let round = 0; round < ROUNDS.warmup + ROUNDS.rounds; round++) {
    // The order flips every round, so that neither side always runs on the heels of the other.
    let tb: number
    let ts: number
    if (round % 2 === 0) {
      tb = (await timeMs(baseline)) / ops
      ts = (await timeMs(subject)) / ops
    } else {
      ts = (await timeMs(subject)) / ops
      tb = (await timeMs(baseline)) / ops
    }
    if (round >= ROUNDS.warmup) {
      b.push(tb)
      s.push(ts)
    }
  }
  return {
    baseline: { median: median(b) },
    subject: { median: median(s) },
    ratio: median(s.map((time, i) => time / (b[i] as number))),
  }
}
