/**
 * The access-control list of a set of policies: which rule applies to a path, and whether it allows an operation.
 * Vault's `vault/acl.go` is the oracle. Pure.
 *
 * @packageDocumentation
 */
import { describeValue, invalidRequest } from '../errors.js'
import { ROOT_POLICY } from './builtin.js'
import type { CompiledPolicy } from './compile.js'
import { parameterViolation, type ParameterRules } from './parameters.js'
import { PathTree, type PathTreeMatch } from './path-tree.js'
import type {
  AclDecision,
  AclOperation,
  AuthorizeRequest,
  Capability,
  CapabilityName,
  PolicyPathRule,
} from './types.js'

/** Capability bits, as Vault's `cap2Int`. */
const BITS: Readonly<Record<Capability, number>> = {
  deny: 1,
  create: 2,
  read: 4,
  update: 8,
  delete: 16,
  list: 32,
  sudo: 64,
  patch: 128,
}
const DENY = BITS.deny
const SUDO = BITS.sudo

/** Capabilities in alphabetical order: the order `capabilities()` and decisions report them in (Vault sorts). */
const SORTED: readonly Capability[] = [
  'create',
  'delete',
  'deny',
  'list',
  'patch',
  'read',
  'sudo',
  'update',
]

/** The capability each operation needs. */
const OPERATION_BITS: Readonly<Record<AclOperation, number>> = {
  create: BITS.create,
  read: BITS.read,
  update: BITS.update,
  patch: BITS.patch,
  delete: BITS.delete,
  list: BITS.list,
}

/** Operations whose request parameters are checked (Vault: those that can carry data). */
const PARAMETER_OPERATIONS: ReadonlySet<string> = new Set(['create', 'read', 'update', 'patch'])

/** What root may do: everything, sudo included. */
const ROOT_DECISION: AclDecision = Object.freeze({
  allowed: true,
  sudo: true,
  capabilities: Object.freeze(SORTED.filter((name) => name !== 'deny')),
})
const ROOT_CAPABILITIES: readonly CapabilityName[] = Object.freeze(['root'])
const DENY_CAPABILITIES: readonly CapabilityName[] = Object.freeze(['deny'])

/** The merged permissions of every rule with one pattern (Vault's `ACLPermissions`). */
interface Permissions {
  /** The pattern as written by the first policy that had it, for messages. */
  readonly pattern: string
  bits: number
  allowed: Map<string, readonly unknown[]>
  denied: Map<string, readonly unknown[]>
  required: string[]
  /** Set by `#seal()`: sorted capability names, the constraints, and the decision when allowed. */
  names: readonly Capability[]
  parameters: ParameterRules
  granted: AclDecision
}

/** A pattern with `+` segments, and what Vault's priority order compares. */
interface WildcardRule {
  /** The pattern without its trailing `*`. */
  readonly path: string
  /** Index of the first `+` in the pattern as written. */
  readonly firstWildcard: number
  /** Whether the pattern ends in `*`. */
  readonly isPrefix: boolean
  /** How many `+` segments. */
  readonly wildcards: number
  /** For a prefix pattern: what its last segment must start with. */
  readonly lastSegment: string
  readonly permissions: Permissions
}

/** A node of the segment tree of `+` patterns. */
interface SegmentNode {
  literal: Map<string, SegmentNode> | undefined
  plus: SegmentNode | undefined
  /** A non-prefix pattern ending here (the path must have exactly this many segments). */
  exact: WildcardRule | undefined
  /** Prefix patterns whose last segment follows this node (matched by `startsWith`). */
  prefixes: WildcardRule[] | undefined
}

/** What the priority order compares, for the prefix candidate and for `+` patterns alike. */
interface Candidate {
  readonly path: string
  readonly firstWildcard: number
  readonly isPrefix: boolean
  readonly wildcards: number
  readonly permissions: Permissions
}

function newSegmentNode(): SegmentNode {
  return { literal: undefined, plus: undefined, exact: undefined, prefixes: undefined }
}

/**
 * Vault's priority order between matching non-exact patterns (`CheckAllowedFromNonExactPaths`): the later first
 * wildcard (`+` or the glob) wins; then a non-prefix pattern over a prefix one; then fewer `+` segments; then the
 * longer pattern; then the lexicographically greater one.
 */
function outranks(a: Candidate, b: Candidate): boolean {
  if (a.firstWildcard !== b.firstWildcard) return a.firstWildcard > b.firstWildcard
  if (a.isPrefix !== b.isPrefix) return !a.isPrefix
  if (a.wildcards !== b.wildcards) return a.wildcards < b.wildcards
  if (a.path.length !== b.path.length) return a.path.length > b.path.length
  return a.path > b.path
}

function quote(path: string): string {
  return JSON.stringify(path.length > 100 ? `${path.slice(0, 100)}…` : path)
}

/**
 * The permissions of a set of policies, built once per distinct set and then asked per request. Exact and `*`
 * rules live in a radix tree and `+` rules in a segment tree, so a check walks the request path once instead of
 * scanning the rules.
 *
 * Rules for the same pattern in several policies merge as Vault merges them: a `deny` wins, otherwise the
 * capabilities add up and the parameter constraints combine. For a request, the exact rule for the path applies if
 * there is one; otherwise the highest-priority `*` or `+` rule (see docs/policies.md for Vault's order).
 *
 * @example
 * ```ts
 * const acl = Acl.from([
 *   compilePolicy('app', 'path "secret/*" { capabilities = ["read"] }'),
 *   compilePolicy('block', 'path "secret/admin" { capabilities = ["deny"] }'),
 * ])
 * acl.check({ path: 'secret/db', operation: 'read' }).allowed // true
 * acl.capabilities('secret/admin') // ['deny']
 * ```
 */
export class Acl {
  readonly #root: boolean
  readonly #tree = new PathTree<Permissions>()
  readonly #wildcards = new Map<string, WildcardRule>()
  readonly #segments = newSegmentNode()

  private constructor(root: boolean) {
    this.#root = root
  }

  /**
   * Builds the ACL of a token holding `policies`. A policy named `root`, or `options.root`, allows everything.
   * Build it once per distinct policy set and keep it: building costs time in the number of rules, a check does not.
   */
  static from(policies: readonly CompiledPolicy[], options: { root?: boolean } = {}): Acl {
    const root = options.root === true || policies.some((policy) => policy.name === ROOT_POLICY)
    const acl = new Acl(root)
    if (!root) {
      for (const policy of policies) {
        for (const rule of policy.document.rules) acl.#add(rule)
      }
      acl.#seal()
    }
    return acl
  }

  /** Whether this ACL is root's (allows everything). */
  get root(): boolean {
    return this.#root
  }

  /**
   * What a token with these policies may do on `path`, as Vault's `sys/capabilities` reports it: the capabilities of
   * the rule that applies (looked up as for a `list` request), sorted; `['deny']` when that rule denies or no rule
   * matches; `['root']` for root.
   *
   * @throws {@link TokenStoreError} `invalid_request` when `path` is not a string.
   */
  capabilities(path: string): CapabilityName[] {
    if (this.#root) return [...ROOT_CAPABILITIES]
    const permissions = this.#find(normalizePath(path), true)
    if (permissions === undefined || (permissions.bits & DENY) !== 0 || permissions.bits === 0) {
      return [...DENY_CAPABILITIES]
    }
    return [...permissions.names]
  }

  /**
   * Decides one request: finds the rule that applies to the path, checks that it grants the operation's capability
   * (and not `deny`), then, when `parameters` are given, checks them against the rule's parameter constraints.
   * Reports whether the rule grants `sudo`, which Vault's root-protected endpoints also require.
   *
   * @throws {@link TokenStoreError} `invalid_request` when the request is malformed (path not a string, unknown
   * operation, parameters not an object).
   */
  check(request: AuthorizeRequest): AclDecision {
    const operation: unknown = request.operation
    if (typeof operation !== 'string' || !Object.hasOwn(OPERATION_BITS, operation)) {
      throw invalidRequest(
        `Expected \`operation\` to be one of create, read, update, patch, delete, list, got ${describeValue(operation)}`,
      )
    }
    const parameters: unknown = request.parameters
    if (
      parameters !== undefined &&
      (typeof parameters !== 'object' || parameters === null || Array.isArray(parameters))
    ) {
      throw invalidRequest(
        `Expected \`parameters\` to be an object, got ${describeValue(parameters)}`,
      )
    }
    if (this.#root) return ROOT_DECISION
    const needed = OPERATION_BITS[operation as AclOperation]
    const path = normalizePath(request.path)
    const permissions = this.#find(path, operation === 'list')
    if (permissions === undefined) {
      return refused([], false, `no policy grants access to ${quote(path)}`)
    }
    const sudo = (permissions.bits & SUDO) !== 0
    if ((permissions.bits & needed) === 0) {
      return refused(
        permissions.names,
        sudo,
        (permissions.bits & DENY) !== 0
          ? `the rule for ${quote(permissions.pattern)} denies access`
          : `the rule for ${quote(permissions.pattern)} does not grant ${operation}`,
      )
    }
    if (parameters !== undefined && PARAMETER_OPERATIONS.has(operation)) {
      const violation = parameterViolation(
        permissions.parameters,
        parameters as Readonly<Record<string, unknown>>,
      )
      if (violation !== undefined) {
        return refused(
          permissions.names,
          sudo,
          `${violation} by the rule for ${quote(permissions.pattern)}`,
        )
      }
    }
    return permissions.granted
  }

  /** Adds one rule, merging it into the rule for the same pattern as Vault's `NewACL` does. */
  #add(rule: PolicyPathRule): void {
    let path = rule.path.startsWith('/') ? rule.path.slice(1) : rule.path
    const wildcard = path === '+' || path.includes('/+') || path.startsWith('+/')
    const isPrefix = path.endsWith('*')
    if (isPrefix && !wildcard) path = path.slice(0, -1)
    const kind = isPrefix ? 'prefix' : 'exact'
    const existing = wildcard ? this.#wildcards.get(path)?.permissions : this.#tree.get(path, kind)
    if (existing === undefined) {
      const permissions = permissionsOf(rule)
      if (wildcard) this.#addWildcard(path, permissions)
      else this.#tree.set(path, kind, permissions)
      return
    }
    merge(existing, rule)
  }

  #addWildcard(pattern: string, permissions: Permissions): void {
    const isPrefix = pattern.endsWith('*')
    const path = isPrefix ? pattern.slice(0, -1) : pattern
    const segments = path.split('/')
    const walked = isPrefix ? segments.slice(0, -1) : segments
    const rule: WildcardRule = {
      path,
      firstWildcard: pattern.indexOf('+'),
      isPrefix,
      wildcards: segments.filter((segment) => segment === '+').length,
      lastSegment: isPrefix ? (segments[segments.length - 1] ?? '') : '',
      permissions,
    }
    this.#wildcards.set(pattern, rule)
    let node = this.#segments
    for (const segment of walked) {
      if (segment === '+') {
        node.plus ??= newSegmentNode()
        node = node.plus
      } else {
        node.literal ??= new Map()
        let next = node.literal.get(segment)
        if (next === undefined) {
          next = newSegmentNode()
          node.literal.set(segment, next)
        }
        node = next
      }
    }
    if (isPrefix) (node.prefixes ??= []).push(rule)
    else node.exact = rule
  }

  /** Precomputes per rule what checks hand out, so a check allocates nothing when it allows. */
  #seal(): void {
    const all = new Set<Permissions>()
    for (const rule of this.#wildcards.values()) all.add(rule.permissions)
    this.#tree.forEach((permissions) => all.add(permissions))
    for (const permissions of all) {
      permissions.names = Object.freeze(
        SORTED.filter((name) => (permissions.bits & BITS[name]) !== 0),
      )
      permissions.parameters = Object.freeze({
        allowed: permissions.allowed,
        denied: permissions.denied,
        required: Object.freeze([...permissions.required]),
      })
      permissions.granted = Object.freeze({
        allowed: true,
        sudo: (permissions.bits & SUDO) !== 0,
        capabilities: permissions.names,
      })
    }
  }

  /** The permissions that apply to `path` (Vault's `AllowOperation` lookup order), or none. */
  #find(path: string, list: boolean): Permissions | undefined {
    const match = this.#tree.match(path)
    if (match.exact !== undefined) return match.exact
    // List requests are also tried without their trailing slash, first exactly, then against patterns.
    if (list && path.endsWith('/')) {
      const trimmed = path.slice(0, -1)
      const trimmedMatch = this.#tree.match(trimmed)
      if (trimmedMatch.exact !== undefined) return trimmedMatch.exact
      const found = this.#nonExact(trimmed, trimmedMatch)
      if (found !== undefined) return found
    }
    return this.#nonExact(path, match)
  }

  /** The highest-priority `*` or `+` pattern matching `path` (Vault's `CheckAllowedFromNonExactPaths`). */
  #nonExact(path: string, match: PathTreeMatch<Permissions>): Permissions | undefined {
    let best: Candidate | undefined
    if (match.prefix !== undefined) {
      if (this.#wildcards.size === 0) return match.prefix
      best = {
        path: path.slice(0, match.prefixLength),
        firstWildcard: match.prefixLength,
        isPrefix: true,
        wildcards: 0,
        permissions: match.prefix,
      }
    }
    if (this.#wildcards.size === 0) return undefined
    const parts = path.split('/')
    // Depth-first over the segment tree with an explicit stack: each node is reached by one
    // literal or `+` choice per segment, so only branches present in the rules are visited.
    const nodes: SegmentNode[] = [this.#segments]
    const depths: number[] = [0]
    for (;;) {
      const node = nodes.pop()
      const depth = depths.pop()
      if (node === undefined || depth === undefined) break
      if (depth === parts.length) {
        if (node.exact !== undefined && (best === undefined || outranks(node.exact, best))) {
          best = node.exact
        }
        continue
      }
      const part = parts[depth] as string
      if (node.prefixes !== undefined) {
        for (const rule of node.prefixes) {
          if (part.startsWith(rule.lastSegment) && (best === undefined || outranks(rule, best))) {
            best = rule
          }
        }
      }
      const literal = node.literal?.get(part)
      if (literal !== undefined) {
        nodes.push(literal)
        depths.push(depth + 1)
      }
      if (node.plus !== undefined) {
        nodes.push(node.plus)
        depths.push(depth + 1)
      }
    }
    return best?.permissions
  }
}

/** Strips leading slashes, as Vault does before matching. */
function normalizePath(path: unknown): string {
  if (typeof path !== 'string') {
    throw invalidRequest(`Expected \`path\` to be a string, got ${describeValue(path)}`)
  }
  let start = 0
  while (path.charCodeAt(start) === 47) start += 1
  return start === 0 ? path : path.slice(start)
}

function refused(capabilities: readonly Capability[], sudo: boolean, reason: string): AclDecision {
  return { allowed: false, sudo, capabilities, reason }
}

/** A rule's permissions, before merging. */
function permissionsOf(rule: PolicyPathRule): Permissions {
  let bits = 0
  for (const name of rule.capabilities) bits |= BITS[name]
  if ((bits & DENY) !== 0) bits = DENY
  const deny = bits === DENY
  return {
    pattern: rule.path,
    bits,
    allowed: new Map(deny ? [] : Object.entries(rule.allowedParameters ?? {})),
    denied: new Map(deny ? [] : Object.entries(rule.deniedParameters ?? {})),
    required: [...(rule.requiredParameters ?? [])],
    names: [],
    parameters: { allowed: new Map<string, readonly unknown[]>(), denied: new Map(), required: [] },
    granted: ROOT_DECISION,
  }
}

/**
 * Vault's merge of a rule into the existing rule for its pattern: an existing `deny` keeps only `deny`; an incoming
 * `deny` replaces everything; otherwise capabilities add up, and per parameter name the allowed (and denied) value
 * lists concatenate, an empty list (any value) winning; required parameters are the union.
 */
function merge(existing: Permissions, rule: PolicyPathRule): void {
  if ((existing.bits & DENY) !== 0) return
  const incoming = permissionsOf(rule)
  if ((incoming.bits & DENY) !== 0) {
    existing.bits = DENY
    existing.allowed = new Map<string, readonly unknown[]>()
    existing.denied = new Map<string, readonly unknown[]>()
    return
  }
  existing.bits |= incoming.bits
  mergeValues(existing.allowed, incoming.allowed)
  mergeValues(existing.denied, incoming.denied)
  for (const name of incoming.required) {
    if (!existing.required.includes(name)) existing.required.push(name)
  }
}

function mergeValues(
  existing: Map<string, readonly unknown[]>,
  incoming: ReadonlyMap<string, readonly unknown[]>,
): void {
  for (const [name, values] of incoming) {
    const current = existing.get(name)
    if (values.length === 0 || (current !== undefined && current.length === 0)) {
      existing.set(name, [])
    } else {
      existing.set(name, [...values, ...(current ?? [])])
    }
  }
}
