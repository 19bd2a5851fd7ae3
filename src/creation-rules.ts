/**
 * Who may create what: Vault's rules for a new token's policies, parent and path (`handleCreateCommon`). Pure.
 */
import { TokenStoreError } from './errors.js'
import type { CreateRequest } from './options.js'
import { DEFAULT_POLICY, finalizePolicies, intern, isRoot, missingPolicies } from './policies.js'
import type { TokenRecord } from './types.js'

/** Path of children created with a parent token. */
export const CHILD_TOKEN_PATH = 'auth/token/create'
/** Path of tokens the host issues itself, unless it names another (`auth/github/login`). */
export const ORPHAN_TOKEN_PATH = 'auth/token/create-orphan'

/** How a new token relates to its parent and what it carries. */
export interface CreationPlan {
  readonly policies: readonly string[]
  /** Whether the token gets no parent even though one created it (`noParent`). */
  readonly orphan: boolean
  readonly path: string
}

/** A token the host issues itself: an orphan with exactly the policies given, at the path given. */
export function planOrphan(request: CreateRequest): CreationPlan {
  return {
    policies: finalizePolicies(request.policies ?? [], !request.noDefaultPolicy),
    orphan: true,
    path: request.path ?? ORPHAN_TOKEN_PATH,
  }
}

/**
 * A token created with a parent token. A `root` parent may grant anything; any other parent only a subset of its
 * own policies, and no custom id, orphan or period; a limited-use parent nothing at all.
 *
 * @throws {@link TokenStoreError} `permission_denied` or `invalid_request`.
 */
export function planChild(request: CreateRequest, parent: TokenRecord): CreationPlan {
  if (request.path !== null) {
    throw new TokenStoreError(
      'invalid_request',
      `\`path\` is for tokens without a parent; a child's path is '${CHILD_TOKEN_PATH}'`,
    )
  }
  if (parent.numUses > 0) denied('A limited-use token cannot create child tokens')
  const privileged = isRoot(parent.policies)
  if (!privileged) {
    if (request.id !== null) denied('Only a root parent may set a custom token id')
    if (request.noParent) denied('Only a root parent may create an orphan token')
    if (request.period > 0) denied('Only a root parent may create a periodic token')
  }
  let policies: readonly string[]
  if (request.policies === null) {
    // Inherit the parent's list as it is: `default` is not added to it.
    policies = finalizePolicies(parent.policies, false)
  } else if (privileged) {
    policies = finalizePolicies(request.policies, true)
  } else {
    // `default` is not exempt from the subset check; it is added afterwards only if the parent has it.
    const missing = missingPolicies(request.policies, parent.policies)
    if (missing.length > 0) {
      const names = missing.map((name) => `'${name}'`).join(', ')
      denied(`Child policies must be a subset of the parent's; the parent lacks ${names}`)
    }
    policies = finalizePolicies(request.policies, parent.policies.includes(DEFAULT_POLICY))
  }
  if (request.noDefaultPolicy && policies.includes(DEFAULT_POLICY)) {
    policies = intern(policies.filter((name) => name !== DEFAULT_POLICY))
  }
  if (isRoot(policies) && !privileged) denied('Only a root parent may create a root token')
  return { policies, orphan: request.noParent, path: CHILD_TOKEN_PATH }
}

function denied(message: string): never {
  throw new TokenStoreError('permission_denied', message)
}
