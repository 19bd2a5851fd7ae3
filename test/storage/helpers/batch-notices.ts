/**
 * What the batch-notice tests of the shared storages (Redis, PostgreSQL) have in common: an inbox for a reader's
 * notices, and token and lease records with ids unique to the run.
 */
import type { NoticeGap, RevocationNotice, StorageNotice } from '../../../src/storage/storage.js'
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
