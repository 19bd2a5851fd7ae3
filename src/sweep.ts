/**
 * The expiry sweep in batches ({@link Storage.sweepExpired}): an expiry storm (a million tokens expiring in the
 * same second) costs a storage call per batch rather than a listing, a mark and a deletion per token.
 */
import { finishRevocation, report, type RevocationSink } from './revoke.js'
import type { Storage } from './storage/storage.js'
import type { UnixMillis } from './types.js'
import { pipelineBatches } from './batch-pipeline.js'

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
  const sweepExpired = storage.sweepExpired?.bind(storage)
  if (sweepExpired === undefined) return null
  let expired = 0
  const count = { tokens: 0, leases: 0 }
  const limit = storage.revocationBatchSize ?? SWEEP_TOKEN_BATCH
  await pipelineBatches(
    storage.revocationCallsInFlight ?? 1,
    async () => {
      const now = clock()
      const sweep = await sweepExpired(now, limit)
      return { sweep, now, done: sweep.done }
    },
    async ({ sweep: batch, now }) => {
      report(batch, (token) => token.revoking ?? 'expired', sink, count)
      expired += batch.tokens.length
      for (const record of batch.marked) {
        if ((await finishRevocation(storage, record, now, sink)).tokens > 0) expired += 1
      }
    },
    // Subtrees this batch marked are finished before the next batch is asked for, unless the storage keeps more
    // than one call in flight anyway.
    ({ sweep: batch }) => batch.marked.length === 0,
  )
  return expired
}
