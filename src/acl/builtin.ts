/**
 * The built-in policies (`root`, `default`, `response-wrapping`) and policy-name rules. Pure.
 *
 * @packageDocumentation
 */
import { describeValue, invalidRequest } from '../errors.js'
import { DEFAULT_POLICY, ROOT_POLICY, UNPRINTABLE_NAME_CHARACTERS } from '../policies.js'

export { DEFAULT_POLICY, ROOT_POLICY }

/** Longest policy name accepted (the same bound as a token's policy names). */
const MAX_POLICY_NAME_LENGTH = 256

/**
 * Vault's `default` policy, trimmed to the endpoints tokentree serves: a token may look up, renew and revoke
 * itself, ask for its own capabilities, look up and renew leases whose id it knows, and use response wrapping.
 * Vault's rules for cubbyhole, identity, `sys/tools`, `sys/internal/ui/resultant-acl` and control groups are left
 * out, since tokentree has none of those endpoints. Hosts may rewrite `default` (it cannot be deleted).
 */
export const DEFAULT_POLICY_TEXT = `# Allow tokens to look up their own properties
path "auth/token/lookup-self" {
    capabilities = ["read"]
}

# Allow tokens to renew themselves
path "auth/token/renew-self" {
    capabilities = ["update"]
}

# Allow tokens to revoke themselves
path "auth/token/revoke-self" {
    capabilities = ["update"]
}

# Allow a token to look up its own capabilities on a path
path "sys/capabilities-self" {
    capabilities = ["update"]
}

# Allow a token to renew a lease via lease_id in the request body; old path for
# old clients, new path for newer
path "sys/renew" {
    capabilities = ["update"]
}
path "sys/leases/renew" {
    capabilities = ["update"]
}

# Allow looking up lease properties. This requires knowing the lease ID ahead
# of time and does not divulge any sensitive information.
path "sys/leases/lookup" {
    capabilities = ["update"]
}

# Allow a token to wrap arbitrary values in a response-wrapping token
path "sys/wrapping/wrap" {
    capabilities = ["update"]
}

# Allow a token to look up the creation time and TTL of a given
# response-wrapping token
path "sys/wrapping/lookup" {
    capabilities = ["update"]
}

# Allow a token to unwrap a response-wrapping token. This is a convenience to
# avoid client token swapping since this is also part of the response wrapping
# policy.
path "sys/wrapping/unwrap" {
    capabilities = ["update"]
}
`

/**
 * The rules of Vault's built-in `response-wrapping` policy, the only one a wrapping token holds, trimmed as `default`
 * is: Vault's other rule (`cubbyhole/response`) names an endpoint tokentree does not have. So a wrapping token may
 * unwrap another wrapping token given in the body of `sys/wrapping/unwrap`, as in Vault (it spends its own single use
 * doing so); it may always unwrap itself. The name is reserved: no host can write, assign or delete it.
 */
export const RESPONSE_WRAPPING_POLICY_TEXT = `path "sys/wrapping/unwrap" {
    capabilities = ["update"]
}
`

/**
 * Normalises a policy name as Vault does (trimmed, lower-cased) and checks it: a string, not empty, at most 256
 * characters, without control characters.
 *
 * @throws {@link TokenStoreError} `invalid_request` when the name is not a string, is empty after trimming, is too
 * long, or holds a control character.
 *
 * @example
 * ```ts
 * normalizePolicyName('  Deploy ') // 'deploy'
 * ```
 */
export function normalizePolicyName(name: string): string {
  if (typeof name !== 'string') {
    throw invalidRequest(`Expected the policy name to be a string, got ${describeValue(name)}`)
  }
  const normalized = name.trim().toLowerCase()
  if (normalized === '') throw invalidRequest('Expected a policy name, got an empty string')
  if (normalized.length > MAX_POLICY_NAME_LENGTH) {
    throw invalidRequest(
      `Expected the policy name to be at most ${MAX_POLICY_NAME_LENGTH} characters, got ${normalized.length}`,
    )
  }
  if (UNPRINTABLE_NAME_CHARACTERS.test(normalized)) {
    throw invalidRequest(
      'Expected the policy name to hold no control characters or lone surrogates',
    )
  }
  return normalized
}
