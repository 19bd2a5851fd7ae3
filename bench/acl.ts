/**
 * `Acl.check` on a token holding 10 policies of 100 rules each (exact, `*` and `+` rules mixed, requests hitting
 * each kind and missing), against two baselines measured in the same run: one `Map.get` on the request path (the
 * least any lookup can cost), and `authenticate` in memory. Issue 11's goal is `authorize` ≤ 1.25× `authenticate`,
 * so the check itself may cost at most a quarter of an `authenticate`.
 *
 * The check and its baselines are CPU-bound and single-threaded, so they are compared by main-thread CPU time over
 * many short rounds in turns (see `compareInTurns`); the wall-clock ratio is printed beside it.
 */
import { TokenStore } from '../src/index.js'
import { Acl, compilePolicy, type AclOperation, type AuthorizeRequest } from '../src/acl/index.js'
import { clockNote, compareInTurns, measure, perOp, timeMs, type Row } from './harness.js'

const POLICIES = 10
const RULES = 100
/** Checks per round: about 10 ms, so that a burst of load spoils few rounds. */
const OPS = 50_000
/** `authenticate` calls per round: about 10 ms as well. */
const AUTH_OPS = 10_000
const ROUNDS = { warmup: 4, rounds: 41 }
/** `Acl.from` is timed on its own (it has no goal): a few rounds, by wall clock. */
const BUILD_ROUNDS = { warmup: 2, rounds: 7 }

/** Policy `p` of 100 rules: 60 exact, 30 globs, 10 with a `+` segment. */
function policyText(p: number): string {
  const rules: string[] = []
  for (let i = 0; i < RULES; i++) {
    const pattern =
      i % 10 < 6
        ? `app${p}/svc${i}/config`
        : i % 10 < 9
          ? `app${p}/svc${i}/*`
          : `app${p}/+/svc${i}/status`
    const capabilities = i % 7 === 0 ? '"deny"' : '"read", "list", "update"'
    rules.push(`path "${pattern}" { capabilities = [${capabilities}] }`)
  }
  return rules.join('\n')
}

/** Requests cycling through exact hits, glob hits, `+` hits and misses. */
function requests(): AuthorizeRequest[] {
  const operations: AclOperation[] = ['read', 'update', 'list']
  const result: AuthorizeRequest[] = []
  for (let n = 0; n < 1000; n++) {
    const p = n % POLICIES
    const i = (n * 7) % RULES
    const kind = n % 4
    const path =
      kind === 0
        ? `app${p}/svc${i - (i % 10)}/config`
        : kind === 1
          ? `app${p}/svc${i - (i % 10) + 6}/data/item${n}`
          : kind === 2
            ? `app${p}/team${n}/svc${i - (i % 10) + 9}/status`
            : `other${p}/svc${i}/config`
    result.push({ path, operation: operations[n % 3] ?? 'read' })
  }
  return result
}

export async function benchAcl(): Promise<Row[]> {
  const policies = Array.from({ length: POLICIES }, (_, p) => compilePolicy(`p${p}`, policyText(p)))
  const built = await measure(() => timeMs(() => Acl.from(policies)), BUILD_ROUNDS)
  const acl = Acl.from(policies)
  const batch = requests()

  const table = new Map<string, number>(batch.map((request, index) => [request.path, index]))
  let sink = 0
  const floor = (): void => {
    for (let i = 0; i < OPS; i++) sink += table.get(batch[i % batch.length]?.path ?? '') ?? 0
  }
  let granted = 0
  const check = (): void => {
    for (let i = 0; i < OPS; i++) {
      if (acl.check(batch[i % batch.length] as AuthorizeRequest).allowed) granted += 1
    }
  }

  const store = new TokenStore({ timers: false })
  const tokens: string[] = []
  for (let i = 0; i < 1000; i++)
    tokens.push((await store.create({ policies: ['app'] })).clientToken)
  const authenticate = async (): Promise<void> => {
    for (let i = 0; i < AUTH_OPS; i++) await store.authenticate(tokens[i % tokens.length] ?? '')
  }
  const vsFloor = await compareInTurns(floor, check, { ...ROUNDS, ops: OPS })
  const vsAuthenticate = await compareInTurns(authenticate, check, {
    ...ROUNDS,
    ops: { baseline: AUTH_OPS, subject: OPS },
  })
  await store.close()
  if (granted === 0 || sink < 0) throw new Error('the bench checked nothing')

  const share = vsAuthenticate.ratio
  return [
    {
      scenario: `Acl.check (${POLICIES} policies × ${RULES} rules)`,
      subject: perOp(vsFloor.subject),
      baseline: `Map.get: ${perOp(vsFloor.baseline)}`,
      ratio: `${vsFloor.ratio.toFixed(1)}× Map.get time (${clockNote(vsFloor, `${vsFloor.wallRatio.toFixed(1)}×`)})`,
      goal: '(reported)',
      met: true,
    },
    {
      scenario: 'Acl.check vs authenticate',
      subject: perOp(vsAuthenticate.subject),
      baseline: `authenticate: ${perOp(vsAuthenticate.baseline)}`,
      ratio: `${share.toFixed(2)}× authenticate time (${clockNote(vsAuthenticate, `${vsAuthenticate.wallRatio.toFixed(2)}×`)})`,
      goal: '≤ 0.25× (authorize ≤ 1.25×)',
      met: share <= 0.25,
    },
    {
      scenario: `Acl.from (${POLICIES} × ${RULES} rules, once per policy set)`,
      subject: `${(built.median * 1000).toFixed(0)} µs`,
      baseline: '-',
      ratio: '-',
      goal: '(reported)',
      met: true,
    },
  ]
}

// `npm run bench` runs every scenario; this file alone: `node --import tsx bench/acl.ts`.
if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  const { printTable } = await import('./harness.js')
  printTable(await benchAcl())
}
