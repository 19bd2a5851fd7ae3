/**
 * Vault's response shapes: the envelope, the `auth` block of create/renew, and the `data` block of lookup, with
 * Vault's field names and time formats (`creation_time` in unix seconds, `expire_time` in RFC 3339 or `null`).
 *
 * @packageDocumentation
 */
import { randomUUID } from 'node:crypto'

import { isBatchToken } from '../../batch.js'
import type { TokenAuth, TokenDetails } from '../../types.js'
import type { HttpResult } from '../bearer.js'

/** The `auth` block of Vault's create and renew responses. */
export interface VaultAuthBlock {
  readonly client_token: string
  readonly accessor: string
  readonly policies: readonly string[]
  readonly token_policies: readonly string[]
  readonly metadata: Readonly<Record<string, string>> | null
  readonly lease_duration: number
  readonly renewable: boolean
  readonly entity_id: string
  readonly token_type: 'service' | 'batch'
  readonly orphan: boolean
  readonly mfa_requirement: null
  readonly num_uses: number
}

/** An `auth` result as the store returns it, with or without the token id (renew-accessor has none). */
export type AuthLike = Omit<TokenAuth, 'clientToken'> & { readonly clientToken?: string }

/** The lease fields at the top of Vault's envelope, set when the answer is about a lease (`sys/leases/renew`). */
export interface EnvelopeLease {
  readonly lease_id: string
  readonly renewable: boolean
  readonly lease_duration: number
}

/** What goes in an {@link envelope}. */
export interface EnvelopeFields {
  readonly data?: Record<string, unknown>
  readonly auth?: VaultAuthBlock
  readonly lease?: EnvelopeLease
  /** The mount that answered: `token` for `auth/token/*`, `system` for `sys/*`. @default 'token' */
  readonly mountType?: 'token' | 'system'
}

/** A 200 answer in Vault's envelope, with a `data` or an `auth` block, lease fields and any warnings. */
export function envelope(fields: EnvelopeFields, warnings: readonly string[] = []): HttpResult {
  return {
    status: 200,
    body: {
      request_id: randomUUID(),
      lease_id: fields.lease?.lease_id ?? '',
      renewable: fields.lease?.renewable ?? false,
      lease_duration: fields.lease?.lease_duration ?? 0,
      data: fields.data ?? null,
      wrap_info: null,
      warnings: warnings.length > 0 ? warnings : null,
      auth: fields.auth ?? null,
      mount_type: fields.mountType ?? 'token',
    },
  }
}

/** Vault's answer to a write with nothing to say (every revoke). */
export const NO_CONTENT: HttpResult = Object.freeze({ status: 204 })

/**
 * The `auth` block for a store result. `token_type` comes from the token's prefix (`hvb.` for batch tokens), since
 * a role may choose the type; a result without the token (renew-accessor) is a service token, as batch tokens have
 * no accessor.
 */
export function authBlock(auth: AuthLike): VaultAuthBlock {
  return {
    client_token: auth.clientToken ?? '',
    accessor: auth.accessor,
    policies: auth.policies,
    token_policies: auth.policies,
    metadata: metadataOrNull(auth.metadata),
    lease_duration: auth.leaseDuration,
    renewable: auth.renewable,
    entity_id: '',
    token_type:
      auth.clientToken !== undefined && isBatchToken(auth.clientToken) ? 'batch' : 'service',
    orphan: auth.orphan,
    mfa_requirement: null,
    num_uses: auth.numUses,
  }
}

/** A 200 answer carrying an `auth` block and the store's warnings. */
export function authResult(auth: AuthLike): HttpResult {
  return envelope({ auth: authBlock(auth) }, auth.warnings)
}

/**
 * The `data` block of `lookup`, `lookup-self` and `lookup-accessor` (`id` is `''` for the last, as in Vault).
 * `period` appears only for a periodic token, `role` only for a token created against a role, and
 * `last_renewal_time` only after a renewal, as Vault sends them. `type` is `service` or `batch`.
 */
export function lookupData(details: TokenDetails, id: string): Record<string, unknown> {
  const data: Record<string, unknown> = {
    id,
    accessor: details.accessor,
    policies: details.policies,
    path: details.path,
    meta: metadataOrNull(details.metadata),
    display_name: details.displayName,
    num_uses: details.numUses,
    orphan: details.orphan,
    creation_time: unixSeconds(details.creationTime),
    creation_ttl: details.creationTtl,
    expire_time: details.expireTime === null ? null : details.expireTime.toISOString(),
    explicit_max_ttl: details.explicitMaxTtl,
    ttl: details.ttl,
    entity_id: '',
    type: details.type,
  }
  // Vault shows these from the token's lease, and a service token that never expires (a root token) has none.
  if (details.expireTime !== null || details.type !== 'service') {
    data.issue_time = details.issueTime.toISOString()
    data.renewable = details.renewable
  }
  if (details.role !== null) data.role = details.role
  if (details.period > 0) data.period = details.period
  if (details.lastRenewalTime !== null) {
    data.last_renewal_time = unixSeconds(details.lastRenewalTime)
    data.last_renewal = details.lastRenewalTime.toISOString()
  }
  return data
}

function unixSeconds(date: Date): number {
  return Math.floor(date.getTime() / 1000)
}

/** Vault sends a token without metadata as `null`, not `{}`. */
function metadataOrNull(
  metadata: Readonly<Record<string, string>>,
): Readonly<Record<string, string>> | null {
  return Object.keys(metadata).length === 0 ? null : metadata
}
