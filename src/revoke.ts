/**
 * Revocation of token subtrees: mark first, then delete children before parents, resumably.
 *
 * Marking the top token `revoking` makes its whole subtree unusable in one atomic write, because liveness checks
 * every ancestor, and no child or lease can be attached to a marked tree. Deletion then walks the subtree
 * depth-first with an explicit stack (a recursive walk would overflow on a deep chain) and deletes each token only
 * after its children and its leases. So a walk cut off at any point leaves the mark on the top in place, every
 * remaining descendant unusable, and enough structure to finish later (`listRevoking` finds the mark).
 *
 * A storage with {@link Storage.deleteSubtree} does the walk itself, a batch of tokens per atomic call, with the
 * same order and the same guarantees; the walk here is the fallback for storages without it.
 */
import type { DeletedToken, Storage } from './storage/storage.js'
import type { HashedTokenId, LeaseRecord, RevokeReason, TokenRecord, UnixMillis } from './types.js'
import { pipelineBatches } from './batch-pipeline.js'

/** Tokens per {@link Storage.deleteSubtree} call: large enough for few round trips, small enough to keep each short. */
export const SUBTREE_BATCH = 500

/** Told of each deletion right after it was written. */
export interface RevocationSink {
  token(record: DeletedToken, reason: RevokeReason): void
  lease(lease: LeaseRecord, reason: RevokeReason): void
}

/** What one revocation deleted. */
export interface RevocationCount {
  tokens: number
  leases: number
}

/**
 * Revokes each named token with its subtree, for `reason`. All are marked before any is deleted, so every named
 * subtree is unusable from the first writes. Named tokens get `reason`; their other descendants get `parent`.
 */
export async function revokeTrees(
  storage: Storage,
  ids: readonly HashedTokenId[],
  reason: RevokeReason,
  now: UnixMillis,
  sink: RevocationSink,
): Promise<RevocationCount> {
  const marked: TokenRecord[] = []
  for (const id of ids) {
    const record = await storage.markRevoking(id, reason)
    if (record !== null) marked.push(record)
  }
  const named = new Set(ids)
  const count: RevocationCount = { tokens: 0, leases: 0 }
  for (const record of marked) {
    await finishRevocation(storage, record, now, sink, count, named)
  }
  return count
}

/**
 * Completes the revocation of a token already marked `revoking`: for `orphan`, its children are orphaned and it
 * alone is deleted (unless it or an ancestor is no longer live: then, as for any other reason, its whole subtree
 * is deleted children first). Each token's leases go just before it, with its reason. Safe to run again after an
 * interruption, and concurrently: each token and lease is reported by exactly one deletion.
 *
 * With {@link Storage.deleteSubtree}, the subtree goes in batches of {@link SUBTREE_BATCH} tokens (the next one
 * asked for while the last is reported, see `batch-pipeline.ts`), and each descendant's reason is its own mark if it
 * has one, else `parent` (`named` is not needed: the named tokens carry their mark). Without it, the tree is walked
 * here.
 *
 * @param count - Added to as tokens and leases are deleted.
 * @param named - For the walk: tokens that get the mark's reason rather than `parent`; by default just `record`.
 */
export async function finishRevocation(
  storage: Storage,
  record: TokenRecord,
  now: UnixMillis,
  sink: RevocationSink,
  count: RevocationCount = { tokens: 0, leases: 0 },
  named: ReadonlySet<HashedTokenId> = new Set([record.id]),
): Promise<RevocationCount> {
  const reason = record.revoking ?? 'explicit'
  const remove = async (id: HashedTokenId, ownReason: RevokeReason): Promise<void> => {
    for (const leaseId of await storage.listLeases(id)) {
      const lease = await storage.deleteLease(leaseId, ownReason, now)
      if (lease !== null) {
        count.leases += 1
        sink.lease(lease, ownReason)
      }
    }
    const deleted = await storage.deleteToken(id, ownReason, now)
    if (deleted !== null) {
      count.tokens += 1
      sink.token(deleted, ownReason)
    }
  }
  // Orphaning is refused when the token or an ancestor is no longer live: its children are unusable already, and
  // must then go with it rather than come back to life as orphans.
  if (reason === 'orphan' && (await storage.orphanChildren(record.id, now)) !== null) {
    await remove(record.id, reason)
    return count
  }
  const deleteSubtree = storage.deleteSubtree?.bind(storage)
  if (deleteSubtree !== undefined) {
    const limit = storage.revocationBatchSize ?? SUBTREE_BATCH
    const topId = record.id
    await pipelineBatches(
      storage.revocationCallsInFlight ?? 1,
      () => deleteSubtree(topId, reason, now, limit),
      (batch) => {
        report(
          batch,
          (token) => (token.id === topId ? reason : (token.revoking ?? 'parent')),
          sink,
          count,
        )
      },
    )
    return count
  }
  const stack: Array<{ id: HashedTokenId; childrenPushed: boolean }> = [
    { id: record.id, childrenPushed: false },
  ]
  for (let frame = stack.at(-1); frame !== undefined; frame = stack.at(-1)) {
    if (!frame.childrenPushed) {
      frame.childrenPushed = true
      for (const child of await storage.listChildren(frame.id)) {
        stack.push({ id: child, childrenPushed: false })
      }
      continue
    }
    stack.pop()
    await remove(frame.id, named.has(frame.id) ? reason : 'parent')
  }
  return count
}

/**
 * Tells `sink` of one batch of deletions ({@link Storage.deleteSubtree}, {@link Storage.sweepExpired}) in
 * deletion order: each token's leases, then the token, with the reason `reasonOf` gives it; a lease gets its
 * token's reason.
 */
export function report(
  batch: { readonly tokens: readonly DeletedToken[]; readonly leases: readonly LeaseRecord[] },
  reasonOf: (token: DeletedToken) => RevokeReason,
  sink: RevocationSink,
  count: RevocationCount,
): void {
  let next = 0
  const leases = batch.leases
  for (const token of batch.tokens) {
    const reason = reasonOf(token)
    // Leases come just before their token; a batch with none skips this at the cost of one comparison.
    for (; next < leases.length && (leases[next] as LeaseRecord).token === token.id; next++) {
      count.leases += 1
      sink.lease(leases[next] as LeaseRecord, reason)
    }
    count.tokens += 1
    sink.token(token, reason)
  }
  // Leases whose token was not in the batch, or not where expected (a storage that ordered them otherwise).
  if (next < leases.length) {
    const reasons = new Map(batch.tokens.map((token) => [token.id, reasonOf(token)]))
    for (; next < leases.length; next++) {
      const lease = leases[next] as LeaseRecord
      count.leases += 1
      sink.lease(lease, reasons.get(lease.token) ?? 'parent')
    }
  }
}
