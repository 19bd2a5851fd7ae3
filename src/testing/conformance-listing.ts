/**
 * Conformance tests of {@link Storage.listTokens}: paging, liveness, the three filters, and stability while tokens
 * come and go. Registered by `runStorageConformance`; skipped for a storage without `listTokens`.
 *
 * @packageDocumentation
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'

import { TokenStoreError } from '../errors.js'
import type { Storage, TokenListQuery } from '../storage/storage.js'
import type { HashedTokenId, TokenRecord, UnixMillis } from '../types.js'
import { treeHashedId, treeIdentity } from './tree-ids.js'

/** The listing tests' reference time, as the main suite's. */
const NOW: UnixMillis = 2_000_000_000_000
/** One hour in milliseconds. */
const HOUR = 3_600_000
/** Most pages one listing may take in a test before it is deemed endless. */
const MAX_PAGES = 10_000

/** What the listing tests need from the suite: the runner and the storage factory. */
export interface ListingSuite {
  /** The runner's `test`, as in `ConformanceRunner`. */
  readonly test: (name: string, fn: () => Promise<void>) => unknown
  /** The runner's `describe`. */
  readonly describe: (name: string, fn: () => void) => unknown
  /** One new storage instance per call. */
  readonly makeStorage: () => Promise<Storage> | Storage
}

/**
 * Registers the `listTokens()` tests. Every test lists below a fresh random path (or under a fresh parent), so
 * records left by other tests on a shared backend never show up.
 */
export function runListingConformance({ test, describe, makeStorage }: ListingSuite): void {
  const withListing = (
    fn: (storage: Storage, list: ListFn) => Promise<void>,
  ): (() => Promise<void>) =>
    async function listing(...context: unknown[]): Promise<void> {
      const storage = await makeStorage()
      try {
        const listTokens = storage.listTokens?.bind(storage)
        if (listTokens === undefined) {
          const skip = (context[0] as { skip?: unknown } | undefined)?.skip
          if (typeof skip === 'function') {
            ;(skip as (reason: string) => void).call(
              context[0],
              'the storage has no listTokens(), an optional method',
            )
          }
          return
        }
        await fn(storage, listTokens)
      } finally {
        await storage.close?.()
      }
    }

  describe('listTokens() (optional)', () => {
    test(
      'pages through a path prefix: each token once, whatever the page size',
      withListing(async (storage, list) => {
        const base = `listing/${randomString(10)}`
        const expected = new Set<string>()
        for (let i = 0; i < 23; i++) {
          const path = i % 3 === 0 ? `${base}/sub/login` : base
          expected.add(await insert(storage, { path }))
        }
        // Siblings that share the prefix as text but not as a path, and a parent path.
        await insert(storage, { path: `${base}-old` })
        await insert(storage, { path: `${base}.x/login` })
        await insert(storage, { path: `${base}0` })
        await insert(storage, { path: base.slice(0, base.lastIndexOf('/')) })
        for (const limit of [1, 4, 23, 500]) {
          const found = await collect(list, { pathPrefix: base }, limit)
          assert.deepEqual(new Set(found), expected, `limit ${limit}`)
          assert.equal(found.length, expected.size, `no duplicates at limit ${limit}`)
        }
        const sub = await collect(list, { pathPrefix: `${base}/sub` }, 2)
        assert.equal(sub.length, 8)
        assert.deepEqual(
          new Set(sub),
          new Set(await collect(list, { pathPrefix: `${base}/sub/login` }, 50)),
        )
      }),
    )

    test(
      'returns whole records, and never more than `limit` per page',
      withListing(async (storage, list) => {
        const base = `listing/${randomString(10)}`
        const record = token({ path: base, metadata: { user: 'ada' }, numUses: 3 })
        assert.equal(await storage.insertToken(record), 'inserted')
        for (let i = 0; i < 5; i++) await insert(storage, { path: base })
        const first = await list(query({ pathPrefix: base }, 2, null))
        assert.ok(first.records.length <= 2)
        const all = await collect(list, { pathPrefix: base }, 3, true)
        const found = all.records.find((r) => r.accessor === record.accessor)
        assert.deepEqual(found, record)
      }),
    )

    test(
      'lists only live tokens: not expired, revoking, or under a dead ancestor',
      withListing(async (storage, list) => {
        const path = `listing/${randomString(10)}`
        const live = await insert(storage, { path })
        const neverExpires = await insert(storage, { path, expiresAt: null })
        await insert(storage, { path, expiresAt: NOW })
        await insert(storage, { path, revoking: 'explicit' })
        const revokingParent = token({ path })
        const expiredParent = token({ path, expiresAt: NOW - 1 })
        const orphaningParent = token({ path })
        for (const parent of [revokingParent, expiredParent, orphaningParent]) {
          assert.equal(await storage.insertToken(parent), 'inserted')
        }
        await insert(storage, { path, parent: revokingParent.id })
        await insert(storage, { path, parent: expiredParent.id })
        const keptChild = await insert(storage, { path, parent: orphaningParent.id })
        await storage.markRevoking(revokingParent.id, 'explicit')
        await storage.markRevoking(orphaningParent.id, 'orphan')
        const found = new Set(await collect(list, { pathPrefix: path }, 3))
        assert.deepEqual(found, new Set([live, neverExpires, keptChild]))
      }),
    )

    test(
      'filters by parent: the direct children only, alone or with a path prefix',
      withListing(async (storage, list) => {
        const path = `listing/${randomString(10)}`
        const parent = token({ path })
        assert.equal(await storage.insertToken(parent), 'inserted')
        const children = new Set<string>()
        const below = new Set<string>()
        for (let i = 0; i < 11; i++) {
          const childPath = i % 2 === 0 ? `${path}/below` : path
          const child = token({ path: childPath, parent: parent.id })
          assert.equal(await storage.insertToken(child), 'inserted')
          children.add(child.accessor)
          if (i % 2 === 0) below.add(child.accessor)
          await insert(storage, { path, parent: child.id }) // a grandchild: not listed
        }
        await insert(storage, { path }) // a sibling of the parent: not listed
        for (const limit of [1, 5, 100]) {
          const found = await collect(list, { parent: parent.id }, limit)
          assert.deepEqual(new Set(found), children)
          assert.equal(found.length, children.size)
        }
        const filtered = await collect(list, { parent: parent.id, pathPrefix: `${path}/below` }, 2)
        assert.deepEqual(new Set(filtered), below)
        assert.deepEqual(await collect(list, { parent: hashedId() }, 10), [])
      }),
    )

    test(
      'filters by metadata: every given key with exactly the given value',
      withListing(async (storage, list) => {
        const path = `listing/${randomString(10)}`
        const ada = await insert(storage, { path, metadata: { user: 'ada', team: 'core' } })
        const ada2 = await insert(storage, { path, metadata: { user: 'ada' } })
        await insert(storage, { path, metadata: { user: 'bob', team: 'core' } })
        await insert(storage, { path, metadata: { user: 'Ada' } })
        await insert(storage, { path, metadata: {} })
        await insert(storage, { path, metadata: { user: '' } })
        const byUser = await collect(list, { pathPrefix: path, metadata: { user: 'ada' } }, 2)
        assert.deepEqual(new Set(byUser), new Set([ada, ada2]))
        const both = await collect(
          list,
          { pathPrefix: path, metadata: { user: 'ada', team: 'core' } },
          1,
        )
        assert.deepEqual(both, [ada])
        assert.deepEqual(
          await collect(list, { pathPrefix: path, metadata: { user: 'ada', team: 'x' } }, 5),
          [],
        )
        assert.equal(
          (await collect(list, { pathPrefix: path, metadata: { user: '' } }, 5)).length,
          1,
        )
      }),
    )

    test(
      'is stable while tokens are created and deleted: none skipped, none twice',
      withListing(async (storage, list) => {
        const path = `listing/${randomString(10)}`
        const records: TokenRecord[] = []
        for (let i = 0; i < 40; i++) {
          const record = token({ path })
          assert.equal(await storage.insertToken(record), 'inserted')
          records.push(record)
        }
        const deleted = new Set<string>()
        const created = new Set<string>()
        const seen: string[] = []
        let cursor: string | null = null
        let page = 0
        do {
          const result = await list(query({ pathPrefix: path }, 3, cursor))
          assert.ok(result.records.length <= 3)
          seen.push(...result.records.map((r) => r.accessor))
          cursor = result.cursor
          page += 1
          // Between pages: delete two of the original tokens and create two new ones.
          for (const victim of [records[(page * 7) % 40], records[(page * 13 + 5) % 40]]) {
            if (victim !== undefined && !deleted.has(victim.accessor)) {
              await storage.deleteToken(victim.id, 'explicit', NOW)
              deleted.add(victim.accessor)
            }
          }
          for (let i = 0; i < 2 && page < 40; i++) created.add(await insert(storage, { path }))
        } while (cursor !== null && page < MAX_PAGES)
        assert.equal(cursor, null, 'the listing ends')
        assert.equal(new Set(seen).size, seen.length, 'no token twice')
        for (const record of records) {
          if (!deleted.has(record.accessor)) {
            assert.ok(seen.includes(record.accessor), 'a token stored throughout is listed')
          }
        }
        for (const accessor of seen) {
          assert.ok(
            records.some((r) => r.accessor === accessor) || created.has(accessor),
            'only tokens of this listing',
          )
        }
      }),
    )

    test(
      'drops deleted tokens and the children of an orphaned parent',
      withListing(async (storage, list) => {
        const path = `listing/${randomString(10)}`
        const parent = token({ path })
        assert.equal(await storage.insertToken(parent), 'inserted')
        const child = token({ path, parent: parent.id })
        assert.equal(await storage.insertToken(child), 'inserted')
        await storage.markRevoking(parent.id, 'orphan')
        assert.equal(await storage.orphanChildren(parent.id, NOW), 1)
        assert.deepEqual(await collect(list, { parent: parent.id }, 5), [])
        await storage.deleteToken(parent.id, 'orphan', NOW)
        assert.deepEqual(await collect(list, { pathPrefix: path }, 5), [child.accessor])
        await storage.deleteToken(child.id, 'explicit', NOW)
        assert.deepEqual(await collect(list, { pathPrefix: path }, 5), [])
      }),
    )

    test(
      'refuses a cursor it did not issue with invalid_request',
      withListing(async (_storage, list) => {
        for (const cursor of ['not a cursor', '', 'eyJ4Ijp0cnVlfQ', 'W10']) {
          await assert.rejects(
            list(query({ pathPrefix: 'listing/x' }, 5, cursor)),
            (error: unknown) =>
              error instanceof TokenStoreError && error.code === 'invalid_request',
            `cursor ${JSON.stringify(cursor)}`,
          )
        }
      }),
    )
  })
}

type ListFn = NonNullable<Storage['listTokens']>
type Filters = Pick<TokenListQuery, 'pathPrefix' | 'parent' | 'metadata'>

function query(filters: Filters, limit: number, cursor: string | null): TokenListQuery {
  return { ...filters, now: NOW, limit, cursor }
}

/** Every accessor a listing yields, page by page, checking each page's size. */
async function collect(list: ListFn, filters: Filters, limit: number): Promise<string[]>
async function collect(
  list: ListFn,
  filters: Filters,
  limit: number,
  records: true,
): Promise<{ records: TokenRecord[] }>
async function collect(
  list: ListFn,
  filters: Filters,
  limit: number,
  records = false,
): Promise<string[] | { records: TokenRecord[] }> {
  const found: TokenRecord[] = []
  let cursor: string | null = null
  for (let page = 0; page < MAX_PAGES; page++) {
    const result = await list(query(filters, limit, cursor))
    assert.ok(result.records.length <= limit, 'a page holds at most `limit` records')
    found.push(...result.records)
    cursor = result.cursor
    if (cursor === null) return records ? { records: found } : found.map((r) => r.accessor)
  }
  assert.fail('the listing never ended')
}

/** Inserts a token; returns its accessor. */
async function insert(storage: Storage, overrides: Partial<TokenRecord>): Promise<string> {
  const record = token(overrides)
  assert.equal(await storage.insertToken(record), 'inserted')
  return record.accessor
}

function randomString(length: number): string {
  return randomBytes(length).toString('base64url').slice(0, length)
}

function hashedId(): HashedTokenId {
  return treeHashedId()
}

/** A token record live at `NOW` for an hour, with random id and accessor, as overridden. */
function token(overrides: Partial<TokenRecord> = {}): TokenRecord {
  return {
    ...treeIdentity(overrides),
    parent: null,
    policies: ['default'],
    path: `listing/${randomString(12)}`,
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
