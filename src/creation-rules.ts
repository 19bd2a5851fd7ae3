/**
 * Who may create what: Vault's rules for a new token's policies, parent, path, type and limits
 * (`handleCreateCommon`). Pure: the store fetches the parent and the role, these functions decide.
 */
import { TokenStoreError, invalidRequest } from './errors.js'
import { CHILD_TOKEN_PATH } from './paths.js'
import type { CreateRequest } from './options.js'
import {
  DEFAULT_POLICY,
  NON_ASSIGNABLE_POLICIES,
  finalizePolicies,
  intern,
  isRoot,
  missingPolicies,
} from './policies.js'
import { lesserLimit, matchesAny, type TokenRole, type TokenType } from './roles.js'
import type { HashedTokenId, Seconds, TokenRecord } from './types.js'

export { CHILD_TOKEN_PATH }
/** Path of tokens the host issues itself, unless it names another (`auth/github/login`). */
export const ORPHAN_TOKEN_PATH = 'auth/token/create-orphan'

/** What a new token will be, once every rule has been applied. */
export interface CreationPlan {
  readonly policies: readonly string[]
  /** The parent the token is attached to: `null` for an orphan. */
  readonly parent: HashedTokenId | null
  readonly path: string
  readonly type: TokenType
  readonly numUses: number
  /** @remarks Seconds. */
  readonly explicitMaxTtl: Seconds
  /** @remarks Seconds. */
  readonly period: Seconds
  readonly renewable: boolean
  readonly warnings: readonly string[]
}

/**
 * Applies Vault's rules. Without a parent, the host issues the token and may grant anything. With one, a `root`
 * parent may grant anything; any other parent only a subset of its own policies (or what the role's lists allow),
 * and no custom id, orphan or period (a role's period is fine); a limited-use parent nothing at all.
 *
 * @throws {@link TokenStoreError} `permission_denied` or `invalid_request`.
 */
export function planCreation(
  request: CreateRequest,
  parent: TokenRecord | null,
  role: TokenRole | null,
): CreationPlan {
  const warnings: string[] = []
  if (request.path !== null && (parent !== null || role !== null)) {
    throw invalidRequest('`path` is only for tokens created without a parent or role')
  }
  if (parent !== null && parent.numUses > 0)
    denied('A limited-use token cannot create child tokens')
  const privileged = parent === null || isRoot(parent.policies)
  if (!privileged) {
    if (request.id !== null) denied('Only a root parent may set a custom token id')
    if (request.noParent && role === null) denied('Only a root parent may create an orphan token')
    if (request.period > 0) denied('Only a root parent may create a periodic token')
  }
  const noDefault = request.noDefaultPolicy || (role?.tokenNoDefaultPolicy ?? false)
  let policies = resolvePolicies(request.policies, parent, role, privileged, noDefault)
  if (noDefault && policies.includes(DEFAULT_POLICY)) {
    policies = intern(policies.filter((name) => name !== DEFAULT_POLICY))
  }
  const reserved = policies.find((name) => NON_ASSIGNABLE_POLICIES.includes(name))
  if (reserved !== undefined) throw invalidRequest(`cannot assign policy "${reserved}"`)
  if (isRoot(policies) && parent !== null && !isRoot(parent.policies)) {
    denied('Only a root parent may create a root token')
  }
  const orphan =
    parent === null || (role === null ? request.noParent || request.orphan : role.orphan)
  const type = resolveType(request.type, role)
  const plan: CreationPlan = {
    policies,
    parent: orphan ? null : parent.id,
    path: tokenPath(request, parent, role),
    type,
    numUses: lesserLimit(request.numUses, role?.tokenNumUses ?? 0),
    explicitMaxTtl: lesserOfBoth(
      request.explicitMaxTtl,
      role?.tokenExplicitMaxTtl ?? 0,
      'Explicit max TTL',
      warnings,
    ),
    period: lesserOfBoth(request.period, role?.tokenPeriod ?? 0, 'Period', warnings),
    renewable: type === 'service' && request.renewable && (role?.renewable ?? true),
    warnings,
  }
  if (type === 'batch') checkBatch(plan, request)
  return plan
}

/**
 * Where a token was created, for prefix revocation: the role's path; `auth/token/create` for a child (or a `noParent`
 * orphan); `auth/token/create-orphan` for an `orphan` made by a parent; or the host's path for a token it issues.
 */
function tokenPath(
  request: CreateRequest,
  parent: TokenRecord | null,
  role: TokenRole | null,
): string {
  if (role !== null) return rolePath(role)
  if (parent === null) return request.path ?? ORPHAN_TOKEN_PATH
  return request.orphan ? ORPHAN_TOKEN_PATH : CHILD_TOKEN_PATH
}

/** The path of tokens created against a role: `auth/token/create/<role>[/<suffix>]`. */
export function rolePath(role: TokenRole): string {
  const base = `${CHILD_TOKEN_PATH}/${role.name}`
  return role.pathSuffix === '' ? base : `${base}/${role.pathSuffix}`
}

function resolvePolicies(
  requested: readonly string[] | null,
  parent: TokenRecord | null,
  role: TokenRole | null,
  privileged: boolean,
  noDefault: boolean,
): readonly string[] {
  if (role !== null && hasPolicyLists(role)) return rolePolicies(requested, parent, role, noDefault)
  if (requested === null) {
    // A child inherits its parent's list as it is: `default` is not added to it.
    return parent === null
      ? finalizePolicies([], !noDefault)
      : finalizePolicies(parent.policies, false)
  }
  if (privileged || parent === null) return finalizePolicies(requested, true)
  // `default` is not exempt from the subset check; it is added afterwards only if the parent has it.
  const missing = missingPolicies(requested, parent.policies)
  if (missing.length > 0)
    denied(`Child policies must be a subset of the parent's; the parent lacks ${quote(missing)}`)
  return finalizePolicies(requested, parent.policies.includes(DEFAULT_POLICY))
}

/** With allow or deny lists, the role's lists replace the parent-subset check; deny beats allow. */
function rolePolicies(
  requested: readonly string[] | null,
  parent: TokenRecord | null,
  role: TokenRole,
  noDefault: boolean,
): readonly string[] {
  const addDefault =
    !noDefault && !matchesAny(DEFAULT_POLICY, role.disallowedPolicies, role.disallowedPoliciesGlob)
  let policies = requested === null ? null : finalizePolicies(requested, addDefault)
  if (role.allowedPolicies.length > 0 || role.allowedPoliciesGlob.length > 0) {
    // Globs are not expanded: with no policies requested, the token gets the literal allowed list.
    const allowed = finalizePolicies(role.allowedPolicies, addDefault)
    if (policies === null) policies = allowed
    const outside = policies.filter((name) => !matchesAny(name, allowed, role.allowedPoliciesGlob))
    if (outside.length > 0) denied(`The role '${role.name}' does not allow ${quote(outside)}`)
  } else {
    const inherited = finalizePolicies(parent?.policies ?? [], addDefault)
    if (policies === null) policies = inherited
    else if (parent !== null && !isRoot(parent.policies)) {
      const missing = missingPolicies(policies, inherited)
      if (missing.length > 0) {
        denied(
          `With no allowed list on the role, child policies must be a subset of the parent's; missing ${quote(missing)}`,
        )
      }
    }
  }
  const refused = policies.filter((name) =>
    matchesAny(name, role.disallowedPolicies, role.disallowedPoliciesGlob),
  )
  if (refused.length > 0) denied(`The role '${role.name}' disallows ${quote(refused)}`)
  return policies
}

function hasPolicyLists(role: TokenRole): boolean {
  return (
    role.allowedPolicies.length > 0 ||
    role.disallowedPolicies.length > 0 ||
    role.allowedPoliciesGlob.length > 0 ||
    role.disallowedPoliciesGlob.length > 0
  )
}

function resolveType(requested: TokenType | null, role: TokenRole | null): TokenType {
  const fixed = role?.tokenType
  if (fixed === 'service' || fixed === 'batch') {
    if (requested !== null && requested !== fixed) {
      throw invalidRequest(
        `The role only issues ${fixed} tokens, but a ${requested} token was asked for`,
      )
    }
    return fixed
  }
  return requested ?? (fixed === 'default-batch' ? 'batch' : 'service')
}

function checkBatch(plan: CreationPlan, request: CreateRequest): void {
  if (isRoot(plan.policies)) throw invalidRequest('Batch tokens cannot be root tokens')
  if (plan.numUses > 0) throw invalidRequest('Batch tokens cannot have `numUses`')
  if (plan.period > 0) throw invalidRequest('Batch tokens cannot be periodic')
  if (plan.explicitMaxTtl > 0) throw invalidRequest('Batch tokens cannot have an explicit max TTL')
  if (request.id !== null) throw invalidRequest('Batch tokens cannot have a custom id')
}

/** The lesser non-zero of the request's and the role's value, with Vault's warning when both were set. */
function lesserOfBoth(
  requested: Seconds,
  fromRole: Seconds,
  what: string,
  warnings: string[],
): Seconds {
  const lesser = lesserLimit(requested, fromRole)
  if (requested > 0 && fromRole > 0) {
    warnings.push(
      `${what} specified both during creation call and in role; using the lesser value of ${lesser} seconds`,
    )
  }
  return lesser
}

function quote(names: readonly string[]): string {
  return names.map((name) => `'${name}'`).join(', ')
}

function denied(message: string): never {
  throw new TokenStoreError('permission_denied', message)
}
