/**
 * Invariants of a token store, checked through the public `Storage` methods of `store.storage` only.
 *
 * - No usable token (`getLiveToken` non-null) has a revoked, expired or missing ancestor (an ancestor marked
 *   `orphan` by a `revokeOrphan` in progress is allowed: its children are about to become orphans).
 * - No lease outlives its token, and each lease is in its token's and its prefix's index.
 * - Use counts stay within [0, granted]; an unlimited token stays at 0.
 * - Accessor, parent → children and path indexes agree with the records.
 */
import assert from 'node:assert/strict'

import type { HashedTokenId, Storage, TokenRecord } from 'tokentree'

/** What the checker knows of the tokens and leases a test created. */
export interface Known {
  readonly tokens: ReadonlyArray<{ readonly accessor: string; readonly granted: number }>
  readonly leases: readonly string[]
}

export interface InvariantOptions {
  /** Fail when a revocation is left half-done (true after operations that did not fail). */
  readonly noRevoking?: boolean
  /** Accessors of tokens that must not be usable (a revocation of an ancestor started). */
  readonly mustBeUnusable?: readonly string[]
}

/** Checks every invariant; returns the records found, by accessor. */
export async function checkInvariants(
  storage: Storage,
  now: number,
  known: Known,
  options: InvariantOptions = {},
): Promise<Map<string, TokenRecord>> {
  const found = new Map<string, TokenRecord>()
  for (const { accessor, granted } of known.tokens) {
    const record = await storage.getTokenByAccessor(accessor)
    if (record === null) continue
    found.set(accessor, record)
    const where = `token ${accessor} (${record.path})`
    assert.equal(record.accessor, accessor, `${where}: accessor index points at another token`)
    const byId = await storage.getToken(record.id)
    assert.equal(byId?.accessor, accessor, `${where}: getToken disagrees with getTokenByAccessor`)
    assert.ok(record.numUses >= 0, `${where}: numUses below zero (${record.numUses})`)
    assert.ok(
      granted === 0 ? record.numUses === 0 : record.numUses <= granted,
      `${where}: numUses ${record.numUses} outside [0, ${granted}]`,
    )
    if (record.parent !== null) {
      const siblings = await storage.listChildren(record.parent)
      assert.ok(siblings.includes(record.id), `${where}: missing from its parent's children`)
    }
    const samePath = await storage.findByPathPrefix(record.path)
    assert.ok(samePath.includes(record.id), `${where}: missing from the path index`)
    for (const child of await storage.listChildren(record.id)) {
      const childRecord = await storage.getToken(child)
      if (childRecord !== null) {
        assert.equal(childRecord.parent, record.id, `${where}: lists a child of another parent`)
      }
    }
    for (const leaseId of await storage.listLeases(record.id)) {
      const lease = await storage.getLease(leaseId)
      if (lease !== null) assert.equal(lease.token, record.id, `${where}: lists a foreign lease`)
    }
    const live = await storage.getLiveToken(record.id, now)
    if (live !== null) {
      await checkLineage(storage, record, now, where)
      if (granted > 0) assert.ok(live.numUses > 0, `${where}: usable with no uses left`)
    }
    if (options.noRevoking === true) {
      assert.equal(record.revoking, null, `${where}: left marked '${String(record.revoking)}'`)
    }
  }
  for (const accessor of options.mustBeUnusable ?? []) {
    const record = found.get(accessor)
    if (record === undefined) continue
    assert.equal(
      await storage.getLiveToken(record.id, now),
      null,
      `token ${accessor} (${record.path}) is usable although a revocation above it started`,
    )
  }
  for (const leaseId of known.leases) {
    const lease = await storage.getLease(leaseId)
    if (lease === null) continue
    const owner = await storage.getToken(lease.token)
    assert.ok(owner !== null, `lease ${leaseId} outlives its token`)
    assert.ok(
      (await storage.listLeases(lease.token)).includes(leaseId),
      `lease ${leaseId} missing from its token's lease index`,
    )
    const top = leaseId.slice(0, leaseId.indexOf('/'))
    assert.ok(
      (await storage.findLeasesByPrefix(top)).includes(leaseId),
      `lease ${leaseId} missing from the prefix index`,
    )
  }
  if (options.noRevoking === true) {
    assert.deepEqual(await storage.listRevoking(10), [], 'a revocation was left half-done')
  }
  return found
}

/** A usable token: every ancestor exists, is not being revoked, and has not expired. */
async function checkLineage(
  storage: Storage,
  record: TokenRecord,
  now: number,
  where: string,
): Promise<void> {
  assert.equal(record.revoking, null, `${where}: usable while marked revoking`)
  assert.ok(record.expiresAt === null || now < record.expiresAt, `${where}: usable but expired`)
  const seen = new Set<HashedTokenId>([record.id])
  for (let parent = record.parent; parent !== null;) {
    assert.ok(!seen.has(parent), `${where}: a cycle in the parent chain`)
    seen.add(parent)
    const ancestor = await storage.getToken(parent)
    assert.ok(ancestor !== null, `${where}: usable under a missing ancestor`)
    // `revokeOrphan` marks its target 'orphan': its children are about to become orphans and, per the Storage
    // contract, may stay usable throughout. Any other mark makes the whole subtree unusable.
    assert.ok(
      ancestor.revoking === null || ancestor.revoking === 'orphan',
      `${where}: usable under an ancestor being revoked ('${String(ancestor.revoking)}')`,
    )
    assert.ok(
      ancestor.expiresAt === null || now < ancestor.expiresAt,
      `${where}: usable under an expired ancestor`,
    )
    parent = ancestor.parent
  }
}
