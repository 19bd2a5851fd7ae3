/**
 * parsePolicy(): golden cases from Vault's policy docs and `vault/acl_test.go`, both syntaxes (HCL and JSON) and
 * plain objects, every refusal naming its line and column or the key it refuses.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import { DEFAULT_POLICY_TEXT, compilePolicy, parsePolicy } from '../../src/acl/index.js'
import { TokenStoreError } from '../../src/errors.js'

/** Asserts that parsing `source` fails with `invalid_request` and a message matching `message`. */
function refuses(source: string | object, message: RegExp): void {
  assert.throws(
    () => parsePolicy(source),
    (error: unknown) => {
      assert.ok(
        error instanceof TokenStoreError,
        `expected a TokenStoreError, got ${String(error)}`,
      )
      assert.equal(error.code, 'invalid_request')
      assert.match(error.message, message)
      return true
    },
  )
}

/** The rules as plain JSON (null-prototype parameter maps compare like objects). */
function rulesOf(source: string | object): unknown {
  return JSON.parse(JSON.stringify(parsePolicy(source).rules)) as unknown
}

describe('parsePolicy(): Vault docs golden cases', () => {
  test('the detailed policy of the policies page', () => {
    const text = `
# This section grants all access on "secret/*". Further restrictions can be
# applied to this broad policy, as shown below.
path "secret/*" {
  capabilities = ["create", "read", "update", "patch", "delete", "list"]
}

# Even though we allowed secret/*, this line explicitly denies
# secret/super-secret. This takes precedence.
path "secret/super-secret" {
  capabilities = ["deny"]
}

# Policies can also specify allowed, disallowed, and required parameters. Here
# the key "secret/restricted" can only contain "foo" (any value) and "bar" (one
# of "zip" or "zap").
path "secret/restricted" {
  capabilities = ["create"]
  allowed_parameters = {
    "foo" = []
    "bar" = ["zip", "zap"]
  }
}
`
    assert.deepEqual(rulesOf(text), [
      { path: 'secret/*', capabilities: ['create', 'read', 'update', 'patch', 'delete', 'list'] },
      { path: 'secret/super-secret', capabilities: ['deny'] },
      {
        path: 'secret/restricted',
        capabilities: ['create'],
        allowedParameters: { foo: [], bar: ['zip', 'zap'] },
      },
    ])
  })

  test('segment wildcards and globs', () => {
    const text = `
path "secret/+/teamb" {
  capabilities = ["read"]
}
path "secret/+/+/teamb" {
  capabilities = ["read"]
}
path "secret/zip-*" {
  capabilities = ["read"]
}`
    assert.deepEqual(
      parsePolicy(text).rules.map((rule) => rule.path),
      ['secret/+/teamb', 'secret/+/+/teamb', 'secret/zip-*'],
    )
  })

  test('required, denied and globbed parameters', () => {
    const text = `
path "secret/foo" {
  capabilities = ["create"]
  required_parameters = ["bar", "baz"]
  denied_parameters = {
    "*" = []
  }
  allowed_parameters = {
    "bar" = ["foo-*"]
  }
}`
    assert.deepEqual(rulesOf(text), [
      {
        path: 'secret/foo',
        capabilities: ['create'],
        requiredParameters: ['bar', 'baz'],
        deniedParameters: { '*': [] },
        allowedParameters: { bar: ['foo-*'] },
      },
    ])
  })

  test("Vault's old `policy =` form expands as Vault expands it, and `name` is read and ignored", () => {
    const text = `
name = "DeV"
path "dev/*" { policy = "sudo" }
path "stage/*" { policy = "write" }
path "stage/aws/*" {
  policy = "read"
  capabilities = ["update", "sudo"]
}
path "prod/aws/*" { policy = "deny" }
path "stage/aws/policy/*" {
  policy = "deny"
  capabilities = ["read", "update", "sudo"]
}`
    assert.deepEqual(rulesOf(text), [
      { path: 'dev/*', capabilities: ['create', 'read', 'update', 'delete', 'list', 'sudo'] },
      { path: 'stage/*', capabilities: ['create', 'read', 'update', 'delete', 'list'] },
      { path: 'stage/aws/*', capabilities: ['update', 'sudo', 'read', 'list'] },
      { path: 'prod/aws/*', capabilities: ['deny'] },
      { path: 'stage/aws/policy/*', capabilities: ['deny'] },
    ])
  })

  test('a deny rule keeps only deny, and drops its parameter constraints (as Vault)', () => {
    assert.deepEqual(
      rulesOf(`path "a" {
  capabilities = ["read", "deny", "sudo"]
  allowed_parameters = { "x" = [] }
}`),
      [{ path: 'a', capabilities: ['deny'] }],
    )
  })

  test("the built-in default policy parses to Vault's self-service rules", () => {
    const paths = parsePolicy(DEFAULT_POLICY_TEXT).rules.map((rule) => rule.path)
    assert.deepEqual(paths, [
      'auth/token/lookup-self',
      'auth/token/renew-self',
      'auth/token/revoke-self',
      'sys/capabilities-self',
      'sys/renew',
      'sys/leases/renew',
      'sys/leases/lookup',
      'sys/wrapping/wrap',
      'sys/wrapping/lookup',
      'sys/wrapping/unwrap',
    ])
  })
})

describe('parsePolicy(): HCL syntax', () => {
  test('comments of all three kinds, commas between items, one-line blocks', () => {
    const text = `// leading
/* a block
   comment */ path "a" { capabilities = ["read"], }   # trailing
path "b" {
  capabilities = [
    "list", // after an element
    "read",
  ]
}`
    assert.deepEqual(rulesOf(text), [
      { path: 'a', capabilities: ['read'] },
      { path: 'b', capabilities: ['list', 'read'] },
    ])
  })

  test('string escapes, unquoted keys and block-style parameter maps', () => {
    const text = `path "a\\u0041\\"\\\\\\t" {
  capabilities = ["update"]
  allowed_parameters {
    plain = ["tab\\there", 1, 2.5, -3, true, false]
    "quoted.key" = "single"
    nested = [{ "good" = "one" }, ["x"]]
  }
}`
    assert.deepEqual(rulesOf(text), [
      {
        path: 'aA"\\\t',
        capabilities: ['update'],
        allowedParameters: {
          plain: ['tab\there', 1, 2.5, -3, true, false],
          'quoted.key': ['single'],
          nested: [{ good: 'one' }, ['x']],
        },
      },
    ])
  })

  test('heredocs, plain and indented', () => {
    const text = `path "a" {
  capabilities = ["read"]
  comment = <<EOT
first
  second
EOT
}
path "b" {
  capabilities = ["read"]
  comment = <<-EOT
    indented
      more
    EOT
}`
    assert.deepEqual(rulesOf(text), [
      { path: 'a', capabilities: ['read'] },
      { path: 'b', capabilities: ['read'] },
    ])
  })

  test('a leading slash is stripped; the same pattern twice gives two rules (merged by the Acl)', () => {
    assert.deepEqual(
      rulesOf('path "/a/*" { capabilities = ["read"] }\npath "/a/*" { capabilities = []}'),
      [
        { path: 'a/*', capabilities: ['read'] },
        { path: 'a/*', capabilities: [] },
      ],
    )
  })

  test('an empty policy, CRLF line ends and a BOM', () => {
    assert.deepEqual(parsePolicy('').rules, [])
    assert.deepEqual(parsePolicy('# only a comment\r\n').rules, [])
    assert.deepEqual(rulesOf('\uFEFFpath "a" {\r\n  capabilities = ["read"]\r\n}\r\n'), [
      { path: 'a', capabilities: ['read'] },
    ])
  })
})

describe('parsePolicy(): JSON text and plain objects', () => {
  const expected = [
    { path: 'secret/*', capabilities: ['read', 'list'] },
    { path: 'secret/restricted', capabilities: ['create'], allowedParameters: { bar: ['zip'] } },
  ]

  test("Vault's JSON shape", () => {
    const text = JSON.stringify({
      path: {
        'secret/*': { capabilities: ['read', 'list'] },
        'secret/restricted': { capabilities: ['create'], allowed_parameters: { bar: ['zip'] } },
      },
    })
    assert.deepEqual(rulesOf(text), expected)
    assert.deepEqual(rulesOf(JSON.stringify(JSON.parse(text), null, 2)), expected)
  })

  test('JSON with lists of blocks, as hcl2json writes it', () => {
    const text = JSON.stringify({
      path: [
        { 'secret/*': [{ capabilities: ['read', 'list'] }] },
        {
          'secret/restricted': [{ capabilities: ['create'], allowed_parameters: { bar: ['zip'] } }],
        },
      ],
    })
    assert.deepEqual(rulesOf(text), expected)
  })

  test('a plain object', () => {
    assert.deepEqual(
      rulesOf({
        path: {
          'secret/*': { capabilities: ['read', 'list'] },
          'secret/restricted': { capabilities: ['create'], allowed_parameters: { bar: ['zip'] } },
        },
      }),
      expected,
    )
  })

  test('compilePolicy() normalises the name and keeps the document', () => {
    const compiled = compilePolicy('  DeV ', { path: { a: { capabilities: ['read'] } } })
    assert.equal(compiled.name, 'dev')
    assert.deepEqual(compiled.document.rules, [{ path: 'a', capabilities: ['read'] }])
    assert.ok(Object.isFrozen(compiled) && Object.isFrozen(compiled.document.rules))
  })
})

describe('parsePolicy(): refusals', () => {
  test('malformed HCL names the line and column', () => {
    refuses('path "x" {\n  capabilities = [\n}', /line 3, column 1: expected a value, got `}`/)
    refuses(
      'path "x" {\n  capabilities = ["read"]\n',
      /line 3, column 1: expected `}`, got the end/,
    )
    refuses(
      'path "x" {\n  capabilities = ["read\n"]\n}',
      /line 2, column 19: string not terminated/,
    )
    refuses('path "x" { capabilities = ["a\\q"] }', /line 1, column 30: invalid escape/)
    refuses('path "x" {\n  /* open', /line 2, column 3: comment not terminated/)
    refuses(
      'path "x" = { capabilities = ["read"] }',
      /line 1, column 10: expected `\{` after the labels/,
    )
    refuses('path "x" { capabilities = read }', /line 1, column 27: expected a value, got `read`/)
    refuses('path "x" { capabilities ["read"] }', /line 1, column 25: expected `=` or `\{`/)
    refuses('path "x" {}\n}', /line 2, column 1: expected the end of the text/)
    refuses('path "x" { comment = <<EOT\nno end\n', /line 1, column 22: heredoc not terminated/)
    refuses('path "x" { a = 01 }', /line 1, column 16: invalid number/)
    refuses('path "x" { a = @ }', /line 1, column 16: unexpected character `@`/)
    refuses(`path "x" { a = ${'['.repeat(100)} }`, /nested deeper than 64 levels/)
  })

  test('malformed JSON names the line and column', () => {
    refuses(
      '{\n  "path": {\n    "x": {"capabilities": ["read"],}\n  }\n}',
      /line 3, column 35: trailing comma/,
    )
    refuses(
      '{"path": {"x": {"capabilities": ["read"]}}, "path": {}}',
      /line 1, column 45: duplicate key/,
    )
    refuses('{"path": nope}', /line 1, column 10: unexpected `nope`/)
    refuses('{"path": {}', /line 1, column 12: expected `,` or `}`, got the end of the text/)
    refuses('{} {}', /line 1, column 4: expected the end of the text/)
  })

  test('keys tokentree does not enforce are refused by name, never ignored', () => {
    for (const key of [
      'min_wrapping_ttl',
      'max_wrapping_ttl',
      'mfa_methods',
      'control_group',
      'subscribe_event_types',
    ]) {
      refuses(
        `path "x" {\n  capabilities = ["read"]\n  ${key} = "1h"\n}`,
        new RegExp(`line 3, column 3: \`${key}\` is not supported`),
      )
    }
    refuses(
      'path "x" { capabilities = ["read"]\n  colour = "red" }',
      /line 2, column 3: unknown key "colour"/,
    )
    refuses('sentinel "x" {}', /line 1, column 1: unknown key "sentinel" at the top level/)
    refuses(
      { path: { x: { control_group: {} } } },
      /path\.x\.control_group: `control_group` is not supported/,
    )
  })

  test('unknown and unsupported capabilities, bad `policy` values', () => {
    refuses('path "x" { capabilities = ["fly"] }', /column 28: path "x": invalid capability "fly"/)
    refuses('path "x" { capabilities = ["subscribe"] }', /capability "subscribe" is not supported/)
    refuses('path "x" { capabilities = ["recover"] }', /capability "recover" is not supported/)
    refuses('path "x" { capabilities = ["root"] }', /capability "root" is not supported/)
    refuses('path "x" { capabilities = "read" }', /`capabilities` must be a list of strings/)
    refuses('path "x" { capabilities = [1] }', /`capabilities` must be a list of strings/)
    refuses('path "x" { policy = "admin" }', /`policy` must be "deny", "read", "write" or "sudo"/)
    refuses(
      'path "x" { capabilities = ["read"]\n capabilities = ["list"] }',
      /line 2, column 2: .*duplicate key `capabilities`/,
    )
  })

  test("patterns and parameter names Vault refuses, and templating tokentree can't fill", () => {
    refuses('path "a/+*" { capabilities = ["read"] }', /'\+\*' is forbidden/)
    refuses('path "secret/{{identity.entity.id}}/*" { capabilities = ["read"] }', /templated paths/)
    refuses('path "a" { allowed_parameters = { "a*" = [] } }', /cannot contain non-tail wildcards/)
    refuses('path "a" { required_parameters = ["*"] }', /wildcard is not permitted here/)
    refuses(
      'path "a" { denied_parameters = { "/a/b" = [] } }',
      /JSON-pointer parameter names are not supported/,
    )
    refuses('path "a" { allowed_parameters = { "A" = [], "a" = [] } }', /duplicate parameter "a"/)
    refuses('path "a" { allowed_parameters = ["x"] }', /`allowed_parameters` must be an object/)
  })

  test('values that are not policies', () => {
    refuses(42 as unknown as string, /HCL or JSON text or a plain object, got number/)
    refuses(null as unknown as string, /got null/)
    refuses([], /expected an object of `path` rules/)
    refuses(
      { path: { x: { capabilities: [() => 1] } } },
      /path\.x\.capabilities\[0\]: expected a string/,
    )
    refuses({ path: new Map() }, /expected a string, number, boolean, array or plain object/)
    const cyclic: Record<string, unknown> = {}
    cyclic.path = cyclic
    refuses(cyclic, /nested deeper than 64 levels \(or a cycle\)/)
    const throwing = {
      get path(): never {
        throw new Error('boom')
      },
    }
    refuses(throwing, /could not be read/)
    refuses('x'.repeat(1024 * 1024 + 1), /at most 1048576 characters/)
  })
})
