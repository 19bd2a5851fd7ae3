/**
 * Acl.check() with parameters: `allowed_parameters`, `denied_parameters` and `required_parameters` as Vault enforces
 * them, and how they merge across rules for one pattern. Golden cases from `vault/acl_test.go`
 * (TestACL_AllowOperation, TestACL_ValuePermissions, TestACL_PolicyMerge), less the wrapping-TTL ones.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import { Acl, compilePolicy, type AclOperation } from '../../src/acl/index.js'

function acl(...texts: string[]): Acl {
  return Acl.from(texts.map((text, index) => compilePolicy(`p${index}`, text)))
}

/** Whether both create and update (the operations Vault's tests run) allow the request, asserting they agree. */
function allowed(list: Acl, path: string, parameters: Record<string, unknown>): boolean {
  const create = list.check({ path, operation: 'create', parameters }).allowed
  const update = list.check({ path, operation: 'update', parameters }).allowed
  assert.equal(create, update, `${path}: create and update agree`)
  return create
}

/** `vault/acl_test.go`'s permissionsPolicy, without its wrapping TTLs (tokentree refuses those keys). */
const PERMISSIONS_POLICY = `
path "dev/*" {
  policy = "write"
  allowed_parameters = { "zip" = [] }
}
path "foo/bar" {
  policy = "write"
  denied_parameters = { "zap" = [] }
}
path "foo/baz" {
  policy = "write"
  allowed_parameters = { "hello" = [] }
  denied_parameters = { "zap" = [] }
}
path "broken/phone" {
  policy = "write"
  allowed_parameters = { "steve" = [] }
  denied_parameters = { "steve" = [] }
}
path "hello/world" {
  policy = "write"
  allowed_parameters = { "*" = [] }
  denied_parameters = { "*" = [] }
}
path "tree/fort" {
  policy = "write"
  allowed_parameters = { "*" = [] }
  denied_parameters = { "foo" = [] }
}
path "fruit/apple" {
  policy = "write"
  allowed_parameters = { "pear" = [] }
  denied_parameters = { "*" = [] }
}
path "cold/weather" {
  policy = "write"
  allowed_parameters = {}
  denied_parameters = {}
}
path "var/aws" {
  policy = "write"
  allowed_parameters = { "*" = [] }
  denied_parameters = {
    "soft" = []
    "warm" = []
    "kitty" = []
  }
}
path "var/req" {
  policy = "write"
  required_parameters = ["foo"]
}
`

/** `vault/acl_test.go`'s valuePermissionsPolicy. */
const VALUE_POLICY = `
path "dev/*" {
  policy = "write"
  allowed_parameters = { "allow" = ["good"] }
}
path "foo/bar" {
  policy = "write"
  denied_parameters = { "deny" = ["bad*"] }
}
path "foo/baz" {
  policy = "write"
  allowed_parameters = { "ALLOW" = ["good"] }
  denied_parameters = { "dEny" = ["bad"] }
}
path "fizz/buzz" {
  policy = "write"
  allowed_parameters = {
    "allow_multi" = ["good", "good1", "good2", "*good3"]
    "allow" = ["good"]
  }
  denied_parameters = { "deny_multi" = ["bad", "bad1", "bad2"] }
}
path "test/types" {
  policy = "write"
  allowed_parameters = {
    "map" = [{"good" = "one"}]
    "int" = [1, 2]
    "bool" = [false]
  }
  denied_parameters = {
  }
}
path "test/star" {
  policy = "write"
  allowed_parameters = {
    "*" = []
    "foo" = []
    "bar" = [false]
  }
  denied_parameters = {
  }
}
`

/** Parameters with each name set to "" (as TestACL_AllowOperation sends them). */
function empty(...names: string[]): Record<string, unknown> {
  return Object.fromEntries(names.map((name) => [name, '']))
}

describe("Acl.check() parameters: Vault's golden cases", () => {
  test('TestACL_AllowOperation', () => {
    const list = acl(PERMISSIONS_POLICY)
    const cases: readonly (readonly [string, string[], boolean])[] = [
      ['dev/ops', ['zip'], true],
      ['foo/bar', ['zap'], false],
      ['foo/bar', ['zip'], true],
      ['foo/baz', ['hello'], true],
      ['foo/baz', ['zap'], false],
      ['broken/phone', ['steve'], false],
      ['hello/world', ['one'], false],
      ['tree/fort', ['one'], true],
      ['tree/fort', ['foo'], false],
      ['fruit/apple', ['pear'], false],
      ['fruit/apple', ['one'], false],
      ['cold/weather', ['four'], true],
      ['var/aws', ['cold', 'warm', 'kitty'], false],
      ['var/req', ['cold', 'warm', 'kitty'], false],
      ['var/req', ['cold', 'warm', 'kitty', 'foo'], true],
    ]
    for (const [path, names, expected] of cases) {
      assert.equal(allowed(list, path, empty(...names)), expected, `${path} ${names.join(',')}`)
    }
  })

  test('TestACL_ValuePermissions', () => {
    const list = acl(VALUE_POLICY)
    const cases: readonly (readonly [string, Record<string, unknown>, boolean])[] = [
      ['dev/ops', { allow: 'good' }, true],
      ['dev/ops', { allow: 'bad' }, false],
      ['foo/bar', { deny: 'bad' }, false],
      ['foo/bar', { deny: 'bad glob' }, false],
      ['foo/bar', { deny: 'good' }, true],
      ['foo/bar', { allow: 'good' }, true],
      ['foo/bar', { deny: null }, true],
      ['foo/bar', { allow: null }, true],
      ['foo/baz', { aLLow: 'good' }, true],
      ['foo/baz', { deny: 'bad' }, false],
      ['foo/baz', { deny: 'good' }, false],
      ['foo/baz', { allow: 'good', deny: 'bad' }, false],
      ['foo/baz', { deny: 'good', allow: 'bad' }, false],
      ['foo/baz', { deNy: 'bad', allow: 'good' }, false],
      ['foo/baz', { aLLow: 'bad' }, false],
      ['foo/baz', { Neither: 'bad' }, false],
      ['foo/baz', { allow: null }, false],
      ['fizz/buzz', { allow_multi: 'good' }, true],
      ['fizz/buzz', { allow_multi: 'good1' }, true],
      ['fizz/buzz', { allow_multi: 'good2' }, true],
      ['fizz/buzz', { allow_multi: 'glob good2' }, false],
      ['fizz/buzz', { allow_multi: 'glob good3' }, true],
      ['fizz/buzz', { allow_multi: 'bad' }, false],
      ['fizz/buzz', { allow_multi: 'good1', allow: 'good' }, true],
      ['fizz/buzz', { deny_multi: 'bad2' }, false],
      ['fizz/buzz', { deny_multi: 'good', allow_multi: 'good2' }, false],
      ['test/types', { map: { good: 'one' } }, true],
      ['test/types', { map: { bad: 'one' } }, false],
      ['test/types', { int: 1 }, true],
      ['test/types', { int: 3 }, false],
      ['test/types', { bool: false }, true],
      ['test/types', { bool: true }, false],
      ['test/star', { anything: true }, true],
      ['test/star', { foo: true }, true],
      ['test/star', { bar: false }, true],
      ['test/star', { bar: true }, false],
    ]
    for (const [path, parameters, expected] of cases) {
      assert.equal(
        allowed(list, path, parameters),
        expected,
        `${path} ${JSON.stringify(parameters)}`,
      )
    }
  })

  test('TestACL_PolicyMerge: parameter maps merge per name, an empty list winning', () => {
    const list = acl(
      'path "foo/bar" {\n policy = "write"\n denied_parameters = { "baz" = [] }\n required_parameters = ["baz"]\n}',
      'path "foo/bar" {\n policy = "write"\n denied_parameters = { "zip" = [] }\n}',
      'path "allow/all" {\n policy = "write"\n allowed_parameters = { "test" = [], "test1" = ["foo"] }\n}',
      'path "allow/all" {\n policy = "write"\n allowed_parameters = { "*" = [] }\n}',
      'path "value/merge" {\n policy = "write"\n allowed_parameters = { "test" = [1, 2] }\n}',
      'path "value/merge" {\n policy = "write"\n allowed_parameters = { "test" = [3, 4] }\n}',
      'path "value/empty" {\n policy = "write"\n allowed_parameters = { "empty" = [] }\n denied_parameters = { "empty" = [1] }\n}',
      'path "value/empty" {\n policy = "write"\n allowed_parameters = { "empty" = [1] }\n denied_parameters = { "empty" = [] }\n}',
    )
    // foo/bar: denied {zip: [], baz: []}, required [baz]: baz is both required and denied.
    assert.equal(allowed(list, 'foo/bar', { baz: 'x' }), false)
    assert.equal(allowed(list, 'foo/bar', { zip: 'x' }), false)
    assert.equal(allowed(list, 'foo/bar', { other: 'x' }), false, 'baz is required')
    // allow/all: {*: [], test: [], test1: [foo]}
    assert.equal(allowed(list, 'allow/all', { anything: 1 }), true)
    assert.equal(allowed(list, 'allow/all', { test1: 'foo' }), true)
    assert.equal(allowed(list, 'allow/all', { test1: 'bar' }), false)
    // value/merge: test may be any of 1, 2, 3, 4.
    for (const value of [1, 2, 3, 4])
      assert.equal(allowed(list, 'value/merge', { test: value }), true)
    assert.equal(allowed(list, 'value/merge', { test: 5 }), false)
    // value/empty: allowed {empty: []} and denied {empty: []}: every value denied.
    assert.equal(allowed(list, 'value/empty', { empty: 2 }), false)
  })
})

describe('Acl.check() parameters: the rules one by one', () => {
  test('without `parameters` the constraints are not checked; with `{}`, required ones are', () => {
    const list = acl('path "a" {\n capabilities = ["update"]\n required_parameters = ["x"]\n}')
    assert.equal(list.check({ path: 'a', operation: 'update' }).allowed, true)
    const refused = list.check({ path: 'a', operation: 'update', parameters: {} })
    assert.equal(refused.allowed, false)
    assert.match(refused.reason ?? '', /required parameter "x" is missing/)
    assert.equal(list.check({ path: 'a', operation: 'update', parameters: { x: 1 } }).allowed, true)
  })

  test('parameters are checked for create, read, update and patch, not for delete and list', () => {
    const list = acl(
      'path "a" {\n capabilities = ["create", "read", "update", "patch", "delete", "list"]\n denied_parameters = { "*" = [] }\n}',
    )
    const parameters = { x: 1 }
    for (const operation of ['create', 'read', 'update', 'patch'] as AclOperation[]) {
      assert.equal(list.check({ path: 'a', operation, parameters }).allowed, false, operation)
    }
    for (const operation of ['delete', 'list'] as AclOperation[]) {
      assert.equal(list.check({ path: 'a', operation, parameters }).allowed, true, operation)
    }
  })

  test('values: globs at either end, comma-separated strings and arrays as Vault reads them', () => {
    const list = acl(
      'path "a" {\n capabilities = ["update"]\n allowed_parameters = { "p" = ["foo-*", "*-bar", "*mid*", "exact"] }\n}',
      'path "b" {\n capabilities = ["update"]\n denied_parameters = { "p" = ["bad"] }\n}',
      'path "c" {\n capabilities = ["update"]\n allowed_parameters = { "p" = ["*"] }\n}',
    )
    const ok = (path: string, value: unknown): boolean =>
      list.check({ path, operation: 'update', parameters: { p: value } }).allowed
    assert.equal(ok('a', 'foo-1'), true)
    assert.equal(ok('a', '1-bar'), true)
    assert.equal(ok('a', 'xmidy'), true)
    assert.equal(ok('a', 'exact'), true)
    assert.equal(ok('a', 'exactly'), false)
    assert.equal(ok('a', 'foo-1, exact'), true, 'every comma-separated item allowed')
    assert.equal(ok('a', 'exact,nope'), false)
    // The surprise Vault's docs warn of: the whole string matches the glob `foo-*`.
    assert.equal(ok('a', 'foo-1,nope,wobble'), true)
    assert.equal(ok('a', ['foo-1', 'exact']), true, 'every array element allowed')
    assert.equal(ok('a', ['foo-1', 'nope']), false)
    assert.equal(ok('a', 7), false)
    // Stricter than Vault: a value with no items is not vacuously allowed (it still means something: `[]` policies
    // are the parent's, `""` uses no limit), unless the list matches it as it is.
    assert.equal(ok('a', ''), false)
    assert.equal(ok('a', []), false)
    assert.equal(ok('c', ''), false)
    assert.equal(ok('b', 'good,bad'), false, 'any comma-separated item denied')
    // As a weakly decoding endpoint reads them: a scalar matches the same value in another type.
    const typed = acl(
      'path "n" {\n capabilities = ["update"]\n allowed_parameters = { "p" = ["1", 2] }\n}',
      'path "t" {\n capabilities = ["update"]\n denied_parameters = { "p" = ["true", 0] }\n}',
    )
    const typedOk = (path: string, value: unknown): boolean =>
      typed.check({ path, operation: 'update', parameters: { p: value } }).allowed
    assert.equal(typedOk('n', 1), true)
    assert.equal(typedOk('n', '2'), true)
    assert.equal(typedOk('n', '3'), false)
    assert.equal(typedOk('n', ' '), false)
    for (const denied of [true, 'true', 0, '0', false]) {
      assert.equal(typedOk('t', denied), false, JSON.stringify(denied))
    }
    // Two strings compare as strings: `"t"` is Go's true only once an endpoint decodes it (the Vault API does).
    assert.equal(typedOk('t', 't'), true)
    assert.equal(typedOk('t', 'no'), true)
    assert.equal(ok('b', ['good', 'bad']), false, 'any array element denied')
    assert.equal(ok('b', 'good'), true)
    // As in Vault, a lone "*" value matches only the string "*" (use [] for any value).
    assert.equal(ok('c', 'anything'), false)
    assert.equal(ok('c', '*'), true)
  })

  test('parameter names match case-insensitively; a parameter named __proto__ is an ordinary name', () => {
    const list = acl(
      'path "a" {\n capabilities = ["update"]\n allowed_parameters = { "Name" = [] }\n}',
    )
    assert.equal(
      list.check({ path: 'a', operation: 'update', parameters: { NAME: 'x' } }).allowed,
      true,
    )
    const proto = JSON.parse('{"__proto__": 1}') as Record<string, unknown>
    assert.equal(list.check({ path: 'a', operation: 'update', parameters: proto }).allowed, false)
  })

  test('a deny merged into a rule drops its parameter constraints; later rules add nothing', () => {
    const list = acl(
      'path "a" {\n capabilities = ["update"]\n allowed_parameters = { "x" = [] }\n}',
      'path "a" { capabilities = ["deny"] }',
      'path "a" { capabilities = ["update"] }',
    )
    assert.equal(
      list.check({ path: 'a', operation: 'update', parameters: { x: 1 } }).allowed,
      false,
    )
  })
})
