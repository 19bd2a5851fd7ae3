/**
 * Token roles: named templates that constrain the tokens created against them (`auth/token/roles/:name`).
 */
import { parseDuration } from './duration.js'
import { describeValue, invalidRequest } from './errors.js'
import { checkNumUses } from './num-uses.js'
import { checkKeys } from './option-object.js'
import { MAX_PATH_LENGTH, MAX_PATH_SUFFIX_LENGTH, MAX_ROLE_NAME_LENGTH } from './paths.js'
import { parsePolicies } from './policies.js'
import type { Duration, Seconds } from './types.js'

/** Token types: `service` tokens are stored; `batch` tokens carry their own entry, encrypted. */
export type TokenType = 'service' | 'batch'

/** A role's token type: a fixed type, or a default that a request may override. */
export type RoleTokenType = TokenType | 'default-service' | 'default-batch'

/** Options of `store.roles.write()`: Vault's role fields in camelCase. */
export interface TokenRoleOptions {
  /** Policies tokens may have; with a list, the parent-subset check is replaced by the role's lists. */
  readonly allowedPolicies?: readonly string[]
  /** Policies tokens may never have. Beats `allowedPolicies`. */
  readonly disallowedPolicies?: readonly string[]
  /** Like `allowedPolicies`, as globs (`*` matches any run of characters). */
  readonly allowedPoliciesGlob?: readonly string[]
  /** Like `disallowedPolicies`, as globs. */
  readonly disallowedPoliciesGlob?: readonly string[]
  /** Tokens are created as orphans, whoever creates them. @default false */
  readonly orphan?: boolean
  /** Whether tokens may be renewed. @default true */
  readonly renewable?: boolean
  /** Appended to the tokens' path, `auth/token/create/<role>/<suffix>`, so one version can be revoked by prefix. */
  readonly pathSuffix?: string
  /** Makes tokens periodic with this period; needs no root parent. The lesser of role and request wins. */
  readonly tokenPeriod?: Duration
  /** Hard limit on the tokens' lifetime. The lesser of role and request wins. */
  readonly tokenExplicitMaxTtl?: Duration
  /** Use limit of the tokens; the lesser non-zero of role and request wins. @default 0 (unlimited) */
  readonly tokenNumUses?: number
  /** The tokens' type. @default 'default-service' */
  readonly tokenType?: RoleTokenType
  /** Leave `default` out of the tokens' policies. @default false */
  readonly tokenNoDefaultPolicy?: boolean
}

/** A stored role, as `store.roles.read()` returns it: every field present, durations in seconds. */
export interface TokenRole {
  readonly name: string
  readonly allowedPolicies: readonly string[]
  readonly disallowedPolicies: readonly string[]
  readonly allowedPoliciesGlob: readonly string[]
  readonly disallowedPoliciesGlob: readonly string[]
  readonly orphan: boolean
  readonly renewable: boolean
  readonly pathSuffix: string
  /** @remarks Seconds. */
  readonly tokenPeriod: Seconds
  /** @remarks Seconds. */
  readonly tokenExplicitMaxTtl: Seconds
  readonly tokenNumUses: number
  readonly tokenType: RoleTokenType
  readonly tokenNoDefaultPolicy: boolean
}

/**
 * A role name: what fits in a URL path segment, at most {@link MAX_ROLE_NAME_LENGTH} characters, starting as Vault's
 * do (a letter, digit or `_`: Vault's `\w(([\w-.]+)?\w)?`). Vault also refuses a last `.` or `-`; tokentree has
 * always taken them, and a stored role must stay reachable by its name.
 */
const ROLE_NAME = new RegExp(`^\\w[\\w.-]{0,${MAX_ROLE_NAME_LENGTH - 1}}$`)

/** A path suffix: URL-safe segments, no `..`. */
const PATH_SUFFIX = /^[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*$/

const ROLE_OPTION_KEYS = new Set([
  'allowedPolicies',
  'disallowedPolicies',
  'allowedPoliciesGlob',
  'disallowedPoliciesGlob',
  'orphan',
  'renewable',
  'pathSuffix',
  'tokenPeriod',
  'tokenExplicitMaxTtl',
  'tokenNumUses',
  'tokenType',
  'tokenNoDefaultPolicy',
])

const ROLE_TOKEN_TYPES: ReadonlySet<string> = new Set([
  'service',
  'batch',
  'default-service',
  'default-batch',
])

/**
 * Checks a role name.
 *
 * @throws {@link TokenStoreError} `invalid_request` unless it is 1–{@link MAX_ROLE_NAME_LENGTH} URL-safe characters.
 */
export function checkRoleName(name: unknown): string {
  if (typeof name !== 'string' || !ROLE_NAME.test(name)) {
    throw invalidRequest(
      `Expected a role name of 1 to ${MAX_ROLE_NAME_LENGTH} letters, digits, '_', '.' or '-', starting with a letter, digit or '_', got ${describeValue(name)}`,
    )
  }
  return name
}

/** Checks `roles.write` options into a full role. */
export function normalizeRole(name: string, options: TokenRoleOptions): TokenRole {
  checkKeys(options, ROLE_OPTION_KEYS, 'role options')
  const tokenNumUses = checkNumUses(options.tokenNumUses ?? 0, 'tokenNumUses')
  const tokenType = options.tokenType ?? 'default-service'
  if (!ROLE_TOKEN_TYPES.has(tokenType)) {
    throw invalidRequest(
      `Expected \`tokenType\` to be 'service', 'batch', 'default-service' or 'default-batch', got ${describeValue(tokenType)}`,
    )
  }
  const pathSuffix = options.pathSuffix ?? ''
  if (typeof pathSuffix !== 'string' || (pathSuffix !== '' && !PATH_SUFFIX.test(pathSuffix))) {
    throw invalidRequest(
      `Expected \`pathSuffix\` to be path segments without '..', got ${describeValue(pathSuffix)}`,
    )
  }
  if (pathSuffix.split('/').includes('..')) {
    throw invalidRequest('Expected `pathSuffix` not to contain ".."')
  }
  if (pathSuffix.length > MAX_PATH_SUFFIX_LENGTH) {
    throw invalidRequest(
      `Expected \`pathSuffix\` to be at most ${MAX_PATH_SUFFIX_LENGTH} characters, so that the role's path fits the ${MAX_PATH_LENGTH}-character limit of \`revokePrefix\`, got ${pathSuffix.length}`,
    )
  }
  const role: TokenRole = {
    name: checkRoleName(name),
    allowedPolicies: listOption(options.allowedPolicies, 'allowedPolicies'),
    disallowedPolicies: listOption(options.disallowedPolicies, 'disallowedPolicies'),
    allowedPoliciesGlob: listOption(options.allowedPoliciesGlob, 'allowedPoliciesGlob'),
    disallowedPoliciesGlob: listOption(options.disallowedPoliciesGlob, 'disallowedPoliciesGlob'),
    orphan: booleanOption(options.orphan, 'orphan', false),
    renewable: booleanOption(options.renewable, 'renewable', true),
    pathSuffix,
    tokenPeriod: parseDuration(options.tokenPeriod ?? 0, 'tokenPeriod'),
    tokenExplicitMaxTtl: parseDuration(options.tokenExplicitMaxTtl ?? 0, 'tokenExplicitMaxTtl'),
    tokenNumUses,
    tokenType,
    tokenNoDefaultPolicy: booleanOption(
      options.tokenNoDefaultPolicy,
      'tokenNoDefaultPolicy',
      false,
    ),
  }
  if (role.tokenType === 'batch') checkBatchRole(role)
  return role
}

/**
 * Vault's rules for a role that only issues batch tokens: what such a token cannot be, the role cannot promise.
 * Its tokens must be orphans: a batch token cannot be revoked on its own, so a role's tokens would otherwise live
 * and die with whichever parent created them.
 */
function checkBatchRole(role: TokenRole): void {
  if (!role.orphan) throw invalidRequest("A role with `tokenType: 'batch'` must set `orphan: true`")
  if (role.renewable)
    throw invalidRequest("A role with `tokenType: 'batch'` must set `renewable: false`")
  if (role.tokenPeriod > 0)
    throw invalidRequest("A role with `tokenType: 'batch'` cannot set `tokenPeriod`")
  if (role.tokenExplicitMaxTtl > 0) {
    throw invalidRequest("A role with `tokenType: 'batch'` cannot set `tokenExplicitMaxTtl`")
  }
}

/** Whether `name` is in `names` or matches one of `globs`. */
export function matchesAny(
  name: string,
  names: readonly string[],
  globs: readonly string[],
): boolean {
  return names.includes(name) || globs.some((glob) => globMatches(glob, name))
}

/** Vault's glob: `*` matches any run of characters (none included); nothing else is special. */
export function globMatches(glob: string, name: string): boolean {
  const parts = glob.split('*')
  const first = parts[0] ?? ''
  if (parts.length === 1) return glob === name
  if (!name.startsWith(first)) return false
  const last = parts[parts.length - 1] ?? ''
  if (name.length < first.length + last.length || !name.endsWith(last)) return false
  let position = first.length
  const end = name.length - last.length
  for (const middle of parts.slice(1, -1)) {
    const found = name.indexOf(middle, position)
    if (found < 0 || found + middle.length > end) return false
    position = found + middle.length
  }
  return true
}

/** The lesser of two limits where `0` means none. */
export function lesserLimit(a: number, b: number): number {
  if (a === 0) return b
  if (b === 0) return a
  return Math.min(a, b)
}

function listOption(value: unknown, field: string): readonly string[] {
  return value === undefined ? [] : Object.freeze(parsePolicies(value, field))
}

function booleanOption(value: unknown, field: string, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean')
    throw invalidRequest(`Expected \`${field}\` to be a boolean, got ${describeValue(value)}`)
  return value
}
