/**
 * The storage conformance suite: every {@link Storage} method's contract, as tests that any adapter (ours or a
 * third party's) runs with its own test runner.
 *
 * Runner-agnostic in the manner of keyv's `storageTestSuite`: pass the runner's `test` and `describe` (node:test,
 * Vitest and Jest all fit). Assertions use `node:assert/strict`, whose `AssertionError` every runner reports.
 *
 * @packageDocumentation
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'

import type { TokenRole } from '../roles.js'
import { runListingConformance } from './conformance-listing.js'
import { runPolicyConformance } from './conformance-policies.js'
import { runStartupConformance } from './conformance-startup.js'
import { runSweepConformance } from './conformance-sweep.js'
import type {
  DeletedToken,
  RenewUpdate,
  RevocationNotice,
  Storage,
  StorageNotice,
  SubtreeDeletion,
} from '../storage/storage.js'
import type { HashedTokenId, LeaseRecord, TokenRecord, UnixMillis } from '../types.js'
import { runWrappingConformance } from './conformance-wrapping.js'
import { deletedFields } from './deleted-token.js'
import { treeHashedId, treeIdentity, treeString } from './tree-ids.js'

/**
 * The two functions of a test runner that the suite needs. node:test's `test`/`describe`, Vitest's and Jest's
 * `test`/`describe` (or `it`/`describe`) all fit.
 */
export interface ConformanceRunner {
  /**
   * Registers one test. The suite's test functions return a promise and declare no parameters (so Jest does not
   * take them for callback tests); when the runner passes a test context with a `skip` method (node:test's
   * `t.skip(reason)`, Vitest's `ctx.skip(note)`), the tests of an optional method the storage lacks call it.
   */
  readonly test: (name: string, fn: () => Promise<void>) => unknown
  /** Registers a group of tests. */
  readonly describe: (name: string, fn: () => void) => unknown
}

/** Options of {@link runStorageConformance}. */
export interface ConformanceOptions {
  /**
   * Title of the outermost `describe`.
   *
   * @default 'Storage conformance'
   */
  readonly name?: string
  /**
   * How many calls the concurrency tests start at once (use counting runs this many `useToken` calls on a token
   * with a tenth as many uses).
   *
   * @default 200
   */
  readonly concurrency?: number
  /**
   * How long, in milliseconds, the subscription tests wait for a notice to arrive at the second instance.
   *
   * @default 5000
   */
  readonly noticeTimeout?: number
}

/** What the suite calls to get a storage: one new adapter instance per call, all on the same backend. */
export type StorageFactory = () => Promise<Storage> | Storage

/** A time far from any real clock, shared by most tests: records expire an hour after it. */
const NOW: UnixMillis = 2_000_000_000_000
/** One hour in milliseconds. */
const HOUR = 3_600_000

/**
 * Registers the conformance suite: one test per rule of the {@link Storage} contract, including atomicity under
 * concurrent calls, liveness through every ancestor, leases, and (for storages with `subscribe`) revocation
 * notices delivered to a second instance once each, in order, with catch-up after a pause.
 *
 * `makeStorage` is called once per test (twice for the subscription tests, which need two instances of the
 * adapter on one backend); the suite calls `close()` on each instance it made when the test ends. Every test uses
 * fresh random ids and paths and tolerates records left by other tests, so all the tests (and several test files)
 * may share one backend.
 *
 * @example node:test
 * ```ts
 * import { describe, test } from 'node:test'
 * import { runStorageConformance } from 'tokentree/testing'
 * import { MyStorage } from '../src/my-storage.js'
 *
 * runStorageConformance({ test, describe }, () => new MyStorage({ url: process.env.MY_URL }))
 * ```
 */
export function runStorageConformance(
  runner: ConformanceRunner,
  makeStorage: StorageFactory,
  options: ConformanceOptions = {},
): void {
  const { test, describe } = runner
  const concurrency = options.concurrency ?? 200
  const noticeTimeout = options.noticeTimeout ?? 5000

  /** Runs `fn` on a fresh storage instance and closes it afterwards. */
  const withStorage =
    (fn: (storage: Storage) => Promise<void>): (() => Promise<void>) =>
    async () => {
      const storage = await makeStorage()
      try {
        await fn(storage)
      } finally {
        await storage.close?.()
      }
    }

  /**
   * Like `withStorage`, for the tests of an optional method: on a storage without it, the test is skipped (through
   * the runner's test context, when it has `skip`) with the reason, and passes otherwise.
   */
  const withOptional = (
    method: 'putRole' | 'tidy' | 'deleteSubtree' | 'sweepExpired',
    fn: (storage: Storage) => Promise<void>,
  ): (() => Promise<void>) =>
    async function optional(...context: unknown[]): Promise<void> {
      const storage = await makeStorage()
      try {
        if (typeof storage[method] !== 'function') {
          skipTest(context[0], `the storage has no ${method}(), an optional method`)
          return
        }
        await fn(storage)
      } finally {
        await storage.close?.()
      }
    }

  /** Runs `fn` on two instances of the adapter on one backend. */
  const withTwo =
    (fn: (a: Storage, b: Storage) => Promise<void>): (() => Promise<void>) =>
    async () => {
      const a = await makeStorage()
      try {
        const b = await makeStorage()
        try {
          await fn(a, b)
        } finally {
          await b.close?.()
        }
      } finally {
        await a.close?.()
      }
    }

  describe(options.name ?? 'Storage conformance', () => {
    runWrappingConformance(runner, withStorage)
    describe('insertToken() / getToken() / getTokenByAccessor()', () => {
      test(
        'stores the record as given and finds it by hashed id and by accessor',
        withStorage(async (s) => {
          const record = token({
            policies: ['default', 'deploy'],
            metadata: { user: 'ci', team: 'ops' },
            displayName: 'token-ci',
            numUses: 3,
            ttl: 60,
            creationTtl: 60,
            explicitMaxTtl: 600,
            period: 0,
            renewable: true,
            lastRenewalTime: NOW - 5,
          })
          assert.equal(await s.insertToken(record), 'inserted')
          assert.deepEqual(await s.getToken(record.id), record)
          assert.deepEqual(await s.getTokenByAccessor(record.accessor), record)
        }),
      )

      test(
        'keeps a record with empty lists, no expiry and a revoking mark',
        withStorage(async (s) => {
          const record = token({ policies: [], metadata: {}, expiresAt: null, ttl: 0 })
          assert.equal(await s.insertToken(record), 'inserted')
          assert.deepEqual(await s.getToken(record.id), record)
          const marked = token({ revoking: 'explicit' })
          assert.equal(await s.insertToken(marked), 'inserted')
          assert.deepEqual(await s.getToken(marked.id), marked)
          assert.ok((await s.listRevoking(100_000)).includes(marked.id))
        }),
      )

      test(
        'resolves to null for an unknown id or accessor',
        withStorage(async (s) => {
          assert.equal(await s.getToken(hashedId()), null)
          assert.equal(await s.getTokenByAccessor(randomString(24)), null)
        }),
      )

      test(
        'refuses a taken id (id_exists) and writes nothing',
        withStorage(async (s) => {
          const first = token()
          assert.equal(await s.insertToken(first), 'inserted')
          const again = token({ id: first.id, path: `${first.path}-again` })
          assert.equal(await s.insertToken(again), 'id_exists')
          assert.deepEqual(await s.getToken(first.id), first)
          assert.equal(await s.getTokenByAccessor(again.accessor), null)
          assert.deepEqual(await s.findByPathPrefix(again.path), [])
        }),
      )

      test(
        'refuses a taken accessor (accessor_exists) and writes nothing',
        withStorage(async (s) => {
          const first = token()
          assert.equal(await s.insertToken(first), 'inserted')
          const parent = token()
          assert.equal(await s.insertToken(parent), 'inserted')
          const again = token({ accessor: first.accessor, parent: parent.id })
          assert.equal(await s.insertToken(again), 'accessor_exists')
          assert.equal(await s.getToken(again.id), null)
          assert.deepEqual(await s.getTokenByAccessor(first.accessor), first)
          assert.deepEqual(await s.listChildren(parent.id), [])
        }),
      )

      test(
        'checks the id before the accessor and both before the parent',
        withStorage(async (s) => {
          const first = token()
          await s.insertToken(first)
          const missingParent = hashedId()
          assert.equal(
            await s.insertToken(token({ id: first.id, accessor: first.accessor })),
            'id_exists',
          )
          assert.equal(
            await s.insertToken(token({ id: first.id, parent: missingParent })),
            'id_exists',
          )
          assert.equal(
            await s.insertToken(token({ accessor: first.accessor, parent: missingParent })),
            'accessor_exists',
          )
        }),
      )

      test(
        'indexes a child under its parent',
        withStorage(async (s) => {
          const parent = token()
          await s.insertToken(parent)
          const a = token({ parent: parent.id })
          const b = token({ parent: parent.id })
          assert.equal(await s.insertToken(a), 'inserted')
          assert.equal(await s.insertToken(b), 'inserted')
          assert.deepEqual(sorted(await s.listChildren(parent.id)), sorted([a.id, b.id]))
          assert.deepEqual(await s.listChildren(a.id), [])
        }),
      )

      test(
        'refuses a child of a missing parent (parent_gone) and writes nothing',
        withStorage(async (s) => {
          const missing = hashedId()
          const child = token({ parent: missing })
          assert.equal(await s.insertToken(child), 'parent_gone')
          assert.equal(await s.getToken(child.id), null)
          assert.equal(await s.getTokenByAccessor(child.accessor), null)
          assert.deepEqual(await s.listChildren(missing), [])
          assert.deepEqual(await s.findByPathPrefix(child.path), [])
        }),
      )

      test(
        'refuses a child when the parent or any ancestor is revoking or missing',
        withStorage(async (s) => {
          const [root, , leaf] = await chain3(s)
          await s.markRevoking(root.id, 'explicit')
          const underLeaf = token({ parent: leaf.id })
          assert.equal(await s.insertToken(underLeaf), 'parent_gone')
          assert.equal(await s.getToken(underLeaf.id), null)
          assert.deepEqual(await s.listChildren(leaf.id), [])

          const [top, middle, bottom] = await chain3(s)
          await s.markRevoking(bottom.id, 'explicit')
          assert.equal(await s.insertToken(token({ parent: bottom.id })), 'parent_gone')
          assert.equal(await s.insertToken(token({ parent: middle.id })), 'inserted')
          // A deleted grandparent breaks the lineage too.
          await s.deleteToken(top.id, 'explicit', NOW)
          assert.equal(await s.insertToken(token({ parent: middle.id })), 'parent_gone')
        }),
      )

      test(
        'refuses an orphan whose creator, or an ancestor of it, is revoking or missing',
        withStorage(async (s) => {
          const [top, middle] = await chain3(s)
          const orphan = token()
          assert.equal(await s.insertToken(orphan, middle.id), 'inserted')
          await s.markRevoking(top.id, 'explicit')
          const late = token()
          assert.equal(await s.insertToken(late, middle.id), 'parent_gone')
          assert.equal(await s.getToken(late.id), null)
          assert.equal(await s.getTokenByAccessor(late.accessor), null)
          assert.equal(await s.insertToken(token(), hashedId()), 'parent_gone')
        }),
      )

      test(
        'accepts a child of an expired parent (only missing or revoking ancestors refuse)',
        withStorage(async (s) => {
          const parent = token({ expiresAt: NOW - HOUR })
          await s.insertToken(parent)
          const child = token({ parent: parent.id })
          assert.equal(await s.insertToken(child), 'inserted')
          assert.equal(await s.getLiveToken(child.id, NOW), null)
        }),
      )
    })

    describe('getLiveToken()', () => {
      test(
        'returns a live token unchanged and never uses a use',
        withStorage(async (s) => {
          const record = token({ numUses: 2 })
          await s.insertToken(record)
          assert.deepEqual(await s.getLiveToken(record.id, NOW), record)
          assert.deepEqual(await s.getLiveToken(record.id, NOW), record)
          assert.deepEqual(await s.getToken(record.id), record)
        }),
      )

      test(
        'is null from the instant of expiry (now >= expiresAt), live just before',
        withStorage(async (s) => {
          const record = token({ expiresAt: NOW + 1000 })
          await s.insertToken(record)
          assert.deepEqual(await s.getLiveToken(record.id, NOW + 999), record)
          assert.equal(await s.getLiveToken(record.id, NOW + 1000), null)
          assert.equal(await s.getLiveToken(record.id, NOW + 5000), null)
          assert.deepEqual(await s.getToken(record.id), record)
        }),
      )

      test(
        'treats expiresAt null as never expiring',
        withStorage(async (s) => {
          const record = token({ expiresAt: null, ttl: 0, creationTtl: 0 })
          await s.insertToken(record)
          assert.deepEqual(await s.getLiveToken(record.id, Number.MAX_SAFE_INTEGER), record)
        }),
      )

      test(
        'is null for an unknown or revoking token (getToken still returns the latter)',
        withStorage(async (s) => {
          assert.equal(await s.getLiveToken(hashedId(), NOW), null)
          const record = token()
          await s.insertToken(record)
          await s.markRevoking(record.id, 'explicit')
          assert.equal(await s.getLiveToken(record.id, NOW), null)
          assert.equal((await s.getToken(record.id))?.revoking, 'explicit')
        }),
      )

      test(
        'is null when any ancestor is expired, revoking or missing',
        withStorage(async (s) => {
          const expiring = await chain3(s, (i) => (i === 0 ? { expiresAt: NOW + 10 } : {}))
          const leaf = expiring[2]
          assert.deepEqual(await s.getLiveToken(leaf.id, NOW), leaf)
          assert.equal(await s.getLiveToken(leaf.id, NOW + 10), null)

          const revoking = await chain3(s)
          await s.markRevoking(revoking[1].id, 'explicit')
          assert.equal(await s.getLiveToken(revoking[2].id, NOW), null)
          assert.deepEqual(await s.getLiveToken(revoking[0].id, NOW), revoking[0])

          const missing = await chain3(s)
          await s.deleteToken(missing[0].id, 'explicit', NOW)
          assert.equal(await s.getLiveToken(missing[2].id, NOW), null)
          assert.equal(await s.getLiveToken(missing[1].id, NOW), null)
        }),
      )

      test(
        'walks a deep chain: a mark on the top reaches the bottom',
        withStorage(async (s) => {
          const tokens = await chain(s, 60)
          const [top, bottom] = [tokens[0], tokens[59]]
          assert.ok(top && bottom)
          assert.deepEqual(await s.getLiveToken(bottom.id, NOW), bottom)
          await s.markRevoking(top.id, 'explicit')
          assert.equal(await s.getLiveToken(bottom.id, NOW), null)
          assert.equal(await s.useToken(bottom.id, NOW), null)
        }),
      )
    })

    describe('useToken()', () => {
      test(
        'returns an unlimited token (numUses 0) unchanged, every time',
        withStorage(async (s) => {
          const record = token({ numUses: 0 })
          await s.insertToken(record)
          for (let i = 0; i < 3; i++) assert.deepEqual(await s.useToken(record.id, NOW), record)
          assert.deepEqual(await s.getToken(record.id), record)
        }),
      )

      test(
        'counts down, and the last use marks the token uses_exhausted',
        withStorage(async (s) => {
          const record = token({ numUses: 3 })
          await s.insertToken(record)
          assert.deepEqual(await s.useToken(record.id, NOW), { ...record, numUses: 2 })
          assert.deepEqual(await s.useToken(record.id, NOW), { ...record, numUses: 1 })
          const last = { ...record, numUses: 0, revoking: 'uses_exhausted' as const }
          assert.deepEqual(await s.useToken(record.id, NOW), last)
          assert.equal(await s.useToken(record.id, NOW), null)
          assert.equal(await s.getLiveToken(record.id, NOW), null)
          assert.deepEqual(await s.getToken(record.id), last)
          assert.ok((await s.listRevoking(100_000)).includes(record.id))
        }),
      )

      test(
        'is null and changes nothing for a token that is not live',
        withStorage(async (s) => {
          assert.equal(await s.useToken(hashedId(), NOW), null)
          const expired = token({ numUses: 2, expiresAt: NOW })
          await s.insertToken(expired)
          assert.equal(await s.useToken(expired.id, NOW), null)
          assert.deepEqual(await s.getToken(expired.id), expired)

          const [parent, child] = await chain2(s, (i) => (i === 1 ? { numUses: 2 } : {}))
          await s.markRevoking(parent.id, 'explicit')
          assert.equal(await s.useToken(child.id, NOW), null)
          assert.deepEqual(await s.getToken(child.id), child)
        }),
      )

      test(
        `exactly numUses of ${concurrency} concurrent calls succeed`,
        withStorage(async (s) => {
          const uses = Math.max(1, Math.floor(concurrency / 10))
          const record = token({ numUses: uses })
          await s.insertToken(record)
          const results = await Promise.all(
            Array.from({ length: concurrency }, () => s.useToken(record.id, NOW)),
          )
          const succeeded = results.filter((r): r is TokenRecord => r !== null)
          assert.equal(succeeded.length, uses)
          // Each remaining count was handed out exactly once.
          assert.deepEqual(
            succeeded.map((r) => r.numUses).sort((a, b) => a - b),
            Array.from({ length: uses }, (_, i) => i),
          )
          assert.equal(succeeded.filter((r) => r.revoking === 'uses_exhausted').length, 1)
          const after = await s.getToken(record.id)
          assert.ok(after)
          assert.equal(after.numUses, 0)
          assert.equal(after.revoking, 'uses_exhausted')
        }),
      )

      test(
        'answers concurrent calls on tokens in different states each as alone',
        withStorage(async (s) => {
          // Started together, so that a storage that sends waiting calls in one statement gets a mixed batch.
          const unlimited = token({ numUses: 0 })
          const limited = token({ numUses: 2 })
          const expired = token({ numUses: 0, expiresAt: NOW })
          for (const record of [unlimited, limited, expired]) await s.insertToken(record)
          const [, child] = await chain2(s)
          const [revoked, stranded] = await chain2(s)
          const [orphaned, kept] = await chain2(s, (i) => (i === 1 ? { numUses: 5 } : {}))
          await s.markRevoking(revoked.id, 'explicit')
          await s.markRevoking(orphaned.id, 'orphan')
          const calls = [
            ...[unlimited, limited, unlimited, limited, unlimited, limited],
            ...[expired, child, stranded, kept, expired, child],
            token({ numUses: 0 }), // never inserted
          ]
          const results = await Promise.all(calls.map((record) => s.useToken(record.id, NOW)))
          const of = (record: TokenRecord): (TokenRecord | null)[] =>
            results.filter((_, i) => calls[i] === record)
          assert.deepEqual(of(unlimited), [unlimited, unlimited, unlimited])
          assert.deepEqual(of(child), [child, child])
          assert.deepEqual(of(expired), [null, null])
          assert.deepEqual(of(stranded), [null])
          assert.deepEqual(of(kept), [{ ...kept, numUses: 4 }])
          assert.equal(results.at(-1), null)
          // Two uses for three callers: one gets each remaining count, the third nothing.
          const spent = of(limited).sort((a, b) => (b?.numUses ?? -1) - (a?.numUses ?? -1))
          assert.deepEqual(spent, [
            { ...limited, numUses: 1 },
            { ...limited, numUses: 0, revoking: 'uses_exhausted' },
            null,
          ])
          assert.deepEqual(await s.getToken(kept.id), { ...kept, numUses: 4 })
          assert.deepEqual(await s.getToken(expired.id), expired)
        }),
      )
    })

    describe('renewToken()', () => {
      test(
        'applies the update to a live token and moves its expiry',
        withStorage(async (s) => {
          const base = randomBase()
          const record = token({ expiresAt: base + 100, ttl: 60 })
          await s.insertToken(record)
          const update = {
            expectedExpiresAt: base + 100,
            expiresAt: base + HOUR,
            ttl: 3600,
            lastRenewalTime: base + 50,
          }
          const renewed = await s.renewToken(record.id, base + 50, update)
          assert.deepEqual(renewed, applied(record, update))
          assert.deepEqual(await s.getToken(record.id), applied(record, update))
          // The expiry index follows: not expired at the old time, expired at the new one.
          assert.ok(!(await s.listExpiredTokens(base + 200, 100_000)).includes(record.id))
          assert.ok((await s.listExpiredTokens(base + HOUR, 100_000)).includes(record.id))
          assert.deepEqual(await s.getLiveToken(record.id, base + 200), applied(record, update))
        }),
      )

      test(
        'is null and changes nothing when another renewal got there first (compare-and-set on expiresAt)',
        withStorage(async (s) => {
          const base = randomBase()
          const record = token({ expiresAt: base + 100, ttl: 60 })
          await s.insertToken(record)
          const first = {
            expectedExpiresAt: base + 100,
            expiresAt: base + HOUR,
            ttl: 3600,
            lastRenewalTime: base,
          }
          const stale = {
            expectedExpiresAt: base + 100,
            expiresAt: base + 200,
            ttl: 1,
            lastRenewalTime: base,
          }
          const results = await Promise.all([
            s.renewToken(record.id, base, first),
            s.renewToken(record.id, base, stale),
          ])
          assert.equal(results.filter((result) => result !== null).length, 1)
          const winner = results[0] === null ? stale : first
          assert.deepEqual(await s.getToken(record.id), applied(record, winner))
        }),
      )

      test(
        'is null and changes nothing for a token that is not live',
        withStorage(async (s) => {
          const update = {
            expectedExpiresAt: NOW + HOUR,
            expiresAt: NOW + 2 * HOUR,
            ttl: 7200,
            lastRenewalTime: NOW,
          }
          assert.equal(await s.renewToken(hashedId(), NOW, update), null)

          const expired = token({ expiresAt: NOW })
          await s.insertToken(expired)
          assert.equal(
            await s.renewToken(expired.id, NOW, { ...update, expectedExpiresAt: NOW }),
            null,
          )
          assert.deepEqual(await s.getToken(expired.id), expired)

          const revoking = token()
          await s.insertToken(revoking)
          const marked = await s.markRevoking(revoking.id, 'explicit')
          assert.equal(await s.renewToken(revoking.id, NOW, update), null)
          assert.deepEqual(await s.getToken(revoking.id), marked)

          const [parent, child] = await chain2(s)
          await s.markRevoking(parent.id, 'explicit')
          assert.equal(await s.renewToken(child.id, NOW, update), null)
          assert.deepEqual(await s.getToken(child.id), child)
        }),
      )
    })

    describe('markRevoking() / listRevoking()', () => {
      test(
        'marks a token, keeps it stored, and lists it as revoking',
        withStorage(async (s) => {
          const record = token()
          await s.insertToken(record)
          const marked = await s.markRevoking(record.id, 'prefix')
          assert.deepEqual(marked, { ...record, revoking: 'prefix' })
          assert.deepEqual(await s.getToken(record.id), marked)
          assert.deepEqual(await s.getTokenByAccessor(record.accessor), marked)
          assert.ok((await s.listRevoking(100_000)).includes(record.id))
        }),
      )

      test(
        'keeps the reason of an earlier mark',
        withStorage(async (s) => {
          const record = token()
          await s.insertToken(record)
          await s.markRevoking(record.id, 'expired')
          assert.deepEqual(await s.markRevoking(record.id, 'explicit'), {
            ...record,
            revoking: 'expired',
          })
          assert.equal((await s.getToken(record.id))?.revoking, 'expired')
        }),
      )

      test(
        'is null for an unknown token',
        withStorage(async (s) => {
          assert.equal(await s.markRevoking(hashedId(), 'explicit'), null)
        }),
      )

      test(
        'listRevoking honours limit, changes nothing, and forgets deleted tokens',
        withStorage(async (s) => {
          const records = [token(), token(), token()] as const
          for (const r of records) {
            await s.insertToken(r)
            await s.markRevoking(r.id, 'explicit')
          }
          assert.equal((await s.listRevoking(2)).length, 2)
          assert.deepEqual(await s.listRevoking(0), [])
          const all = await s.listRevoking(100_000)
          for (const r of records) assert.ok(all.includes(r.id))
          assert.deepEqual(sorted(await s.listRevoking(100_000)), sorted(all))
          for (const r of records) assert.equal((await s.getToken(r.id))?.revoking, 'explicit')
          await s.deleteToken(records[0].id, 'explicit', NOW)
          assert.ok(!(await s.listRevoking(100_000)).includes(records[0].id))
        }),
      )
    })

    describe('listChildren() / orphanChildren()', () => {
      test(
        'lists direct children only, and nothing for an unknown token',
        withStorage(async (s) => {
          const [root, child, grandchild] = await chain3(s)
          assert.deepEqual(await s.listChildren(root.id), [child.id])
          assert.deepEqual(await s.listChildren(child.id), [grandchild.id])
          assert.deepEqual(await s.listChildren(hashedId()), [])
        }),
      )

      test(
        'orphanChildren re-parents direct children only and counts them',
        withStorage(async (s) => {
          const parent = token()
          await s.insertToken(parent)
          const a = token({ parent: parent.id })
          const b = token({ parent: parent.id })
          await s.insertToken(a)
          await s.insertToken(b)
          const grandchild = token({ parent: a.id })
          await s.insertToken(grandchild)
          await s.markRevoking(parent.id, 'orphan')
          // Children of a token under revokeOrphan stay usable throughout: they are about to become orphans.
          assert.deepEqual(await s.getLiveToken(a.id, NOW), a)
          assert.equal(await s.getLiveToken(parent.id, NOW), null)

          assert.equal(await s.orphanChildren(parent.id, NOW), 2)
          assert.deepEqual(await s.listChildren(parent.id), [])
          assert.deepEqual(await s.getToken(a.id), { ...a, parent: null })
          assert.deepEqual(await s.getToken(b.id), { ...b, parent: null })
          assert.deepEqual(await s.getToken(grandchild.id), grandchild)
          assert.deepEqual(await s.listChildren(a.id), [grandchild.id])
          // The orphans no longer depend on the revoking parent.
          assert.deepEqual(await s.getLiveToken(a.id, NOW), { ...a, parent: null })
          assert.deepEqual(await s.getLiveToken(grandchild.id, NOW), grandchild)
          assert.equal(await s.orphanChildren(parent.id, NOW), 0)
          assert.equal(await s.orphanChildren(hashedId(), NOW), null)
        }),
      )

      test(
        'markRevoking with expiredAt marks only a token that has expired by then',
        withStorage(async (s) => {
          const base = randomBase()
          const record = token({ expiresAt: base + 100 })
          await s.insertToken(record)
          assert.equal(await s.markRevoking(record.id, 'expired', base + 99), null)
          assert.equal((await s.getToken(record.id))?.revoking, null)
          const never = token({ expiresAt: null, ttl: 0 })
          await s.insertToken(never)
          assert.equal(await s.markRevoking(never.id, 'expired', base + 1000), null)
          assert.equal(
            (await s.markRevoking(record.id, 'expired', base + 100))?.revoking,
            'expired',
          )
          // An existing mark is kept and returned, as without expiredAt.
          const marked = token({ expiresAt: base + 100 })
          await s.insertToken(marked)
          await s.markRevoking(marked.id, 'explicit')
          assert.equal((await s.markRevoking(marked.id, 'expired', base))?.revoking, 'explicit')
        }),
      )

      test(
        'a mark with reason orphan blocks the token and new children under it, not its descendants',
        withStorage(async (s) => {
          const [top, middle, leaf] = await chain3(s)
          await s.markRevoking(top.id, 'orphan')
          assert.equal(await s.getLiveToken(top.id, NOW), null)
          assert.deepEqual(await s.getLiveToken(leaf.id, NOW), leaf)
          assert.ok(await s.useToken(leaf.id, NOW))
          assert.equal(await s.insertToken(token({ parent: top.id })), 'parent_gone')
          assert.equal(await s.insertToken(token({ parent: middle.id })), 'inserted')
          // Any other reason blocks the whole subtree.
          await s.markRevoking(top.id, 'explicit')
          assert.equal(await s.getLiveToken(leaf.id, NOW), null)
        }),
      )

      test(
        'orphanChildren refuses (null, nothing changed) unless the token is marked orphan, unexpired, under live ancestors',
        withStorage(async (s) => {
          const base = randomBase()
          const top = token()
          await s.insertToken(top)
          const middle = token({ parent: top.id, expiresAt: base + 100 })
          await s.insertToken(middle)
          const leaf = token({ parent: middle.id })
          await s.insertToken(leaf)
          // Not marked orphan: refused.
          assert.equal(await s.orphanChildren(middle.id, base), null)
          await s.markRevoking(middle.id, 'orphan')
          // Expired: its children are dead already and must stay so.
          assert.equal(await s.orphanChildren(middle.id, base + 100), null)
          // An ancestor being revoked: likewise.
          await s.markRevoking(top.id, 'explicit')
          assert.equal(await s.orphanChildren(middle.id, base), null)
          assert.deepEqual(await s.getToken(leaf.id), leaf)
          // A subtree revocation supersedes an orphan mark, and then orphaning is refused too.
          await s.markRevoking(middle.id, 'explicit')
          assert.equal((await s.getToken(middle.id))?.revoking, 'explicit')
          assert.equal(await s.orphanChildren(middle.id, base), null)
        }),
      )
    })

    describe('deleteToken()', () => {
      test(
        'removes the record and every index entry, and resolves to it once',
        withStorage(async (s) => {
          const base = randomBase()
          const parent = token()
          await s.insertToken(parent)
          const record = token({ parent: parent.id, expiresAt: base + 10 })
          await s.insertToken(record)
          await s.markRevoking(record.id, 'explicit')
          const marked = await s.getToken(record.id)
          assert.deepEqual(await s.deleteToken(record.id, 'explicit', base), marked)
          assert.equal(await s.getToken(record.id), null)
          assert.equal(await s.getTokenByAccessor(record.accessor), null)
          assert.deepEqual(await s.listChildren(parent.id), [])
          assert.deepEqual(await s.findByPathPrefix(record.path), [])
          assert.ok(!(await s.listExpiredTokens(base + 20, 100_000)).includes(record.id))
          assert.ok(!(await s.listRevoking(100_000)).includes(record.id))
          assert.equal(await s.deleteToken(record.id, 'explicit', base), null)
          // Its accessor is free again.
          assert.equal(await s.insertToken(token({ accessor: record.accessor })), 'inserted')
        }),
      )

      test(
        'leaves the children of a deleted token listed under it, and unusable',
        withStorage(async (s) => {
          const [parent, child, grandchild] = await chain3(s)
          await s.deleteToken(parent.id, 'explicit', NOW)
          assert.deepEqual(await s.listChildren(parent.id), [child.id])
          assert.deepEqual(await s.getToken(child.id), child)
          assert.equal(await s.getLiveToken(child.id, NOW), null)
          assert.equal(await s.useToken(grandchild.id, NOW), null)
          assert.equal(await s.insertToken(token({ parent: child.id })), 'parent_gone')
        }),
      )

      test(
        'reports the token to exactly one of many concurrent deletions',
        withStorage(async (s) => {
          const record = token()
          await s.insertToken(record)
          const results = await Promise.all(
            Array.from({ length: 20 }, () => s.deleteToken(record.id, 'explicit', NOW)),
          )
          const reported = results.filter((r) => r !== null)
          assert.equal(reported.length, 1)
          assert.deepEqual(reported[0], record)
        }),
      )
    })

    describe('findByPathPrefix()', () => {
      test(
        'finds the path itself and paths below it, not siblings sharing a string prefix',
        withStorage(async (s) => {
          const root = `conformance-${randomString(10)}`
          const at = token({ path: `${root}/github` })
          const below = token({ path: `${root}/github/login` })
          const deeper = token({ path: `${root}/github/login/x` })
          const sibling = token({ path: `${root}/github-old/login` })
          const other = token({ path: `${root}/gitlab/login` })
          for (const r of [at, below, deeper, sibling, other]) await s.insertToken(r)
          assert.deepEqual(
            sorted(await s.findByPathPrefix(`${root}/github`)),
            sorted([at.id, below.id, deeper.id]),
          )
          assert.deepEqual(await s.findByPathPrefix(`${root}/github/login/x`), [deeper.id])
          assert.deepEqual(
            sorted(await s.findByPathPrefix(root)),
            sorted([at.id, below.id, deeper.id, sibling.id, other.id]),
          )
          assert.deepEqual(await s.findByPathPrefix(`${root}/git`), [])
          assert.deepEqual(await s.findByPathPrefix(`${root}/none`), [])
        }),
      )

      test(
        'lists several tokens on one path, and includes revoking ones',
        withStorage(async (s) => {
          const path = `conformance-${randomString(10)}/login`
          const a = token({ path })
          const b = token({ path })
          await s.insertToken(a)
          await s.insertToken(b)
          await s.markRevoking(a.id, 'explicit')
          assert.deepEqual(sorted(await s.findByPathPrefix(path)), sorted([a.id, b.id]))
        }),
      )
    })

    runListingConformance({ test, describe, makeStorage })

    describe('listExpiredTokens() / listExpiredLeases() / nextExpiry()', () => {
      test(
        'listExpiredTokens lists what expired at or before now, soonest first, and changes nothing',
        withStorage(async (s) => {
          const base = randomBase()
          const third = token({ expiresAt: base + 3 })
          const first = token({ expiresAt: base + 1 })
          const second = token({ expiresAt: base + 2 })
          const later = token({ expiresAt: base + 1000 })
          const never = token({ expiresAt: null, ttl: 0 })
          for (const r of [third, first, second, later, never]) await s.insertToken(r)
          const mine = new Set<string>([first.id, second.id, third.id, later.id, never.id])

          const all = await s.listExpiredTokens(base + 3, 100_000)
          assert.deepEqual(
            all.filter((id) => mine.has(id)),
            [first.id, second.id, third.id],
          )
          await assertSoonestFirst(
            all,
            async (id) => (await s.getToken(id as HashedTokenId))?.expiresAt ?? null,
            base + 3,
          )
          // Nothing changed: the same list again, records untouched.
          assert.deepEqual(
            (await s.listExpiredTokens(base + 3, 100_000)).filter((id) => mine.has(id)),
            [first.id, second.id, third.id],
          )
          assert.deepEqual(await s.getToken(first.id), first)
          assert.deepEqual(
            (await s.listExpiredTokens(base + 2, 100_000)).filter((id) => mine.has(id)),
            [first.id, second.id],
          )
          // With a limit, the soonest ones.
          const two = await s.listExpiredTokens(base + 3, 2)
          assert.equal(two.length, 2)
          const expiryOf = async (id: string): Promise<number> =>
            (await s.getToken(id as HashedTokenId))?.expiresAt ?? Infinity
          const third3 = all[2]
          if (third3 !== undefined) {
            const cut = await expiryOf(third3)
            for (const id of two) assert.ok((await expiryOf(id)) <= cut)
          }
          assert.deepEqual(await s.listExpiredTokens(base + 3, 0), [])
        }),
      )

      test(
        'listExpiredLeases lists what expired at or before now, soonest first, and changes nothing',
        withStorage(async (s) => {
          const base = randomBase()
          const owner = token({ expiresAt: null, ttl: 0 })
          await s.insertToken(owner)
          const second = lease(owner, { expiresAt: base + 2 })
          const first = lease(owner, { expiresAt: base + 1 })
          const later = lease(owner, { expiresAt: base + 1000 })
          for (const l of [second, first, later])
            assert.equal(await s.insertLease(l, base), 'inserted')
          const mine = new Set([first.id, second.id, later.id])
          const all = await s.listExpiredLeases(base + 2, 100_000)
          assert.deepEqual(
            all.filter((id) => mine.has(id)),
            [first.id, second.id],
          )
          await assertSoonestFirst(
            all,
            async (id) => (await s.getLease(id))?.expiresAt ?? null,
            base + 2,
          )
          assert.deepEqual(await s.getLease(first.id), first)
          assert.equal((await s.listExpiredLeases(base + 2, 1)).length, 1)
          assert.deepEqual(await s.listExpiredLeases(base + 2, 0), [])
          await s.deleteLease(first.id, 'expired', base + 2)
          assert.ok(!(await s.listExpiredLeases(base + 2, 100_000)).includes(first.id))
        }),
      )

      test(
        'nextExpiry covers tokens and leases and follows renewals and deletions',
        withStorage(async (s) => {
          // Far in the past, so nothing another test stores expires sooner.
          const base = 1_000 + Math.floor(Math.random() * 1_000_000_000)
          const record = token({ expiresAt: base + 10 })
          await s.insertToken(record)
          const next = await s.nextExpiry()
          assert.ok(next !== null && next <= base + 10)

          const owner = token({ expiresAt: null, ttl: 0 })
          await s.insertToken(owner)
          const early = lease(owner, { expiresAt: base + 5 })
          assert.equal(await s.insertLease(early, base), 'inserted')
          const withLease = await s.nextExpiry()
          assert.ok(withLease !== null && withLease <= base + 5)

          await s.deleteLease(early.id, 'explicit', base)
          assert.notEqual(await s.nextExpiry(), base + 5)
          await s.renewToken(record.id, base, {
            expectedExpiresAt: base + 10,
            expiresAt: base + 50,
            ttl: 1,
            lastRenewalTime: base,
          })
          const renewed = await s.nextExpiry()
          assert.ok(renewed !== null && renewed !== base + 10 && renewed <= base + 50)
          await s.deleteToken(record.id, 'explicit', base)
          assert.notEqual(await s.nextExpiry(), base + 50)
        }),
      )
    })

    describe('leases', () => {
      test(
        'insertLease stores a lease under a live token, without using a use',
        withStorage(async (s) => {
          const owner = token({ numUses: 2 })
          await s.insertToken(owner)
          const l = lease(owner, { data: { keyId: 'AKIA1', nested: { list: [1, 'two', null] } } })
          assert.equal(await s.insertLease(l, NOW), 'inserted')
          assert.deepEqual(await s.getLease(l.id), l)
          assert.deepEqual(await s.listLeases(owner.id), [l.id])
          assert.equal((await s.getToken(owner.id))?.numUses, 2)
          assert.equal(await s.getLease(`${l.id}-missing`), null)
          assert.deepEqual(await s.listLeases(hashedId()), [])
        }),
      )

      test(
        'insertLease keeps data of any JSON shape, including null and empty containers',
        withStorage(async (s) => {
          const owner = token()
          await s.insertToken(owner)
          for (const data of [null, [], {}, 'text', 42, { a: [] }]) {
            const l = lease(owner, { data })
            assert.equal(await s.insertLease(l, NOW), 'inserted')
            assert.deepEqual(await s.getLease(l.id), l)
          }
        }),
      )

      test(
        'insertLease refuses a taken id (id_exists)',
        withStorage(async (s) => {
          const owner = token()
          await s.insertToken(owner)
          const l = lease(owner)
          await s.insertLease(l, NOW)
          // In the owner's tree shard, where the lease id is looked up (see Storage.treeShards).
          const other = token({ id: treeHashedId(owner.id) })
          await s.insertToken(other)
          const again = { ...lease(other), id: l.id }
          assert.equal(await s.insertLease(again, NOW), 'id_exists')
          assert.deepEqual(await s.getLease(l.id), l)
          assert.deepEqual(await s.listLeases(other.id), [])
        }),
      )

      test(
        'insertLease refuses a token that is not live (token_gone) and writes nothing',
        withStorage(async (s) => {
          const cases: TokenRecord[] = []
          const missing = token()
          cases.push(missing)
          const expired = token({ expiresAt: NOW })
          await s.insertToken(expired)
          cases.push(expired)
          const revoking = token()
          await s.insertToken(revoking)
          await s.markRevoking(revoking.id, 'explicit')
          cases.push(revoking)
          const [parent, child] = await chain2(s)
          await s.markRevoking(parent.id, 'explicit')
          cases.push(child)
          const used = token({ numUses: 1 })
          await s.insertToken(used)
          await s.useToken(used.id, NOW)
          cases.push(used)
          for (const owner of cases) {
            const l = lease(owner)
            assert.equal(await s.insertLease(l, NOW), 'token_gone')
            assert.equal(await s.getLease(l.id), null)
            assert.deepEqual(await s.listLeases(owner.id), [])
            assert.deepEqual(await s.findLeasesByPrefix(l.path), [])
          }
        }),
      )

      test(
        'renewLease applies the update to an unexpired lease of a live token',
        withStorage(async (s) => {
          const base = randomBase()
          const owner = token({ expiresAt: null, ttl: 0 })
          await s.insertToken(owner)
          const l = lease(owner, { expiresAt: base + 100, issueTime: base })
          await s.insertLease(l, base)
          const update = {
            expectedExpiresAt: base + 100,
            expiresAt: base + HOUR,
            ttl: 3600,
            lastRenewalTime: base + 10,
          }
          assert.deepEqual(await s.renewLease(l.id, base + 10, update), applied(l, update))
          assert.deepEqual(await s.getLease(l.id), applied(l, update))
          // A second renewal computed from the old expiry is refused: compare-and-set.
          assert.equal(await s.renewLease(l.id, base + 10, { ...update, ttl: 1 }), null)
          assert.deepEqual(await s.getLease(l.id), applied(l, update))
          assert.ok(!(await s.listExpiredLeases(base + 200, 100_000)).includes(l.id))
          assert.ok((await s.listExpiredLeases(base + HOUR, 100_000)).includes(l.id))
        }),
      )

      test(
        'renewLease is null and changes nothing for an expired lease, a dead token or an unknown id',
        withStorage(async (s) => {
          const update = {
            expectedExpiresAt: NOW + HOUR,
            expiresAt: NOW + 2 * HOUR,
            ttl: 7200,
            lastRenewalTime: NOW,
          }
          assert.equal(await s.renewLease(`conformance/${randomString(8)}/x`, NOW, update), null)

          const owner = token()
          await s.insertToken(owner)
          const expiring = lease(owner, { expiresAt: NOW + 100 })
          await s.insertLease(expiring, NOW)
          assert.equal(
            await s.renewLease(expiring.id, NOW + 100, { ...update, expectedExpiresAt: NOW + 100 }),
            null,
          )
          assert.deepEqual(await s.getLease(expiring.id), expiring)

          const [parent, child] = await chain2(s)
          const l = lease(child)
          await s.insertLease(l, NOW)
          await s.markRevoking(parent.id, 'explicit')
          assert.equal(await s.renewLease(l.id, NOW, update), null)
          assert.deepEqual(await s.getLease(l.id), l)
        }),
      )

      test(
        'deleteLease removes the lease and its index entries, and resolves to it once',
        withStorage(async (s) => {
          const owner = token()
          await s.insertToken(owner)
          const l = lease(owner)
          const kept = lease(owner, { path: l.path })
          await s.insertLease(l, NOW)
          await s.insertLease(kept, NOW)
          assert.deepEqual(await s.deleteLease(l.id, 'explicit', NOW), l)
          assert.equal(await s.getLease(l.id), null)
          assert.deepEqual(await s.listLeases(owner.id), [kept.id])
          assert.deepEqual(await s.findLeasesByPrefix(l.path), [kept.id])
          assert.equal(await s.deleteLease(l.id, 'explicit', NOW), null)
          const results = await Promise.all(
            Array.from({ length: 20 }, () => s.deleteLease(kept.id, 'explicit', NOW)),
          )
          assert.equal(results.filter((r) => r !== null).length, 1)
          assert.deepEqual(await s.listLeases(owner.id), [])
        }),
      )

      test(
        'findLeasesByPrefix matches whole path segments',
        withStorage(async (s) => {
          const root = `conformance-${randomString(10)}`
          const owner = token()
          await s.insertToken(owner)
          const deploy = lease(owner, { path: `${root}/aws/creds/deploy` })
          const read = lease(owner, { path: `${root}/aws/creds/read` })
          const other = lease(owner, { path: `${root}/aws2/creds/deploy` })
          for (const l of [deploy, read, other]) await s.insertLease(l, NOW)
          assert.deepEqual(
            sorted(await s.findLeasesByPrefix(`${root}/aws`)),
            sorted([deploy.id, read.id]),
          )
          assert.deepEqual(await s.findLeasesByPrefix(`${root}/aws/creds/deploy`), [deploy.id])
          assert.deepEqual(await s.findLeasesByPrefix(deploy.id), [])
          assert.deepEqual(
            sorted(await s.findLeasesByPrefix(root)),
            sorted([deploy.id, read.id, other.id]),
          )
          assert.deepEqual(await s.findLeasesByPrefix(`${root}/aw`), [])
        }),
      )
    })

    describe('roles: putRole() / getRole() / listRoles() / deleteRole() (optional)', () => {
      test(
        'stores a role as given, finds it by name, and replaces it by name',
        withOptional('putRole', async (s) => {
          const r = role({
            allowedPolicies: ['deploy', 'read'],
            tokenPeriod: 3600,
            pathSuffix: 'v2',
          })
          await roleStorage(s).putRole(r)
          assert.deepEqual(await roleStorage(s).getRole(r.name), r)
          const replaced = { ...r, allowedPolicies: [], orphan: true, tokenType: 'batch' as const }
          await roleStorage(s).putRole(replaced)
          assert.deepEqual(await roleStorage(s).getRole(r.name), replaced)
          assert.equal(await roleStorage(s).getRole(`${r.name}-missing`), null)
        }),
      )

      test(
        'lists every name, sorted; deleteRole resolves to whether the role existed',
        withOptional('putRole', async (s) => {
          const roles = roleStorage(s)
          const stem = `conformance-${randomString(8).replace(/[^A-Za-z0-9]/g, 'x')}`
          const names = [`${stem}-b`, `${stem}-a`, `${stem}-c.1`, `${stem}_Z`]
          for (const name of names) await roles.putRole(role({ name }))
          const listed = await roles.listRoles()
          assert.deepEqual(listed, [...listed].sort(), 'listRoles() is sorted')
          assert.deepEqual(
            listed.filter((name) => name.startsWith(stem)),
            [...names].sort(),
          )
          assert.equal(await roles.deleteRole(`${stem}-a`), true)
          assert.equal(await roles.deleteRole(`${stem}-a`), false)
          assert.equal(await roles.getRole(`${stem}-a`), null)
          assert.ok(!(await roles.listRoles()).includes(`${stem}-a`))
          for (const name of names) await roles.deleteRole(name)
        }),
      )
    })

    describe('tidy() (optional)', () => {
      test(
        'makes the children of a vanished parent orphans (live again), and leaves grandchildren in place',
        withOptional('tidy', async (s) => {
          const [parent, child, grandchild] = await chain3(s)
          const sibling = token({ parent: parent.id })
          await s.insertToken(sibling)
          // A parent deleted out of order, as a crash half-way through a walk could leave it.
          await s.deleteToken(parent.id, 'explicit', NOW)
          assert.equal(await s.getLiveToken(child.id, NOW), null)
          const result = await tidyOf(s)
          assert.ok(result.childrenOrphaned >= 2, `childrenOrphaned: ${result.childrenOrphaned}`)
          assert.deepEqual(await s.getToken(child.id), { ...child, parent: null })
          assert.deepEqual(await s.getToken(sibling.id), { ...sibling, parent: null })
          assert.deepEqual(await s.getToken(grandchild.id), grandchild)
          assert.deepEqual(await s.listChildren(parent.id), [])
          assert.deepEqual(await s.listChildren(child.id), [grandchild.id])
          assert.ok(await s.getLiveToken(grandchild.id, NOW))
          // Repaired once: a second pass finds nothing of these.
          await tidyOf(s)
          assert.deepEqual(await s.getToken(child.id), { ...child, parent: null })
          assert.deepEqual(await s.getToken(grandchild.id), grandchild)
        }),
      )

      test(
        'lists the leases whose token is gone, and leaves them for the store to revoke',
        withOptional('tidy', async (s) => {
          const owner = token()
          const other = token()
          await s.insertToken(owner)
          await s.insertToken(other)
          const dangling = lease(owner)
          const kept = lease(other)
          await s.insertLease(dangling, NOW)
          await s.insertLease(kept, NOW)
          await s.deleteToken(owner.id, 'explicit', NOW)
          const result = await tidyOf(s)
          assert.ok(result.danglingLeases.includes(dangling.id))
          assert.ok(!result.danglingLeases.includes(kept.id))
          assert.deepEqual(await s.getLease(dangling.id), dangling)
          await s.deleteLease(dangling.id, 'parent', NOW)
          assert.ok(!(await tidyOf(s)).danglingLeases.includes(dangling.id))
        }),
      )

      test(
        'changes nothing in a sound tree: records, indexes, marks and leases stay as they were',
        withOptional('tidy', async (s) => {
          const base = randomBase()
          const [top, middle, leaf] = await chain3(s, (i) => ({ expiresAt: base + 1000 + i }))
          const l = lease(leaf, { expiresAt: base + 5000 })
          await s.insertLease(l, base)
          await s.markRevoking(middle.id, 'explicit')
          const before = await Promise.all([top, middle, leaf].map((t) => s.getToken(t.id)))
          const result = await tidyOf(s)
          assert.ok(result.indexEntriesRemoved >= 0 && result.childrenOrphaned >= 0)
          assert.ok(!result.danglingLeases.includes(l.id))
          assert.deepEqual(
            await Promise.all([top, middle, leaf].map((t) => s.getToken(t.id))),
            before,
          )
          assert.deepEqual(await s.getTokenByAccessor(leaf.accessor), before[2])
          assert.deepEqual(await s.listChildren(top.id), [middle.id])
          assert.deepEqual(await s.listChildren(middle.id), [leaf.id])
          assert.deepEqual(await s.findByPathPrefix(leaf.path), [leaf.id])
          assert.ok((await s.listRevoking(100_000)).includes(middle.id))
          assert.ok((await s.listExpiredTokens(base + 1000, 100_000)).includes(top.id))
          assert.deepEqual(await s.listLeases(leaf.id), [l.id])
          assert.deepEqual(await s.getLease(l.id), l)
          assert.ok((await s.listExpiredLeases(base + 5000, 100_000)).includes(l.id))
          assert.deepEqual(await s.findLeasesByPrefix(l.path), [l.id])
        }),
      )

      test(
        'is safe while the storage serves: concurrent inserts, uses and deletions lose nothing',
        withOptional('tidy', async (s) => {
          const root = token()
          await s.insertToken(root)
          const rounds = Math.max(10, Math.floor(concurrency / 10))
          const work = Array.from({ length: rounds }, async (_, i) => {
            const child = token({ parent: root.id, numUses: 3 })
            assert.equal(await s.insertToken(child), 'inserted')
            const l = lease(child)
            assert.equal(await s.insertLease(l, NOW), 'inserted')
            assert.ok(await s.useToken(child.id, NOW))
            if (i % 3 === 0) {
              await s.deleteLease(l.id, 'explicit', NOW)
              await s.deleteToken(child.id, 'explicit', NOW)
              return null
            }
            return { child, l }
          })
          const [kept, tidied] = await Promise.all([Promise.all(work), tidyOf(s)])
          for (const entry of kept) {
            if (entry === null) continue
            const stored = await s.getToken(entry.child.id)
            assert.equal(stored?.parent, root.id, 'a live child lost its parent')
            assert.ok(await s.getLiveToken(entry.child.id, NOW))
            assert.deepEqual(await s.listLeases(entry.child.id), [entry.l.id])
            assert.ok(!tidied.danglingLeases.includes(entry.l.id))
          }
          const children = sorted(await s.listChildren(root.id))
          const live = kept.filter((e) => e !== null).map((e) => e.child.id)
          assert.deepEqual(children, sorted(live))
        }),
      )
    })

    describe('deleteSubtree() (optional)', () => {
      test(
        'does nothing unless the top exists and is marked revoking',
        withOptional('deleteSubtree', async (s) => {
          const [top, child] = await chain2(s)
          assert.deepEqual(await subtreeOf(s)(top.id, 'explicit', NOW, 100), {
            tokens: [],
            leases: [],
            done: true,
          })
          assert.deepEqual(await s.getToken(top.id), top)
          assert.deepEqual(await s.getToken(child.id), child)
          assert.deepEqual(await subtreeOf(s)(hashedId(), 'explicit', NOW, 100), {
            tokens: [],
            leases: [],
            done: true,
          })
        }),
      )

      test(
        'deletes a tree children first, each token just after its leases, with every index entry',
        withOptional('deleteSubtree', async (s) => {
          const base = randomBase()
          const records = await tree(s, [2, 2], (i) => ({ expiresAt: base + 100 + i }))
          const [top] = records as [TokenRecord]
          const leases: LeaseRecord[] = []
          for (const owner of records.slice(1)) {
            const l = lease(owner, { expiresAt: base + 500 })
            assert.equal(await s.insertLease(l, base), 'inserted')
            leases.push(l)
          }
          const midLeaf = records[3] as TokenRecord
          await s.markRevoking(midLeaf.id, 'uses_exhausted')
          await s.markRevoking(top.id, 'explicit')
          const stored = await Promise.all(records.map((r) => s.getToken(r.id)))
          const result = await subtreeOf(s)(top.id, 'explicit', base, 1000)
          assert.equal(result.done, true)
          assert.deepEqual(sorted(result.tokens.map((t) => t.id)), sorted(records.map((r) => r.id)))
          for (const deleted of result.tokens) {
            const record = stored[records.findIndex((r) => r.id === deleted.id)] as TokenRecord
            assert.deepEqual(deletedFields(deleted), deletedFields(record))
          }
          assert.equal(result.tokens.at(-1)?.id, top.id, 'the top goes last')
          assertChildrenFirst(result.tokens)
          assert.deepEqual(sorted(result.leases.map((l) => l.id)), sorted(leases.map((l) => l.id)))
          assertLeasesBeforeTokens(result)
          for (const l of result.leases)
            assert.deepEqual(
              l,
              leases.find((x) => x.id === l.id),
            )
          for (const r of records) {
            assert.equal(await s.getToken(r.id), null)
            assert.equal(await s.getTokenByAccessor(r.accessor), null)
            assert.deepEqual(await s.listChildren(r.id), [])
            assert.deepEqual(await s.findByPathPrefix(r.path), [])
            assert.deepEqual(await s.listLeases(r.id), [])
          }
          const expired = await s.listExpiredTokens(base + 1000, 100_000)
          const revoking = await s.listRevoking(100_000)
          for (const r of records) assert.ok(!expired.includes(r.id) && !revoking.includes(r.id))
          const expiredLeases = await s.listExpiredLeases(base + 1000, 100_000)
          for (const l of leases) {
            assert.equal(await s.getLease(l.id), null)
            assert.deepEqual(await s.findLeasesByPrefix(l.path), [])
            assert.ok(!expiredLeases.includes(l.id))
          }
          // Done: another call finds nothing.
          assert.deepEqual(await subtreeOf(s)(top.id, 'explicit', base, 1000), {
            tokens: [],
            leases: [],
            done: true,
          })
        }),
      )

      test(
        'deletes only the subtree: its parent, siblings and their children stay',
        withOptional('deleteSubtree', async (s) => {
          const [root, middle, leaf] = await chain3(s)
          const sibling = token({ parent: root.id })
          await s.insertToken(sibling)
          const nephew = token({ parent: sibling.id })
          await s.insertToken(nephew)
          await s.markRevoking(middle.id, 'explicit')
          const result = await subtreeOf(s)(middle.id, 'explicit', NOW, 100)
          assert.deepEqual(
            result.tokens.map((t) => t.id),
            [leaf.id, middle.id],
          )
          assert.deepEqual(await s.getToken(root.id), root)
          assert.deepEqual(await s.listChildren(root.id), [sibling.id])
          assert.ok(await s.getLiveToken(nephew.id, NOW))
        }),
      )

      test(
        'a limit below the size of a wide tree: batches of at most the limit, nothing usable in between, the top last',
        withOptional('deleteSubtree', async (s) => {
          const records = await tree(s, [4, 3])
          const top = records[0] as TokenRecord
          for (const owner of records) await s.insertLease(lease(owner), NOW)
          await s.markRevoking(top.id, 'explicit')
          const seen: DeletedToken[] = []
          let calls = 0
          for (;;) {
            const result = await subtreeOf(s)(top.id, 'explicit', NOW, 4)
            calls += 1
            assert.ok(result.tokens.length <= 4, `a batch of ${result.tokens.length}`)
            assertLeasesBeforeTokens(result)
            seen.push(...result.tokens)
            if (result.done) break
            assert.ok(result.tokens.length > 0, 'a call that is not done deleted nothing')
            // The mark stays on the top, and no token left is usable or lost its parent.
            assert.equal((await s.getToken(top.id))?.revoking, 'explicit')
            for (const r of records) {
              const left = await s.getToken(r.id)
              if (left === null) continue
              assert.equal(await s.getLiveToken(r.id, NOW), null)
              if (left.parent !== null)
                assert.ok(await s.getToken(left.parent), 'a parent went first')
            }
            assert.ok(calls < 100, 'deleteSubtree never finished')
          }
          assert.equal(calls, Math.ceil(records.length / 4))
          assert.equal(seen.at(-1)?.id, top.id)
          assertChildrenFirst(seen)
          assert.deepEqual(sorted(seen.map((t) => t.id)), sorted(records.map((r) => r.id)))
        }),
      )

      for (const [marks, every] of [
        ['a few marked on their own', 9],
        ['most marked on their own', 1],
      ] as const) {
        test(
          `an irregular tree in small batches, ${marks}: each token once with its own mark, children first, every children index exact in between`,
          withOptional('deleteSubtree', async (s) => {
            // Wide and narrow levels, leaves beside inner tokens: each shape a batch can stop in the middle of.
            const top = token()
            assert.equal(await s.insertToken(top), 'inserted')
            const records = [top]
            const widths = [5, 0, 3, 1, 0, 7, 2, 0, 4]
            for (let i = 1; i < 60; i++) {
              const parent = records[Math.floor(i / 3)] as TokenRecord
              for (
                let w = 0;
                w < (widths[i % widths.length] as number) && records.length < 120;
                w++
              ) {
                const child = token({ parent: parent.id })
                assert.equal(await s.insertToken(child), 'inserted')
                records.push(child)
              }
            }
            // Marked before the top, as a revocation under way in each would have left them.
            const marked = new Set(
              records.filter((_, i) => i > 0 && i % every === 0).map((r) => r.id),
            )
            for (const id of marked) await s.markRevoking(id, 'uses_exhausted')
            await s.markRevoking(top.id, 'explicit')
            const seen: DeletedToken[] = []
            for (let calls = 0; ; calls++) {
              assert.ok(calls < 200, 'deleteSubtree never finished')
              const result = await subtreeOf(s)(top.id, 'explicit', NOW, 7)
              seen.push(...result.tokens)
              if (result.done) break
              // What a batch took up and did not delete is still indexed under its parent, and nothing more is.
              for (const r of records) {
                if ((await s.getToken(r.id)) === null) continue
                const children: HashedTokenId[] = []
                for (const c of records) {
                  if (c.parent === r.id && (await s.getToken(c.id)) !== null) children.push(c.id)
                }
                assert.deepEqual(sorted(await s.listChildren(r.id)), sorted(children))
              }
            }
            assertChildrenFirst(seen)
            assert.deepEqual(sorted(seen.map((t) => t.id)), sorted(records.map((r) => r.id)))
            for (const t of seen) {
              const r = records.find((x) => x.id === t.id) as TokenRecord
              assert.deepEqual(t.parent, r.parent)
              assert.equal(t.accessor, r.accessor)
              assert.equal(t.path, r.path)
              const mark = t.id === top.id ? 'explicit' : marked.has(t.id) ? 'uses_exhausted' : null
              assert.equal(t.revoking, mark)
            }
          }),
        )
      }

      test(
        'a deep chain goes in batches, deepest first',
        withOptional('deleteSubtree', async (s) => {
          const records = await chain(s, 300)
          const top = records[0] as TokenRecord
          await s.markRevoking(top.id, 'explicit')
          const seen: HashedTokenId[] = []
          for (let calls = 0; ; calls++) {
            assert.ok(calls < 100, 'deleteSubtree never finished')
            const result = await subtreeOf(s)(top.id, 'explicit', NOW, 64)
            seen.push(...result.tokens.map((t) => t.id))
            if (result.done) break
          }
          assert.deepEqual(seen, records.map((r) => r.id).reverse())
        }),
      )

      test(
        'concurrent deleteSubtree, deleteToken and deleteLease calls report each token and lease exactly once',
        withOptional('deleteSubtree', async (s) => {
          const records = await tree(s, [5, 5])
          const top = records[0] as TokenRecord
          const leases: LeaseRecord[] = []
          for (const owner of records.filter((_, i) => i % 2 === 0)) {
            const l = lease(owner)
            await s.insertLease(l, NOW)
            leases.push(l)
          }
          await s.markRevoking(top.id, 'explicit')
          const tokensReported: HashedTokenId[] = []
          const leasesReported: string[] = []
          const drain = async (): Promise<void> => {
            for (let calls = 0; calls < 100; calls++) {
              const result = await subtreeOf(s)(top.id, 'explicit', NOW, 3)
              tokensReported.push(...result.tokens.map((t) => t.id))
              leasesReported.push(...result.leases.map((l) => l.id))
              if (result.done) return
            }
            assert.fail('deleteSubtree never finished')
          }
          await Promise.all([
            drain(),
            drain(),
            drain(),
            ...[...records].reverse().map(async (r) => {
              const deleted = await s.deleteToken(r.id, 'parent', NOW)
              if (deleted !== null) tokensReported.push(deleted.id)
            }),
            ...leases.map(async (l) => {
              const deleted = await s.deleteLease(l.id, 'parent', NOW)
              if (deleted !== null) leasesReported.push(deleted.id)
            }),
          ])
          assert.deepEqual(sorted(tokensReported), sorted(records.map((r) => r.id)))
          assert.deepEqual(sorted(leasesReported), sorted(leases.map((l) => l.id)))
          for (const r of records) assert.equal(await s.getToken(r.id), null)
        }),
      )

      test(
        'publishes a notice per deleted token and lease, in deletion order, with the reasons of the contract',
        withTwo(async (a, b) => {
          if (a.deleteSubtree === undefined || b.subscribe === undefined) return
          const inbox = new Inbox()
          const stop = await b.subscribe(inbox.push)
          try {
            const [top, middle, leaf] = await chain3(a)
            const l = lease(leaf)
            await a.insertLease(l, NOW)
            const other = token({ parent: top.id })
            await a.insertToken(other)
            await a.markRevoking(middle.id, 'uses_exhausted')
            await a.markRevoking(top.id, 'prefix')
            const result = await subtreeOf(a)(top.id, 'explicit', NOW + 7, 100)
            const reasonOf = (t: DeletedToken): RevocationNotice['reason'] =>
              t.id === top.id ? 'explicit' : (t.revoking ?? 'parent')
            const expected: RevocationNotice[] = []
            for (const t of result.tokens) {
              for (const x of result.leases.filter((y) => y.token === t.id)) {
                expected.push(leaseNotice(x, reasonOf(t), NOW + 7))
              }
              expected.push(tokenNotice(t, reasonOf(t), NOW + 7))
            }
            const mine = accessorsOf([top, middle, leaf, other])
            assert.deepEqual(await inbox.waitFor(5, mine, noticeTimeout), expected)
            assert.deepEqual(
              sorted(expected.map((n) => `${n.kind} ${n.accessor} ${n.reason}`)),
              sorted([
                `lease ${leaf.accessor} parent`,
                `token ${leaf.accessor} parent`,
                `token ${other.accessor} parent`,
                `token ${middle.accessor} uses_exhausted`,
                `token ${top.accessor} explicit`,
              ]),
            )
            await settle()
            assert.equal(inbox.matching(mine).length, 5)
          } finally {
            await stop()
          }
        }),
      )
    })

    describe('sweepExpired() (optional)', () => {
      runSweepConformance({
        test,
        withSweep: (fn) => withOptional('sweepExpired', fn),
        token,
        lease,
      })
    })

    describe('atomicity under concurrency', () => {
      test(
        'insertToken racing markRevoking of an ancestor: refused, or listed as a child',
        withStorage(async (s) => {
          const rounds = Math.max(10, Math.floor(concurrency / 4))
          await Promise.all(
            Array.from({ length: rounds }, async () => {
              const [root, parent] = await chain2(s)
              const child = token({ parent: parent.id })
              const [result] = await Promise.all([
                s.insertToken(child),
                s.markRevoking(root.id, 'explicit'),
              ])
              const children = await s.listChildren(parent.id)
              if (result === 'inserted') {
                assert.deepEqual(children, [child.id])
              } else {
                assert.equal(result, 'parent_gone')
                assert.deepEqual(children, [])
                assert.equal(await s.getToken(child.id), null)
              }
              // Either way, nothing under the mark is usable.
              assert.equal(await s.getLiveToken(child.id, NOW), null)
            }),
          )
        }),
      )

      test(
        'insertLease racing markRevoking of an ancestor: refused, or listed under the token',
        withStorage(async (s) => {
          const rounds = Math.max(10, Math.floor(concurrency / 4))
          await Promise.all(
            Array.from({ length: rounds }, async () => {
              const [root, owner] = await chain2(s)
              const l = lease(owner)
              const [result] = await Promise.all([
                s.insertLease(l, NOW),
                s.markRevoking(root.id, 'explicit'),
              ])
              const leases = await s.listLeases(owner.id)
              if (result === 'inserted') assert.deepEqual(leases, [l.id])
              else {
                assert.equal(result, 'token_gone')
                assert.deepEqual(leases, [])
              }
            }),
          )
        }),
      )

      test(
        'concurrent deletions of a subtree report each token exactly once',
        withStorage(async (s) => {
          const parent = token()
          await s.insertToken(parent)
          const children = Array.from({ length: 10 }, () => token({ parent: parent.id }))
          for (const c of children) await s.insertToken(c)
          const ids = [parent.id, ...children.map((c) => c.id)]
          const results = await Promise.all(
            [...ids, ...ids, ...ids].map((id) => s.deleteToken(id, 'parent', NOW)),
          )
          const reported = results.filter((r): r is TokenRecord => r !== null).map((r) => r.id)
          assert.deepEqual(sorted(reported), sorted(ids))
        }),
      )

      test(
        'useToken racing renewToken never loses a use',
        withStorage(async (s) => {
          const record = token({ numUses: 10 })
          await s.insertToken(record)
          // Every renewal expects the original expiry: exactly one of them applies.
          const update = {
            expectedExpiresAt: NOW + HOUR,
            expiresAt: NOW + 2 * HOUR,
            ttl: 7200,
            lastRenewalTime: NOW,
          }
          await Promise.all(
            Array.from({ length: 10 }, (_, i) =>
              i % 2 === 0 ? s.useToken(record.id, NOW) : s.renewToken(record.id, NOW, update),
            ),
          )
          const after = await s.getToken(record.id)
          assert.ok(after)
          assert.equal(after.numUses, 5)
          assert.equal(after.expiresAt, NOW + 2 * HOUR)
        }),
      )
    })

    runPolicyConformance(runner, makeStorage, { noticeTimeout })

    describe('subscribe() (storages shared by several instances)', () => {
      runStartupConformance({
        test,
        withStorage,
        withTwo,
        token,
        newInbox: () => new Inbox(),
        noticeTimeout,
        now: NOW,
      })
      test(
        "a second instance receives the first one's deletions once each, in order, and not its own",
        withTwo(async (a, b) => {
          if (a.subscribe === undefined || b.subscribe === undefined) return
          const inbox = new Inbox()
          const own = new Inbox()
          const stopB = await b.subscribe(inbox.push)
          const stopA = await a.subscribe(own.push)
          try {
            // One tree shard: notices of different shards may interleave (see Storage.treeShards).
            const owner = token()
            await a.insertToken(owner)
            const l = lease(owner, { data: { keyId: randomString(8) } })
            await a.insertLease(l, NOW)
            const t1 = token({ id: treeHashedId(owner.id) })
            const t2 = token({ id: treeHashedId(owner.id) })
            await a.insertToken(t1)
            await a.insertToken(t2)
            await a.deleteToken(t1.id, 'explicit', NOW + 1)
            await a.deleteLease(l.id, 'parent', NOW + 2)
            await a.deleteToken(owner.id, 'parent', NOW + 3)
            await a.deleteToken(t2.id, 'expired', NOW + 4)
            await a.deleteToken(t2.id, 'expired', NOW + 5) // already gone: no notice
            const mine = accessorsOf([t1, t2, owner])
            const got = await inbox.waitFor(4, mine, noticeTimeout)
            assert.deepEqual(got, [
              tokenNotice(t1, 'explicit', NOW + 1),
              leaseNotice(l, 'parent', NOW + 2),
              tokenNotice(owner, 'parent', NOW + 3),
              tokenNotice(t2, 'expired', NOW + 4),
            ])
            // b's own deletion reaches a, not b.
            const t3 = token()
            await b.insertToken(t3)
            await b.deleteToken(t3.id, 'orphan', NOW + 6)
            assert.deepEqual(await own.waitFor(1, accessorsOf([t3]), noticeTimeout), [
              tokenNotice(t3, 'orphan', NOW + 6),
            ])
            await settle()
            assert.equal(inbox.matching(mine).length, 4)
            assert.deepEqual(inbox.matching(accessorsOf([t3])), [])
            assert.deepEqual(own.matching(mine), [])
          } finally {
            await stopB()
            await stopA()
          }
        }),
      )

      test(
        'a resubscribing instance catches up on what was deleted while it was not listening',
        withTwo(async (a, b) => {
          if (b.subscribe === undefined) return
          const inbox = new Inbox()
          // One tree shard: notices of different shards may interleave (see Storage.treeShards).
          const shard = treeHashedId()
          const tokens = Array.from({ length: 6 }, () => token({ id: treeHashedId(shard) }))
          for (const t of tokens) await a.insertToken(t)
          const mine = accessorsOf(tokens)
          const [t0, t1, t2, t3, t4, t5] = tokens as [
            TokenRecord,
            TokenRecord,
            TokenRecord,
            TokenRecord,
            TokenRecord,
            TokenRecord,
          ]

          let stop = await b.subscribe(inbox.push)
          await a.deleteToken(t0.id, 'explicit', NOW)
          assert.equal((await inbox.waitFor(1, mine, noticeTimeout)).length, 1)
          await stop()

          // Written while b is not listening.
          await a.deleteToken(t1.id, 'explicit', NOW + 1)
          await a.deleteToken(t2.id, 'prefix', NOW + 2)
          await a.deleteToken(t3.id, 'expired', NOW + 3)
          await settle()
          assert.equal(inbox.matching(mine).length, 1)

          stop = await b.subscribe(inbox.push)
          try {
            await a.deleteToken(t4.id, 'explicit', NOW + 4)
            await Promise.all([
              a.deleteToken(t5.id, 'parent', NOW + 5),
              a.deleteToken(t5.id, 'parent', NOW + 5),
            ])
            const got = await inbox.waitFor(6, mine, noticeTimeout)
            assert.deepEqual(got, [
              tokenNotice(t0, 'explicit', NOW),
              tokenNotice(t1, 'explicit', NOW + 1),
              tokenNotice(t2, 'prefix', NOW + 2),
              tokenNotice(t3, 'expired', NOW + 3),
              tokenNotice(t4, 'explicit', NOW + 4),
              tokenNotice(t5, 'parent', NOW + 5),
            ])
            await settle()
            assert.equal(inbox.matching(mine).length, 6)
          } finally {
            await stop()
          }
        }),
      )

      test(
        'a stopped subscription calls its listener no more',
        withTwo(async (a, b) => {
          if (b.subscribe === undefined) return
          const inbox = new Inbox()
          const stop = await b.subscribe(inbox.push)
          await stop()
          const t = token()
          await a.insertToken(t)
          await a.deleteToken(t.id, 'explicit', NOW)
          await settle()
          assert.deepEqual(inbox.matching(accessorsOf([t])), [])
        }),
      )
    })
  })
}

/** Skips the running test through the runner's context when it can (node:test, Vitest); else it just passes. */
function skipTest(context: unknown, reason: string): void {
  const skip = (context as { skip?: unknown } | null | undefined)?.skip
  if (typeof skip === 'function') (skip as (reason: string) => void).call(context, reason)
}

/** The storage's role methods, which the role tests run only when present. */
function roleStorage(
  s: Storage,
): Required<Pick<Storage, 'putRole' | 'getRole' | 'listRoles' | 'deleteRole'>> {
  for (const method of ['putRole', 'getRole', 'listRoles', 'deleteRole'] as const) {
    assert.equal(typeof s[method], 'function', `a storage with putRole has ${method} too`)
  }
  return {
    putRole: (r) => (s.putRole as NonNullable<Storage['putRole']>).call(s, r),
    getRole: (name) => (s.getRole as NonNullable<Storage['getRole']>).call(s, name),
    listRoles: () => (s.listRoles as NonNullable<Storage['listRoles']>).call(s),
    deleteRole: (name) => (s.deleteRole as NonNullable<Storage['deleteRole']>).call(s, name),
  }
}

function tidyOf(s: Storage): ReturnType<NonNullable<Storage['tidy']>> {
  assert.equal(typeof s.tidy, 'function')
  return (s.tidy as NonNullable<Storage['tidy']>).call(s)
}

function subtreeOf(s: Storage): NonNullable<Storage['deleteSubtree']> {
  assert.equal(typeof s.deleteSubtree, 'function')
  return (topId, reason, now, limit) =>
    (s.deleteSubtree as NonNullable<Storage['deleteSubtree']>).call(s, topId, reason, now, limit)
}

/** A full role with a random name, as overridden. */
function role(overrides: Partial<TokenRole> = {}): TokenRole {
  return {
    name: `conformance-${randomBytes(6).toString('hex')}`,
    allowedPolicies: [],
    disallowedPolicies: ['root'],
    allowedPoliciesGlob: ['team-*'],
    disallowedPoliciesGlob: [],
    orphan: false,
    renewable: true,
    pathSuffix: '',
    tokenPeriod: 0,
    tokenExplicitMaxTtl: 86_400,
    tokenNumUses: 5,
    tokenType: 'default-service',
    tokenNoDefaultPolicy: false,
    ...overrides,
  }
}

/** Asserts that no token in `tokens` comes before one of its children in it. */
function assertChildrenFirst(tokens: readonly DeletedToken[]): void {
  const position = new Map(tokens.map((t, i) => [t.id, i]))
  for (const [i, t] of tokens.entries()) {
    if (t.parent === null) continue
    const parentAt = position.get(t.parent)
    if (parentAt !== undefined) assert.ok(parentAt > i, 'a parent was deleted before its child')
  }
}

/** Asserts that the leases come grouped by token, in the order of their tokens (each just before its token). */
function assertLeasesBeforeTokens(result: SubtreeDeletion): void {
  const position = new Map(result.tokens.map((t, i) => [t.id, i]))
  let previous = -1
  for (const l of result.leases) {
    const at = position.get(l.token)
    assert.ok(at !== undefined, 'a lease was deleted without its token')
    assert.ok(at >= previous, 'leases out of the order of their tokens')
    previous = at
  }
}

/**
 * Inserts a tree: a top token, `widths[0]` children under it, `widths[1]` under each of those, and so on.
 * Returns every record, top first, level by level.
 */
async function tree(
  storage: Storage,
  widths: readonly number[],
  overrides: (index: number) => Partial<TokenRecord> = () => ({}),
): Promise<TokenRecord[]> {
  const top = token(overrides(0))
  assert.equal(await storage.insertToken(top), 'inserted')
  const records = [top]
  let level = [top]
  for (const width of widths) {
    const next: TokenRecord[] = []
    for (const parent of level) {
      for (let i = 0; i < width; i++) {
        const child = token({ ...overrides(records.length), parent: parent.id })
        assert.equal(await storage.insertToken(child), 'inserted')
        records.push(child)
        next.push(child)
      }
    }
    level = next
  }
  return records
}

/** Collects notices and waits for them. */
class Inbox {
  readonly notices: StorageNotice[] = []
  readonly #waiters = new Set<() => void>()

  readonly push = (notice: StorageNotice): void => {
    this.notices.push(notice)
    for (const wake of this.#waiters) wake()
  }

  /** The notices about the given accessors, in arrival order. */
  matching(accessors: ReadonlySet<string>): RevocationNotice[] {
    return this.notices.filter(
      (n): n is RevocationNotice => n.kind !== 'policy' && accessors.has(n.accessor),
    )
  }

  /** Waits until `count` notices about `accessors` arrived (or `timeout` ms passed), then returns them. */
  async waitFor(
    count: number,
    accessors: ReadonlySet<string>,
    timeout: number,
  ): Promise<RevocationNotice[]> {
    const deadline = Date.now() + timeout
    while (this.matching(accessors).length < count && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer)
          this.#waiters.delete(wake)
          resolve()
        }
        const timer = setTimeout(wake, Math.max(1, deadline - Date.now()))
        this.#waiters.add(wake)
      })
    }
    return this.matching(accessors)
  }
}

/** Gives late (duplicate or unwanted) notices a chance to arrive before a test checks they did not. */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 150))
}

function accessorsOf(records: readonly { accessor: string }[]): Set<string> {
  return new Set(records.map((r) => r.accessor))
}

function tokenNotice(
  record: Pick<TokenRecord, 'accessor' | 'path'>,
  reason: RevocationNotice['reason'],
  time: UnixMillis,
): RevocationNotice {
  return { kind: 'token', accessor: record.accessor, path: record.path, reason, time }
}

function leaseNotice(
  l: LeaseRecord,
  reason: RevocationNotice['reason'],
  time: UnixMillis,
): RevocationNotice {
  return {
    kind: 'lease',
    leaseId: l.id,
    accessor: l.accessor,
    path: l.path,
    data: l.data,
    reason,
    time,
  }
}

/** Checks that `ids` come soonest first and all expired at or before `now`. */
async function assertSoonestFirst(
  ids: readonly string[],
  expiryOf: (id: string) => Promise<UnixMillis | null>,
  now: UnixMillis,
): Promise<void> {
  let previous = -Infinity
  for (const id of ids) {
    const at = await expiryOf(id)
    // A record another test deleted meanwhile has no expiry to check.
    if (at === null) continue
    assert.ok(at <= now, 'listed a record that has not expired')
    assert.ok(at >= previous, 'listed records out of expiry order')
    previous = at
  }
}

function randomString(length: number): string {
  return randomBytes(length).toString('base64url').slice(0, length)
}

/** A random stand-in for an HMAC: 32 bytes, base64url, as `TokenStore` produces. */
function hashedId(): HashedTokenId {
  return treeHashedId()
}

/** A random time in the past of `NOW`, so that tests listing expired records see few of other tests' records. */
function randomBase(): UnixMillis {
  return 1_000_000_000_000 + Math.floor(Math.random() * 500_000_000_000)
}

function sorted<T extends string>(ids: readonly T[]): T[] {
  return [...ids].sort()
}

/** A token record with random id, accessor and path, live at `NOW` for an hour, as overridden. */
function token(overrides: Partial<TokenRecord> = {}): TokenRecord {
  return {
    ...treeIdentity(overrides),
    parent: null,
    policies: ['default'],
    path: `conformance/${randomString(12)}/login`,
    metadata: {},
    displayName: 'token',
    numUses: 0,
    creationTime: NOW - 1000,
    creationTtl: 3600,
    ttl: 3600,
    expiresAt: NOW + HOUR,
    explicitMaxTtl: 0,
    period: 0,
    renewable: true,
    lastRenewalTime: null,
    revoking: null,
    ...overrides,
  }
}

/** A lease under `owner`, with a random path and id, as overridden. */
function lease(owner: TokenRecord, overrides: Partial<LeaseRecord> = {}): LeaseRecord {
  const path = overrides.path ?? `conformance/${randomString(12)}/creds`
  return {
    id: `${path}/${treeString(20, owner.id)}`,
    token: owner.id,
    accessor: owner.accessor,
    path,
    data: { keyId: randomString(8) },
    issueTime: NOW - 1000,
    ttl: 3600,
    expiresAt: NOW + HOUR,
    renewable: true,
    lastRenewalTime: null,
    ...overrides,
  }
}

/** Inserts a chain of three tokens; returns them top first. */
async function chain3(
  storage: Storage,
  overrides: (index: number) => Partial<TokenRecord> = () => ({}),
): Promise<[TokenRecord, TokenRecord, TokenRecord]> {
  const [a, b, c] = await chain(storage, 3, overrides)
  assert.ok(a && b && c)
  return [a, b, c]
}

/** Inserts a parent and its child; returns them parent first. */
async function chain2(
  storage: Storage,
  overrides: (index: number) => Partial<TokenRecord> = () => ({}),
): Promise<[TokenRecord, TokenRecord]> {
  const [a, b] = await chain(storage, 2, overrides)
  assert.ok(a && b)
  return [a, b]
}

/** Inserts a chain of `length` tokens, each the child of the one before; returns them top first. */
async function chain(
  storage: Storage,
  length: number,
  overrides: (index: number) => Partial<TokenRecord> = () => ({}),
): Promise<TokenRecord[]> {
  const records: TokenRecord[] = []
  let parent: HashedTokenId | null = null
  for (let i = 0; i < length; i++) {
    const record = token({ ...overrides(i), parent })
    assert.equal(await storage.insertToken(record), 'inserted')
    records.push(record)
    parent = record.id
  }
  return records
}

/** What a record looks like once `update` is applied: its fields, without the compare-and-set expectation. */
function applied<T extends object>(record: T, update: RenewUpdate): T {
  const { expectedExpiresAt, ...change } = update
  return { ...record, ...change }
}
