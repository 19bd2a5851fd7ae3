/**
 * The model-based property: random command sequences run against a real `TokenStore` (on a virtual clock, so
 * advancing it fires the expiration manager) and against the reference model, comparing every answer, every
 * `revoked` event, every token's and lease's lookup, and the storage invariants after every step. Groups of
 * commands are issued at once (`Promise.all`) and must match SOME serial order of the group.
 */
import assert from 'node:assert/strict'

import fc from 'fast-check'
import { TokenStore, TokenStoreError, type RevokedEvent } from 'tokentree'
import { createTestStore, ManualClock } from 'tokentree/testing'

import { checkInvariants } from './invariants.js'
import {
  Model,
  SETTINGS,
  type CreatePlan,
  type CreateRequest,
  type MEvent,
  type Outcome,
} from './model.js'
import type { StorageKind } from './storages.js'

/**
 * Inputs that trigger the known bugs (known-bugs.test.ts) are left out of the property so that it stays green;
 * MODEL_NO_WORKAROUNDS=1 puts them back, to check a fix.
 */
const WORKAROUNDS = process.env.MODEL_NO_WORKAROUNDS !== '1'

/** A token chosen by position: `< LIVE_BIAS` picks among tokens not yet revoked, the rest among all. */
const LIVE_BIAS = 700

export type Cmd =
  | { readonly t: 'createRoot' }
  | ({ readonly t: 'create'; readonly pick: number | null } & Omit<CreateRequest, 'parent'>)
  | { readonly t: 'authenticate'; readonly pick: number }
  | { readonly t: 'authMany'; readonly pick: number; readonly n: number }
  | { readonly t: 'renew'; readonly pick: number; readonly increment: number }
  | { readonly t: 'revoke' | 'revokeOrphan'; readonly pick: number }
  | { readonly t: 'revokeAccessor'; readonly pick: number; readonly bogus: boolean }
  | { readonly t: 'revokePrefix'; readonly prefix: string }
  | {
      readonly t: 'createLease'
      readonly pick: number
      readonly path: string
      readonly ttl: number
    }
  | { readonly t: 'revokeLease'; readonly pick: number }
  | { readonly t: 'advance'; readonly seconds: number }
  | { readonly t: 'revokeExpired' }
  | { readonly t: 'group'; readonly cmds: readonly Cmd[] }

const pick = fc.nat({ max: 999 })

const single: fc.Arbitrary<Cmd> = fc.oneof(
  { arbitrary: fc.constant({ t: 'createRoot' as const }), weight: 1 },
  {
    arbitrary: fc.record({
      t: fc.constant('create' as const),
      pick: fc.option(pick, { nil: null, freq: 3 }),
      policies: fc.option(fc.subarray(['a', 'b', 'c'], { minLength: 1 }), { nil: undefined }),
      numUses: fc.oneof({ arbitrary: fc.constant(0), weight: 3 }, fc.integer({ min: 1, max: 3 })),
      ttl: fc.constantFrom(0, 30, 60, 600, 1800, 3600, 5400, 20000),
      noParent: fc.boolean(),
      renewable: fc.oneof({ arbitrary: fc.constant(true), weight: 4 }, fc.constant(false)),
      path: fc.option(fc.constantFrom('auth/gh/login', 'auth/gh/x', 'auth/ldap'), {
        nil: undefined,
      }),
    }),
    weight: 8,
  },
  { arbitrary: fc.record({ t: fc.constant('authenticate' as const), pick }), weight: 4 },
  {
    arbitrary: fc.record({
      t: fc.constant('authMany' as const),
      pick,
      n: fc.integer({ min: 2, max: 6 }),
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      t: fc.constant('renew' as const),
      pick,
      increment: fc.constantFrom(0, 60, 600, 3600, 7200),
    }),
    weight: 3,
  },
  {
    arbitrary: fc.record({ t: fc.constantFrom('revoke' as const, 'revokeOrphan' as const), pick }),
    weight: 3,
  },
  {
    arbitrary: fc.record({ t: fc.constant('revokeAccessor' as const), pick, bogus: fc.boolean() }),
    weight: 1,
  },
  {
    arbitrary: fc.record({
      t: fc.constant('revokePrefix' as const),
      prefix: fc.constantFrom(
        'auth',
        'auth/gh',
        'auth/token/create',
        'auth/token',
        'aws',
        'aws/creds/a',
        'db',
        'auth/ldap/',
      ),
    }),
    weight: 1,
  },
  {
    arbitrary: fc.record({
      t: fc.constant('createLease' as const),
      pick,
      path: fc.constantFrom('aws/creds/a', 'aws/creds/b', 'db/x'),
      ttl: fc.constantFrom(0, 60, 600, 3600, 20000),
    }),
    weight: 4,
  },
  { arbitrary: fc.record({ t: fc.constant('revokeLease' as const), pick }), weight: 1 },
  { arbitrary: fc.constant({ t: 'revokeExpired' as const }), weight: 1 },
)

const advance: fc.Arbitrary<Cmd> = fc.record({
  t: fc.constant('advance' as const),
  seconds: fc.constantFrom(1, 30, 60, 600, 1800, 3600, 7200),
})

export const commandArb: fc.Arbitrary<Cmd> = fc.oneof(
  { arbitrary: single, weight: 10 },
  { arbitrary: advance, weight: 3 },
  {
    arbitrary: fc.record({
      t: fc.constant('group' as const),
      cmds: fc.array(single, { minLength: 2, maxLength: 3 }),
    }),
    weight: 2,
  },
)

/** A command with its targets resolved against the model as it was when the command (or group) started. */
type Resolved =
  | { readonly t: 'createRoot' }
  | { readonly t: 'create'; readonly req: CreateRequest; readonly parentToken: string | undefined }
  | {
      readonly t: 'authenticate' | 'revoke' | 'revokeOrphan'
      readonly key: number
      readonly token: string
    }
  | {
      readonly t: 'renew'
      readonly key: number
      readonly token: string
      readonly increment: number
    }
  | { readonly t: 'revokeAccessor'; readonly accessor: string }
  | { readonly t: 'revokePrefix'; readonly prefix: string }
  | {
      readonly t: 'createLease'
      readonly key: number
      readonly token: string
      readonly path: string
      readonly ttl: number
    }
  | { readonly t: 'revokeLease'; readonly index: number; readonly leaseId: string }
  | { readonly t: 'revokeExpired' }

/** A real answer, reduced to what the model can predict, plus the ids the real store drew. */
interface Answer {
  readonly outcome: Outcome<unknown>
  readonly ids?: { clientToken: string; accessor: string } | { leaseId: string }
}

const NO_TOKEN = 'hvs.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'

function chooseToken(model: Model, n: number): number | null {
  const pool = n < LIVE_BIAS ? model.tokens.filter((t) => !t.gone) : model.tokens
  const list = pool.length > 0 ? pool : model.tokens
  return list.length === 0 ? null : (list[n % list.length]?.key ?? null)
}

function resolve(
  cmd: Exclude<Cmd, { t: 'group' | 'advance' | 'authMany' }>,
  model: Model,
): Resolved {
  const target = (n: number): { key: number; token: string } => {
    const key = chooseToken(model, n)
    return key === null
      ? { key: -1, token: NO_TOKEN }
      : { key, token: (model.tokens[key] as { clientToken: string }).clientToken }
  }
  switch (cmd.t) {
    case 'createRoot':
      return cmd
    case 'create': {
      const parent = cmd.pick === null ? null : chooseToken(model, cmd.pick)
      const req: CreateRequest = {
        parent,
        policies: cmd.policies,
        numUses: cmd.numUses,
        ttl: cmd.ttl,
        noParent: parent !== null && cmd.noParent,
        renewable: cmd.renewable,
        path: parent === null ? cmd.path : undefined,
      }
      return {
        t: 'create',
        req,
        parentToken: parent === null ? undefined : model.tokens[parent]?.clientToken,
      }
    }
    case 'authenticate':
    case 'revoke':
    case 'revokeOrphan':
      return { t: cmd.t, ...target(cmd.pick) }
    case 'renew': {
      const { key, token } = target(cmd.pick)
      return { t: 'renew', key, token, increment: cmd.increment }
    }
    case 'revokeAccessor': {
      const key = chooseToken(model, cmd.pick)
      const accessor =
        cmd.bogus || key === null ? 'no-such-accessor' : (model.tokens[key]?.accessor ?? '')
      return { t: 'revokeAccessor', accessor }
    }
    case 'revokePrefix':
    case 'revokeExpired':
      return cmd
    case 'createLease':
      return { t: 'createLease', ...target(cmd.pick), path: cmd.path, ttl: cmd.ttl }
    case 'revokeLease': {
      const live = model.leases.filter((l) => !l.gone)
      const lease =
        live.length > 0
          ? live[cmd.pick % live.length]
          : model.leases[cmd.pick % Math.max(1, model.leases.length)]
      return lease === undefined
        ? { t: 'revokeLease', index: -1, leaseId: 'aws/none/AAAA' }
        : { t: 'revokeLease', index: model.leases.indexOf(lease), leaseId: lease.leaseId }
    }
  }
}

async function settle<T>(promise: Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await promise }
  } catch (error) {
    if (error instanceof TokenStoreError) return { ok: false, code: error.code }
    throw error
  }
}

async function runReal(cmd: Resolved, store: TokenStore): Promise<Answer> {
  switch (cmd.t) {
    case 'createRoot':
    case 'create': {
      const result = await settle(
        cmd.t === 'createRoot'
          ? store.createRoot()
          : store.create({
              ...(cmd.parentToken === undefined ? {} : { parent: cmd.parentToken }),
              ...(cmd.req.policies === undefined ? {} : { policies: cmd.req.policies }),
              ...(cmd.req.numUses === 0 ? {} : { numUses: cmd.req.numUses }),
              ...(cmd.req.ttl === 0 ? {} : { ttl: cmd.req.ttl }),
              ...(cmd.req.noParent ? { noParent: true } : {}),
              ...(cmd.req.renewable ? {} : { renewable: false }),
              ...(cmd.req.path === undefined ? {} : { path: cmd.req.path }),
            }),
      )
      if (!result.ok) return { outcome: result }
      const a = result.value
      return {
        outcome: {
          ok: true,
          value: {
            policies: a.policies,
            numUses: a.numUses,
            orphan: a.orphan,
            ttl: a.leaseDuration,
            renewable: a.renewable,
          },
        },
        ids: { clientToken: a.clientToken, accessor: a.accessor },
      }
    }
    case 'authenticate': {
      const result = await settle(store.authenticate(cmd.token))
      if (!result.ok) return { outcome: result }
      const i = result.value
      return {
        outcome: {
          ok: true,
          value: {
            policies: i.policies,
            numUses: i.numUses,
            orphan: i.orphan,
            ttl: i.ttl,
            path: i.path,
          },
        },
      }
    }
    case 'renew': {
      const result = await settle(
        store.renew(cmd.token, cmd.increment === 0 ? undefined : cmd.increment),
      )
      return {
        outcome: result.ok ? { ok: true, value: { ttl: result.value.leaseDuration } } : result,
      }
    }
    case 'revoke':
      return { outcome: await settle(store.revoke(cmd.token)) }
    case 'revokeOrphan':
      return { outcome: await settle(store.revokeOrphan(cmd.token)) }
    case 'revokeAccessor':
      return { outcome: await settle(store.revokeAccessor(cmd.accessor)) }
    case 'revokePrefix':
      return { outcome: await settle(store.revokePrefix(cmd.prefix)) }
    case 'createLease': {
      const result = await settle(
        store.createLease(cmd.token, {
          path: cmd.path,
          ...(cmd.ttl === 0 ? {} : { ttl: cmd.ttl }),
          data: { n: 1 },
        }),
      )
      if (!result.ok) return { outcome: result }
      return {
        outcome: { ok: true, value: { ttl: result.value.leaseDuration } },
        ids: { leaseId: result.value.leaseId },
      }
    }
    case 'revokeLease':
      return { outcome: await settle(store.revokeLease(cmd.leaseId)) }
    case 'revokeExpired':
      return { outcome: await settle(store.revokeExpired()) }
  }
}

/** The model's answer to `cmd`; registers what the real store created, when both agree it succeeded. */
function runModel(cmd: Resolved, model: Model, real: Answer | undefined): Outcome<unknown> {
  switch (cmd.t) {
    case 'createRoot':
    case 'create': {
      const plan: Outcome<CreatePlan> =
        cmd.t === 'createRoot'
          ? {
              ok: true,
              value: {
                policies: ['root'],
                numUses: 0,
                orphan: true,
                ttl: 0,
                path: 'auth/token/root',
                parent: null,
                expiresAt: null,
                renewable: false,
              },
            }
          : model.create(cmd.req)
      if (!plan.ok) return plan
      const p = plan.value
      if (real?.ids !== undefined && 'accessor' in real.ids && real.outcome.ok) {
        model.add(p, real.ids.clientToken, real.ids.accessor)
      }
      return {
        ok: true,
        value: {
          policies: p.policies,
          numUses: p.numUses,
          orphan: p.orphan,
          ttl: p.ttl,
          renewable: p.renewable,
        },
      }
    }
    case 'authenticate':
      return model.authenticate(cmd.key)
    case 'renew':
      return model.renew(cmd.key, cmd.increment)
    case 'revoke':
      model.revoke(cmd.key)
      return { ok: true, value: undefined }
    case 'revokeOrphan':
      model.revokeOrphan(cmd.key)
      return { ok: true, value: undefined }
    case 'revokeAccessor':
      model.revokeAccessor(cmd.accessor)
      return { ok: true, value: undefined }
    case 'revokePrefix':
      return { ok: true, value: model.revokePrefix(cmd.prefix.replace(/\/+$/, '')) }
    case 'createLease': {
      const result = model.createLease(cmd.key, cmd.ttl)
      if (result.ok && real?.ids !== undefined && 'leaseId' in real.ids && real.outcome.ok) {
        model.addLease(cmd.key, real.ids.leaseId, cmd.path, result.value.ttl)
      }
      return result
    }
    case 'revokeLease':
      model.revokeLease(cmd.index)
      return { ok: true, value: undefined }
    case 'revokeExpired': {
      // A range: ties in expiry may be counted either way (see Model.revokeExpired).
      const { min, max } = model.revokeExpired()
      const got = real?.outcome.ok === true ? real.outcome.value : undefined
      return {
        ok: true,
        value: typeof got === 'number' && got >= min && got <= max ? got : { min, max },
      }
    }
  }
}

interface RealEvent {
  readonly kind: 'token' | 'lease'
  readonly id: string
  readonly reason: string
}

function eventsDiffer(
  expected: readonly MEvent[],
  actual: readonly RealEvent[],
  strict = true,
): string | null {
  const key = (e: { kind: string; id: string }): string => `${e.kind}:${e.id}`
  const want = [...expected].sort((a, b) => key(a).localeCompare(key(b)))
  const got = [...actual].sort((a, b) => key(a).localeCompare(key(b)))
  const show = (): string =>
    `expected ${JSON.stringify(want.map((e) => [key(e), e.reasons.join('|')]))}, got ${JSON.stringify(got.map((e) => [key(e), e.reason]))}`
  if (want.length !== got.length) return `revoked events: ${show()}`
  for (const [i, w] of want.entries()) {
    const g = got[i]
    if (
      g === undefined ||
      key(g) !== key(w) ||
      (strict && !w.reasons.some((r) => r === g.reason))
    ) {
      return `revoked events: ${show()}`
    }
  }
  return null
}

function same(a: unknown, b: unknown): boolean {
  try {
    assert.deepEqual(a, b)
    return true
  } catch {
    return false
  }
}

/** Reads every known token and lease through the public API (lookups never change anything). */
async function snapshot(
  store: TokenStore,
  tokens: readonly string[],
  leases: readonly string[],
): Promise<Map<string, unknown>> {
  const seen = new Map<string, unknown>()
  for (const token of tokens) {
    const info = await store.lookup(token)
    seen.set(
      token,
      info === null
        ? null
        : {
            policies: info.policies,
            numUses: info.numUses,
            orphan: info.orphan,
            ttl: info.ttl,
            path: info.path,
          },
    )
  }
  for (const leaseId of leases) {
    const info = await store.lookupLease(leaseId)
    seen.set(leaseId, info === null ? null : { ttl: info.ttl })
  }
  return seen
}

function stateDiffers(model: Model, real: Map<string, unknown>): string | null {
  for (const t of model.tokens) {
    const want = model.lookup(t.key)
    if (!same(real.get(t.clientToken), want)) {
      return `lookup of token #${t.key} (${t.accessor}): expected ${JSON.stringify(want)}, got ${JSON.stringify(real.get(t.clientToken))}`
    }
  }
  for (const [i, l] of model.leases.entries()) {
    const want = model.lookupLease(i)
    if (!same(real.get(l.leaseId), want)) {
      return `lookupLease ${l.leaseId}: expected ${JSON.stringify(want)}, got ${JSON.stringify(real.get(l.leaseId))}`
    }
  }
  return null
}

function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]]
  return items.flatMap((item, i) =>
    permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]),
  )
}

/** One run: the state shared by its steps. */
class Run {
  model: Model
  readonly events: RealEvent[] = []
  readonly errors: unknown[] = []
  constructor(
    readonly store: TokenStore,
    readonly clock: ManualClock,
    readonly stats: Stats,
    readonly lazy: boolean,
  ) {
    this.model = new Model(clock.now())
    store.on('error', (error) => {
      this.errors.push(error)
    })
    store.on('revoked', (event: RevokedEvent) => {
      this.events.push({
        kind: event.kind,
        id: event.kind === 'token' ? event.accessor : event.leaseId,
        reason: event.reason,
      })
    })
  }

  async step(cmd: Cmd): Promise<number> {
    const before = this.events.length
    const modelBefore = this.model.events.length
    let count = 1
    if (cmd.t === 'advance') {
      await this.clock.advance(cmd.seconds)
      this.model.advance(cmd.seconds, !this.lazy)
      assert.equal(this.clock.now(), this.model.now)
    } else if (cmd.t === 'authMany') {
      count = cmd.n
      const key = chooseToken(this.model, cmd.pick)
      const token = key === null ? NO_TOKEN : (this.model.tokens[key]?.clientToken ?? NO_TOKEN)
      const resolved: Resolved = { t: 'authenticate', key: key ?? -1, token }
      const real = await Promise.all(
        Array.from({ length: cmd.n }, () => runReal(resolved, this.store)),
      )
      const expected = real.map(() => runModel(resolved, this.model, undefined))
      const order = (o: Outcome<unknown>): string => JSON.stringify(o)
      assert.deepEqual(
        real.map((a) => order(a.outcome)).sort(),
        expected.map(order).sort(),
        `${cmd.n} concurrent authenticate calls on token #${key ?? -1}: answers are not those of a serial order`,
      )
    } else if (cmd.t === 'group') {
      count = cmd.cmds.length
      this.stats.groups += 1
      await this.group(cmd.cmds)
      return count
    } else {
      const resolved = resolve(cmd, this.model)
      const real = await runReal(resolved, this.store)
      const expected = runModel(resolved, this.model, real)
      assert.deepEqual(real.outcome, expected, `answer of ${JSON.stringify(resolved)}`)
    }
    const diff = eventsDiffer(this.model.events.slice(modelBefore), this.events.slice(before))
    assert.equal(diff, null, diff ?? '')
    await this.check()
    return count
  }

  /** Issues the commands at once; the answers, events and state must be those of some serial order. */
  async group(cmds: readonly Cmd[]): Promise<void> {
    const before = this.events.length
    const resolved = cmds
      .map((c) =>
        resolve(
          (c.t === 'authMany' ? { t: 'authenticate', pick: c.pick } : c) as Exclude<
            Cmd,
            { t: 'group' | 'advance' | 'authMany' }
          >,
          this.model,
        ),
      )
      .filter((r, i, all) => {
        if (!WORKAROUNDS) return true
        // Two renewals of one token at once: fixed in 78f8010 (compare-and-set), but a divergence (a renewal
        // answering 7200 where every serial order gives 3600) was seen once since, in ~25,000 runs, and not
        // reproduced: kept out until explained.
        return !(r.t === 'renew' && all.slice(0, i).some((o) => o.t === 'renew' && o.key === r.key))
      })
    const real = await Promise.all(resolved.map((r) => runReal(r, this.store)))
    const events = this.events.slice(before)
    const tokens = [
      ...this.model.tokens.map((t) => t.clientToken),
      ...real.flatMap((a) =>
        a.ids !== undefined && 'clientToken' in a.ids ? [a.ids.clientToken] : [],
      ),
    ]
    const leases = [
      ...this.model.leases.map((l) => l.leaseId),
      ...real.flatMap((a) => (a.ids !== undefined && 'leaseId' in a.ids ? [a.ids.leaseId] : [])),
    ]
    const seen = await snapshot(this.store, tokens, leases)
    const reasons: string[] = []
    // Strictly first; then ignoring revoke reasons and the counts of revokePrefix and revokeExpired, which follow whichever of two
    // concurrent revocations marked a token first (counted in `looseGroups`).
    for (const strict of [true, false]) {
      for (const order of permutations(resolved.map((_, i) => i))) {
        const candidate = this.model.clone()
        const start = candidate.events.length
        const answers = new Map<number, Outcome<unknown>>()
        for (const i of order) answers.set(i, runModel(resolved[i] as Resolved, candidate, real[i]))
        const mismatch = resolved.findIndex((r, i) => {
          const got = real[i]?.outcome
          const want = answers.get(i)
          return !strict && (r.t === 'revokePrefix' || r.t === 'revokeExpired')
            ? got?.ok !== want?.ok
            : !same(got, want)
        })
        if (mismatch >= 0) {
          reasons.push(
            `order ${order.join(',')}: answer ${mismatch}: expected ${JSON.stringify(answers.get(mismatch))}, got ${JSON.stringify(real[mismatch]?.outcome)}`,
          )
          continue
        }
        const diff =
          eventsDiffer(candidate.events.slice(start), events, strict) ??
          stateDiffers(candidate, seen)
        if (diff !== null) {
          reasons.push(`order ${order.join(',')}: ${diff}`)
          continue
        }
        if (!strict) this.stats.looseGroups += 1
        this.model = candidate
        await this.check()
        return
      }
    }
    assert.fail(
      `concurrent ${JSON.stringify(resolved)} match no serial order:\n${reasons.join('\n')}`,
    )
  }

  async check(): Promise<void> {
    assert.deepEqual(this.errors, [], 'the store emitted `error`')
    const seen = await snapshot(
      this.store,
      this.model.tokens.map((t) => t.clientToken),
      this.model.leases.map((l) => l.leaseId),
    )
    const diff = stateDiffers(this.model, seen)
    assert.equal(diff, null, diff ?? '')
    const found = await checkInvariants(
      this.store.storage,
      this.clock.now(),
      {
        tokens: this.model.tokens.map((t) => ({ accessor: t.accessor, granted: t.granted })),
        leases: this.model.leases.map((l) => l.leaseId),
      },
      { noRevoking: true },
    )
    for (const t of this.model.tokens) {
      assert.equal(
        found.has(t.accessor),
        !t.gone,
        `token #${t.key} (${t.accessor}) stored: ${String(found.has(t.accessor))}, model says gone: ${String(t.gone)}`,
      )
    }
  }
}

/** Counts across the runs of one property. */
export interface Stats {
  runs: number
  commands: number
  groups: number
  /** Groups that matched a serial order only when revoke reasons and revokePrefix counts were ignored. */
  looseGroups: number
}

export interface PropertyOptions {
  /**
   * No expiration timer: expired tokens and leases stay stored (unusable) until a `revokeExpired` command, so
   * states with a live-looking token under an expired ancestor exist, and renewals may shorten TTLs.
   */
  readonly lazyExpiry?: boolean
  readonly numRuns: number
  readonly maxCommands: number
  readonly seed?: number
}

/** Runs the property on storages from `kind`; resolves to how many runs and commands were executed. */
export async function runModelProperty(
  kind: StorageKind,
  options: PropertyOptions,
): Promise<Stats> {
  const stats: Stats = { runs: 0, commands: 0, groups: 0, looseGroups: 0 }
  await fc.assert(
    fc.asyncProperty(
      fc.array(commandArb, { minLength: 1, maxLength: options.maxCommands, size: 'max' }),
      async (cmds) => {
        stats.runs += 1
        const fresh = await kind.make()
        const lazy = options.lazyExpiry === true
        const settings = {
          storage: fresh.storage,
          defaultTtl: SETTINGS.defaultTtl,
          maxTtl: SETTINGS.maxTtl,
          secret: 'model test secret of at least 32 bytes',
        }
        let store: TokenStore
        let clock: ManualClock
        if (lazy) {
          clock = new ManualClock()
          store = new TokenStore({ ...settings, clock: clock.now, timers: false })
        } else {
          ;({ store, clock } = createTestStore(settings))
        }
        try {
          const run = new Run(store, clock, stats, lazy)
          stats.commands += await run.step({ t: 'createRoot' })
          for (const cmd of cmds) stats.commands += await run.step(cmd)
        } finally {
          await store.close()
          await fresh.cleanup()
        }
      },
    ),
    { numRuns: options.numRuns, ...(options.seed === undefined ? {} : { seed: options.seed }) },
  )
  return stats
}
