/**
 * `authorize` (authenticate + ACL check) on a token holding 10 policies of 100 rules each, against `authenticate`
 * on the same tokens in the same run. The ACL of the token's policy set is compiled once, on the first request,
 * and matching walks a prefix tree rather than the 1,000 rules. Goal: at most 1.25× the cost of `authenticate`.
 */
import { TokenStore } from '../src/index.js'
import { measure, perOp, timeMs, type Row } from './harness.js'

/** Tokens in the store, so lookups hit a realistically sized table. */
const TOKENS = 10_000
/** Policies on each token, and rules in each policy. */
const POLICIES = 10
const RULES = 100
/** Operations per measured round. */
const OPS = 50_000
const ROUNDS = { warmup: 2, rounds: 7 }

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

  const authenticate = async (): Promise<number> =>
    (await timeMs(async () => {
      for (let i = 0; i < OPS; i++) await store.authenticate(tokens[i % TOKENS] ?? '')
    })) / OPS
  const authorize = async (): Promise<number> =>
    (await timeMs(async () => {
      for (let i = 0; i < OPS; i++) {
        await store.authorize(tokens[i % TOKENS] ?? '', requests[i % 3] ?? requests[0])
      }
    })) / OPS
  // Interleaved, so that both see the same machine load.
  const base: number[] = []
  const subject: number[] = []
  await measure(async () => {
    base.push(await authenticate())
    subject.push(await authorize())
    return 0
  }, ROUNDS)
  await store.close()
  const keep = (values: number[]): number[] => values.slice(values.length - ROUNDS.rounds)
  const med = (values: number[]): number => {
    const sorted = keep(values).sort((a, b) => a - b)
    return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN
  }
  const ratio = med(subject) / med(base)
  return {
    scenario: `authorize (${POLICIES} policies × ${RULES} rules)`,
    subject: perOp(med(subject)),
    baseline: `authenticate: ${perOp(med(base))}`,
    ratio: `${ratio.toFixed(2)}× authenticate`,
    goal: '≤ 1.25× authenticate',
    met: ratio <= 1.25,
  }
}
