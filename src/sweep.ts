/**
 * The expiry sweep in batches ({@link Storage.sweepExpired}): an expiry storm (a million tokens expiring in the
 * same second) costs a storage call per batch rather than a listing, a mark and a deletion per token.
 */
import { finishRevocation, report, type RevocationSink } from './revoke.js'
import type { Storage } from './storage/storage.js'
import type { UnixMillis } from './types.js'
import { yieldToEventLoop } from './yield.js'

/**
 * Tokens per {@link Storage.sweepExpired} call: few round trips for a storm, yet each call short enough (well
 * under a millisecond in memory, a few on a server) that requests between the calls barely wait.
 */
export const SWEEP_TOKEN_BATCH = 500

/**
 * Sweeps the tokens expired at `clock()` with {@link Storage.sweepExpired}, yielding to the event loop between
 * batches: reports each deleted token (reason: its own mark, else `expired`) and its leases to `sink`, and
 * finishes the subtree of each expired token that has children. Resolves to how many tokens expired on their own
 * (descendants revoked with them are not counted), or `null` when the storage has no `sweepExpired`.
 */
export async function sweepExpiredTokens(
  storage: Storage,
  clock: () => UnixMillis,
  sink: RevocationSink,
): Promise<number | null> {
  if (storage.sweepExpired === undefined) return null
  let expired = 0
  const count = { tokens: 0, leases: 0 }
  const limit = storage.revocationBatchSize ?? SWEEP_TOKEN_BATCH
  for (;;) {
    const now = clock()
    const batch = await storage.sweepExpired(now, limit)
    report(batch, (token) => token.revoking ?? 'expired', sink, count)
    expired += batch.tokens.length
    for (const record of batch.marked) {
      if ((await finishRevocation(storage, record, now, sink)).tokens > 0) expired += 1
    }
    if (batch.done) return expired
    await yieldToEventLoop()
  }
}
