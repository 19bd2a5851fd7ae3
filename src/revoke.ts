/**
 * Revocation of token subtrees: mark first, then delete children before parents, resumably.
 *
 * Marking the top token `revoking` makes its whole subtree unusable in one atomic write, because liveness checks
 * every ancestor. Deletion then walks the subtree depth-first with an explicit stack (a recursive walk would
 * overflow on a deep chain) and deletes each token only after its children, so a walk cut off at any point leaves
 * the mark on the top in place, every remaining descendant unusable, and enough structure to finish the walk later
 * (`listRevoking` finds the mark).
 */
import type { Storage } from './storage/storage.js'
import type { HashedTokenId, RevokeReason, TokenRecord } from './types.js'

/** Called once per deleted token, right after its deletion was written. */
export type OnRevoked = (record: TokenRecord, reason: RevokeReason) => void

/**
 * Revokes each named token with its subtree, for `reason`. All are marked before any is deleted, so every named
 * subtree is unusable from the first write. Named tokens get `reason`; their other descendants get `parent`.
 * Resolves to how many tokens were deleted.
 */
export async function revokeTrees(
  storage: Storage,
  ids: readonly HashedTokenId[],
  reason: RevokeReason,
  onRevoked: OnRevoked,
): Promise<number> {
  const marked: TokenRecord[] = []
  for (const id of ids) {
    const record = await storage.markRevoking(id, reason)
    if (record !== null) marked.push(record)
  }
  const named = new Set(ids)
  let deleted = 0
  for (const record of marked) deleted += await finishRevocation(storage, record, onRevoked, named)
  return deleted
}

/**
 * Completes the revocation of a token already marked `revoking`: for `orphan`, its children are orphaned and it
 * alone is deleted; for any other reason, its subtree is deleted children first. Safe to call again after an
 * interruption, and concurrently: each token is reported by exactly one deletion.
 *
 * @param named - Tokens that get their own mark's reason rather than `parent`; by default just `record`.
 */
export async function finishRevocation(
  storage: Storage,
  record: TokenRecord,
  onRevoked: OnRevoked,
  named: ReadonlySet<HashedTokenId> = new Set([record.id]),
): Promise<number> {
  const reason = record.revoking ?? 'explicit'
  if (reason === 'orphan') {
    await storage.orphanChildren(record.id)
    return deleteAndReport(storage, record.id, reason, onRevoked)
  }
  let deleted = 0
  const stack: Array<{ id: HashedTokenId; childrenPushed: boolean }> = [
    { id: record.id, childrenPushed: false },
  ]
  while (stack.length > 0) {
    const frame = stack[stack.length - 1] as { id: HashedTokenId; childrenPushed: boolean }
    if (!frame.childrenPushed) {
      frame.childrenPushed = true
      for (const child of await storage.listChildren(frame.id)) {
        stack.push({ id: child, childrenPushed: false })
      }
      continue
    }
    stack.pop()
    const ownReason = named.has(frame.id) ? reason : 'parent'
    deleted += await deleteAndReport(storage, frame.id, ownReason, onRevoked)
  }
  return deleted
}

async function deleteAndReport(
  storage: Storage,
  id: HashedTokenId,
  reason: RevokeReason,
  onRevoked: OnRevoked,
): Promise<number> {
  const deleted = await storage.deleteToken(id)
  if (deleted === null) return 0
  onRevoked(deleted, reason)
  return 1
}
