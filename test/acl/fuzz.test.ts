/**
 * Generated input for the policy language: parsePolicy() never throws anything but `invalid_request` and always
 * finishes (each test has a timeout); generated policies read the same written as HCL, as JSON and as an object;
 * and Acl agrees with a model that scans every rule the slow way, as Vault's acl.go does for `+` patterns.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'

import fc from 'fast-check'

import { Acl, compilePolicy, parsePolicy, type Capability } from '../../src/acl/index.js'
import { TokenStoreError } from '../../src/errors.js'

const RUNS = Number(process.env.FUZZ_RUNS ?? 1000)
const TIMEOUT = { timeout: 60_000 }

/** Parses, accepting only success or `invalid_request`. */
function parseOrRefuse(source: string | object): void {
  try {
    parsePolicy(source)
  } catch (error) {
    if (!(error instanceof TokenStoreError) || error.code !== 'invalid_request') throw error
    assert.match(error.message, /line \d+, column \d+|Expected the policy|at the policy|at most/)
  }
}

/** Pieces of HCL and JSON, so generated text reaches deep into the grammar rather than failing at once. */
const PIECES = [
  'path',
  ' ',
  '\n',
  '"secret/*"',
  '"a/+/b"',
  '{',
  '}',
  '[',
  ']',
  '=',
  ':',
  ',',
  'capabilities',
  '"read"',
  '"deny"',
  'allowed_parameters',
  'required_parameters',
  'policy',
  '"write"',
  '# c\n',
  '// c\n',
  '/*',
  '*/',
  '<<EOT\n',
  '<<-EOT\n',
  'EOT\n',
  '"\\u00e9"',
  '"\\',
  '"',
  '1',
  '-2.5e3',
  'true',
  'null',
  'min_wrapping_ttl',
  '\uFEFF',
  '\u0000',
  '{{identity.entity.id}}',
]

test('parsePolicy(): arbitrary text is parsed or refused as invalid_request', TIMEOUT, () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (text) => {
      parseOrRefuse(text)
    }),
    { numRuns: RUNS },
  )
})

test('parsePolicy(): text built from HCL and JSON pieces is parsed or refused', TIMEOUT, () => {
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...PIECES), { maxLength: 80 }), (pieces) => {
      parseOrRefuse(pieces.join(''))
      parseOrRefuse(`{${pieces.join('')}`)
    }),
    { numRuns: RUNS },
  )
})

test('parsePolicy(): deep nesting and long input are refused or parsed quickly', TIMEOUT, () => {
  for (const depth of [63, 64, 65, 10_000]) {
    parseOrRefuse(
      `path "a" { allowed_parameters = { x = ${'['.repeat(depth)}${']'.repeat(depth)} } }`,
    )
    parseOrRefuse(`{"path": ${'{"a": '.repeat(depth)}1${'}'.repeat(depth)}}`)
  }
  parseOrRefuse(`path "a" { capabilities = [${'"read",'.repeat(100_000)}] }`)
  parseOrRefuse('/*'.repeat(200_000))
  parseOrRefuse('"'.repeat(500_000))
})

test('parsePolicy(): arbitrary objects are parsed or refused as invalid_request', TIMEOUT, () => {
  fc.assert(
    fc.property(fc.anything({ maxDepth: 5, withMap: true, withSet: true }), (value) => {
      if (typeof value === 'object' && value !== null) parseOrRefuse(value)
      parseOrRefuse({ path: { x: value } })
      parseOrRefuse({ path: { x: { capabilities: ['read'], allowed_parameters: { p: value } } } })
    }),
    { numRuns: RUNS },
  )
})

// Valid policies, written three ways.

const capability = fc.constantFrom<Capability>(
  'create',
  'read',
  'update',
  'patch',
  'delete',
  'list',
  'sudo',
)
const scalar = fc.oneof(
  fc.string({ maxLength: 8 }),
  fc.integer({ min: -1000, max: 1000 }),
  fc.boolean(),
)
const parameterName = fc
  .string({ minLength: 1, maxLength: 6 })
  .filter((name) => !name.includes('*') && !name.startsWith('/'))
const generatedRule = fc.record(
  {
    path: fc
      .string({ maxLength: 12 })
      .filter((path) => !path.includes('+*') && !path.includes('{{') && !path.startsWith('/')),
    capabilities: fc.uniqueArray(capability, { maxLength: 4 }),
    allowed: fc.dictionary(
      parameterName.map((name) => name.toLowerCase()),
      fc.array(scalar, { maxLength: 3 }),
      { maxKeys: 3 },
    ),
    required: fc.uniqueArray(parameterName, { maxLength: 2 }),
  },
  { requiredKeys: ['path', 'capabilities'] },
)

/** An HCL string literal for any string. */
function hclString(value: string): string {
  return JSON.stringify(value)
}

function hclValue(value: unknown): string {
  return typeof value === 'string' ? hclString(value) : String(value)
}

test(
  'parsePolicy(): generated policies read the same as HCL, JSON and a plain object',
  TIMEOUT,
  () => {
    fc.assert(
      fc.property(fc.array(generatedRule, { maxLength: 5 }), (rules) => {
        const hcl = rules
          .map((rule) => {
            const lines = [
              `path ${hclString(rule.path)} {`,
              `  capabilities = [${rule.capabilities.map(hclString).join(', ')}]`,
            ]
            if (rule.allowed !== undefined) {
              lines.push('  allowed_parameters = {')
              for (const [name, values] of Object.entries(rule.allowed)) {
                lines.push(`    ${hclString(name)} = [${values.map(hclValue).join(', ')}]`)
              }
              lines.push('  }')
            }
            if (rule.required !== undefined)
              lines.push(`  required_parameters = [${rule.required.map(hclString).join(', ')}]`)
            lines.push('}')
            return lines.join('\n')
          })
          .join('\n')
        const object = {
          path: rules.map((rule) => ({
            [rule.path]: {
              capabilities: rule.capabilities,
              ...(rule.allowed === undefined ? {} : { allowed_parameters: rule.allowed }),
              ...(rule.required === undefined ? {} : { required_parameters: rule.required }),
            },
          })),
        }
        const fromHcl = JSON.stringify(parsePolicy(hcl).rules)
        assert.equal(JSON.stringify(parsePolicy(JSON.stringify(object)).rules), fromHcl)
        assert.equal(JSON.stringify(parsePolicy(object).rules), fromHcl)
        assert.equal(parsePolicy(hcl).rules.length, rules.length)
      }),
      { numRuns: RUNS },
    )
  },
)

// Acl against a model that scans every rule.

const BITS: Record<string, number> = {
  deny: 1,
  create: 2,
  read: 4,
  update: 8,
  delete: 16,
  list: 32,
  sudo: 64,
  patch: 128,
}

interface ModelRule {
  readonly pattern: string
  bits: number
}

/** Vault's `NewACL` merge of capabilities for one pattern, and its lookup, by scanning. */
function modelCapabilities(
  rules: readonly { path: string; capabilities: readonly string[] }[],
  requestPath: string,
  list = true,
): number | undefined {
  const merged = new Map<string, ModelRule>()
  for (const rule of rules) {
    let bits = 0
    for (const name of rule.capabilities) bits |= BITS[name] ?? 0
    if (bits & 1) bits = 1
    const existing = merged.get(rule.path)
    if (existing === undefined) merged.set(rule.path, { pattern: rule.path, bits })
    else if (!(existing.bits & 1)) existing.bits = bits & 1 ? 1 : existing.bits | bits
  }
  const path = requestPath.replace(/^\/+/, '')
  const isWildcard = (pattern: string): boolean =>
    pattern === '+' || pattern.includes('/+') || pattern.startsWith('+/')
  // Exact, then (list requests only, as capabilities() looks up) exact without the trailing slash, then patterns
  // (Vault's `AllowOperation`).
  const exact = (candidate: string): ModelRule | undefined => {
    const rule = merged.get(candidate)
    return rule !== undefined && !isWildcard(candidate) && !candidate.endsWith('*')
      ? rule
      : undefined
  }
  type Scored = {
    rule: ModelRule
    first: number
    prefix: boolean
    wildcards: number
    path: string
  }
  /** Every pattern matching `candidate` (the longest `*` prefix alone among prefixes), by priority, highest last. */
  const candidates = (candidate: string): Scored[] => {
    const scored: Scored[] = []
    let longest: Scored | undefined
    for (const [pattern, rule] of merged) {
      if (!isWildcard(pattern)) {
        if (!pattern.endsWith('*')) continue
        const prefix = pattern.slice(0, -1)
        if (
          candidate.startsWith(prefix) &&
          (longest === undefined || prefix.length > longest.path.length)
        ) {
          longest = { rule, first: prefix.length, prefix: true, wildcards: 0, path: prefix }
        }
        continue
      }
      const isPrefix = pattern.endsWith('*')
      const body = isPrefix ? pattern.slice(0, -1) : pattern
      const want = body.split('/')
      const parts = candidate.split('/')
      if (parts.length < want.length || (!isPrefix && parts.length !== want.length)) continue
      const wildcards = want.filter((segment) => segment === '+').length
      const matches = want.every((segment, index) => {
        const part = parts[index] ?? ''
        return (
          segment === '+' ||
          segment === part ||
          (isPrefix && index === want.length - 1 && part.startsWith(segment))
        )
      })
      if (matches)
        scored.push({ rule, first: pattern.indexOf('+'), prefix: isPrefix, wildcards, path: body })
    }
    if (longest !== undefined) scored.push(longest)
    return scored.sort(byPriority)
  }
  const byPriority = (a: Scored, b: Scored): number =>
    a.first !== b.first
      ? a.first - b.first
      : a.prefix !== b.prefix
        ? a.prefix
          ? -1
          : 1
        : a.wildcards !== b.wildcards
          ? b.wildcards - a.wildcards
          : a.path.length !== b.path.length
            ? a.path.length - b.path.length
            : a.path < b.path
              ? -1
              : a.path > b.path
                ? 1
                : 0
  let found = exact(path)
  if (found === undefined && list && path.endsWith('/')) {
    found = exact(path.slice(0, -1))
    if (found === undefined) {
      // Current Vault's listing (`resolveACLPermsForListOp`): the patterns of both forms; the best deny unless the
      // best pattern granting list outranks it; else that one; else the best of all.
      const all = [...candidates(path.slice(0, -1)), ...candidates(path)].sort(byPriority)
      const lastWith = (bit: number): number => {
        for (let index = all.length - 1; index >= 0; index--) {
          if (((all[index]?.rule.bits ?? 0) & bit) !== 0) return index
        }
        return -1
      }
      const deny = lastWith(1)
      const grant = lastWith(32)
      const chosen = deny >= 0 && deny > grant ? deny : grant >= 0 ? grant : all.length - 1
      return all[chosen]?.rule.bits
    }
  }
  found ??= candidates(path).at(-1)?.rule
  return found?.bits
}

const segment = fc.constantFrom('a', 'b', 'ab', '', '+', 'a+')
const patternArb = fc
  .tuple(fc.array(segment, { minLength: 1, maxLength: 4 }), fc.constantFrom('', '*', 'b*'))
  .map(([segments, tail]) => `${segments.join('/')}${tail}`)
  .filter((pattern) => !pattern.includes('+*'))
const requestPathArb = fc
  .array(fc.constantFrom('a', 'b', 'ab', 'abc', '', 'a+'), { minLength: 1, maxLength: 5 })
  .map((segments) => segments.join('/'))
const capabilityNames = ['create', 'delete', 'deny', 'list', 'patch', 'read', 'sudo', 'update']
/** One to three policies of up to eight rules each. */
const policiesArb = fc.array(
  fc.array(
    fc.record({
      path: patternArb,
      capabilities: fc.uniqueArray(fc.constantFrom(...capabilityNames), { maxLength: 3 }),
    }),
    { maxLength: 8 },
  ),
  { minLength: 1, maxLength: 3 },
)

/** The ACL of generated policies, and their rules as the scanning model reads them. */
function aclAndModel(policies: readonly { path: string; capabilities: string[] }[][]): {
  acl: Acl
  flat: { path: string; capabilities: string[] }[]
} {
  const acl = Acl.from(
    policies.map((rules, index) =>
      compilePolicy(`p${index}`, {
        path: rules.map((rule) => ({ [rule.path]: { capabilities: rule.capabilities } })),
      }),
    ),
  )
  const flat = policies.flat().map((rule) => ({
    // Vault strips one leading slash from a pattern.
    path: rule.path.startsWith('/') ? rule.path.slice(1) : rule.path,
    capabilities: rule.capabilities.includes('deny') ? ['deny'] : rule.capabilities,
  }))
  return { acl, flat }
}

test('Acl: capabilities() agrees with a model that scans every rule', TIMEOUT, () => {
  fc.assert(
    fc.property(
      policiesArb,
      fc.array(requestPathArb, { minLength: 1, maxLength: 10 }),
      (policies, paths) => {
        const { acl, flat } = aclAndModel(policies)
        for (const path of paths) {
          const bits = modelCapabilities(flat, path)
          const expected =
            bits === undefined || bits === 0 || bits & 1
              ? ['deny']
              : capabilityNames.filter((name) => bits & (BITS[name] ?? 0))
          assert.deepEqual(
            acl.capabilities(path),
            expected,
            `${path} under ${JSON.stringify(policies)}`,
          )
        }
      },
    ),
    { numRuns: RUNS },
  )
})

test(
  'Acl: check() of a read agrees with the model, without the list-only trailing-slash retry',
  TIMEOUT,
  () => {
    fc.assert(
      fc.property(
        policiesArb,
        fc.array(
          requestPathArb.chain((path) => fc.constantFrom(path, `${path}/`, `/${path}`)),
          { minLength: 1, maxLength: 10 },
        ),
        (policies, paths) => {
          const { acl, flat } = aclAndModel(policies)
          for (const path of paths) {
            const bits = modelCapabilities(flat, path, false)
            const expected = bits !== undefined && (bits & 1) === 0 && (bits & 4) !== 0
            const message = `${path} under ${JSON.stringify(policies)}`
            assert.equal(acl.check({ path, operation: 'read' }).allowed, expected, message)
          }
        },
      ),
      { numRuns: RUNS },
    )
  },
)
