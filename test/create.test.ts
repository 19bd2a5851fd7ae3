import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import { harness, isUsable, recordRevoked, rejectsWith, spyHarness } from './helpers/index.js'

/** Vault's default TTL: 768 hours. */
const VAULT_DEFAULT_TTL = 768 * 3600

describe('createRoot()', () => {
  test('createRoot(): a root token holds only root, never expires, has no parent and cannot be renewed', async () => {
    const { store, clock } = harness()
    const root = await store.createRoot()
    assert.match(root.clientToken, /^hvs\./)
    assert.deepEqual(root.policies, ['root'])
    assert.equal(root.leaseDuration, 0)
    assert.equal(root.orphan, true)
    assert.equal(root.renewable, false)
    assert.equal(root.numUses, 0)
    const info = await store.lookup(root.clientToken)
    assert.ok(info)
    assert.equal(info.path, 'auth/token/root')
    assert.equal(info.expireTime, null)
    assert.equal(info.displayName, 'root')
    clock.advance(100 * 365 * 24 * 3600)
    assert.ok(await store.authenticate(root.clientToken))
  })

  test('createRoot(): a custom id is the token id, and a second root with the same id is a conflict', async () => {
    const { store } = harness()
    const root = await store.createRoot({ id: 'dev-root-token' })
    assert.equal(root.clientToken, 'dev-root-token')
    assert.ok(await store.lookup('dev-root-token'))
    await rejectsWith(store.createRoot({ id: 'dev-root-token' }), 'conflict')
  })
})

describe('create() without a parent: tokens the host issues', () => {
  test('create(): a host-issued token is an orphan at auth/token/create-orphan with exactly the given policies plus default', async () => {
    const { store } = harness()
    const auth = await store.create({ policies: ['deploy', 'read'] })
    assert.deepEqual(auth.policies, ['default', 'deploy', 'read'])
    assert.equal(auth.orphan, true)
    const info = await store.lookup(auth.clientToken)
    assert.ok(info)
    assert.equal(info.path, 'auth/token/create-orphan')
    assert.equal(info.orphan, true)
  })

  test('create(): a host-issued token without policies holds only default', async () => {
    const { store } = harness()
    assert.deepEqual((await store.create()).policies, ['default'])
    assert.deepEqual((await store.create({ policies: [] })).policies, ['default'])
  })

  test('create(): noDefaultPolicy leaves default out of a host-issued token', async () => {
    const { store } = harness()
    const auth = await store.create({ policies: ['deploy'], noDefaultPolicy: true })
    assert.deepEqual(auth.policies, ['deploy'])
  })

  test('create(): noDefaultPolicy removes default from a host-issued token even when it is asked for explicitly', async () => {
    const { store } = harness()
    const auth = await store.create({ policies: ['default', 'deploy'], noDefaultPolicy: true })
    assert.deepEqual(auth.policies, ['deploy'])
  })

  test('create(): `path` names the auth method that issued a host token', async () => {
    const { store } = harness()
    const auth = await store.create({ path: 'auth/github/login', policies: ['dev'] })
    const info = await store.lookup(auth.clientToken)
    assert.equal(info?.path, 'auth/github/login')
  })

  test('create(): the host may issue tokens with a custom id, a period or root, since it needs no parent', async () => {
    const { store } = harness()
    const custom = await store.create({ id: 'my-service-token' })
    assert.equal(custom.clientToken, 'my-service-token')
    const periodic = await store.create({ period: '1h' })
    assert.equal(periodic.leaseDuration, 3600)
    const root = await store.create({ policies: ['root'] })
    assert.deepEqual(root.policies, ['root'])
  })

  test('create(): a duplicate custom id is a conflict and writes nothing', async () => {
    const { store, spy } = spyHarness()
    await store.create({ id: 'taken' })
    const before = await spy.snapshot()
    await rejectsWith(store.create({ id: 'taken', policies: ['other'] }), 'conflict')
    assert.equal(await spy.snapshot(), before)
  })
})

describe('create(): policies', () => {
  test('create(): policy names are trimmed, lowercased, deduplicated and sorted', async () => {
    const { store } = harness()
    const auth = await store.create({ policies: [' Write ', 'read', 'READ', '', 'admin'] })
    assert.deepEqual(auth.policies, ['admin', 'default', 'read', 'write'])
  })

  test('create(): a list holding root collapses to exactly root, without default', async () => {
    const { store } = harness()
    const auth = await store.create({ policies: ['dev', 'ROOT', 'default'] })
    assert.deepEqual(auth.policies, ['root'])
  })

  test('create(): a child without policies inherits its parent policies', async () => {
    const { store } = harness()
    const parent = await store.create({ policies: ['a', 'b'] })
    const child = await store.create({ parent: parent.clientToken })
    assert.deepEqual(child.policies, ['a', 'b', 'default'])
  })

  test('create(): an inheriting child does not gain default when its parent lacks it', async () => {
    const { store } = harness()
    const parent = await store.create({ policies: ['a'], noDefaultPolicy: true })
    assert.deepEqual(parent.policies, ['a'])
    const child = await store.create({ parent: parent.clientToken })
    assert.deepEqual(child.policies, ['a'])
  })

  test('create(): a child of a root parent created without policies inherits root', async () => {
    const { store } = harness()
    const root = await store.createRoot()
    const child = await store.create({ parent: root.clientToken })
    assert.deepEqual(child.policies, ['root'])
    // A root token with no TTL never expires, as in Vault.
    assert.equal(child.leaseDuration, 0)
  })

  test('create(): a child of a non-root parent must ask for a subset of its parent policies', async () => {
    const { store, spy } = spyHarness()
    const parent = await store.create({ policies: ['a', 'b'] })
    const before = await spy.snapshot()
    await rejectsWith(
      store.create({ parent: parent.clientToken, policies: ['a', 'c'] }),
      'permission_denied',
    )
    assert.equal(await spy.snapshot(), before)
    const child = await store.create({ parent: parent.clientToken, policies: ['B'] })
    assert.deepEqual(child.policies, ['b', 'default'])
  })

  test('create(): a child may not ask for default when its parent lacks it', async () => {
    const { store } = harness()
    const parent = await store.create({ policies: ['a'], noDefaultPolicy: true })
    await rejectsWith(
      store.create({ parent: parent.clientToken, policies: ['default'] }),
      'permission_denied',
    )
    await rejectsWith(
      store.create({ parent: parent.clientToken, policies: ['a', 'default'] }),
      'permission_denied',
    )
  })

  test('create(): a child gets default only when its parent has it', async () => {
    const { store } = harness()
    const withDefault = await store.create({ policies: ['a'] })
    const withoutDefault = await store.create({ policies: ['a'], noDefaultPolicy: true })
    const childA = await store.create({ parent: withDefault.clientToken, policies: ['a'] })
    const childB = await store.create({ parent: withoutDefault.clientToken, policies: ['a'] })
    assert.deepEqual(childA.policies, ['a', 'default'])
    assert.deepEqual(childB.policies, ['a'])
  })

  test('create(): noDefaultPolicy removes default from a child even when it is asked for explicitly', async () => {
    const { store } = harness()
    const parent = await store.create({ policies: ['a'] })
    const child = await store.create({
      parent: parent.clientToken,
      policies: ['a', 'default'],
      noDefaultPolicy: true,
    })
    assert.deepEqual(child.policies, ['a'])
    const root = await store.createRoot()
    const rootChild = await store.create({
      parent: root.clientToken,
      policies: ['x', 'default'],
      noDefaultPolicy: true,
    })
    assert.deepEqual(rootChild.policies, ['x'])
  })

  test('create(): a root parent may grant any policies, and default is added', async () => {
    const { store } = harness()
    const root = await store.createRoot()
    const child = await store.create({ parent: root.clientToken, policies: ['anything'] })
    assert.deepEqual(child.policies, ['anything', 'default'])
  })

  test('create(): only a root parent may create a root token', async () => {
    const { store } = harness()
    const root = await store.createRoot()
    const admin = await store.create({ parent: root.clientToken, policies: ['admin'] })
    await rejectsWith(
      store.create({ parent: admin.clientToken, policies: ['root'] }),
      'permission_denied',
    )
    const rootChild = await store.create({ parent: root.clientToken, policies: ['root'] })
    assert.deepEqual(rootChild.policies, ['root'])
  })
})

describe('create(): what needs a root parent', () => {
  test('create(): noParent needs a root parent', async () => {
    const { store, spy } = spyHarness()
    const parent = await store.create({ policies: ['a'] })
    const before = await spy.snapshot()
    await rejectsWith(
      store.create({ parent: parent.clientToken, noParent: true }),
      'permission_denied',
    )
    assert.equal(await spy.snapshot(), before)
  })

  test('create(): an orphan made by a root parent survives the revocation of its creator', async () => {
    const { store } = harness()
    const root = await store.createRoot()
    const admin = await store.create({ parent: root.clientToken, policies: ['admin'] })
    const orphan = await store
      .create({ parent: admin.clientToken, noParent: true })
      .catch(() => null)
    assert.equal(orphan, null, 'a non-root parent may not create an orphan')
    const made = await store.create({ parent: root.clientToken, noParent: true, ttl: '1h' })
    assert.equal(made.orphan, true)
    const child = await store.create({ parent: root.clientToken, ttl: '1h' })
    assert.equal(child.orphan, false)
    await store.revoke(root.clientToken)
    assert.equal(await isUsable(store, made.clientToken), true)
    assert.equal(await isUsable(store, child.clientToken), false)
  })

  test('create(): a custom id needs a root parent', async () => {
    const { store } = harness()
    const parent = await store.create({ policies: ['a'] })
    await rejectsWith(
      store.create({ parent: parent.clientToken, id: 'chosen' }),
      'permission_denied',
    )
    assert.equal(await store.lookup('chosen'), null)
    const root = await store.createRoot()
    const child = await store.create({ parent: root.clientToken, id: 'chosen' })
    assert.equal(child.clientToken, 'chosen')
    assert.ok(await store.authenticate('chosen'))
  })

  test('create(): a period needs a root parent', async () => {
    const { store } = harness()
    const parent = await store.create({ policies: ['a'] })
    await rejectsWith(
      store.create({ parent: parent.clientToken, period: '1h' }),
      'permission_denied',
    )
    const root = await store.createRoot()
    const periodic = await store.create({ parent: root.clientToken, policies: ['a'], period: '1h' })
    assert.equal(periodic.leaseDuration, 3600)
    const info = await store.lookup(periodic.clientToken)
    assert.equal(info?.period, 3600)
  })

  test('create(): a limited-use parent cannot create children, and the refusal uses none of its uses', async () => {
    const { store, spy } = spyHarness()
    const root = await store.createRoot()
    const limited = await store.create({ parent: root.clientToken, numUses: 2 })
    const before = await spy.snapshot()
    await rejectsWith(store.create({ parent: limited.clientToken }), 'permission_denied')
    assert.equal(await spy.snapshot(), before)
    assert.equal((await store.lookup(limited.clientToken))?.numUses, 2)
  })

  test('create(): an unlimited parent keeps all its uses when it creates children', async () => {
    const { store } = harness()
    const parent = await store.create({ policies: ['a'] })
    await store.create({ parent: parent.clientToken })
    await store.create({ parent: parent.clientToken })
    assert.equal((await store.lookup(parent.clientToken))?.numUses, 0)
  })
})

describe('create(): parents and paths', () => {
  test('create(): a child is at auth/token/create and is not an orphan', async () => {
    const { store } = harness()
    const parent = await store.create({ path: 'auth/github/login' })
    const child = await store.create({ parent: parent.clientToken })
    assert.equal(child.orphan, false)
    const info = await store.lookup(child.clientToken)
    assert.equal(info?.path, 'auth/token/create')
    assert.equal(info.orphan, false)
  })

  test('create(): `path` is refused for a child, whose path is always auth/token/create', async () => {
    const { store } = harness()
    const parent = await store.create()
    await rejectsWith(
      store.create({ parent: parent.clientToken, path: 'auth/github/login' }),
      'invalid_request',
    )
  })

  test('create(): an unknown, expired or revoked parent is invalid_token', async () => {
    const { store, clock } = harness()
    await rejectsWith(store.create({ parent: 'hvs.no-such-token' }), 'invalid_token')
    await rejectsWith(store.create({ parent: '' }), 'invalid_token')
    const expiring = await store.create({ ttl: 60 })
    const revoked = await store.create()
    await store.revoke(revoked.clientToken)
    await rejectsWith(store.create({ parent: revoked.clientToken }), 'invalid_token')
    clock.advance(60)
    await rejectsWith(store.create({ parent: expiring.clientToken }), 'invalid_token')
  })

  test('create(): a parent under a revoked or expired ancestor cannot create children', async () => {
    const { store, clock } = harness()
    const top = await store.create({ ttl: 60 })
    const middle = await store.create({ parent: top.clientToken, ttl: 3600 })
    clock.advance(60)
    await rejectsWith(store.create({ parent: middle.clientToken }), 'invalid_token')
  })
})

describe('create(): TTLs', () => {
  test('create(): a token without a TTL gets Vault default of 768h', async () => {
    const { store } = harness()
    assert.equal((await store.create()).leaseDuration, VAULT_DEFAULT_TTL)
    assert.equal((await store.create({ ttl: 0 })).leaseDuration, VAULT_DEFAULT_TTL)
    assert.equal((await store.create({ ttl: '0' })).leaseDuration, VAULT_DEFAULT_TTL)
  })

  test('create(): a token without a TTL gets the configured defaultTtl', async () => {
    const { store } = harness({ defaultTtl: '1h' })
    const auth = await store.create()
    assert.equal(auth.leaseDuration, 3600)
    assert.equal(auth.warnings, undefined)
  })

  test('create(): a TTL above the store maxTtl is capped to it with a warning', async () => {
    const { store } = harness({ maxTtl: '2h' })
    const capped = await store.create({ ttl: '3h' })
    assert.equal(capped.leaseDuration, 7200)
    assert.deepEqual(capped.warnings, [
      'TTL of "3h0m0s" exceeded the effective max_ttl of "2h0m0s"; TTL value is capped accordingly',
    ])
    const exact = await store.create({ ttl: '2h' })
    assert.equal(exact.leaseDuration, 7200)
    assert.equal(exact.warnings, undefined)
  })

  test('create(): without defaultTtl, the default TTL is capped by a maxTtl below 768h', async () => {
    const { store } = harness({ maxTtl: '1h' })
    assert.equal((await store.create()).leaseDuration, 3600)
  })

  test('create(): a TTL above explicitMaxTtl is capped to it with a warning', async () => {
    const { store } = harness()
    const auth = await store.create({ ttl: '2h', explicitMaxTtl: '30m' })
    assert.equal(auth.leaseDuration, 1800)
    assert.ok(auth.warnings && auth.warnings.length > 0)
    const info = await store.lookup(auth.clientToken)
    assert.equal(info?.explicitMaxTtl, 1800)
  })

  test('create(): a period above the max TTL is capped to it with a warning', async () => {
    const { store } = harness({ maxTtl: '1h' })
    const auth = await store.create({ period: '2h' })
    assert.equal(auth.leaseDuration, 3600)
    assert.ok(auth.warnings && auth.warnings.length > 0)
  })

  test('create(): a child TTL may be longer than its parent remaining TTL', async () => {
    const { store } = harness()
    const parent = await store.create({ ttl: '1h' })
    const child = await store.create({ parent: parent.clientToken, ttl: '10h' })
    assert.equal(child.leaseDuration, 36000)
    assert.equal(child.warnings, undefined)
  })

  test('create(): a root token with explicitMaxTtl and no TTL expires at explicitMaxTtl', async () => {
    const { store, clock } = harness()
    const auth = await store.create({ policies: ['root'], explicitMaxTtl: '1h' })
    assert.equal(auth.leaseDuration, 3600)
    clock.advance(3600)
    assert.equal(await store.lookup(auth.clientToken), null)
  })

  test("create(): explicitMaxTtl above the store's maxTtl is capped to it, with Vault's warning, root tokens included", async () => {
    const { store, clock } = harness()
    const root = (await store.createRoot()).clientToken
    const rootChild = await store.create({ parent: root, explicitMaxTtl: '50000h' })
    assert.equal(rootChild.leaseDuration, VAULT_DEFAULT_TTL)
    assert.deepEqual(rootChild.warnings, [
      // Vault's words, durations as Go prints them (VAULT_DEFAULT_TTL is 768h).
      'Explicit max TTL of "50000h0m0s" is greater than system/mount allowed value; value is being capped to "768h0m0s"',
    ])
    const info = await store.lookup(rootChild.clientToken)
    assert.equal(info?.explicitMaxTtl, VAULT_DEFAULT_TTL)
    const plain = await store.create({ ttl: '1h', explicitMaxTtl: '50000h' })
    assert.equal(plain.leaseDuration, 3600)
    assert.equal((await store.lookup(plain.clientToken))?.explicitMaxTtl, VAULT_DEFAULT_TTL)
    clock.advance(VAULT_DEFAULT_TTL)
    assert.equal(await store.lookup(rootChild.clientToken), null)
    assert.equal(await store.lookup(plain.clientToken), null)
  })

  test('create(): an expiring root token cannot create a non-expiring root token', async () => {
    const { store, spy } = spyHarness()
    const root = await store.createRoot()
    const expiringRoot = await store.create({ parent: root.clientToken, ttl: '1h' })
    assert.deepEqual(expiringRoot.policies, ['root'])
    const before = await spy.snapshot()
    await rejectsWith(store.create({ parent: expiringRoot.clientToken }), 'permission_denied')
    assert.equal(await spy.snapshot(), before)
    const expiringChild = await store.create({ parent: expiringRoot.clientToken, ttl: '30m' })
    assert.equal(expiringChild.leaseDuration, 1800)
  })

  test('create(): a token that never expires is not renewable', async () => {
    const { store } = harness()
    const root = await store.createRoot()
    const child = await store.create({ parent: root.clientToken, renewable: true })
    assert.equal(child.leaseDuration, 0)
    assert.equal(child.renewable, false)
  })
})

describe('create(): other fields', () => {
  test('create(): the TokenAuth carries the lease granted to the token', async () => {
    const { store } = harness()
    const auth = await store.create({
      policies: ['a'],
      metadata: { user: 'alice', team: 'ops' },
      ttl: '1h',
      numUses: 3,
    })
    assert.match(auth.clientToken, /^hvs\./)
    assert.equal(typeof auth.accessor, 'string')
    assert.ok(auth.accessor.length > 0)
    assert.deepEqual(auth.policies, ['a', 'default'])
    assert.deepEqual(auth.metadata, { user: 'alice', team: 'ops' })
    assert.equal(auth.leaseDuration, 3600)
    assert.equal(auth.renewable, true)
    assert.equal(auth.orphan, true)
    assert.equal(auth.numUses, 3)
    assert.equal(auth.warnings, undefined)
  })

  test('create(): renewable defaults to true and can be turned off', async () => {
    const { store } = harness()
    assert.equal((await store.create()).renewable, true)
    assert.equal((await store.create({ renewable: false })).renewable, false)
  })

  test("create(): displayName is stored as Vault does: 'token-' prefix, unsafe characters replaced, one trailing '-' dropped", async () => {
    const { store } = harness()
    const cases: Array<[string | undefined, string]> = [
      [undefined, 'token'],
      ['', 'token'],
      ['ci', 'token-ci'],
      ['foo bar!', 'token-foo-bar'],
      ['a!!', 'token-a-'],
      ['Mixed-Case', 'token-Mixed-Case'],
    ]
    for (const [given, stored] of cases) {
      const auth = await store.create(given === undefined ? {} : { displayName: given })
      assert.equal(
        (await store.lookup(auth.clientToken))?.displayName,
        stored,
        `for ${String(given)}`,
      )
    }
  })

  test('create(): metadata is kept as given and a __proto__ key pollutes nothing', async () => {
    const { store } = harness()
    const metadata = JSON.parse('{"__proto__": "x", "k": "v"}') as Record<string, string>
    const auth = await store.create({ metadata })
    const info = await store.lookup(auth.clientToken)
    assert.equal(info?.metadata.k, 'v')
    assert.equal(Object.getOwnPropertyDescriptor(info.metadata, '__proto__')?.value, 'x')
    assert.equal(({} as Record<string, unknown>).x, undefined)
  })

  test('create(): every token gets a fresh id and accessor', async () => {
    const { store } = harness()
    const a = await store.create()
    const b = await store.create()
    assert.notEqual(a.clientToken, b.clientToken)
    assert.notEqual(a.accessor, b.accessor)
  })

  test('create(): creating emits no revoked event', async () => {
    const { store } = harness()
    const events = recordRevoked(store)
    const root = await store.createRoot()
    await store.create({ parent: root.clientToken })
    assert.equal(events.length, 0)
  })
})
