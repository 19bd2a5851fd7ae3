/**
 * Conformance tests of `sweepExpired()` (optional): part of `runStorageConformance`, kept apart so that the main
 * suite stays one concern per block.
 *
 * Times lie far before every other test's (1e11 ms and up, where the others use 1e12 and up), so that a sweep
 * here takes only this block's tokens from a backend the whole suite shares; a sweep may still take what an
 * earlier test of this block left, so each test looks only at its own tokens.
 *
 * @packageDocumentation
 */
import assert from 'node:assert/strict'

import type { DeletedToken, ExpiredSweep, Storage } from '../storage/storage.js'
import { deletedFields } from './deleted-token.js'
import type { HashedTokenId, LeaseRecord, TokenRecord, UnixMillis } from '../types.js'

/** What the main suite lends these tests: its runner and fixtures. */
export interface SweepConformanceContext {
  readonly test: (name: string, fn: (...context: unknown[]) => Promise<void>) => unknown
  /** Runs the test on a fresh storage, skipping it when the storage has no `sweepExpired`. */
  readonly withSweep: (
    fn: (storage: Storage) => Promise<void>,
  ) => (...context: unknown[]) => Promise<void>
  /** A fresh token record, as overridden. */
  readonly token: (overrides?: Partial<TokenRecord>) => TokenRecord
  /** A fresh lease under `owner`, as overridden. */
  readonly lease: (owner: TokenRecord, overrides?: Partial<LeaseRecord>) => LeaseRecord
}

/** Calls a sweep may take for a batch: an adapter may mark in one call and delete in the next. */
const CALLS_PER_BATCH = 2

/** A time of this block's own, far before every other test's. */
function sweepBase(): UnixMillis {
  return 100_000_000_000 + Math.floor(Math.random() * 100_000_000_000)
}

/** The storage's `sweepExpired`, called as its method. */
function sweepOf(s: Storage): NonNullable<Storage['sweepExpired']> {
  assert.equal(typeof s.sweepExpired, 'function')
  return (now, limit) =>
    (s.sweepExpired as NonNullable<Storage['sweepExpired']>).call(s, now, limit)
}

/** Everything `sweepExpired(now, limit)` reports until done, call by call. */
async function drain(
  storage: Storage,
  now: UnixMillis,
  limit: number,
  maxCalls: number,
): Promise<ExpiredSweep[]> {
  const results: ExpiredSweep[] = []
  for (let calls = 0; calls < maxCalls; calls++) {
    const result = await sweepOf(storage)(now, limit)
    results.push(result)
    if (result.done) return results
  }
  assert.fail('sweepExpired() never reported done')
}

/** The ids of `tokens` that are among `mine`, in order. */
function own(tokens: readonly DeletedToken[], mine: readonly TokenRecord[]): HashedTokenId[] {
  const ids = new Set(mine.map((r) => r.id))
  return tokens.map((t) => t.id).filter((id) => ids.has(id))
}

/**
 * Deletes what a test left for a store to finish (tokens handed over in `marked`, and the subtrees below them),
 * children first, as the store would: left in a backend the block shares, they would be due in the next test's
 * sweep and, handed over again and again, take its batches.
 */
async function finishLeftovers(
  storage: Storage,
  childrenFirst: readonly TokenRecord[],
): Promise<void> {
  for (const r of childrenFirst) await storage.deleteToken(r.id, 'parent', 0)
}

/** Registers the tests; called by `runStorageConformance`. */
export function runSweepConformance(context: SweepConformanceContext): void {
  const { test, withSweep, token, lease } = context

  test(
    'deletes expired tokens without children with their leases, marks those with children, leaves the rest',
    withSweep(async (s) => {
      const base = sweepBase()
      const a = token({ expiresAt: base + 10 })
      const b = token({ expiresAt: base + 20 })
      const parent = token({ expiresAt: base + 10 })
      const child = token({ parent: parent.id, expiresAt: base + 100 })
      const later = token({ expiresAt: base + 100 })
      for (const r of [a, b, parent, child, later]) assert.equal(await s.insertToken(r), 'inserted')
      const l = lease(a, { expiresAt: base + 500 })
      assert.equal(await s.insertLease(l, base), 'inserted')
      const results = await drain(s, base + 50, 100, 4 * CALLS_PER_BATCH)
      const deleted = results.flatMap((r) => r.tokens)
      assert.deepEqual(own(deleted, [a, b, parent, child, later]).sort(), [a.id, b.id].sort())
      // As stored when deleted: with the mark of an adapter that marks before it deletes.
      const gone = deleted.find((t) => t.id === a.id)
      assert.ok(gone?.revoking === null || gone?.revoking === 'expired')
      assert.deepEqual(deletedFields(gone), deletedFields({ ...a, revoking: gone.revoking }))
      assert.deepEqual(
        results.flatMap((r) => r.leases).filter((x) => x.token === a.id),
        [l],
      )
      for (const r of results) {
        const position = new Map(r.tokens.map((t, i) => [t.id, i]))
        for (const gone of r.leases)
          assert.ok(position.has(gone.token), 'a lease without its token')
      }
      const marked = results.flatMap((r) => r.marked).filter((m) => m.id === parent.id)
      assert.ok(marked.length >= 1, 'the token with children is handed over')
      assert.equal(marked[0]?.revoking, 'expired')
      assert.equal((await s.getToken(parent.id))?.revoking, 'expired')
      assert.deepEqual(await s.getToken(child.id), child)
      assert.equal(await s.getLiveToken(child.id, base + 50), null)
      assert.deepEqual(await s.getLiveToken(later.id, base + 50), later)
      for (const r of [a, b]) {
        assert.equal(await s.getToken(r.id), null)
        assert.equal(await s.getTokenByAccessor(r.accessor), null)
        assert.ok(!(await s.listExpiredTokens(base + 50, 100_000)).includes(r.id))
      }
      assert.equal(await s.getLease(l.id), null)
      assert.deepEqual(await s.listLeases(a.id), [])
      await finishLeftovers(s, [child, parent, later])
    }),
  )

  test(
    'a renewed token is not taken; a token marked before keeps its mark as reason',
    withSweep(async (s) => {
      const base = sweepBase()
      const renewed = token({ expiresAt: base + 10 })
      const exhausted = token({ expiresAt: base + 10 })
      for (const r of [renewed, exhausted]) assert.equal(await s.insertToken(r), 'inserted')
      const update = {
        expectedExpiresAt: base + 10,
        expiresAt: base + 1000,
        ttl: 1,
        lastRenewalTime: base,
      }
      assert.ok(await s.renewToken(renewed.id, base, update))
      await s.markRevoking(exhausted.id, 'uses_exhausted')
      const deleted = (await drain(s, base + 50, 100, 4 * CALLS_PER_BATCH)).flatMap((r) => r.tokens)
      assert.deepEqual(
        deleted
          .filter((t) => t.id === exhausted.id || t.id === renewed.id)
          .map((t) => [t.id, t.revoking]),
        [[exhausted.id, 'uses_exhausted']],
      )
      assert.ok(await s.getLiveToken(renewed.id, base + 50))
    }),
  )

  test(
    'many tokens marked before, beside unmarked ones, each keep their own mark as reason',
    withSweep(async (s) => {
      const base = sweepBase()
      const records = Array.from({ length: 150 }, () => token({ expiresAt: base + 10 }))
      for (const r of records) assert.equal(await s.insertToken(r), 'inserted')
      // More marks than a storage may keep at hand (RedisStorage reads marks one by one when there are few).
      const marked = new Set(records.filter((_, i) => i % 2 === 0).map((r) => r.id))
      for (const id of marked) await s.markRevoking(id, 'uses_exhausted')
      const deleted = (await drain(s, base + 50, 20, 40 * CALLS_PER_BATCH)).flatMap((r) => r.tokens)
      const mine = new Map(records.map((r) => [r.id, r]))
      const reported = deleted.filter((t) => mine.has(t.id))
      assert.equal(reported.length, records.length)
      for (const t of reported) {
        // The reason a store gives (an unmarked token may be reported as marked `expired` by its deletion).
        assert.equal(t.revoking ?? 'expired', marked.has(t.id) ? 'uses_exhausted' : 'expired')
        assert.equal(t.accessor, mine.get(t.id)?.accessor)
      }
    }),
  )

  test(
    'a token whose ancestor expired no later is left to that ancestor, which is handed over for its subtree',
    withSweep(async (s) => {
      const base = sweepBase()
      const top = token({ expiresAt: base + 10 })
      const parent = token({ parent: top.id, expiresAt: base + 10 })
      // Expired no later than its parent (and its top): goes with the top's subtree, reason `parent`.
      const covered = token({ parent: parent.id, expiresAt: base + 10 })
      // Expired before its ancestors: on its own, reason `expired`.
      const early = token({ parent: parent.id, expiresAt: base + 5 })
      const mine = [top, parent, covered, early]
      for (const r of mine) assert.equal(await s.insertToken(r), 'inserted')
      const results = await drain(s, base + 50, 100, 4 * CALLS_PER_BATCH)
      assert.deepEqual(
        own(
          results.flatMap((r) => r.tokens),
          mine,
        ),
        [early.id],
      )
      const marked = own(
        results.flatMap((r) => r.marked),
        mine,
      )
      assert.ok(marked.includes(top.id), 'the top is handed over')
      assert.ok(
        !marked.includes(covered.id) && !marked.includes(parent.id),
        `handed over: ${marked.join(', ')}`,
      )
      // The covered token and its parent are left, unusable, for the top's revocation to delete.
      for (const r of [parent, covered]) {
        assert.equal((await s.getToken(r.id))?.id, r.id)
        assert.equal(await s.getLiveToken(r.id, base + 1), null)
      }
      assert.equal((await s.getToken(top.id))?.revoking, 'expired')
      await finishLeftovers(s, [covered, parent, top])
    }),
  )

  test(
    'a limit below the tokens due: batches of at most the limit, each token reported once, then done',
    withSweep(async (s) => {
      const base = sweepBase()
      const records = Array.from({ length: 7 }, (_, i) => token({ expiresAt: base + i }))
      for (const r of records) assert.equal(await s.insertToken(r), 'inserted')
      const results = await drain(s, base + 50, 2, 40 * CALLS_PER_BATCH)
      for (const r of results)
        assert.ok(r.tokens.length + r.marked.length <= 2, 'a batch over the limit')
      const ids = own(
        results.flatMap((r) => r.tokens),
        records,
      )
      assert.deepEqual([...ids].sort(), records.map((r) => r.id).sort())
    }),
  )

  test(
    'concurrent calls report each expired token exactly once',
    withSweep(async (s) => {
      const base = sweepBase()
      const records = Array.from({ length: 20 }, (_, i) => token({ expiresAt: base + (i % 3) }))
      for (const r of records) assert.equal(await s.insertToken(r), 'inserted')
      const reported: HashedTokenId[] = []
      const mine = new Set<string>(records.map((r) => r.id))
      const sweeper = async (): Promise<void> => {
        // Another sweeper may hold rows this one skips: drain until a call finds nothing left of ours.
        for (let calls = 0; calls < 40; calls++) {
          const result = await sweepOf(s)(base + 50, 3)
          reported.push(...own(result.tokens, records))
          const left = await s.listExpiredTokens(base + 50, 1000)
          if (result.done && !left.some((id) => mine.has(id))) return
        }
      }
      await Promise.all([sweeper(), sweeper(), sweeper()])
      assert.deepEqual([...reported].sort(), records.map((r) => r.id).sort())
    }),
  )
}
