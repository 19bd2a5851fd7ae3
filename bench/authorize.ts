/**
 * `authorize` (authenticate + ACL check) on a token holding 10 policies of 100 rules each, against `authenticate`
 * on the same tokens in the same run. The ACL of the token's policy set is compiled once, on the first request,
 * and matching walks a prefix tree rather than the 1,000 rules. Goal: at most 1.25× the cost of `authenticate`.
 *
 * Both are CPU-bound and single-threaded, so they are compared by main-thread CPU time over many short rounds in
 * turns (see `compareInTurns`); the wall-clock ratio is printed beside it.
 */
import { pathToFileURL } from 'node:url'

import { TokenStore } from '../src/index.js'
import { clockNote, compareInTurns, perOp, printTable, type Row } from './harness.js'

/** Tokens in the store, so lookups hit a realistically sized table. */
const TOKENS = 10_000
/** Policies on each token, and rules in each policy. */
const POLICIES = 10
const RULES = 100
/** Operations per round: about 10 ms of `authorize`, so that a burst of load spoils few rounds. */
const OPS = 10_000
const ROUNDS = { warmup: 4, rounds: 41 }

/** Policy `p`: exact paths, prefix globs and `+` segments, in Vault's HCL. */
function policyText(p: number): string {
  const rules: string[] = []
  for (let r = 0; r < RULES; r++) {
    const path =
      r % 3 === 0
        ? `team${p}/app${r}/config`
        : r % 3 === 1
          ? `team${p}/app${r}/*`
          : `team${p}/+/job${r}`
    rules.push(`path "${path}" { capabilities = ["read", "update"] }`)
  }
  return rules.join('\n')
}

export async function benchAuthorize(): Promise<Row> {
  const store = new TokenStore({ timers: false })
  const names = Array.from({ length: POLICIES }, (_, p) => `bench-${p}`)
  for (const [p, name] of names.entries()) await store.policies.write(name, policyText(p))
  const tokens: string[] = []
  for (let i = 0; i < TOKENS; i++)
    tokens.push((await store.create({ policies: names })).clientToken)
  // Requests that match a prefix rule, a `+` rule and an exact rule, in turn.
  const requests = [
    { path: 'team7/app43/deploy/x', operation: 'read' },
    { path: 'team3/anything/job44', operation: 'update' },
    { path: 'team9/app99/config', operation: 'read' },
  ] as const

  const authenticate = async (): Promise<void> => {
    for (let i = 0; i < OPS; i++) await store.authenticate(tokens[i % TOKENS] ?? '')
  }
  const authorize = async (): Promise<void> => {
    for (let i = 0; i < OPS; i++) {
      await store.authorize(tokens[i % TOKENS] ?? '', requests[i % 3] ?? requests[0])
    }
  }
  const comparison = await compareInTurns(authenticate, authorize, { ...ROUNDS, ops: OPS })
  await store.close()
  const ratio = comparison.ratio
  return {
    scenario: `authorize (${POLICIES} policies × ${RULES} rules)`,
    subject: perOp(comparison.subject),
    baseline: `authenticate: ${perOp(comparison.baseline)}`,
    ratio: `${ratio.toFixed(2)}× authenticate (${clockNote(comparison, `${comparison.wallRatio.toFixed(2)}×`)})`,
    goal: '≤ 1.25× authenticate',
    met: ratio <= 1.25,
  }
}

// Run alone: node --import tsx bench/authorize.ts
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  printTable([await benchAuthorize()])
}
