/**
 * Acl: which rule applies (exact, `*` prefix, `+` segments, Vault's priority order), how rules for one pattern
 * merge across policies, deny, sudo, root and `capabilities()`. Golden cases from Vault's policy docs and
 * `vault/acl_test.go` (TestACL_Single, TestACL_Layered, TestACL_SegmentWildcardPriority, TestACL_Capabilities).
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import { Acl, compilePolicy, DEFAULT_POLICY_TEXT, type AclOperation } from '../../src/acl/index.js'
import { TokenStoreError } from '../../src/errors.js'

function acl(...texts: string[]): Acl {
  return Acl.from(texts.map((text, index) => compilePolicy(`p${index}`, text)))
}

function allows(list: Acl, operation: AclOperation, path: string): boolean {
  return list.check({ path, operation }).allowed
}

/** `vault/acl_test.go`'s aclPolicy, less `recover` (a capability tokentree does not have). */
const ACL_POLICY = `
name = "DeV"
path "dev/*" { policy = "sudo" }
path "stage/*" { policy = "write" }
path "stage/aws/*" {
  policy = "read"
  capabilities = ["update", "sudo"]
}
path "stage/aws/policy/*" { policy = "sudo" }
path "prod/*" { policy = "read" }
path "prod/aws/*" { policy = "deny" }
path "sys/*" { policy = "deny" }
path "foo/bar" { capabilities = ["read", "create", "sudo"] }
path "baz/quux" { capabilities = ["read", "create", "patch"] }
path "test/+/segment" { capabilities = ["read"] }
path "+/segment/at/front" { capabilities = ["read"] }
path "test/segment/at/end/+" { capabilities = ["read"] }
path "test/segment/at/end/v2/+/" { capabilities = ["read"] }
path "test/+/wildcard/+/*" { capabilities = ["read"] }
path "test/+/wildcardglob/+/end*" { capabilities = ["read"] }
path "1/2/*" { capabilities = ["create"] }
path "1/2/+" { capabilities = ["read"] }
path "1/2/+/+" { capabilities = ["update"] }
`

/** `vault/acl_test.go`'s aclPolicy2. */
const ACL_POLICY_2 = `
name = "OpS"
path "dev/hide/*" { policy = "deny" }
path "stage/aws/policy/*" {
  policy = "deny"
  # This should have no effect
  capabilities = ["read", "update", "sudo"]
}
path "prod/*" { policy = "write" }
path "sys/seal" { policy = "sudo" }
path "foo/bar" { capabilities = ["deny"] }
path "baz/quux" { capabilities = ["deny"] }
`

type Case = readonly [AclOperation, string, boolean, boolean]

function checkCases(list: Acl, cases: readonly Case[]): void {
  for (const [operation, path, allowed, sudo] of cases) {
    const decision = list.check({ path, operation })
    assert.equal(decision.allowed, allowed, `${operation} ${path}: allowed`)
    assert.equal(decision.sudo, sudo, `${operation} ${path}: sudo`)
    if (!allowed) assert.equal(typeof decision.reason, 'string')
  }
}

describe("Acl: Vault's acl_test.go golden cases", () => {
  test('TestACL_Single', () => {
    checkCases(acl(ACL_POLICY), [
      ['read', 'root', false, false],
      ['read', 'dev/foo', true, true],
      ['update', 'dev/foo', true, true],
      ['delete', 'stage/foo', true, false],
      ['list', 'stage/aws/foo', true, true],
      ['update', 'stage/aws/foo', true, true],
      ['update', 'stage/aws/policy/foo', true, true],
      ['delete', 'prod/foo', false, false],
      ['update', 'prod/foo', false, false],
      ['read', 'prod/foo', true, false],
      ['list', 'prod/foo', true, false],
      ['read', 'prod/aws/foo', false, false],
      ['read', 'foo/bar', true, true],
      ['list', 'foo/bar', false, true],
      ['update', 'foo/bar', false, true],
      ['create', 'foo/bar', true, true],
      ['read', 'baz/quux', true, false],
      ['create', 'baz/quux', true, false],
      ['patch', 'baz/quux', true, false],
      ['list', 'baz/quux', false, false],
      ['update', 'baz/quux', false, false],
      // Path segment wildcards
      ['read', 'test/foo/bar/segment', false, false],
      ['read', 'test/foo/segment', true, false],
      ['read', 'test/bar/segment', true, false],
      ['read', 'test/segment/at/frond', false, false],
      ['read', 'test/segment/at/front', true, false],
      ['read', 'test/segment/at/end/foo', true, false],
      ['read', 'test/segment/at/end/foo/', false, false],
      ['read', 'test/segment/at/end/v2/foo/', true, false],
      ['read', 'test/segment/wildcard/at/foo/', true, false],
      ['read', 'test/segment/wildcard/at/end', true, false],
      ['read', 'test/segment/wildcard/at/end/', true, false],
      // Path segment wildcards vs glob
      ['read', '1/2/3/4', false, false],
      ['read', '1/2/3', true, false],
      ['update', '1/2/3', false, false],
      ['update', '1/2/3/4', true, false],
      ['create', '1/2/3/4/5', true, false],
    ])
  })

  test('TestACL_Layered: two policies, merged per pattern, deny winning', () => {
    checkCases(acl(ACL_POLICY, ACL_POLICY_2), [
      ['read', 'root', false, false],
      ['read', 'dev/foo', true, true],
      ['update', 'dev/foo', true, true],
      ['read', 'dev/hide/foo', false, false],
      ['update', 'dev/hide/foo', false, false],
      ['delete', 'stage/foo', true, false],
      ['list', 'stage/aws/foo', true, true],
      ['update', 'stage/aws/foo', true, true],
      ['update', 'stage/aws/policy/foo', false, false],
      ['delete', 'prod/foo', true, false],
      ['update', 'prod/foo', true, false],
      ['read', 'prod/foo', true, false],
      ['list', 'prod/foo', true, false],
      ['read', 'prod/aws/foo', false, false],
      ['read', 'sys/status', false, false],
      ['update', 'sys/seal', true, true],
      ['read', 'foo/bar', false, false],
      ['list', 'foo/bar', false, false],
      ['update', 'foo/bar', false, false],
      ['create', 'foo/bar', false, false],
      ['read', 'baz/quux', false, false],
      ['list', 'baz/quux', false, false],
      ['update', 'baz/quux', false, false],
      ['create', 'baz/quux', false, false],
      ['patch', 'baz/quux', false, false],
    ])
  })

  test('TestACL_Layered is the same whichever policy comes first', () => {
    const forward = acl(ACL_POLICY, ACL_POLICY_2)
    const backward = acl(ACL_POLICY_2, ACL_POLICY)
    for (const path of ['dev/hide/x', 'stage/aws/policy/x', 'prod/x', 'foo/bar', 'sys/seal', 'x']) {
      assert.deepEqual(forward.capabilities(path), backward.capabilities(path), path)
    }
  })

  test('TestACL_Capabilities (sorted, as sys/capabilities sorts them)', () => {
    const list = acl(ACL_POLICY)
    assert.deepEqual(list.capabilities('dev'), ['deny'])
    assert.deepEqual(list.capabilities('dev/'), [
      'create',
      'delete',
      'list',
      'read',
      'sudo',
      'update',
    ])
    assert.deepEqual(list.capabilities('stage/aws/test'), ['list', 'read', 'sudo', 'update'])
    assert.deepEqual(Acl.from([], { root: true }).capabilities('any/path'), ['root'])
  })

  // Each case has a read rule and an update rule; the update rule wins by Vault's priority order.
  const priority: readonly (readonly [string, string, string])[] = [
    [
      '`*` beats `+/*`: later first wildcard and fewer `+`',
      'path "+/*" { capabilities = ["read"] }\npath "*" { capabilities = ["update"] }',
      'foo/bar/bar/baz',
    ],
    [
      '`foo/+/*` beats `+/*`: later first wildcard',
      'path "+/*" { capabilities = ["read"] }\npath "foo/+/*" { capabilities = ["update"] }',
      'foo/bar/bar/baz',
    ],
    [
      '`foo/+/bar/baz` beats `foo/+/+/*`: not a prefix',
      'path "foo/+/+/*" { capabilities = ["read"] }\npath "foo/+/bar/baz" { capabilities = ["update"] }',
      'foo/bar/bar/baz',
    ],
    [
      '`foo/+/bar/baz` beats `foo/+/+/baz`: fewer `+`',
      'path "foo/+/+/baz" { capabilities = ["read"] }\npath "foo/+/bar/baz" { capabilities = ["update"] }',
      'foo/bar/bar/baz',
    ],
    [
      '`foo/(ar/+/baz` beats `foo/+/(ar/baz`: later first wildcard',
      'path "foo/+/(ar/baz" { capabilities = ["read"] }\npath "foo/(ar/+/baz" { capabilities = ["update"] }',
      'foo/(ar/(ar/baz',
    ],
    [
      '`foo/bar/+/baz` beats `foo/bar/+/baz*`: a glob is lower',
      'path "foo/bar/+/baz*" { capabilities = ["read"] }\npath "foo/bar/+/baz" { capabilities = ["update"] }',
      'foo/bar/bar/baz',
    ],
    [
      '`foo/bar/+/ba*` beats `foo/bar/+/b*`: longer',
      'path "foo/bar/+/b*" { capabilities = ["read"] }\npath "foo/bar/+/ba*" { capabilities = ["update"] }',
      'foo/bar/bar/baz',
    ],
  ]
  for (const [title, text, path] of priority) {
    test(`TestACL_SegmentWildcardPriority: ${title}`, () => {
      for (const list of [
        acl(text),
        acl(...text.split('\n')),
        acl(...text.split('\n').reverse()),
      ]) {
        assert.equal(allows(list, 'update', path), true)
        assert.equal(allows(list, 'read', path), false)
      }
    })
  }
})

describe("Acl: the policies page's rules", () => {
  test('exact paths match only themselves', () => {
    const list = acl('path "secret/foo" { capabilities = ["read"] }')
    assert.equal(allows(list, 'read', 'secret/foo'), true)
    assert.equal(allows(list, 'read', 'secret/food'), false)
    assert.equal(allows(list, 'read', 'secret/foo/bar'), false)
    assert.equal(allows(list, 'update', 'secret/foo'), false)
  })

  test('a trailing `*` is a prefix match, not a segment match', () => {
    const list = acl(
      'path "secret/bar/*" { capabilities = ["read"] }\npath "secret/zip-*" { capabilities = ["read"] }',
    )
    assert.equal(allows(list, 'read', 'secret/bar/zip'), true)
    assert.equal(allows(list, 'read', 'secret/bar/zip/zap'), true)
    assert.equal(allows(list, 'read', 'secret/bars/zip'), false)
    assert.equal(allows(list, 'read', 'secret/zip-zap'), true)
    assert.equal(allows(list, 'read', 'secret/zip-zap/zong'), true)
    assert.equal(allows(list, 'read', 'secret/zip/zap'), false)
  })

  test('`+` matches exactly one segment', () => {
    const list = acl(
      'path "secret/+/teamb" { capabilities = ["read"] }\npath "secret/+/+/teamb" { capabilities = ["update"] }',
    )
    assert.equal(allows(list, 'read', 'secret/foo/teamb'), true)
    assert.equal(allows(list, 'read', 'secret/foo/bar/teamb'), false)
    assert.equal(allows(list, 'update', 'secret/foo/bar/teamb'), true)
    assert.equal(allows(list, 'read', 'secret/teamb'), false)
    assert.equal(allows(list, 'read', 'secret/foo/teamb/x'), false)
  })

  test('`+` rules whose literal segments share a hash are told apart', () => {
    // `Aa` and `BB` have the same 31-multiplier hash, and so have `AaBB` and `BBAa`: each pair shares an entry.
    const list = acl(`
path "x/Aa/+" { capabilities = ["read"] }
path "x/BB/+" { capabilities = ["update"] }
path "x/AaBB/+" { capabilities = ["list"] }`)
    assert.deepEqual(list.capabilities('x/Aa/1'), ['read'])
    assert.deepEqual(list.capabilities('x/BB/1'), ['update'])
    assert.deepEqual(list.capabilities('x/AaBB/1'), ['list'])
    assert.deepEqual(list.capabilities('x/BBAa/1'), ['deny'])
    assert.deepEqual(list.capabilities('x/Ab/1'), ['deny'])
  })

  test('a more specific rule beats a broader deny, and a specific deny beats a broader grant', () => {
    const list = acl(`
path "secret/*" { capabilities = ["deny"] }
path "secret/public/*" { capabilities = ["read"] }
path "apps/*" { capabilities = ["read", "update"] }
path "apps/+/secret" { capabilities = ["deny"] }`)
    assert.equal(allows(list, 'read', 'secret/public/x'), true)
    assert.equal(allows(list, 'read', 'secret/private/x'), false)
    assert.equal(allows(list, 'read', 'apps/a/config'), true)
    assert.equal(allows(list, 'read', 'apps/a/secret'), false)
    assert.deepEqual(list.capabilities('apps/a/secret'), ['deny'])
  })

  test('the longest glob wins, and `secret/*` vs `secret/+/+/foo/*` goes to rule 3 (fewer `+`)', () => {
    const list = acl(`
path "secret/*" { capabilities = ["read"] }
path "secret/+/+/foo/*" { capabilities = ["update"] }
path "kv/*" { capabilities = ["read"] }
path "kv/team/*" { capabilities = ["update"] }`)
    assert.deepEqual(list.capabilities('secret/a/b/foo/c'), ['read'])
    assert.deepEqual(list.capabilities('kv/team/x'), ['update'])
    assert.deepEqual(list.capabilities('kv/other'), ['read'])
  })

  test('the exact rule applies even when a glob would grant more', () => {
    const list = acl(
      'path "a/*" { capabilities = ["read", "update"] }\npath "a/b" { capabilities = ["read"] }',
    )
    assert.equal(allows(list, 'update', 'a/b'), false)
    assert.equal(allows(list, 'update', 'a/c'), true)
  })

  test('within the applying rule deny beats every capability, sudo included', () => {
    const list = acl(
      'path "a" { capabilities = ["read", "sudo"] }',
      'path "a" { capabilities = ["deny"] }',
      'path "a" { capabilities = ["update"] }',
    )
    const decision = list.check({ path: 'a', operation: 'read' })
    assert.equal(decision.allowed, false)
    assert.equal(decision.sudo, false)
    assert.deepEqual(decision.capabilities, ['deny'])
    assert.match(decision.reason ?? '', /denies/)
  })

  test('capabilities for one pattern in several policies are the union', () => {
    const list = acl(
      'path "a/*" { capabilities = ["read"] }',
      'path "a/*" { capabilities = ["list", "sudo"] }',
    )
    assert.deepEqual(list.capabilities('a/x'), ['list', 'read', 'sudo'])
    assert.equal(list.check({ path: 'a/x', operation: 'read' }).sudo, true)
  })

  test('a rule with no capabilities applies and grants nothing', () => {
    const list = acl('path "a/*" { capabilities = ["read"] }\npath "a/b" { capabilities = [] }')
    assert.equal(allows(list, 'read', 'a/b'), false)
    assert.deepEqual(list.capabilities('a/b'), ['deny'])
  })

  test('every operation needs the capability of its name', () => {
    const operations: AclOperation[] = ['create', 'read', 'update', 'patch', 'delete', 'list']
    for (const granted of operations) {
      const list = acl(`path "x" { capabilities = ["${granted}"] }`)
      for (const operation of operations) {
        assert.equal(
          allows(list, operation, 'x'),
          operation === granted,
          `${granted} → ${operation}`,
        )
      }
    }
  })

  test('leading slashes are stripped from rules and requests', () => {
    const list = acl('path "/a/b" { capabilities = ["read"] }')
    assert.equal(allows(list, 'read', 'a/b'), true)
    assert.equal(allows(list, 'read', '//a/b'), true)
    assert.deepEqual(list.capabilities('/a/b'), ['read'])
  })

  test('a listing is tried against the exact rule without its slash, then the patterns of both forms', () => {
    const list = acl(
      'path "kv/metadata" { capabilities = ["list"] }\npath "app/+" { capabilities = ["list"] }',
    )
    assert.equal(allows(list, 'list', 'kv/metadata/'), true)
    assert.equal(allows(list, 'read', 'kv/metadata/'), false)
    // `app/+` matches `app/x`, not `app/x/`: the trimmed form lets it grant the listing (Vault's VAULT-3825).
    assert.equal(allows(list, 'list', 'app/x/'), true)
    assert.equal(allows(list, 'list', 'app/x/y/'), false)
    assert.deepEqual(list.capabilities('kv/metadata/'), ['list'])
  })

  test('a listing: a deny on the folder holds against a pattern reached through the trimmed form, and the other way', () => {
    const list = acl(`
path "auth/token/*" { capabilities = ["list", "read", "sudo"] }
path "auth/token/accessors/*" { capabilities = ["deny"] }
path "secret/*" { capabilities = ["list", "read"] }
path "secret/+/private" { capabilities = ["deny"] }
path "kv/+" { capabilities = ["list"] }
path "kv/open/*" { capabilities = ["read"] }
`)
    assert.equal(allows(list, 'list', 'auth/token/accessors/'), false)
    assert.equal(allows(list, 'list', 'auth/token/roles/'), true)
    assert.deepEqual(list.capabilities('auth/token/accessors/'), ['deny'])
    // `secret/+/private` matches the trimmed form only, and outranks `secret/*`.
    assert.equal(allows(list, 'list', 'secret/a/private/'), false)
    assert.deepEqual(list.capabilities('secret/a/private/'), ['deny'])
    assert.equal(allows(list, 'list', 'secret/a/public/'), true)
    // `kv/open/*` (full form) outranks `kv/+` (trimmed form) but grants no list: the pattern granting list wins.
    assert.equal(allows(list, 'list', 'kv/open/'), true)
    // A read of the same path is no listing: the full form alone, `kv/open/*`.
    assert.equal(allows(list, 'read', 'kv/open/'), true)
  })

  test('a `*` alone matches everything, below every more specific rule', () => {
    const list = acl(
      'path "*" { capabilities = ["read"] }\npath "sys/*" { capabilities = ["deny"] }',
    )
    assert.equal(allows(list, 'read', 'anything/at/all'), true)
    assert.equal(allows(list, 'read', ''), true)
    assert.equal(allows(list, 'read', 'sys/seal'), false)
  })

  test('a `*` rule ending after every `+` rule starts wins outright; ending where one starts, it loses to it', () => {
    // The lookup skips the `+` rules when the longest prefix ends after every rule's first `+`: these are the
    // cases on either side of that line.
    const list = acl(`
path "a/b/*" { capabilities = ["read"] }
path "a/+/c" { capabilities = ["update"] }
path "x/*" { capabilities = ["read"] }
path "x/+/c" { capabilities = ["update"] }
path "m*" { capabilities = ["read"] }
path "m/+/c" { capabilities = ["update"] }`)
    assert.deepEqual(list.capabilities('a/b/c'), ['read'])
    assert.deepEqual(list.capabilities('a/d/c'), ['update'])
    assert.deepEqual(list.capabilities('x/b/c'), ['update'])
    assert.deepEqual(list.capabilities('x/b/d'), ['read'])
    assert.deepEqual(list.capabilities('m/b/c'), ['update'])
    assert.deepEqual(list.capabilities('m/b/d'), ['read'])
  })

  test('a `+` rule with a later first wildcard wins over one found first with an earlier one', () => {
    // Once a match is found, subtrees whose rules all start their wildcards earlier are not walked; those whose
    // rules start later, or at the same place, still are.
    const list = acl(`
path "+/b/c" { capabilities = ["read"] }
path "a/+/c" { capabilities = ["update"] }
path "a/b/+" { capabilities = ["list"] }
path "+/+/d" { capabilities = ["create"] }
path "+/b/e*" { capabilities = ["patch"] }
path "+/b/d" { capabilities = ["delete"] }`)
    assert.deepEqual(list.capabilities('a/b/c'), ['list'])
    assert.deepEqual(list.capabilities('a/x/c'), ['update'])
    assert.deepEqual(list.capabilities('z/b/c'), ['read'])
    assert.deepEqual(list.capabilities('z/b/d'), ['delete'])
    assert.deepEqual(list.capabilities('z/y/d'), ['create'])
    assert.deepEqual(list.capabilities('z/b/e/f'), ['patch'])
  })

  test('no rule: refused, no capabilities, a reason naming the path', () => {
    const decision = acl('path "a" { capabilities = ["read"] }').check({
      path: 'b',
      operation: 'read',
    })
    assert.deepEqual(decision, {
      allowed: false,
      sudo: false,
      capabilities: [],
      reason: 'no policy grants access to the path',
    })
    assert.deepEqual(Acl.from([]).capabilities('a'), ['deny'])
  })
})

describe('Acl: root and the default policy', () => {
  test('root allows everything with sudo, and reports `root`', () => {
    for (const list of [
      Acl.from([], { root: true }),
      Acl.from([compilePolicy('root', ''), compilePolicy('default', DEFAULT_POLICY_TEXT)]),
    ]) {
      assert.equal(list.root, true)
      const decision = list.check({ path: 'sys/seal', operation: 'update', parameters: { x: 1 } })
      assert.equal(decision.allowed, true)
      assert.equal(decision.sudo, true)
      assert.deepEqual(list.capabilities('anything'), ['root'])
    }
  })

  test('default allows the *-self endpoints and nothing else tokentree serves', () => {
    const list = Acl.from([compilePolicy('default', DEFAULT_POLICY_TEXT)])
    assert.equal(list.root, false)
    assert.equal(allows(list, 'read', 'auth/token/lookup-self'), true)
    assert.equal(allows(list, 'update', 'auth/token/renew-self'), true)
    assert.equal(allows(list, 'update', 'auth/token/revoke-self'), true)
    assert.equal(allows(list, 'update', 'sys/capabilities-self'), true)
    assert.equal(allows(list, 'update', 'sys/leases/renew'), true)
    assert.equal(allows(list, 'update', 'sys/wrapping/unwrap'), true)
    assert.equal(allows(list, 'update', 'auth/token/create'), false)
    assert.equal(allows(list, 'update', 'auth/token/lookup'), false)
    assert.equal(allows(list, 'read', 'auth/token/lookup-self/x'), false)
    assert.equal(allows(list, 'update', 'sys/policy/default'), false)
    assert.equal(list.check({ path: 'auth/token/lookup-self', operation: 'read' }).sudo, false)
  })
})

describe('Acl: bad requests', () => {
  test('a bad operation, path or parameters is invalid_request', () => {
    const list = acl('path "a" { capabilities = ["read"] }')
    for (const request of [
      { path: 'a', operation: 'fly' },
      { path: 'a', operation: '__proto__' },
      { path: 'a', operation: 'toString' },
      { path: 1, operation: 'read' },
      { path: 'a', operation: 'read', parameters: 'x=1' },
      { path: 'a', operation: 'read', parameters: null },
      { path: 'a', operation: 'read', parameters: [] },
    ]) {
      assert.throws(
        () => list.check(request as never),
        (error: unknown) => error instanceof TokenStoreError && error.code === 'invalid_request',
        JSON.stringify(request),
      )
    }
    assert.throws(() => list.capabilities(undefined as never), TokenStoreError)
    const throwing = new Proxy(
      {},
      {
        ownKeys: () => {
          throw new Error('boom')
        },
      },
    )
    assert.throws(
      () => list.check({ path: 'a', operation: 'read', parameters: throwing }),
      (error: unknown) => error instanceof TokenStoreError && error.code === 'invalid_request',
    )
    assert.throws(
      () => Acl.from([], { root: true }).check({ path: 1 as never, operation: 'read' }),
      TokenStoreError,
    )
  })
})
