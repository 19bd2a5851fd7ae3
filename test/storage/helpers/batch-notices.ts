/**
 * What the batch-notice tests of the shared storages (Redis, PostgreSQL) have in common: an inbox for a reader's
 * notices, token and lease records with ids unique to the run, and a small marked family deleted batch by batch.
 */
import assert from 'node:assert/strict'

import type {
  NoticeGap,
  RevocationNotice,
  Storage,
  StorageNotice,
} from '../../../src/storage/storage.js'
import type { HashedTokenId, LeaseRecord, TokenRecord } from '../../../src/types.js'
import { uniqueSuffix } from './services.js'

/** Collects revocation notices (and gaps) and waits for them. */
export class Inbox {
  readonly notices: RevocationNotice[] = []
  readonly gaps: NoticeGap[] = []

  readonly add = (notice: StorageNotice): void => {
    if (notice.kind !== 'policy') this.notices.push(notice)
  }

  readonly gap = (gap: NoticeGap): void => {
    this.gaps.push(gap)
  }

  texts(): string[] {
    return this.notices.map((n) =>
      n.kind === 'lease' ? `lease ${n.leaseId} ${n.reason}` : `token ${n.accessor} ${n.reason}`,
    )
  }

  async waitFor(count: number): Promise<string[]> {
    const deadline = Date.now() + 5000
    while (this.notices.length < count && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    return this.texts()
  }
}

export function token(
  label: string,
  parent: HashedTokenId | null,
  expiresAt: number | null = null,
): TokenRecord {
  const suffix = uniqueSuffix()
  return {
    id: `hashed-${label}-${suffix}` as HashedTokenId,
    accessor: `acc-${label}-${suffix}`,
    parent,
    policies: [],
    path: 'auth/test',
    metadata: {},
    displayName: '',
    numUses: 0,
    creationTime: 0,
    creationTtl: 0,
    ttl: expiresAt === null ? 0 : 60,
    expiresAt,
    explicitMaxTtl: 0,
    period: 0,
    renewable: false,
    lastRenewalTime: null,
    revoking: null,
  }
}

export function lease(label: string, owner: TokenRecord): LeaseRecord {
  return {
    id: `db/creds/app/${label}-${uniqueSuffix()}`,
    token: owner.id,
    accessor: owner.accessor,
    path: 'db/creds/app',
    data: { user: label },
    issueTime: 0,
    ttl: 60,
    expiresAt: 4_000_000_000_000,
    renewable: true,
    lastRenewalTime: null,
  }
}

/** The family {@link plantMarkedFamily} stores. */
export interface MarkedFamily {
  readonly top: TokenRecord
  readonly children: readonly TokenRecord[]
  /** c0's child: the first token a subtree deletion reaches. */
  readonly grandchild: TokenRecord
  readonly leaseRecord: LeaseRecord
}

/**
 * Stores top → [c0, c1, c2], c0 → [g0], with a lease on c1, then marks c2 on its own (`uses_exhausted`) and the
 * top (`explicit`): five tokens and a lease for a subtree deletion.
 */
export async function plantMarkedFamily(storage: Storage): Promise<MarkedFamily> {
  const top = token('top', null)
  const children = [0, 1, 2].map((i) => token(`c${i}`, top.id))
  const grandchild = token('g0', (children[0] as TokenRecord).id)
  for (const r of [top, ...children, grandchild]) {
    assert.equal(await storage.insertToken(r), 'inserted')
  }
  const leaseRecord = lease('l1', children[1] as TokenRecord)
  assert.equal(await storage.insertLease(leaseRecord, 1), 'inserted')
  await storage.markRevoking((children[2] as TokenRecord).id, 'uses_exhausted')
  await storage.markRevoking(top.id, 'explicit')
  return { top, children, grandchild, leaseRecord }
}

/**
 * Deletes `top`'s subtree at time 7, `limit` tokens a call, and returns how many calls it took and the notices a
 * reader should get, in {@link Inbox.texts}' form and order (each token's leases just before it).
 */
export async function deleteSubtreeInBatches(
  storage: Storage,
  top: TokenRecord,
  limit: number,
): Promise<{ calls: number; expected: string[] }> {
  const deleteSubtree = storage.deleteSubtree?.bind(storage)
  assert.ok(deleteSubtree, 'the storage deletes subtrees itself')
  const expected: string[] = []
  let calls = 0
  for (let done = false; !done; calls++) {
    const batch = await deleteSubtree(top.id, 'explicit', 7, limit)
    for (const t of batch.tokens) {
      const reason = t.id === top.id ? 'explicit' : (t.revoking ?? 'parent')
      for (const l of batch.leases.filter((x) => x.token === t.id)) {
        expected.push(`lease ${l.id} ${reason}`)
      }
      expected.push(`token ${t.accessor} ${reason}`)
    }
    done = batch.done
  }
  return { calls, expected }
}

/** The lease notice a reader gets for `leaseRecord` deleted under its revoked parent at time 7. */
export function parentLeaseNotice(leaseRecord: LeaseRecord): RevocationNotice {
  return {
    kind: 'lease',
    leaseId: leaseRecord.id,
    accessor: leaseRecord.accessor,
    path: leaseRecord.path,
    data: leaseRecord.data,
    reason: 'parent',
    time: 7,
  }
}
