/**
 * Policy text or object → {@link PolicyDocument}: Vault's `ParseACLPolicy`, restricted to what tokentree enforces.
 * Pure.
 *
 * Everything a Vault policy may hold that tokentree does not enforce (wrapping TTL bounds, MFA, control groups,
 * event subscriptions, identity templating) is refused by name rather than silently ignored, so a policy never
 * appears to grant or restrict more than it does.
 *
 * @packageDocumentation
 */
import { TokenStoreError } from '../errors.js'
import { objectSyntax, parseSyntax, type SyntaxItem, type SyntaxNode } from './syntax.js'
import type { Capability, PolicyDocument, PolicyPathRule } from './types.js'

/** Every capability a policy may grant, in Vault's bit order. */
export const CAPABILITIES: readonly Capability[] = [
  'deny',
  'create',
  'read',
  'update',
  'delete',
  'list',
  'sudo',
  'patch',
]

/** Vault's pre-0.5 `policy = "..."` shorthands and the capabilities each stands for. */
const OLD_POLICIES: Readonly<Record<string, readonly Capability[]>> = {
  deny: ['deny'],
  read: ['read', 'list'],
  write: ['create', 'read', 'update', 'delete', 'list'],
  sudo: ['create', 'read', 'update', 'delete', 'list', 'sudo'],
}

/** Keys Vault accepts that tokentree refuses, and why. */
const UNSUPPORTED: Readonly<Record<string, string>> = {
  min_wrapping_ttl: 'tokentree does not enforce wrapping TTL bounds',
  max_wrapping_ttl: 'tokentree does not enforce wrapping TTL bounds',
  mfa_methods: 'tokentree has no MFA',
  control_group: 'tokentree has no control groups',
  subscribe_event_types: 'tokentree has no event subscriptions',
}

/** Capabilities of newer Vault versions that tokentree does not have. */
const UNSUPPORTED_CAPABILITIES: Readonly<Record<string, string>> = {
  subscribe: 'tokentree has no event subscriptions',
  recover: 'tokentree has no snapshot recovery',
  root: '`root` is a policy, not a capability',
}

function invalid(at: string, message: string): TokenStoreError {
  return new TokenStoreError('invalid_request', `Invalid policy at ${at}: ${message}`)
}

/** A key for a message: quoted, cut short. */
function quote(key: string): string {
  return JSON.stringify(key.length > 60 ? `${key.slice(0, 60)}…` : key)
}

/**
 * Parses a policy: HCL text, JSON text (text starting with `{`), or a plain object in Vault's JSON shape
 * (`{ path: { "<pattern>": { capabilities: [...] } } }`).
 *
 * @throws {@link TokenStoreError} `invalid_request` when the text is malformed (the message names the line and
 * column), a key is unknown or unsupported (the message names it: `min_wrapping_ttl`, `control_group`, ...), a
 * capability is unknown, a pattern uses `+*` or identity templating, or a parameter name uses `*` other than alone.
 *
 * @example
 * ```ts
 * const policy = parsePolicy(`
 *   path "secret/*" { capabilities = ["read", "list"] }
 *   path "secret/admin" { capabilities = ["deny"] }
 * `)
 * policy.rules[0] // { path: 'secret/*', capabilities: ['read', 'list'] }
 * ```
 */
export function parsePolicy(source: string | object): PolicyDocument {
  const input: unknown = source
  let root: SyntaxNode
  if (typeof input === 'string') root = parseSyntax(input)
  else if (typeof input === 'object' && input !== null) root = objectSyntax(input)
  else {
    throw new TokenStoreError(
      'invalid_request',
      `Expected the policy to be HCL or JSON text or a plain object, got ${input === null ? 'null' : typeof input}`,
    )
  }
  if (root.kind !== 'object') throw invalid(root.at, 'expected an object of `path` rules')
  const rules: PolicyPathRule[] = []
  for (const item of root.items) {
    // Vault reads and then ignores a top-level `name` (a policy is named where it is stored); so does tokentree.
    if (item.key === 'name' && item.value.kind === 'string') continue
    if (item.key !== 'path') throw unknownKey(item, 'at the top level (only `path` and `name` are)')
    for (const [pattern, body] of pathEntries(item.value)) rules.push(...pathRules(pattern, body))
  }
  return Object.freeze({ rules: Object.freeze(rules) })
}

function unknownKey(item: SyntaxItem, where: string): TokenStoreError {
  const reason = UNSUPPORTED[item.key]
  if (reason !== undefined) {
    return invalid(item.at, `\`${item.key}\` is not supported: ${reason}`)
  }
  return invalid(item.at, `unknown key ${quote(item.key)} ${where}`)
}

/** The `(pattern, body)` pairs of a `path` item: an object of patterns, or (JSON) a list of such objects. */
function* pathEntries(value: SyntaxNode): Generator<[SyntaxItem, SyntaxNode]> {
  const objects = value.kind === 'list' ? value.elements : [value]
  for (const object of objects) {
    if (object.kind !== 'object') {
      throw invalid(object.at, 'expected `path "<pattern>" { ... }`')
    }
    for (const item of object.items) {
      const bodies = item.value.kind === 'list' ? item.value.elements : [item.value]
      for (const body of bodies) yield [item, body]
    }
  }
}

/** One `path "<pattern>" { ... }` block → its rule. */
function pathRules(pattern: SyntaxItem, body: SyntaxNode): PolicyPathRule[] {
  const path = checkPattern(pattern)
  if (body.kind !== 'object') {
    throw invalid(body.at, `path ${quote(pattern.key)}: expected \`{ capabilities = [...] }\``)
  }
  const seen = new Set<string>()
  let capabilities: Capability[] | undefined
  let old: readonly Capability[] | undefined
  let allowedParameters: Record<string, readonly unknown[]> | undefined
  let deniedParameters: Record<string, readonly unknown[]> | undefined
  let requiredParameters: string[] | undefined
  const prefix = `path ${quote(pattern.key)}`
  for (const item of body.items) {
    if (seen.has(item.key)) throw invalid(item.at, `${prefix}: duplicate key \`${item.key}\``)
    seen.add(item.key)
    switch (item.key) {
      case 'capabilities':
        capabilities = parseCapabilities(item, prefix)
        break
      case 'policy': {
        // Vault's old form; Vault appends it to any `capabilities` given too.
        old = item.value.kind === 'string' ? OLD_POLICIES[item.value.value] : undefined
        if (old === undefined) {
          throw invalid(
            item.value.at,
            `${prefix}: \`policy\` must be "deny", "read", "write" or "sudo"`,
          )
        }
        break
      }
      case 'allowed_parameters':
        allowedParameters = parseParameterMap(item, prefix)
        break
      case 'denied_parameters':
        deniedParameters = parseParameterMap(item, prefix)
        break
      case 'required_parameters':
        requiredParameters = parseRequired(item, prefix)
        break
      case 'comment':
        if (item.value.kind !== 'string') {
          throw invalid(item.value.at, `${prefix}: \`comment\` must be a string`)
        }
        break
      default:
        throw unknownKey(item, `in ${prefix}`)
    }
  }
  const granted = [...new Set([...(capabilities ?? []), ...(old ?? [])])]
  // As Vault: `deny` anywhere makes the rule deny-only, and its parameter constraints are dropped.
  if (granted.includes('deny'))
    return [Object.freeze({ path, capabilities: Object.freeze<Capability[]>(['deny']) })]
  const rule: {
    path: string
    capabilities: readonly Capability[]
    allowedParameters?: Readonly<Record<string, readonly unknown[]>>
    deniedParameters?: Readonly<Record<string, readonly unknown[]>>
    requiredParameters?: readonly string[]
  } = { path, capabilities: Object.freeze(granted) }
  if (allowedParameters !== undefined) rule.allowedParameters = Object.freeze(allowedParameters)
  if (deniedParameters !== undefined) rule.deniedParameters = Object.freeze(deniedParameters)
  if (requiredParameters !== undefined) rule.requiredParameters = Object.freeze(requiredParameters)
  return [Object.freeze(rule)]
}

/** Checks a pattern as Vault does and strips one leading `/`. */
function checkPattern(pattern: SyntaxItem): string {
  const path = pattern.key.startsWith('/') ? pattern.key.slice(1) : pattern.key
  if (path.includes('+*')) {
    throw invalid(
      pattern.at,
      `path ${quote(pattern.key)}: invalid use of wildcards ('+*' is forbidden)`,
    )
  }
  if (path.includes('{{')) {
    throw invalid(
      pattern.at,
      `path ${quote(pattern.key)}: templated paths (\`{{identity...}}\`) are not supported: tokentree has no identity store`,
    )
  }
  return path
}

function parseCapabilities(item: SyntaxItem, prefix: string): Capability[] {
  if (item.value.kind !== 'list') {
    throw invalid(item.value.at, `${prefix}: \`capabilities\` must be a list of strings`)
  }
  const result: Capability[] = []
  for (const element of item.value.elements) {
    if (element.kind !== 'string') {
      throw invalid(element.at, `${prefix}: \`capabilities\` must be a list of strings`)
    }
    const name = element.value
    if ((CAPABILITIES as readonly string[]).includes(name)) {
      result.push(name as Capability)
      continue
    }
    const reason = UNSUPPORTED_CAPABILITIES[name]
    throw invalid(
      element.at,
      reason === undefined
        ? `${prefix}: invalid capability ${quote(name)}`
        : `${prefix}: capability ${quote(name)} is not supported: ${reason}`,
    )
  }
  return result
}

/** `allowed_parameters` / `denied_parameters`: name → list of values (a single value counts as a list of one). */
function parseParameterMap(item: SyntaxItem, prefix: string): Record<string, readonly unknown[]> {
  const field = `${prefix}: \`${item.key}\``
  const objects = item.value.kind === 'list' ? item.value.elements : [item.value]
  // Null-prototype, so a parameter called `__proto__` is an ordinary key.
  const result = Object.create(null) as Record<string, readonly unknown[]>
  for (const object of objects) {
    if (object.kind !== 'object') throw invalid(object.at, `${field} must be an object`)
    for (const entry of object.items) {
      checkParameterName(entry, field, true)
      const key = entry.key.toLowerCase()
      if (Object.hasOwn(result, key))
        throw invalid(entry.at, `${field}: duplicate parameter ${quote(key)}`)
      const values = entry.value.kind === 'list' ? entry.value.elements : [entry.value]
      result[key] = Object.freeze(values.map(plainValue))
    }
  }
  return result
}

function parseRequired(item: SyntaxItem, prefix: string): string[] {
  const field = `${prefix}: \`required_parameters\``
  if (item.value.kind !== 'list') throw invalid(item.value.at, `${field} must be a list of strings`)
  const result: string[] = []
  for (const element of item.value.elements) {
    if (element.kind !== 'string') throw invalid(element.at, `${field} must be a list of strings`)
    checkParameterName({ key: element.value, at: element.at, value: element }, field, false)
    if (!result.includes(element.value)) result.push(element.value)
  }
  return result
}

/**
 * Vault's `validateParameter`, less its JSON-pointer names (`/a/b`), which tokentree does not support: `*` may only
 * stand alone, and only in allowed or denied parameters.
 */
function checkParameterName(entry: SyntaxItem, field: string, wildcard: boolean): void {
  if (entry.key.startsWith('/')) {
    throw invalid(
      entry.at,
      `${field}: parameter ${quote(entry.key)}: JSON-pointer parameter names are not supported`,
    )
  }
  if (!entry.key.includes('*')) return
  if (!wildcard) {
    throw invalid(
      entry.at,
      `${field}: parameter ${quote(entry.key)}: wildcard is not permitted here`,
    )
  }
  if (entry.key !== '*') {
    throw invalid(
      entry.at,
      `${field}: parameter ${quote(entry.key)} cannot contain non-tail wildcards`,
    )
  }
}

/** A syntax node → the plain value it stands for. Objects keep their order; depth is already bounded. */
function plainValue(node: SyntaxNode): unknown {
  switch (node.kind) {
    case 'string':
    case 'number':
    case 'bool':
      return node.value
    case 'null':
      return null
    case 'list':
      return Object.freeze(node.elements.map(plainValue))
    case 'object': {
      const result = Object.create(null) as Record<string, unknown>
      for (const item of node.items) result[item.key] = plainValue(item.value)
      return Object.freeze(result)
    }
  }
}
