/**
 * Conformance tests for what response wrapping needs of a storage: the optional `wrapped` field of a token record
 * (the sealed value a wrapping token holds) is kept as an opaque string through every method that returns the
 * record, and goes with the record when it is deleted. No storage method is added for it, so every adapter that
 * stores whole records passes without change; these tests make sure it stays so.
 *
 * @packageDocumentation
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'

import type { Storage } from '../storage/storage.js'
import type { TokenRecord, UnixMillis } from '../types.js'
import { treeIdentity } from './tree-ids.js'

/** The runner functions the suite needs (see `ConformanceRunner`). */
export interface WrappingConformanceRunner {
  readonly test: (name: string, fn: () => Promise<void>) => unknown
  readonly describe: (name: string, fn: () => void) => unknown
}

/** A time far from any real clock: records expire a minute after it. */
const NOW: UnixMillis = 2_000_000_000_000

/** A sealed value as `TokenStore` writes it: opaque text, here random and long enough to notice truncation. */
function sealedValue(): string {
  return `w1.${randomBytes(3000).toString('base64url')}`
}

/** A wrapping token's record: single use, orphan, `response-wrapping`, holding `wrapped`. */
function wrappingRecord(wrapped: string): TokenRecord {
  return {
    ...treeIdentity({}),
    parent: null,
    policies: ['response-wrapping'],
    path: `conformance-wrapping/${randomBytes(6).toString('hex')}`,
    metadata: {},
    displayName: '',
    numUses: 1,
    creationTime: NOW - 1000,
    creationTtl: 60,
    ttl: 60,
    expiresAt: NOW + 60_000,
    explicitMaxTtl: 60,
    period: 0,
    renewable: false,
    lastRenewalTime: null,
    revoking: null,
    wrapped,
  }
}

/**
 * Registers the wrapping tests in a `describe` of their own. Called by `runStorageConformance`, so adapters run it
 * with the rest of the suite.
 */
export function runWrappingConformance(
  runner: WrappingConformanceRunner,
  withStorage: (fn: (storage: Storage) => Promise<void>) => () => Promise<void>,
): void {
  const { test, describe } = runner
  describe('wrapping tokens (the optional `wrapped` field)', () => {
    test(
      'insertToken() keeps `wrapped` as given; getToken(), getTokenByAccessor() and getLiveToken() return it',
      withStorage(async (s) => {
        const wrapped = sealedValue()
        const record = wrappingRecord(wrapped)
        assert.equal(await s.insertToken(record), 'inserted')
        assert.equal((await s.getToken(record.id))?.wrapped, wrapped)
        assert.equal((await s.getTokenByAccessor(record.accessor))?.wrapped, wrapped)
        assert.equal((await s.getLiveToken(record.id, NOW))?.wrapped, wrapped)
        const plain = { ...wrappingRecord(''), policies: ['default'] }
        delete (plain as { wrapped?: string }).wrapped
        assert.equal(await s.insertToken(plain), 'inserted')
        assert.equal((await s.getToken(plain.id))?.wrapped, undefined, 'absent stays absent')
      }),
    )

    test(
      'useToken() returns `wrapped` with the single use spent, exactly once under concurrency',
      withStorage(async (s) => {
        const wrapped = sealedValue()
        const record = wrappingRecord(wrapped)
        assert.equal(await s.insertToken(record), 'inserted')
        const results = await Promise.all(
          Array.from({ length: 20 }, () => s.useToken(record.id, NOW)),
        )
        const used = results.filter((result) => result !== null)
        assert.equal(used.length, 1)
        const [first] = used
        assert.ok(first)
        assert.equal(first.wrapped, wrapped)
        assert.equal(first.numUses, 0)
        assert.equal(first.revoking, 'uses_exhausted')
      }),
    )

    test(
      'markRevoking() keeps `wrapped`; deleteToken() returns it and leaves nothing behind',
      withStorage(async (s) => {
        const wrapped = sealedValue()
        const record = wrappingRecord(wrapped)
        assert.equal(await s.insertToken(record), 'inserted')
        assert.equal((await s.markRevoking(record.id, 'explicit'))?.wrapped, wrapped)
        assert.equal((await s.deleteToken(record.id, 'explicit', NOW))?.wrapped, wrapped)
        assert.equal(await s.getToken(record.id), null)
        assert.equal(await s.getTokenByAccessor(record.accessor), null)
      }),
    )
  })
}
