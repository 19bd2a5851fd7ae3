/**
 * The access-control list of a set of policies: which rule applies to a path, and whether it allows an operation.
 * Vault's `vault/acl.go` is the oracle. Pure.
 *
 * @packageDocumentation
 */
import { describeValue, invalidRequest, readInput } from '../errors.js'
import { ROOT_POLICY } from './builtin.js'
import type { CompiledPolicy } from './compile.js'
import { parameterViolation, type ParameterRules } from './parameters.js'
import { internalized } from './intern.js'
import { PathTree } from './path-tree.js'
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
const LIST = BITS.list
/** The filter of a pattern search that takes any rule, whatever it grants (see `Acl.#nonExact`). */
const ANY_RULE = -1

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

/**
 * The capability bit `operation` needs: {@link OPERATION_BITS} as a switch, which compares the (interned) name with
 * six constants, where indexing the table by a variable key takes a generic property lookup per request.
 */
function operationBit(operation: AclOperation): number {
  switch (operation) {
    case 'read':
      return BITS.read
    case 'update':
      return BITS.update
    case 'create':
      return BITS.create
    case 'list':
      return BITS.list
    case 'delete':
      return BITS.delete
    case 'patch':
      return BITS.patch
  }
}

/** Operations whose request parameters are checked (Vault: those that can carry data). */
const PARAMETER_OPERATIONS: ReadonlySet<string> = new Set(['create', 'read', 'update', 'patch'])

/** What root may do: everything, sudo included. */
const ROOT_DECISION: AclDecision = Object.freeze({
  allowed: true,
  sudo: true,
  capabilities: Object.freeze(SORTED.filter((name) => name !== 'deny')),
})
/** Placeholder refusals of a rule until `#seal()` computes its own. */
const NO_REFUSALS: Readonly<Record<AclOperation, AclDecision>> = Object.freeze({
  create: ROOT_DECISION,
  read: ROOT_DECISION,
  update: ROOT_DECISION,
  patch: ROOT_DECISION,
  delete: ROOT_DECISION,
  list: ROOT_DECISION,
})

/** The refusal when no rule matches the path (the caller knows the path; the reason need not repeat it). */
const NO_RULE_DECISION: AclDecision = Object.freeze({
  allowed: false,
  sudo: false,
  capabilities: Object.freeze([]),
  reason: 'no policy grants access to the path',
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
  /** Set by `#seal()`: sorted capability names, the constraints, and the decisions handed out. */
  names: readonly Capability[]
  parameters: ParameterRules
  granted: AclDecision
  /** The refusal for an operation the rule does not grant (or denies), by operation. */
  refusals: Readonly<Record<AclOperation, AclDecision>>
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
  /** The literal segment that leads here (`+` for a wildcard node). */
  readonly segment: string
  /**
   * Literal children by a hash of their segment, so a request's segment is looked up without slicing it out of
   * the path (a check allocates nothing); children whose segments share a hash are chained by `sameHash` and
   * compared in place.
   */
  literal: Map<number, SegmentNode> | undefined
  /** The next literal child of the same parent whose segment has the same hash. */
  sameHash: SegmentNode | undefined
  plus: SegmentNode | undefined
  /** A non-prefix pattern ending here (the path must have exactly this many segments). */
  exact: WildcardRule | undefined
  /** Prefix patterns whose last segment follows this node (matched by `startsWith`). */
  prefixes: WildcardRule[] | undefined
  /**
   * The latest first wildcard of any rule at or below this node (-1 for none), set by `#seal()`. The priority order
   * compares the first wildcard before anything else, so a subtree whose reach is below the best match so far
   * cannot hold a better one and is not walked.
   */
  reach: number
}

/** A `*` rule: its permissions, and itself as a candidate of the priority order. */
interface PrefixRule {
  readonly permissions: Permissions
  readonly candidate: Candidate
}

function prefixRule(prefix: string, permissions: Permissions): PrefixRule {
  // Vault compares a prefix rule as: first glob at the prefix's end, a prefix, no `+` segments.
  const candidate: Candidate = {
    path: prefix,
    firstWildcard: prefix.length,
    isPrefix: true,
    wildcards: 0,
    lastSegment: '',
    permissions,
  }
  return { permissions, candidate }
}

/** What the priority order compares: a `+` pattern, or the prefix rule (same shape, so calls stay monomorphic). */
type Candidate = WildcardRule

function newSegmentNode(segment: string): SegmentNode {
  return {
    segment,
    literal: undefined,
    sameHash: undefined,
    plus: undefined,
    exact: undefined,
    prefixes: undefined,
    reach: -1,
  }
}

/**
 * A 30-bit hash of `text[start, end)`, for the segment tree's literal children. 30 bits, so that it is a small
 * integer to V8 (a 32-bit one would be boxed in a heap number on every lookup).
 */
function segmentHash(text: string, start: number, end: number): number {
  let hash = 0
  for (let index = start; index < end; index++)
    hash = (Math.imul(hash, 31) + text.charCodeAt(index)) | 0
  return hash & 0x3fffffff
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
 * The permissions of a set of policies, built once per distinct set and then asked per request. Exact rules live in
 * a hash map, `*` rules in a radix tree and `+` rules in a segment tree, so a check is one lookup and at most one
 * walk down the request path per tree, never a scan of the rules.
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
  /** Exact rules by path: one hash lookup. */
  readonly #exact = new Map<string, Permissions>()
  /** Prefix (`*`) rules by prefix: one walk for the longest. */
  readonly #prefixes = new PathTree<PrefixRule>()
  readonly #wildcards = new Map<string, WildcardRule>()
  readonly #segments = newSegmentNode('')
  /** The explicit stack of the segment-tree walk, reused by every check (checks are synchronous). */
  readonly #stackNodes: SegmentNode[] = []
  readonly #stackStarts: number[] = []

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
    return this.decide(
      normalizePath(request.path),
      operation as AclOperation,
      parameters as Readonly<Record<string, unknown>> | undefined,
    )
  }

  /**
   * {@link Acl.check} on a request already checked, as `store.authorize()` checks its own before it spends the use:
   * `path` a string without leading slashes, `operation` one of the six, `parameters` absent or a plain object.
   * Checking them again would cost about as much as the lookup itself. Internal: not part of the public API.
   *
   * @throws {@link TokenStoreError} `invalid_request` when reading `parameters` throws (a getter, a Proxy).
   */
  decide(
    path: string,
    operation: AclOperation,
    parameters: Readonly<Record<string, unknown>> | undefined,
  ): AclDecision {
    if (this.#root) return ROOT_DECISION
    const permissions = this.#find(path, operation === 'list')
    if (permissions === undefined) return NO_RULE_DECISION
    if ((permissions.bits & operationBit(operation)) === 0) return permissions.refusals[operation]
    if (parameters !== undefined && PARAMETER_OPERATIONS.has(operation)) {
      // The caller's object may hold getters or be a Proxy that throws: that is bad input, not a failure.
      const violation = readInput(() => parameterViolation(permissions.parameters, parameters))
      if (violation !== undefined) {
        return refused(
          permissions.names,
          (permissions.bits & SUDO) !== 0,
          `${violation} by the rule for ${quote(permissions.pattern)}`,
        )
      }
    }
    return permissions.granted
  }

  /** Adds one rule, merging it into the rule for the same pattern as Vault's `NewACL` does. */
  #add(rule: PolicyPathRule): void {
    // parsePolicy() already stripped the one leading slash Vault strips.
    let path = rule.path
    const wildcard = path === '+' || path.includes('/+') || path.startsWith('+/')
    const isPrefix = path.endsWith('*')
    if (isPrefix && !wildcard) path = path.slice(0, -1)
    // The exact map's keys are compared with request paths: shared copies compare fastest (see `internalized`).
    path = internalized(path)
    const existing = wildcard
      ? this.#wildcards.get(path)?.permissions
      : isPrefix
        ? this.#prefixes.get(path)?.permissions
        : this.#exact.get(path)
    if (existing === undefined) {
      const permissions = permissionsOf(rule)
      if (wildcard) this.#addWildcard(path, permissions)
      else if (isPrefix) this.#prefixes.set(path, prefixRule(path, permissions))
      else this.#exact.set(path, permissions)
      return
    }
    merge(existing, rule)
  }

  #addWildcard(pattern: string, permissions: Permissions): void {
    const isPrefix = pattern.endsWith('*')
    const path = isPrefix ? pattern.slice(0, -1) : pattern
    const segments = path.split('/').map(internalized)
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
        node.plus ??= newSegmentNode('+')
        node = node.plus
      } else {
        node.literal ??= new Map()
        const hash = segmentHash(segment, 0, segment.length)
        const first = node.literal.get(hash)
        let next = first
        while (next !== undefined && next.segment !== segment) next = next.sameHash
        if (next === undefined) {
          next = newSegmentNode(segment)
          next.sameHash = first
          node.literal.set(hash, next)
        }
        node = next
      }
    }
    if (isPrefix) (node.prefixes ??= []).push(rule)
    else node.exact = rule
  }

  /**
   * Precomputes per rule what checks hand out, so a check allocates nothing when it allows, and per node of the
   * segment tree how far its rules reach.
   */
  #seal(): void {
    setReach(this.#segments)
    const all = new Set<Permissions>()
    for (const rule of this.#wildcards.values()) all.add(rule.permissions)
    for (const permissions of this.#exact.values()) all.add(permissions)
    this.#prefixes.forEach((rule) => all.add(rule.permissions))
    for (const permissions of all) {
      permissions.names = Object.freeze(
        SORTED.filter((name) => (permissions.bits & BITS[name]) !== 0),
      )
      permissions.parameters = Object.freeze({
        allowed: permissions.allowed,
        denied: permissions.denied,
        required: Object.freeze([...permissions.required]),
      })
      const sudo = (permissions.bits & SUDO) !== 0
      permissions.granted = Object.freeze({ allowed: true, sudo, capabilities: permissions.names })
      const rule = quote(permissions.pattern)
      const refusal = (operation: AclOperation): AclDecision =>
        Object.freeze(
          refused(
            permissions.names,
            sudo,
            (permissions.bits & DENY) !== 0
              ? `the rule for ${rule} denies access`
              : `the rule for ${rule} does not grant ${operation}`,
          ),
        )
      permissions.refusals = Object.freeze({
        create: refusal('create'),
        read: refusal('read'),
        update: refusal('update'),
        patch: refusal('patch'),
        delete: refusal('delete'),
        list: refusal('list'),
      })
    }
  }

  /** The permissions that apply to `path` (Vault's `AllowOperation` lookup order), or none. */
  #find(path: string, list: boolean): Permissions | undefined {
    const exact = this.#exact.get(path)
    if (exact !== undefined) return exact
    if (list && path.endsWith('/')) {
      // A listing (its path ends in `/`, as Vault routes one) is also tried against the exact rule without its
      // trailing slash, then against the patterns of both forms (see `#listPattern`).
      return this.#exact.get(path.slice(0, -1)) ?? this.#listPattern(path)
    }
    return this.#nonExact(path, ANY_RULE)?.permissions
  }

  /**
   * The pattern that applies to a listing of `path` (ending in `/`), as current Vault picks it
   * (`resolveACLPermsForListOp`): among the patterns matching the path or the path without its slash, the
   * highest-priority `deny`, unless a pattern granting `list` outranks it; else that pattern; else the
   * highest-priority one. Both forms, because `app/+` matches `app/x` but not `app/x/`, while `app/x/*` matches
   * `app/x/` but not `app/x`; the deny rule, because a pattern reached only through the trimmed form
   * (`auth/token/*`) must not outrank a deny on the folder (`auth/token/accessors/*`).
   */
  #listPattern(path: string): Permissions | undefined {
    const trimmed = path.slice(0, -1)
    const deny = higher(this.#nonExact(trimmed, DENY), this.#nonExact(path, DENY))
    const list = higher(this.#nonExact(trimmed, LIST), this.#nonExact(path, LIST))
    if (deny !== undefined && (list === undefined || outranks(deny, list))) return deny.permissions
    if (list !== undefined) return list.permissions
    return higher(this.#nonExact(trimmed, ANY_RULE), this.#nonExact(path, ANY_RULE))?.permissions
  }

  /**
   * The highest-priority `*` or `+` pattern matching `path` (Vault's `CheckAllowedFromNonExactPaths`) among those
   * whose capabilities include a bit of `want` (any pattern for {@link ANY_RULE}). The `*` candidate is the longest
   * matching prefix, as in Vault, considered only if it qualifies.
   */
  #nonExact(path: string, want: number): Candidate | undefined {
    const longest = this.#prefixes.longestPrefix(path)
    const prefix =
      longest !== undefined && qualifies(longest.permissions, want) ? longest : undefined
    // No `+` rule whose first wildcard comes as late as the prefix's end can outrank it (nor can any, when there
    // are none: the root's reach is then -1).
    if (prefix !== undefined && this.#segments.reach < prefix.candidate.firstWildcard) {
      return prefix.candidate
    }
    if (this.#wildcards.size === 0) return undefined
    let best: Candidate | undefined = prefix?.candidate
    // Depth-first over the segment tree: each node is reached by one literal or `+` choice per segment, so only
    // branches present in the rules are visited. The walk goes on down the literal child (or else the `+` child)
    // and keeps the `+` child of a node that has both on an explicit stack of (node, offset of the next segment),
    // so a path down a single branch pushes nothing. An offset past the end means every segment was consumed.
    const nodes = this.#stackNodes
    const starts = this.#stackStarts
    // Both stacks are empty here: every walk drains them, and nothing in the walk throws.
    const length = path.length
    let node: SegmentNode | undefined = this.#segments
    let start = 0
    for (;;) {
      if (node === undefined) {
        node = nodes.pop()
        if (node === undefined) break
        start = starts.pop() as number
      }
      // Nothing below can outrank the best so far: its first wildcards all come earlier.
      if (best !== undefined && node.reach < best.firstWildcard) {
        node = undefined
        continue
      }
      if (start > length) {
        if (
          node.exact !== undefined &&
          qualifies(node.exact.permissions, want) &&
          (best === undefined || outranks(node.exact, best))
        ) {
          best = node.exact
        }
        node = undefined
        continue
      }
      let end = path.indexOf('/', start)
      if (end === -1) end = length
      if (node.prefixes !== undefined) {
        for (const rule of node.prefixes) {
          if (
            rule.lastSegment.length <= end - start &&
            path.startsWith(rule.lastSegment, start) &&
            qualifies(rule.permissions, want) &&
            (best === undefined || outranks(rule, best))
          ) {
            best = rule
          }
        }
      }
      // A node's literal children have distinct segments: at most one matches.
      let next: SegmentNode | undefined
      if (node.literal !== undefined) {
        next = node.literal.get(segmentHash(path, start, end))
        while (
          next !== undefined &&
          !(next.segment.length === end - start && path.startsWith(next.segment, start))
        ) {
          next = next.sameHash
        }
      }
      if (next === undefined) {
        next = node.plus
      } else if (node.plus !== undefined) {
        nodes.push(node.plus)
        starts.push(end + 1)
      }
      node = next
      start = end + 1
    }
    return best
  }
}

/** Whether a pattern with these permissions is one a search for `want` considers (a function: no closure a call). */
function qualifies(permissions: Permissions, want: number): boolean {
  return want === ANY_RULE || (permissions.bits & want) !== 0
}

/** The higher-priority of two candidates, either of which may be missing. */
function higher(a: Candidate | undefined, b: Candidate | undefined): Candidate | undefined {
  if (a === undefined) return b
  if (b === undefined) return a
  return outranks(b, a) ? b : a
}

/**
 * Sets the reach of every node of a segment tree: the latest first wildcard of the rules at or below it. Children
 * before parents, with an explicit stack (no recursion however deep the patterns).
 */
function setReach(root: SegmentNode): void {
  const order: SegmentNode[] = []
  const stack = [root]
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    order.push(node)
    for (const first of node.literal?.values() ?? []) {
      for (let child: SegmentNode | undefined = first; child !== undefined; child = child.sameHash)
        stack.push(child)
    }
    if (node.plus !== undefined) stack.push(node.plus)
  }
  for (let index = order.length - 1; index >= 0; index--) {
    const node = order[index] as SegmentNode
    let reach = node.exact?.firstWildcard ?? -1
    for (const rule of node.prefixes ?? []) reach = Math.max(reach, rule.firstWildcard)
    if (node.plus !== undefined) reach = Math.max(reach, node.plus.reach)
    for (const first of node.literal?.values() ?? []) {
      for (let child: SegmentNode | undefined = first; child !== undefined; child = child.sameHash)
        reach = Math.max(reach, child.reach)
    }
    node.reach = reach
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
    refusals: NO_REFUSALS,
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
