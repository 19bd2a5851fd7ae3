/**
 * Reading rows of PostgresStorage's notice log into numbered entries: a single notice per row, or a batch
 * deletion's row (`n` notices numbered up to its `seq`, written by `deleteLocked` in `schema.ts`), read notice by
 * notice so that a subscriber that stopped inside a batch resumes after the last notice it passed.
 *
 * @packageDocumentation
 */
import type { Accessor, RevokeReason, UnixMillis } from '../../types.js'
import type { NoticeEntry } from '../notice-follower.js'
import type { RevocationNotice, StorageNotice } from '../storage.js'

/** A row of `READ_NOTICES`: its number, how many notices it holds, and its body (`null` for the reader's own). */
export interface NoticeRow {
  readonly seq: number
  readonly n: number
  readonly own: boolean
  readonly notice: StorageNotice | BatchBody | null
}

/** The body of a batch row: the notices' shared time and one compact item per notice, in order. */
interface BatchBody {
  readonly kind: 'batch'
  readonly time: UnixMillis
  readonly items: readonly unknown[]
}

/**
 * Appends the entries of `row` numbered after `cursor` to `out`. A batch row's notices each become an entry of
 * their own number; this instance's own row, and one whose body does not parse, become one skipped entry covering
 * its numbers (`first`), so that neither delays the subscription nor counts as a loss.
 */
export function readNoticeRow(row: NoticeRow, cursor: number, out: NoticeEntry[]): void {
  const count = Number.isSafeInteger(row.n) && row.n >= 1 ? row.n : 1
  const seq = row.seq
  const first = Math.max(seq - count + 1, cursor + 1)
  const body = row.own ? null : row.notice
  if (body === null || body.kind !== 'batch') {
    out.push({ seq, notice: body, first })
    return
  }
  const notices = batchNotices(body, count)
  if (notices === null) {
    out.push({ seq, notice: null, first })
    return
  }
  // notices[count - 1] is numbered seq; the one numbered k is count - 1 - (seq - k) places in.
  for (let k = first; k <= seq; k++) {
    out.push({ seq: k, notice: notices[count - 1 - (seq - k)] ?? null })
  }
}

/**
 * The notices of a batch body (items `['t', reason, accessor, path]` and `['l', reason, lease id, accessor, path,
 * data]`), or `null` when it does not hold `count` well-formed items.
 */
function batchNotices(body: BatchBody, count: number): RevocationNotice[] | null {
  const { items, time } = body
  if (!Array.isArray(items) || items.length !== count || typeof time !== 'number') return null
  const notices: RevocationNotice[] = []
  for (const item of items) {
    if (!Array.isArray(item) || typeof item[1] !== 'string') return null
    const reason = item[1] as RevokeReason
    if (item[0] === 't' && typeof item[2] === 'string' && typeof item[3] === 'string') {
      notices.push({ kind: 'token', accessor: item[2], path: item[3], reason, time })
    } else if (item[0] === 'l' && typeof item[2] === 'string') {
      notices.push({
        kind: 'lease',
        leaseId: item[2],
        accessor: item[3] as Accessor,
        path: item[4] as string,
        data: item[5],
        reason,
        time,
      })
    } else {
      return null
    }
  }
  return notices
}
