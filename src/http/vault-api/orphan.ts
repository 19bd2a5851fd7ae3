/**
 * `auth/token/create-orphan`: Vault's child rules without the parent link.
 *
 * In Vault, `create-orphan` runs the same checks as `create` against the calling token (policies within the
 * caller's, `root` only from `root`, no children from a limited-use token, `id` and `period` only with `root`) and
 * then drops the parent. `TokenStore.create` without `parent` applies none of these checks (the host is issuing the
 * token), so they are applied here first, over the store's public API.
 *
 * @packageDocumentation
 */
import { TokenStoreError } from '../../errors.js'
import {
  DEFAULT_POLICY,
  finalizePolicies,
  isRoot,
  missingPolicies,
  parsePolicies,
} from '../../policies.js'
import type { TokenInfo } from '../../types.js'

/** What the caller asked for, as far as the rules care. */
export interface OrphanRequest {
  readonly policies: readonly string[] | undefined
  readonly noDefaultPolicy: boolean
  readonly customId: boolean
  readonly periodic: boolean
  /** Whether the request leaves the token without TTL, period or explicit max (a root token would never expire). */
  readonly noExpiry: boolean
}

/**
 * The policies of an orphan created by `caller` (live: re-read after its use was spent), or a refusal.
 *
 * @throws {@link TokenStoreError} `permission_denied` when the caller may not grant what is asked;
 * `invalid_request` for malformed policy names.
 */
export function orphanPolicies(caller: TokenInfo, request: OrphanRequest): readonly string[] {
  if (caller.numUses > 0) denied('A limited-use token cannot create tokens')
  const privileged = isRoot(caller.policies)
  if (!privileged && request.customId) denied('Only a root token may set a custom token id')
  if (!privileged && request.periodic) denied('Only a root token may create a periodic token')
  const requested = request.policies === undefined ? [] : parsePolicies(request.policies)
  let policies: readonly string[]
  if (requested.length === 0) {
    policies = finalizePolicies(caller.policies, false)
  } else if (privileged) {
    policies = finalizePolicies(requested, true)
  } else {
    const missing = missingPolicies(requested, caller.policies)
    if (missing.length > 0) {
      denied(
        `Token policies must be a subset of the calling token's; it lacks ${missing.map((p) => `'${p}'`).join(', ')}`,
      )
    }
    policies = finalizePolicies(requested, caller.policies.includes(DEFAULT_POLICY))
  }
  if (request.noDefaultPolicy) policies = policies.filter((name) => name !== DEFAULT_POLICY)
  if (isRoot(policies)) {
    if (!privileged) denied('Only a root token may create a root token')
    if (request.noExpiry && caller.expireTime !== null) {
      denied('An expiring root token cannot create a non-expiring root token')
    }
  }
  return policies
}

function denied(message: string): never {
  throw new TokenStoreError('permission_denied', message)
}
