/**
 * Hostile input to every public method of `TokenStore` (and its constructor): generated junk must get either a
 * valid result or a `TokenStoreError` with a known code, never a crash or another error; a rejected call must
 * not write to storage (every storage call is recorded); `Object.prototype` must stay unpolluted; and the heap
 * must stay bounded (checked when the process runs with --expose-gc, skipped with the reason otherwise).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import v8 from 'node:v8'
import vm from 'node:vm'

import fc from 'fast-check'
import { MemoryStorage, TokenStore, TokenStoreError, type TokenStoreErrorCode } from 'tokentree'
import { ManualClock } from 'tokentree/testing'

import { FaultyStorage } from '../faults/fault-storage.js'
import { junkOptions, junkValue, materialize } from './junk.js'

const RUNS = Number(process.env.FUZZ_RUNS ?? 10000)

const CODES: ReadonlySet<TokenStoreErrorCode> = new Set([
  'invalid_token',
  'permission_denied',
  'invalid_request',
  'not_renewable',
  'conflict',
  'storage_unavailable',
])

/** Whether a storage call changed something: writes report what they did (`null`, `0` or a refusal if nothing). */
function changed({ method, result }: { method: string; result: unknown }): boolean {
  switch (method) {
    case 'insertToken':
    case 'insertLease':
      return result === 'inserted'
    case 'useToken':
    case 'renewToken':
    case 'markRevoking':
    case 'deleteToken':
    case 'renewLease':
    case 'deleteLease':
      return result !== null
    case 'orphanChildren':
      return result !== 0
    case 'putRole':
      return true
    case 'deleteRole':
      return result === true
    default:
      return false
  }
}

interface Fixture {
  readonly store: TokenStore
  readonly faulty: FaultyStorage
  readonly root: string
  readonly user: string
  readonly userAccessor: string
  readonly leaseId: string
}

async function fixture(): Promise<Fixture> {
  const faulty = new FaultyStorage(new MemoryStorage())
  const clock = new ManualClock()
  const store = new TokenStore({
    storage: faulty.storage,
    secret: 'fuzz test secret of at least 32 bytes',
    clock: clock.now,
    timers: false,
  })
  const root = await store.createRoot()
  const user = await store.create({ parent: root.clientToken, policies: ['app'], ttl: '1h' })
  const { leaseId } = await store.createLease(user.clientToken, { path: 'aws/creds/app' })
  return {
    store,
    faulty,
    root: root.clientToken,
    user: user.clientToken,
    userAccessor: user.accessor,
    leaseId,
  }
}

type Call = (f: Fixture, a: unknown, b: unknown) => Promise<unknown>

// Junk is passed where the types forbid it: that is the point.
/* eslint-disable @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-explicit-any */
const CALLS: Record<string, Call> = {
  create: (f, _a, b) => f.store.create(b as any),
  createWithParent: (f, _a, b) => {
    let options: unknown = b
    try {
      // Copies descriptors, so that a getter runs inside the store, not here.
      if (typeof b === 'object' && b !== null && !Array.isArray(b)) {
        options = Object.defineProperties({ parent: f.user }, Object.getOwnPropertyDescriptors(b))
      }
    } catch {
      options = b
    }
    return f.store.create(options as any)
  },
  createRoot: (f, _a, b) => f.store.createRoot(b as any),
  lookup: (f, a) => f.store.lookup(a as any),
  lookupAccessor: (f, a) => f.store.lookupAccessor(a as any),
  authenticate: (f, a) => f.store.authenticate(a as any),
  renew: (f, a, b) => f.store.renew(a as any, b as any),
  renewValid: (f, _a, b) => f.store.renew(f.user, b as any),
  renewAccessor: (f, a, b) => f.store.renewAccessor(a as any, b as any),
  revoke: (f, a) => f.store.revoke(a as any),
  revokeOrphan: (f, a) => f.store.revokeOrphan(a as any),
  revokeAccessor: (f, a) => f.store.revokeAccessor(a as any),
  revokePrefix: (f, a) => f.store.revokePrefix(a as any),
  createLease: (f, a, b) => f.store.createLease(a as any, b as any),
  createLeaseValid: (f, _a, b) => f.store.createLease(f.user, b as any),
  lookupLease: (f, a) => f.store.lookupLease(a as any),
  renewLease: (f, a, b) => f.store.renewLease(a as any, b as any),
  renewLeaseValid: (f, _a, b) => f.store.renewLease(f.leaseId, b as any),
  revokeLease: (f, a) => f.store.revokeLease(a as any),
  writeRole: (f, a, b) => f.store.roles.write(a as any, b as any),
  readRole: (f, a) => f.store.roles.read(a as any),
  deleteRole: (f, a) => f.store.roles.delete(a as any),
  newTokenStore: (_f, _a, b) => Promise.resolve().then(() => new TokenStore(b as any).close()),
}
/* eslint-enable @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-explicit-any */

/** Calls whose success may legitimately change the store (valid input that it accepts). */
const MAY_SUCCEED_WRITING = new Set([
  'create',
  'createWithParent',
  'createRoot',
  'renewValid',
  // A junk string can be a token an earlier call created with that custom id (create({ id: 'forever', numUses: 1 })):
  // authenticating, renewing or leasing under it then rightly writes.
  'authenticate',
  'renew',
  'createLease',
  'createLeaseValid',
  'renewLeaseValid',
  'writeRole',
  'deleteRole',
])

function protoKeys(): string {
  return JSON.stringify([
    Object.getOwnPropertyNames(Object.prototype),
    Object.getOwnPropertyNames(Array.prototype),
  ])
}

async function fuzzOnce(
  f: Fixture,
  name: string,
  a: unknown,
  b: unknown,
): Promise<'ok' | TokenStoreErrorCode> {
  const call = CALLS[name] as Call
  f.faulty.arm(0)
  let outcome: 'ok' | TokenStoreErrorCode
  try {
    await call(f, materialize(a), materialize(b))
    outcome = 'ok'
  } catch (error) {
    // The constructor is not an operation: a getter or Proxy of the caller's that throws propagates as is.
    if (name === 'newTokenStore' && error instanceof Error && / that throws$/.test(error.message)) {
      return 'invalid_request'
    }
    assert.ok(
      error instanceof TokenStoreError,
      `${name}: threw ${String(error)} instead of a TokenStoreError`,
    )
    assert.ok(CODES.has(error.code), `${name}: unknown code ${error.code}`)
    outcome = error.code
  } finally {
    f.faulty.disarm()
  }
  const writes = f.faulty.results.filter(changed).map((r) => r.method)
  if (outcome !== 'ok') assert.deepEqual(writes, [], `${name} rejected (${outcome}) after writing`)
  else if (!MAY_SUCCEED_WRITING.has(name) && !name.startsWith('revoke'))
    assert.deepEqual(writes, [], `${name} wrote`)
  // Storage never fails here: junk must never be reported as an outage (it was, before 78f8010).
  assert.notEqual(outcome, 'storage_unavailable', `${name}: junk answered storage_unavailable`)
  assert.equal(
    ({} as Record<string, unknown>).polluted,
    undefined,
    `${name}: Object.prototype polluted`,
  )
  return outcome
}

test('fuzz: junk to every public method gets a result or a typed error, writes nothing when refused, pollutes nothing', async (t) => {
  const f = await fixture()
  const before = protoKeys()
  const outcomes = new Map<string, number>()
  let tried = 0
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...Object.keys(CALLS)),
      fc.oneof(
        junkValue,
        fc.constantFrom('hvs.' + 'A'.repeat(32), 'aws/creds/app/x', 'auth/nobody'),
      ),
      junkOptions,
      async (name, a, b) => {
        tried += 1
        const outcome = await fuzzOnce(f, name, a, b)
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1)
      },
    ),
    { numRuns: RUNS },
  )
  assert.equal(protoKeys(), before, 'Object.prototype or Array.prototype gained keys')
  // The fixture's tokens survived the junk (revoke* of junk ids never matched them).
  assert.notEqual(await f.store.lookup(f.root), null)
  assert.notEqual(await f.store.lookup(f.user), null)
  assert.notEqual(await f.store.lookupLease(f.leaseId), null)
  await f.store.close()
  process.stdout.write(
    `# fuzz api: ${tried} inputs tried, outcomes ${JSON.stringify(Object.fromEntries(outcomes))}\n`,
  )
  t.diagnostic(`${tried} inputs`)
})

test('fuzz: a getter or Proxy that throws is refused as invalid_request, not storage_unavailable', async () => {
  const f = await fixture()
  const options = {}
  Object.defineProperty(options, 'ttl', {
    enumerable: true,
    get() {
      throw new Error('a getter that throws')
    },
  })
  await assert.rejects(f.store.create(options), (error: unknown) => {
    assert.ok(error instanceof TokenStoreError)
    assert.equal(error.code, 'invalid_request')
    return true
  })
  await f.store.close()
})

/** `gc` from --expose-gc, or else enabled at run time through V8's flags; `undefined` if neither works. */
function findGc(): (() => void) | undefined {
  const exposed = (globalThis as { gc?: () => void }).gc
  if (exposed !== undefined) return exposed
  try {
    v8.setFlagsFromString('--expose-gc')
    return vm.runInNewContext('gc') as () => void
  } catch {
    return undefined
  }
}
const gc = findGc()
test(
  'fuzz: memory stays bounded across thousands of junk calls',
  gc === undefined ? { skip: 'gc is not available (run node with --expose-gc)' } : {},
  async () => {
    const collect = gc as () => void
    const f = await fixture()
    const names = Object.keys(CALLS).filter((n) => n !== 'newTokenStore')
    const samples = fc.sample(fc.tuple(fc.constantFrom(...names), junkValue, junkOptions), 1500)
    collect()
    const start = process.memoryUsage().heapUsed
    for (let round = 0; round < 3; round++) {
      for (const [name, a, b] of samples) await fuzzOnce(f, name, a, b).catch(() => undefined)
    }
    collect()
    const grown = (process.memoryUsage().heapUsed - start) / 2 ** 20
    process.stdout.write(
      `# fuzz api: heap grew ${grown.toFixed(1)} MiB over ${samples.length * 3} junk calls\n`,
    )
    assert.ok(grown < 32, `heap grew ${grown.toFixed(1)} MiB`)
    await f.store.close()
  },
)
