/**
 * Merging the shards' listing pages: a token stored throughout is listed exactly once, in the index's byte order,
 * however the shards' pages fall. Checked against a plain sorted listing with random shards and page sizes.
 */
import assert from 'node:assert/strict'
import { randomBytes, randomInt } from 'node:crypto'
import { test } from 'node:test'

import { mergeShardPages, roundRobin, type ShardPage } from '../../src/storage/redis/shard-merge.js'
import type { TokenRecord } from '../../src/types.js'

/** A record that only has what the merge reads: path and accessor. */
function rec(path: string, accessor: string): TokenRecord {
  return { path, accessor } as TokenRecord
}

const member = (r: TokenRecord): string => `${r.path} ${r.accessor}`
const byBytes = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b))

/** One shard's page after `after`: up to `limit` members examined, the live ones returned. */
function page(
  members: string[],
  live: Set<string>,
  after: string | null,
  limit: number,
): ShardPage {
  const rest = members.filter((m) => after === null || byBytes(m, after) > 0).slice(0, limit)
  const records = rest
    .filter((m) => live.has(m))
    .map((m) => rec(m.split(' ')[0] ?? '', m.split(' ')[1] ?? ''))
  return { records, last: rest.length < limit ? null : (rest.at(-1) as string) }
}

test('paging through merged shard pages lists every live member once, in byte order', () => {
  for (let round = 0; round < 200; round++) {
    const shards = 1 + randomInt(6)
    const limit = 1 + randomInt(7)
    const perShard: string[][] = Array.from({ length: shards }, () => [])
    const live = new Set<string>()
    const count = randomInt(60)
    for (let i = 0; i < count; i++) {
      // Paths with multi-byte characters too: Redis orders by bytes, not UTF-16 units.
      const path = ['a', 'b/c', 'é', 'z', '\u{1F600}', '\uFF01', 'a/b'][randomInt(7)] as string
      const m = `${path} ${randomBytes(6).toString('base64url')}`
      perShard[randomInt(shards)]?.push(m)
      if (randomInt(3) > 0) live.add(m)
    }
    for (const list of perShard) list.sort(byBytes)
    const listed: string[] = []
    let cursor: string | null = null
    for (let pages = 0; ; pages++) {
      assert.ok(pages < 1000, 'the listing ends')
      const merged = mergeShardPages(
        perShard.map((list) => page(list, live, cursor, limit)),
        limit,
        member,
      )
      assert.ok(merged.records.length <= limit)
      listed.push(...merged.records.map(member))
      if (merged.last === null) break
      cursor = merged.last
    }
    assert.deepEqual(listed, [...live].sort(byBytes))
  }
})

test('roundRobin takes from each list in turn, up to the count', () => {
  assert.deepEqual(roundRobin([['a1', 'a2', 'a3'], [], ['c1']], 10), ['a1', 'c1', 'a2', 'a3'])
  assert.deepEqual(
    roundRobin(
      [
        ['a1', 'a2'],
        ['b1', 'b2'],
      ],
      3,
    ),
    ['a1', 'b1', 'a2'],
  )
  assert.deepEqual(roundRobin([], 3), [])
})
