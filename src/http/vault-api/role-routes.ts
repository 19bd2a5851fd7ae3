/**
 * Token roles over HTTP: Vault's `auth/token/roles/:role_name` (read, write, delete) and `LIST auth/token/roles`,
 * over `store.roles`. The store checks every value; this maps Vault's snake_case fields to its options and its
 * role back to Vault's read response (durations in seconds).
 *
 * Creating tokens against a role (`auth/token/create/:role_name`) is in the token routes.
 *
 * @packageDocumentation
 */
import type { RoleTokenType, TokenRole, TokenRoleOptions } from '../../roles.js'
import { errorResult } from '../bearer.js'
import type { DecodedFields } from './fields.js'
import { NO_CONTENT, envelope } from './responses.js'
import { route, type Route } from './route.js'

/** Base path of a role, followed by its name. */
const ROLE_BASE = 'auth/token/roles/'

/**
 * The fields of a role write, as Vault names them. `period` and `explicit_max_ttl` are Vault's deprecated names of
 * `token_period` and `token_explicit_max_ttl`; the `token_` name wins when both are sent, with Vault's warning.
 */
const ROLE_FIELDS = {
  allowed_policies: 'policies',
  disallowed_policies: 'policies',
  allowed_policies_glob: 'policies',
  disallowed_policies_glob: 'policies',
  orphan: 'bool',
  renewable: 'bool',
  path_suffix: 'string',
  token_period: 'duration',
  period: 'duration',
  token_explicit_max_ttl: 'duration',
  explicit_max_ttl: 'duration',
  token_num_uses: 'int',
  token_type: 'string',
  token_no_default_policy: 'bool',
  allowed_entity_aliases: 'unsupported',
  bound_cidrs: 'cidrs',
  token_bound_cidrs: 'cidrs',
} as const

type RoleFields = DecodedFields<typeof ROLE_FIELDS>

/** Mutable view of the store's role options, filled field by field. */
type RoleOptionsDraft = { -readonly [K in keyof TokenRoleOptions]: TokenRoleOptions[K] }

/** A stored role as write options, so that a write can start from it. */
function roleOptions(role: TokenRole): RoleOptionsDraft {
  const { name, ...options } = role
  return { ...options }
}

/**
 * Applies the fields of a write to `options` (the role as stored, or `{}` for a new one): as in Vault, a field not
 * sent keeps its stored value. Returns Vault's warnings.
 */
function applyRoleFields(options: RoleOptionsDraft, fields: RoleFields): string[] {
  const warnings: string[] = []
  if (fields.allowed_policies !== undefined) options.allowedPolicies = fields.allowed_policies
  if (fields.disallowed_policies !== undefined) {
    options.disallowedPolicies = fields.disallowed_policies
  }
  if (fields.allowed_policies_glob !== undefined) {
    options.allowedPoliciesGlob = fields.allowed_policies_glob
  }
  if (fields.disallowed_policies_glob !== undefined) {
    options.disallowedPoliciesGlob = fields.disallowed_policies_glob
  }
  if (fields.orphan !== undefined) options.orphan = fields.orphan
  if (fields.renewable !== undefined) options.renewable = fields.renewable
  if (fields.path_suffix !== undefined) options.pathSuffix = fields.path_suffix
  const period = preferred(fields.token_period, fields.period, 'token_period', 'period', warnings)
  if (period !== undefined) options.tokenPeriod = period
  const explicitMaxTtl = preferred(
    fields.token_explicit_max_ttl,
    fields.explicit_max_ttl,
    'token_explicit_max_ttl',
    'explicit_max_ttl',
    warnings,
  )
  if (explicitMaxTtl !== undefined) options.tokenExplicitMaxTtl = explicitMaxTtl
  if (fields.token_num_uses !== undefined) options.tokenNumUses = fields.token_num_uses
  if (fields.token_type !== undefined) {
    // Vault reads `default` as `default-service`; the store checks every other value.
    options.tokenType = (
      fields.token_type === 'default' ? 'default-service' : fields.token_type
    ) as RoleTokenType
  }
  if (fields.token_no_default_policy !== undefined) {
    options.tokenNoDefaultPolicy = fields.token_no_default_policy
  }
  return warnings
}

/** The current field's value, else the deprecated one's; with both, Vault's warning. */
function preferred(
  current: number | string | undefined,
  deprecated: number | string | undefined,
  currentName: string,
  deprecatedName: string,
  warnings: string[],
): number | string | undefined {
  if (current === undefined) return deprecated
  if (deprecated !== undefined) {
    warnings.push(
      `Both '${currentName}' and deprecated '${deprecatedName}' value supplied, ignoring the deprecated value`,
    )
  }
  return current
}

/**
 * Vault's read response for a role. The deprecated `period` and `explicit_max_ttl` repeat the `token_` values, so
 * old clients reading them see the role's limits; `token_num_uses` appears only when set, as in Vault.
 */
function roleData(role: TokenRole): Record<string, unknown> {
  const data: Record<string, unknown> = {
    name: role.name,
    allowed_policies: role.allowedPolicies,
    disallowed_policies: role.disallowedPolicies,
    allowed_policies_glob: role.allowedPoliciesGlob,
    disallowed_policies_glob: role.disallowedPoliciesGlob,
    allowed_entity_aliases: null,
    orphan: role.orphan,
    renewable: role.renewable,
    path_suffix: role.pathSuffix,
    token_period: role.tokenPeriod,
    period: role.tokenPeriod,
    token_explicit_max_ttl: role.tokenExplicitMaxTtl,
    explicit_max_ttl: role.tokenExplicitMaxTtl,
    token_type: role.tokenType,
    token_no_default_policy: role.tokenNoDefaultPolicy,
  }
  if (role.tokenNumUses > 0) data.token_num_uses = role.tokenNumUses
  return data
}

/**
 * `auth/token/roles/:role_name`. A read of an unknown role answers 404 with no messages, as Vault does. A write
 * creates the role or updates the fields sent (204, or 200 with warnings). A delete answers 204, known role or not.
 * Guarded as `read-role`, `write-role` and `delete-role`, root only by default.
 */
const roleRoute: Route = route({
  operation: 'write-role',
  operationFor: { read: 'read-role', delete: 'delete-role' },
  ops: ['read', 'update', 'delete'],
  fields: ROLE_FIELDS,
  subject: (_fields, param) => ({ role: param }),
  // Vault's existence check: writing a new role needs `create`, changing one `update`.
  exists: async (store, param) => (await store.roles.read(param)) !== null,
  async run({ store, fields, param, operation }) {
    if (operation === 'read') {
      const role = await store.roles.read(param)
      return role === null ? errorResult(404) : envelope({ data: roleData(role) })
    }
    if (operation === 'delete') {
      await store.roles.delete(param)
      return NO_CONTENT
    }
    // Read, merge, write: two concurrent partial writes to one role may lose one's fields (last write wins).
    const stored = await store.roles.read(param)
    const options = stored === null ? {} : roleOptions(stored)
    const warnings = applyRoleFields(options, fields)
    await store.roles.write(param, options)
    return warnings.length > 0 ? envelope({}, warnings) : NO_CONTENT
  },
})

/** `LIST auth/token/roles`: the role names, or 404 with no messages when there are none, as Vault answers. */
const listRoles: Route = route({
  operation: 'list-roles',
  ops: ['list'],
  fields: {},
  async run({ store }) {
    const keys = await store.roles.list()
    return keys.length === 0 ? errorResult(404) : envelope({ data: { keys } })
  },
})

/** The role routes with a fixed path: the list, with or without Vault's trailing `/`. */
export const ROLE_ROUTES: ReadonlyMap<string, Route> = new Map([
  ['auth/token/roles', listRoles],
  ['auth/token/roles/', listRoles],
])

/** The role routes whose path ends with the role's name, by the base the name follows. */
export const ROLE_PARAM_ROUTES: ReadonlyMap<string, Route> = new Map([[ROLE_BASE, roleRoute]])
