/**
 * Merging what the shards of a sharded `RedisStorage` answer for one query that spans them.
 *
 * @packageDocumentation
 */
import type { TokenRecord } from '../../types.js'

/** A listing member as text, and as the UTF-8 bytes Redis orders it by (ZRANGEBYLEX compares bytes). */
interface Member {
  readonly text: string
  readonly bytes: Buffer
}

function member(text: string): Member {
  return { text, bytes: Buffer.from(text, 'utf8') }
}

/**
 * One shard's page of a listing: its live matching records, and `last`, the last member it examined, or `null`
 * when it examined all it had left.
 */
export interface ShardPage {
  readonly records: readonly TokenRecord[]
  readonly last: string | null
}

/**
 * Merges the pages that several shards answered for one listing query into one page, in the order of the listing
 * index (bytewise, as Redis sorts members). Every shard examined its members up to its `last`; the merged page
 * ends at the smallest of those, so that each shard has examined everything up to there, and is cut further when
 * it holds more than `limit` records. `last` is where the next page starts, or `null` when every shard is done.
 * A token stored throughout the listing lies in one shard, is examined once, and so is returned once.
 */
export function mergeShardPages(
  pages: readonly ShardPage[],
  limit: number,
  memberOf: (record: TokenRecord) => string,
): ShardPage {
  // One shard (the unsharded layout, or a listing by parent): its page is the answer.
  if (pages.length === 1) return pages[0] as ShardPage
  let last: Member | null = null
  for (const page of pages) {
    if (page.last === null) continue
    const at = member(page.last)
    if (last === null || Buffer.compare(at.bytes, last.bytes) < 0) last = at
  }
  const bound = last
  const entries = pages
    .flatMap((page) => page.records)
    .map((record) => ({ record, member: member(memberOf(record)) }))
    .filter((entry) => bound === null || Buffer.compare(entry.member.bytes, bound.bytes) <= 0)
    .sort((a, b) => Buffer.compare(a.member.bytes, b.member.bytes))
  if (entries.length > limit) {
    entries.length = limit
    last = (entries.at(-1) as { member: Member }).member
  }
  return { records: entries.map((entry) => entry.record), last: last?.text ?? null }
}

/** Up to `count` items taken from the lists in turn: the first of each, then the second of each, and so on. */
export function roundRobin<T>(lists: readonly (readonly T[])[], count: number): T[] {
  const out: T[] = []
  for (let i = 0; out.length < count && lists.some((list) => i < list.length); i++) {
    for (const list of lists) if (i < list.length && out.length < count) out.push(list[i] as T)
  }
  return out
}
