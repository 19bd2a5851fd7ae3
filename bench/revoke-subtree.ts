/**
 * Revoking a 100,000-token subtree in one call: a wide and deep mix, so the walk meets both many siblings and long
 * chains. Goal: under 1 s. The baseline is the same walk (explicit stack, children first) over a Map-held tree of
 * the same size, without storage or events: what the walk alone costs.
 */
import { TokenStore, type TokenAuth } from '../src/index.js'
import { measure, timeMs, type Row } from './harness.js'

/**
 * Shape: top → 10 → 10 each (100 heads); under each head a chain 101 deep whose first 100 nodes have 9 leaves each:
 * 1 + 10 + 100 × 1,001 = 100,111 tokens, 103 levels deep.
 */
const FANOUT = 10
const CHAIN = 101
const LEAVES = 9
const ROUNDS = { warmup: 0, rounds: 3 }

/** Builds the subtree (`fanout` wide at the top) under a fresh host-issued token; returns it and its size. */
async function buildTree(
  store: TokenStore,
  fanout: number,
): Promise<{ top: TokenAuth; size: number }> {
  const top = await store.create({ policies: ['app'] })
  let size = 1
  const child = async (parent: TokenAuth): Promise<TokenAuth> => {
    size += 1
    return store.create({ parent: parent.clientToken })
  }
  for (let a = 0; a < fanout; a++) {
    const level1 = await child(top)
    for (let b = 0; b < FANOUT; b++) {
      let node = await child(level1)
      for (let depth = 1; depth < CHAIN; depth++) {
        for (let leaf = 0; leaf < LEAVES; leaf++) await child(node)
        node = await child(node)
      }
    }
  }
  return { top, size }
}

/** The same walk (explicit stack, children first) over a Map-held 4-ary tree of `size` nodes. */
function plainWalk(size: number): number {
  const children = new Map<number, number[]>()
  for (let id = 1; id < size; id++) {
    const parent = Math.floor((id - 1) / 4)
    const list = children.get(parent)
    if (list === undefined) children.set(parent, [id])
    else list.push(id)
  }
  let deleted = 0
  const stack: Array<[number, boolean]> = [[0, false]]
  for (let frame = stack.at(-1); frame !== undefined; frame = stack.at(-1)) {
    if (!frame[1]) {
      frame[1] = true
      for (const id of children.get(frame[0]) ?? []) stack.push([id, false])
      continue
    }
    stack.pop()
    children.delete(frame[0])
    deleted += 1
  }
  return deleted
}

/** Builds a tree, revokes it, checks every token was reported, and returns the revocation's milliseconds. */
async function round(fanout: number): Promise<{ ms: number; size: number }> {
  const store = new TokenStore({ timers: false })
  const tree = await buildTree(store, fanout)
  let revoked = 0
  store.on('revoked', () => {
    revoked += 1
  })
  const ms = await timeMs(() => store.revoke(tree.top.clientToken))
  if (revoked !== tree.size) throw new Error(`revoked ${revoked} of ${tree.size}`)
  await store.close()
  return { ms, size: tree.size }
}

export async function benchRevokeSubtree(): Promise<Row> {
  // Warm up on a tenth of the tree: building the full one costs more than revoking it.
  await round(1)
  let size = 0
  const subject = await measure(async () => {
    const result = await round(FANOUT)
    size = result.size
    return result.ms
  }, ROUNDS)
  const baseline = await measure(() => timeMs(() => plainWalk(size)), { warmup: 1, rounds: 5 })
  return {
    scenario: `revoke a ${size.toLocaleString('en-US')}-token subtree`,
    subject: `${subject.median.toFixed(0)} ms`,
    baseline: `plain Map walk: ${baseline.median.toFixed(0)} ms`,
    ratio: `${(subject.median / baseline.median).toFixed(1)}× plain walk`,
    goal: '< 1000 ms',
    met: subject.median < 1000,
  }
}
