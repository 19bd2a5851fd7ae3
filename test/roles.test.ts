import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import { TokenStoreError } from 'tokentree'
import { createTestStore } from 'tokentree/testing'

async function setup() {
  const { store, clock } = createTestStore({ defaultTtl: '1h', maxTtl: '24h' })
  const root = (await store.createRoot()).clientToken
  // A non-root parent holding a few policies, as most callers are.
  const admin = (await store.create({ parent: root, policies: ['a', 'b', 'admin'] })).clientToken
  return { store, clock, root, admin }
}

function code(expected: TokenStoreError['code']) {
  return (error: unknown) => error instanceof TokenStoreError && error.code === expected
}

describe('store.roles', () => {
  test('roles.write/read/list/delete: round trip with defaults filled in, names sorted', async () => {
    const { store } = await setup()
    const written = await store.roles.write('ci', {
      allowedPolicies: ['Deploy', 'deploy'],
      tokenPeriod: '1h',
    })
    assert.deepEqual(written, {
      name: 'ci',
      allowedPolicies: ['deploy'],
      disallowedPolicies: [],
      allowedPoliciesGlob: [],
      disallowedPoliciesGlob: [],
      orphan: false,
      renewable: true,
      pathSuffix: '',
      tokenPeriod: 3600,
      tokenExplicitMaxTtl: 0,
      tokenNumUses: 0,
      tokenType: 'default-service',
      tokenNoDefaultPolicy: false,
    })
    await store.roles.write('backup')
    assert.deepEqual(await store.roles.read('ci'), written)
    assert.deepEqual(await store.roles.list(), ['backup', 'ci'])
    await store.roles.delete('ci')
    await store.roles.delete('ci')
    assert.equal(await store.roles.read('ci'), null)
    assert.deepEqual(await store.roles.list(), ['backup'])
  })

  test('roles.write: bad input is refused with invalid_request and stores nothing', async () => {
    const { store } = await setup()
    const bad: Array<[string, unknown]> = [
      ['', {}],
      ['a/b', {}],
      ['-lead', {}],
      ['.lead', {}],
      ['x'.repeat(200), {}],
      ['ok', { allowedPolicies: 'deploy' }],
      ['ok', { tokenNumUses: -1 }],
      ['ok', { tokenNumUses: 1.5 }],
      ['ok', { tokenNumUses: 2 ** 31 }],
      ['ok', { tokenPeriod: 'soon' }],
      ['ok', { tokenType: 'jwt' }],
      ['ok', { pathSuffix: '../escape' }],
      ['ok', { orphan: 'yes' }],
      ['ok', { allowedPolicy: ['typo'] }],
    ]
    for (const [name, options] of bad) {
      await assert.rejects(store.roles.write(name, options as never), code('invalid_request'))
    }
    assert.deepEqual(await store.roles.list(), [])
  })

  test("role names start as Vault's do (a letter, digit or `_`); names of Object.prototype are plain names", async () => {
    const { store, admin } = await setup()
    const names = ['_ci', '__proto__', 'constructor', 'toString', 'a.b-c_d']
    for (const name of names) {
      await store.roles.write(name, { allowedPolicies: ['a'] })
      const token = await store.create({ parent: admin, role: name, policies: ['a'] })
      assert.equal((await store.lookup(token.clientToken))?.role, name)
      assert.deepEqual((await store.roles.read(name))?.allowedPolicies, ['a'])
    }
    assert.deepEqual(await store.roles.list(), [...names].sort())
    await store.roles.delete('__proto__')
    assert.equal(await store.roles.read('__proto__'), null)
    const refused = await store.roles.write('-x', {}).catch((error: unknown) => error)
    assert.ok(refused instanceof TokenStoreError)
    assert.match(refused.message, /starting with a letter, digit or '_'/)
  })

  test('create({ role }): an unknown role is invalid_request', async () => {
    const { store, admin } = await setup()
    await assert.rejects(store.create({ parent: admin, role: 'nope' }), code('invalid_request'))
  })
})

describe('create() against a role: policies (Vault TestTokenStore_RoleDisallowedPolicies / AllowedPolicies)', () => {
  test('allowedPolicies replace the parent-subset check: a child may get policies its parent lacks', async () => {
    const { store, admin } = await setup()
    await store.roles.write('deployer', { allowedPolicies: ['deploy', 'read'] })
    const token = await store.create({ parent: admin, role: 'deployer', policies: ['deploy'] })
    assert.deepEqual(token.policies, ['default', 'deploy'])
    await assert.rejects(
      store.create({ parent: admin, role: 'deployer', policies: ['admin'] }),
      code('permission_denied'),
    )
  })

  test("allowedPolicies: with no policies requested, the token gets the role's list plus default", async () => {
    const { store, admin } = await setup()
    await store.roles.write('deployer', { allowedPolicies: ['deploy', 'read'] })
    const token = await store.create({ parent: admin, role: 'deployer' })
    assert.deepEqual(token.policies, ['default', 'deploy', 'read'])
  })

  test('allowedPoliciesGlob: globs admit matching names; with nothing requested, globs are not expanded', async () => {
    const { store, admin } = await setup()
    await store.roles.write('teams', { allowedPoliciesGlob: ['team-*-read'] })
    const token = await store.create({ parent: admin, role: 'teams', policies: ['TEAM-blue-read'] })
    assert.deepEqual(token.policies, ['default', 'team-blue-read'])
    await assert.rejects(
      store.create({ parent: admin, role: 'teams', policies: ['team-blue-write'] }),
      code('permission_denied'),
    )
    assert.deepEqual((await store.create({ parent: admin, role: 'teams' })).policies, ['default'])
  })

  test('disallowedPolicies beat allowedPolicies, and a disallowed default is not added', async () => {
    const { store, admin } = await setup()
    await store.roles.write('mixed', {
      allowedPolicies: ['x', 'y'],
      disallowedPolicies: ['y', 'default'],
    })
    await assert.rejects(
      store.create({ parent: admin, role: 'mixed', policies: ['y'] }),
      code('permission_denied'),
    )
    assert.deepEqual(
      (await store.create({ parent: admin, role: 'mixed', policies: ['x'] })).policies,
      ['x'],
    )
    await assert.rejects(
      store.create({ parent: admin, role: 'mixed', policies: ['default'] }),
      code('permission_denied'),
    )
  })

  test('disallowedPoliciesGlob: refuses matching names, also when inherited from the parent', async () => {
    const { store, root } = await setup()
    await store.roles.write('nonadmin', { disallowedPoliciesGlob: ['*admin*'] })
    const parent = (await store.create({ parent: root, policies: ['read', 'sysadmin'] }))
      .clientToken
    await assert.rejects(store.create({ parent, role: 'nonadmin' }), code('permission_denied'))
    assert.deepEqual(
      (await store.create({ parent, role: 'nonadmin', policies: ['read'] })).policies,
      ['default', 'read'],
    )
  })

  test("a role with only disallowed policies still requires a subset of the parent's", async () => {
    const { store, admin } = await setup()
    await store.roles.write('deny-only', { disallowedPolicies: ['secret'] })
    await assert.rejects(
      store.create({ parent: admin, role: 'deny-only', policies: ['other'] }),
      code('permission_denied'),
    )
    assert.deepEqual(
      (await store.create({ parent: admin, role: 'deny-only', policies: ['a'] })).policies,
      ['a', 'default'],
    )
  })

  test('a role without lists keeps the ordinary parent rules', async () => {
    const { store, admin } = await setup()
    await store.roles.write('plain')
    await assert.rejects(
      store.create({ parent: admin, role: 'plain', policies: ['other'] }),
      code('permission_denied'),
    )
    assert.deepEqual((await store.create({ parent: admin, role: 'plain' })).policies, [
      'a',
      'admin',
      'b',
      'default',
    ])
  })

  test('tokenNoDefaultPolicy leaves default out', async () => {
    const { store, admin } = await setup()
    await store.roles.write('bare', { allowedPolicies: ['x'], tokenNoDefaultPolicy: true })
    assert.deepEqual((await store.create({ parent: admin, role: 'bare' })).policies, ['x'])
  })

  test('a role cannot lift a non-root parent to root', async () => {
    const { store, admin } = await setup()
    await store.roles.write('escalate', { allowedPolicies: ['root'] })
    await assert.rejects(
      store.create({ parent: admin, role: 'escalate' }),
      code('permission_denied'),
    )
  })
})

describe('create() against a role: parent, path and limits', () => {
  test("the role's orphan decides orphaning; noParent is ignored", async () => {
    const { store, admin, root } = await setup()
    await store.roles.write('orphans', { orphan: true })
    await store.roles.write('children')
    const orphan = await store.create({ parent: admin, role: 'orphans' })
    assert.equal(orphan.orphan, true)
    // Revoking the creator leaves the role's orphan alive.
    await store.revoke(admin)
    assert.ok(await store.lookup(orphan.clientToken))
    const child = await store.create({ parent: root, role: 'children', noParent: true })
    assert.equal(child.orphan, false)
  })

  test('the path is auth/token/create/<role>[/<suffix>], so a role version can be revoked by prefix', async () => {
    const { store, admin } = await setup()
    await store.roles.write('web', { pathSuffix: 'v1' })
    const v1 = await store.create({ parent: admin, role: 'web' })
    await store.roles.write('web', { pathSuffix: 'v2' })
    const v2 = await store.create({ parent: admin, role: 'web' })
    assert.equal((await store.lookup(v1.clientToken))?.path, 'auth/token/create/web/v1')
    assert.equal((await store.lookup(v2.clientToken))?.role, 'web')
    assert.equal(await store.revokePrefix('auth/token/create/web/v1'), 1)
    assert.equal(await store.lookup(v1.clientToken), null)
    assert.ok(await store.lookup(v2.clientToken))
    await assert.rejects(
      store.create({ parent: admin, role: 'web', path: 'auth/x' }),
      code('invalid_request'),
    )
  })

  test("pathSuffix is bounded so that every path a role's token can have is one revokePrefix accepts", async () => {
    const { store, admin } = await setup()
    const longestName = 'r'.repeat(128)
    // 'auth/token/create/' + 128-character name + '/' leaves 365 of revokePrefix's 512 characters.
    const longest = Array.from({ length: 73 }, () => 'abcd').join('/') + 'e'
    assert.equal(longest.length, 365)
    await store.roles.write(longestName, { pathSuffix: longest })
    const token = await store.create({ parent: admin, role: longestName })
    const path = (await store.lookup(token.clientToken))?.path ?? ''
    assert.equal(path.length, 512)
    assert.equal(await store.revokePrefix(path), 1)
    assert.equal(await store.lookup(token.clientToken), null)
    for (const name of ['short', longestName]) {
      await assert.rejects(
        store.roles.write(name, { pathSuffix: `${longest}x` }),
        (error: unknown) =>
          error instanceof TokenStoreError &&
          error.code === 'invalid_request' &&
          /pathSuffix.*365/.test(error.message),
      )
    }
    assert.equal(await store.roles.read('short'), null)
  })

  test('the lesser of role and request wins for numUses, explicitMaxTtl and period, with warnings', async () => {
    const { store, root } = await setup()
    await store.roles.write('limited', {
      tokenNumUses: 3,
      tokenExplicitMaxTtl: '2h',
      tokenPeriod: '30m',
    })
    const token = await store.create({
      parent: root,
      role: 'limited',
      numUses: 5,
      explicitMaxTtl: '1h',
      period: '1h',
    })
    assert.equal(token.numUses, 3)
    assert.equal(token.leaseDuration, 1800)
    const info = await store.lookup(token.clientToken)
    assert.ok(info)
    assert.equal(info.explicitMaxTtl, 3600)
    assert.equal(info.period, 1800)
    assert.equal(token.warnings?.length, 2)
    assert.equal((await store.create({ parent: root, role: 'limited', numUses: 2 })).numUses, 2)
  })

  test("a role's period needs no root parent; a request's does", async () => {
    const { store, admin } = await setup()
    await store.roles.write('periodic', { tokenPeriod: '15m' })
    const token = await store.create({ parent: admin, role: 'periodic' })
    assert.equal(token.leaseDuration, 900)
    await assert.rejects(
      store.create({ parent: admin, role: 'periodic', period: '10m' }),
      code('permission_denied'),
    )
  })

  test('renewable: false on the role makes its tokens non-renewable', async () => {
    const { store, admin } = await setup()
    await store.roles.write('fixed', { renewable: false })
    const token = await store.create({ parent: admin, role: 'fixed' })
    assert.equal(token.renewable, false)
    await assert.rejects(store.renew(token.clientToken), code('not_renewable'))
  })

  test('tokenType: batch roles issue batch tokens; a service role refuses a batch request', async () => {
    const { store, admin } = await setup()
    await store.roles.write('batchy', { tokenType: 'batch', orphan: true, renewable: false })
    for (const unfit of [
      {},
      { orphan: true },
      { orphan: true, renewable: false, tokenPeriod: 60 },
    ]) {
      await assert.rejects(
        store.roles.write('unfit', { tokenType: 'batch', ...unfit }),
        code('invalid_request'),
      )
    }
    await store.roles.write('default-batchy', { tokenType: 'default-batch' })
    await store.roles.write('servicey', { tokenType: 'service' })
    assert.match((await store.create({ parent: admin, role: 'batchy' })).clientToken, /^hvb\./)
    assert.match(
      (await store.create({ parent: admin, role: 'default-batchy' })).clientToken,
      /^hvb\./,
    )
    assert.match(
      (await store.create({ parent: admin, role: 'default-batchy', type: 'service' })).clientToken,
      /^hvs\./,
    )
    await assert.rejects(
      store.create({ parent: admin, role: 'servicey', type: 'batch' }),
      code('invalid_request'),
    )
    await assert.rejects(
      store.create({ parent: admin, role: 'batchy', type: 'service' }),
      code('invalid_request'),
    )
  })
})

describe('renew() of a role token re-reads the role (Vault TestTokenStore_RolePeriod)', () => {
  test("the role's current period applies at renewal", async () => {
    const { store, clock, admin } = await setup()
    await store.roles.write('periodic', { tokenPeriod: '1h' })
    const token = await store.create({ parent: admin, role: 'periodic' })
    await store.roles.write('periodic', { tokenPeriod: '10m' })
    await clock.advance('30m')
    assert.equal((await store.renew(token.clientToken)).leaseDuration, 600)
  })

  test("the role's current explicit max TTL caps renewals", async () => {
    const { store, clock, admin } = await setup()
    await store.roles.write('capped', { tokenExplicitMaxTtl: '10h' })
    const token = await store.create({ parent: admin, role: 'capped' })
    await store.roles.write('capped', { tokenExplicitMaxTtl: '90m' })
    await clock.advance('50m')
    const renewed = await store.renew(token.clientToken, '2h')
    assert.equal(renewed.leaseDuration, 40 * 60)
    assert.equal(renewed.warnings?.length, 1)
  })

  test('renewal of a token whose role was deleted fails; the token itself stays usable', async () => {
    const { store, admin } = await setup()
    await store.roles.write('temp')
    const token = await store.create({ parent: admin, role: 'temp' })
    await store.roles.delete('temp')
    await assert.rejects(store.renew(token.clientToken), code('not_renewable'))
    assert.ok(await store.authenticate(token.clientToken))
  })
})
