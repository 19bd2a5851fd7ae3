/**
 * Storage faults at every step of every multi-call operation. For each operation and EVERY k from 1 to the number
 * of storage calls it makes, the k-th call is (a) failed before it reaches storage, (b) failed after it ran (the
 * reply is lost), or (c) stalled and later released. Then:
 *
 * - the operation rejects with `storage_unavailable` (or succeeds when the fault hit nothing it needed);
 * - the invariants hold (invariants.ts), and no descendant of a token whose revocation started is usable,
 *   checked right after the failure and, for stalls, while the call hangs;
 * - retrying the operation (only if it failed), then `revokeExpired()` (which finishes cut-off revocations),
 *   leaves the same state as a run without faults, compared through `lookup`/`lookupLease` of every token and
 *   lease, and the same `revoked` events: each exactly once across the failed attempt and the retry. When a
 *   deletion's reply is lost (fail-after), its event cannot be emitted: there, each event at most once and
 *   only that one missing.
 *
 * Runs on MemoryStorage, and on Redis when its adapter and server are there (a fresh key prefix per case).
 */
import assert from 'node:assert/strict'
import { after, test } from 'node:test'

import { TokenStore, TokenStoreError, type RevokedEvent, type Storage } from 'tokentree'
import { ManualClock } from 'tokentree/testing'

import { checkInvariants } from '../model/invariants.js'
import { memoryKind, redisKind, type StorageKind } from '../model/storages.js'
import { FaultyStorage, type FaultMode } from './fault-storage.js'

interface Labeled {
  clientToken: string
  accessor: string
  granted: number
}

interface Ctx {
  readonly store: TokenStore
  readonly clock: ManualClock
  readonly faulty: FaultyStorage
  readonly tokens: Map<string, Labeled>
  readonly leases: Map<string, string>
  readonly events: RevokedEvent[]
}

interface Scenario {
  readonly name: string
  /** Runs before the operation, with faults off. */
  readonly before?: (ctx: Ctx) => Promise<void>
  readonly op: (ctx: Ctx) => Promise<void>
  /** A top token and its subtree: once the top is marked or gone, none of the subtree may be usable. */
  readonly tops: ReadonlyArray<readonly [string, readonly string[]]>
  /** Retry only this way (default: the operation again). */
  readonly retry?: (ctx: Ctx) => Promise<void>
}

const tok = (ctx: Ctx, label: string): string => (ctx.tokens.get(label) as Labeled).clientToken

async function build(storage: Storage): Promise<Ctx> {
  const faulty = new FaultyStorage(storage)
  const clock = new ManualClock()
  const store = new TokenStore({
    storage: faulty.storage,
    secret: 'fault test secret of at least 32 bytes',
    clock: clock.now,
    timers: false,
  })
  const ctx: Ctx = { store, clock, faulty, tokens: new Map(), leases: new Map(), events: [] }
  store.on('revoked', (event) => ctx.events.push(event))
  const add = async (
    label: string,
    promise: Promise<{ clientToken: string; accessor: string; numUses: number }>,
  ): Promise<void> => {
    const auth = await promise
    ctx.tokens.set(label, {
      clientToken: auth.clientToken,
      accessor: auth.accessor,
      granted: auth.numUses,
    })
  }
  const lease = async (label: string, token: string, path: string): Promise<void> => {
    ctx.leases.set(
      label,
      (await store.createLease(tok(ctx, token), { path, data: { label } })).leaseId,
    )
  }
  await add('root', store.createRoot())
  await add('A', store.create({ parent: tok(ctx, 'root'), policies: ['a', 'b'], ttl: '1h' }))
  await add('B', store.create({ parent: tok(ctx, 'A'), policies: ['a'] }))
  await add('C', store.create({ parent: tok(ctx, 'A') }))
  await add('D', store.create({ parent: tok(ctx, 'B') }))
  await add('O', store.create({ path: 'auth/gh/login', policies: ['x'] }))
  await add('E', store.create({ numUses: 2 }))
  await add('T', store.create({ ttl: 60 }))
  await add('U', store.create({ parent: tok(ctx, 'T'), ttl: 3600 }))
  await lease('LA', 'A', 'aws/creds/a')
  await lease('LB', 'B', 'db/b')
  await lease('LD', 'D', 'aws/creds/d')
  await lease('LO', 'O', 'aws/creds/o')
  await lease('LE', 'E', 'db/e')
  await lease('LU', 'U', 'db/u')
  await store.authenticate(tok(ctx, 'E'))
  return ctx
}

const SCENARIOS: readonly Scenario[] = [
  {
    name: 'revoke() of a tree with leases',
    op: (ctx) => ctx.store.revoke(tok(ctx, 'A')),
    tops: [['A', ['A', 'B', 'C', 'D']]],
  },
  {
    name: 'revokeOrphan()',
    op: (ctx) => ctx.store.revokeOrphan(tok(ctx, 'A')),
    tops: [['A', ['A']]],
  },
  {
    name: 'revokeAccessor()',
    op: (ctx) => ctx.store.revokeAccessor((ctx.tokens.get('B') as Labeled).accessor),
    tops: [['B', ['B', 'D']]],
  },
  {
    name: 'revokePrefix()',
    op: async (ctx) => {
      await ctx.store.revokePrefix('auth/token/create')
    },
    tops: [
      ['A', ['A', 'B', 'C', 'D']],
      ['U', ['U']],
    ],
  },
  {
    name: 'authenticate() on the last use',
    op: async (ctx) => {
      await ctx.store.authenticate(tok(ctx, 'E'))
    },
    tops: [['E', ['E']]],
    // The use may be spent although the call failed: then the retry is refused, and the sweep finishes it.
    retry: async (ctx) => {
      await ctx.store.authenticate(tok(ctx, 'E')).catch((error: unknown) => {
        if (!(error instanceof TokenStoreError && error.code === 'invalid_token')) throw error
      })
    },
  },
  {
    name: 'create() of a child',
    op: async (ctx) => {
      const auth = await ctx.store.create({ parent: tok(ctx, 'A'), policies: ['a'] })
      ctx.tokens.set('N', { clientToken: auth.clientToken, accessor: auth.accessor, granted: 0 })
    },
    tops: [],
  },
  {
    name: 'createLease()',
    op: async (ctx) => {
      ctx.leases.set(
        'LN',
        (await ctx.store.createLease(tok(ctx, 'A'), { path: 'aws/creds/n' })).leaseId,
      )
    },
    tops: [],
  },
  {
    name: 'renew()',
    op: async (ctx) => {
      await ctx.store.renew(tok(ctx, 'A'), 600)
    },
    tops: [],
  },
  {
    name: 'revokeExpired() of an expired tree',
    before: (ctx) => ctx.clock.advance(120),
    op: async (ctx) => {
      await ctx.store.revokeExpired()
    },
    tops: [['T', ['T', 'U']]],
  },
  {
    name: 'tidy() finishing a cut-off revocation',
    before: async (ctx) => {
      const a = await ctx.store.storage.getTokenByAccessor(
        (ctx.tokens.get('A') as Labeled).accessor,
      )
      assert.ok(a !== null)
      await ctx.store.storage.markRevoking(a.id, 'explicit')
    },
    op: async (ctx) => {
      await ctx.store.tidy()
    },
    tops: [['A', ['A', 'B', 'C', 'D']]],
  },
]

/** Every token's and lease's lookup, by label. */
async function observe(ctx: Ctx): Promise<Record<string, unknown>> {
  const seen: Record<string, unknown> = {}
  for (const [label, t] of ctx.tokens) {
    const info = await ctx.store.lookup(t.clientToken)
    seen[label] =
      info === null
        ? null
        : { policies: info.policies, numUses: info.numUses, orphan: info.orphan, ttl: info.ttl }
  }
  for (const [label, id] of ctx.leases) seen[label] = (await ctx.store.lookupLease(id)) !== null
  return seen
}

function labeledEvents(ctx: Ctx): string[] {
  const byAccessor = new Map([...ctx.tokens].map(([label, t]) => [t.accessor, label]))
  const byLease = new Map([...ctx.leases].map(([label, id]) => [id, label]))
  return ctx.events
    .map((e) =>
      e.kind === 'token'
        ? `token ${byAccessor.get(e.accessor) ?? `?${e.accessor}`} ${e.reason}`
        : `lease ${byLease.get(e.leaseId) ?? `?${e.leaseId}`} ${e.reason}`,
    )
    .sort()
}

function known(ctx: Ctx): { tokens: Labeled[]; leases: string[] } {
  return { tokens: [...ctx.tokens.values()], leases: [...ctx.leases.values()] }
}

/** Checks the invariants, and that no subtree whose top was marked or deleted has a usable token. */
async function checkState(ctx: Ctx, scenario: Scenario, noRevoking: boolean): Promise<void> {
  const storage = ctx.store.storage
  const mustBeUnusable: string[] = []
  for (const [top, subtree] of scenario.tops) {
    const record = await storage.getTokenByAccessor((ctx.tokens.get(top) as Labeled).accessor)
    if (record === null || record.revoking !== null) {
      mustBeUnusable.push(...subtree.map((label) => (ctx.tokens.get(label) as Labeled).accessor))
    }
  }
  await checkInvariants(storage, ctx.clock.now(), known(ctx), { noRevoking, mustBeUnusable })
}

interface Baseline {
  readonly calls: readonly string[]
  readonly state: Record<string, unknown>
  readonly events: readonly string[]
}

async function baseline(kind: StorageKind, scenario: Scenario): Promise<Baseline> {
  const fresh = await kind.make()
  try {
    const ctx = await build(fresh.storage)
    await scenario.before?.(ctx)
    ctx.events.length = 0
    ctx.faulty.arm(0)
    await scenario.op(ctx)
    ctx.faulty.disarm()
    const calls = [...ctx.faulty.calls]
    await ctx.store.revokeExpired()
    await checkState(ctx, scenario, true)
    return { calls, state: await observe(ctx), events: labeledEvents(ctx) }
  } finally {
    await fresh.cleanup()
  }
}

async function faultCase(
  kind: StorageKind,
  scenario: Scenario,
  base: Baseline,
  k: number,
  mode: FaultMode,
): Promise<void> {
  const fresh = await kind.make()
  const where = `${scenario.name}, ${mode} at call ${k} (${String(base.calls[k - 1])} in the baseline)`
  try {
    const ctx = await build(fresh.storage)
    await scenario.before?.(ctx)
    ctx.events.length = 0
    ctx.faulty.arm(k, mode)
    let failed = false
    if (mode === 'stall') {
      const running = scenario.op(ctx)
      const settled = running.then(
        () => 'settled',
        () => 'settled',
      )
      const reached = await Promise.race([ctx.faulty.stalled.then(() => 'stalled'), settled])
      // With Redis, the walk's order (and so its number of calls) varies: the op may finish before call k.
      if (reached === 'stalled') {
        await checkState(ctx, scenario, false).catch((error: unknown) => {
          ctx.faulty.release()
          throw error
        })
        ctx.faulty.release()
      }
      await running
    } else {
      try {
        await scenario.op(ctx)
      } catch (error) {
        assert.ok(error instanceof TokenStoreError, `${where}: rejected with ${String(error)}`)
        assert.equal(error.code, 'storage_unavailable', `${where}: ${error.message}`)
        failed = true
      }
    }
    ctx.faulty.disarm()
    await checkState(ctx, scenario, false)
    if (failed) await (scenario.retry ?? scenario.op)(ctx)
    await ctx.store.revokeExpired()
    await checkState(ctx, scenario, true)
    assert.deepEqual(
      await observe(ctx),
      base.state,
      `${where}: final state differs from a run without faults`,
    )
    const events = labeledEvents(ctx)
    if (mode === 'fail-after' && events.length !== base.events.length) {
      const lost = base.events.filter((e) => !events.includes(e))
      assert.deepEqual([...events, ...lost].sort(), base.events, `${where}: events`)
      // The call order can differ from the baseline's (Redis lists children in hash order): use this run's.
      const faulted = String(ctx.faulty.calls[k - 1])
      // A single deletion loses its one event; a deleteSubtree batch loses the events of that batch.
      if (faulted !== 'deleteSubtree')
        assert.equal(lost.length, 1, `${where}: more than one event lost`)
      assert.ok(
        /^delete(Token|Lease|Subtree)$/.test(faulted),
        `${where}: lost ${String(lost[0])} at ${faulted}`,
      )
    } else {
      assert.deepEqual(events, base.events, `${where}: revoked events (each exactly once)`)
    }
  } finally {
    await fresh.cleanup()
  }
}

async function matrix(kind: StorageKind): Promise<void> {
  let cases = 0
  let operations = 0
  const started = Date.now()
  const probe = await kind.make()
  const canTidy = probe.storage.tidy !== undefined
  await probe.cleanup()
  for (const scenario of SCENARIOS) {
    if (scenario.name.startsWith('tidy()') && !canTidy) {
      process.stdout.write(
        `# faults on ${kind.name}: ${scenario.name} skipped: the adapter has no tidy()\n`,
      )
      continue
    }
    const base = await baseline(kind, scenario)
    operations += 1
    for (const mode of ['fail', 'fail-after', 'stall'] as const) {
      for (let k = 1; k <= base.calls.length; k++) {
        await faultCase(kind, scenario, base, k, mode)
        cases += 1
      }
    }
  }
  process.stdout.write(
    `# faults on ${kind.name}: ${operations} operations, ${cases} fault cases (fail, fail-after and stall at every call) in ${Date.now() - started} ms\n`,
  )
}

test('faults: a failed or stalled k-th storage call, for every k of every operation, on MemoryStorage', async () => {
  await matrix(memoryKind)
})

const redis = await redisKind()
if ('skip' in redis) {
  test('faults: every k of every operation, on Redis', { skip: redis.skip }, () => undefined)
} else {
  after(() => redis.kind.close())
  test('faults: a failed or stalled k-th storage call, for every k of every operation, on Redis', async () => {
    await matrix(redis.kind)
  })
}
