import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import { TokenStoreError, type RevokedEvent, type TokenStore } from 'tokentree'
import { createTestStore } from 'tokentree/testing'

/** A store on a virtual clock, a root token, and every `revoked` event in order. */
async function setup(options: Parameters<typeof createTestStore>[0] = {}) {
  const { store, clock } = createTestStore(options)
  const events: RevokedEvent[] = []
  store.on('revoked', (event) => events.push(event))
  const root = await store.createRoot()
  return { store, clock, root: root.clientToken, events }
}

function leaseEvents(events: RevokedEvent[]) {
  return events.flatMap((event) =>
    event.kind === 'lease'
      ? [{ leaseId: event.leaseId, reason: event.reason, data: event.data }]
      : [],
  )
}

async function rejectsWith(promise: Promise<unknown>, code: TokenStoreError['code']) {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof TokenStoreError)
    assert.equal(error.code, code)
    return true
  })
}

/** How many leases the store still holds under a path. */
async function leasesUnder(store: TokenStore, path: string) {
  return (await store.storage.findLeasesByPrefix(path)).length
}

describe('createLease()', () => {
  test('createLease(): the id is the path plus a random suffix, the TTL defaults to defaultTtl', async () => {
    const { store, root } = await setup({ defaultTtl: '1h' })
    const first = await store.createLease(root, { path: 'aws/creds/deploy' })
    const second = await store.createLease(root, { path: 'aws/creds/deploy/' })
    assert.match(first.leaseId, /^aws\/creds\/deploy\/[A-Za-z0-9_-]{24}$/)
    assert.notEqual(first.leaseId, second.leaseId)
    assert.equal(first.leaseDuration, 3600)
    assert.equal(first.renewable, true)
  })

  test('createLease(): a TTL above maxTtl is capped, with a warning', async () => {
    const { store, root } = await setup({ maxTtl: '2h', defaultTtl: '1h' })
    const lease = await store.createLease(root, { path: 'db/creds', ttl: '5h' })
    assert.equal(lease.leaseDuration, 7200)
    assert.equal(lease.warnings?.length, 1)
  })

  test("createLease(): does not use one of the token's uses", async () => {
    const { store } = await setup()
    const token = await store.create({ numUses: 2 })
    await store.createLease(token.clientToken, { path: 'aws/creds/a' })
    await store.createLease(token.clientToken, { path: 'aws/creds/b' })
    assert.equal((await store.authenticate(token.clientToken)).numUses, 1)
    await store.authenticate(token.clientToken)
    await rejectsWith(store.authenticate(token.clientToken), 'invalid_token')
  })

  test('createLease(): refused with invalid_token after the last use, leaving nothing behind', async () => {
    const { store } = await setup()
    const token = await store.create({ numUses: 1 })
    await store.authenticate(token.clientToken)
    await rejectsWith(
      store.createLease(token.clientToken, { path: 'aws/creds/late' }),
      'invalid_token',
    )
    assert.equal(await leasesUnder(store, 'aws'), 0)
  })

  test('createLease(): refused for an expired token and for a child of a revoked parent', async () => {
    const { store, clock, root } = await setup()
    const shortLived = await store.create({ ttl: 60 })
    await clock.advance(60)
    await rejectsWith(store.createLease(shortLived.clientToken, { path: 'x/y' }), 'invalid_token')
    const parent = await store.create({ parent: root })
    const child = await store.create({ parent: parent.clientToken })
    const stored = await store.storage.getTokenByAccessor(parent.accessor)
    assert.ok(stored)
    await store.storage.markRevoking(stored.id, 'explicit')
    await rejectsWith(store.createLease(child.clientToken, { path: 'x/y' }), 'invalid_token')
    assert.equal(await leasesUnder(store, 'x'), 0)
  })

  test('createLease(): bad input is refused with invalid_request and changes nothing', async () => {
    const { store, root } = await setup()
    const bad: unknown[] = [
      undefined,
      {},
      { path: '' },
      { path: '/abs' },
      { path: 'a b' },
      { path: 'ok', ttl: -1 },
      { path: 'ok', ttl: 'soon' },
      { path: 'ok', renewable: 'yes' },
      { path: 'ok', data: { big: 1n } },
      { path: 'ok', data: 'x'.repeat(70_000) },
      { path: 'ok', dat: {} },
    ]
    for (const options of bad) {
      await rejectsWith(store.createLease(root, options as never), 'invalid_request')
    }
    await rejectsWith(store.createLease(42 as never, { path: 'ok' }), 'invalid_request')
    assert.equal(await leasesUnder(store, 'ok'), 0)
  })

  test("createLease(): data is copied, so later changes to the caller's object do not leak in", async () => {
    const { store, root, events } = await setup()
    const data = { keyId: 'AKIA1' }
    const lease = await store.createLease(root, { path: 'aws/creds/x', data })
    data.keyId = 'changed'
    await store.revokeLease(lease.leaseId)
    assert.deepEqual(leaseEvents(events), [
      { leaseId: lease.leaseId, reason: 'explicit', data: { keyId: 'AKIA1' } },
    ])
  })
})

describe('lookupLease() and renewLease()', () => {
  test('lookupLease(): reports the lease but never its data', async () => {
    const { store, clock, root } = await setup()
    const lease = await store.createLease(root, {
      path: 'aws/creds/deploy',
      ttl: '1h',
      data: { secret: 's3' },
    })
    await clock.advance('10m')
    const info = await store.lookupLease(lease.leaseId)
    assert.ok(info)
    assert.equal(info.leaseId, lease.leaseId)
    assert.equal(info.path, 'aws/creds/deploy')
    assert.equal(info.leaseDuration, 3600)
    assert.equal(info.ttl, 3000)
    assert.equal(info.renewable, true)
    assert.equal(info.issueTime.getTime(), clock.now() - 600_000)
    assert.equal(info.expireTime.getTime(), info.issueTime.getTime() + 3_600_000)
    assert.equal(info.lastRenewalTime, null)
    assert.ok(!('data' in info))
    assert.ok(!JSON.stringify(info).includes('s3'))
    assert.equal(await store.lookupLease('aws/creds/deploy/unknown'), null)
  })

  test('lookupLease(): null once the lease expired or its token is no longer live, even before a sweep', async () => {
    const { store } = await setup()
    const clockless = await store.create({ ttl: 60 })
    const lease = await store.createLease(clockless.clientToken, { path: 'p/q', ttl: 600 })
    assert.ok(await store.lookupLease(lease.leaseId))
    await store.revoke(clockless.clientToken)
    assert.equal(await store.lookupLease(lease.leaseId), null)
  })

  test('renewLease(): now + increment, or the TTL granted last, capped by maxTtl from issue time', async () => {
    const { store, clock, root } = await setup({ maxTtl: '2h', defaultTtl: '1h' })
    const lease = await store.createLease(root, { path: 'db/creds', ttl: '30m' })
    await clock.advance('20m')
    const renewed = await store.renewLease(lease.leaseId)
    assert.equal(renewed.leaseDuration, 1800)
    const longer = await store.renewLease(lease.leaseId, '1h')
    assert.equal(longer.leaseDuration, 3600)
    assert.equal((await store.lookupLease(lease.leaseId))?.lastRenewalTime?.getTime(), clock.now())
    await clock.advance('50m')
    const capped = await store.renewLease(lease.leaseId, '1h')
    // Issued at 0, max 2h, now 1h10m: 50 minutes left.
    assert.equal(capped.leaseDuration, 3000)
    assert.equal(capped.warnings?.length, 1)
    await clock.advance('49m')
    assert.equal((await store.renewLease(lease.leaseId, 10_000)).leaseDuration, 60)
    await clock.advance('1m')
    await rejectsWith(store.renewLease(lease.leaseId), 'invalid_request')
  })

  test('renewLease(): a lease issued non-renewable refuses with not_renewable', async () => {
    const { store, root } = await setup()
    const lease = await store.createLease(root, { path: 'db/creds', renewable: false })
    await rejectsWith(store.renewLease(lease.leaseId), 'not_renewable')
    await rejectsWith(store.renewLease('db/creds/nope'), 'invalid_request')
    await rejectsWith(store.renewLease(lease.leaseId, 'soon'), 'invalid_request')
  })

  test('renewLease(): extends the expiry the sweep honours', async () => {
    const { store, clock, root, events } = await setup()
    const lease = await store.createLease(root, { path: 'db/creds', ttl: '1h' })
    await clock.advance('50m')
    await store.renewLease(lease.leaseId, '1h')
    await clock.advance('30m')
    assert.equal(leaseEvents(events).length, 0)
    await clock.advance('30m')
    assert.deepEqual(leaseEvents(events), [
      { leaseId: lease.leaseId, reason: 'expired', data: null },
    ])
  })
})

describe('revocation reaches leases', () => {
  test('revokeLease(): emits revoked with kind lease, reason explicit and the data; unknown ids are no-ops', async () => {
    const { store, root, events } = await setup()
    const lease = await store.createLease(root, {
      path: 'aws/creds/deploy',
      data: { keyId: 'AKIA1' },
    })
    await store.revokeLease(lease.leaseId)
    await store.revokeLease(lease.leaseId)
    await store.revokeLease('never/issued')
    assert.equal(events.length, 1)
    const [event] = events
    assert.ok(event?.kind === 'lease')
    assert.equal(event.leaseId, lease.leaseId)
    assert.equal(event.path, 'aws/creds/deploy')
    assert.deepEqual(event.data, { keyId: 'AKIA1' })
    assert.equal(event.reason, 'explicit')
    assert.equal(event.accessor, (await store.lookup(root))?.accessor)
  })

  test("revoke(): leases of the token and of every descendant go, with the token's reason, before the call settles", async () => {
    const { store, root, events } = await setup()
    const parent = await store.create({ parent: root })
    const child = await store.create({ parent: parent.clientToken })
    const own = await store.createLease(parent.clientToken, { path: 'a/b', data: 1 })
    const below = await store.createLease(child.clientToken, { path: 'a/c', data: 2 })
    const unrelated = await store.createLease(root, { path: 'a/d', data: 3 })
    await store.revoke(parent.clientToken)
    assert.deepEqual(
      leaseEvents(events).sort((x, y) => (x.data as number) - (y.data as number)),
      [
        { leaseId: own.leaseId, reason: 'explicit', data: 1 },
        { leaseId: below.leaseId, reason: 'parent', data: 2 },
      ],
    )
    assert.ok(await store.lookupLease(unrelated.leaseId))
    // Each lease is revoked before the token it was issued under.
    const order = events.map((event) =>
      event.kind === 'lease' ? `lease:${event.data as number}` : `token:${event.accessor}`,
    )
    assert.ok(order.indexOf('lease:2') < order.indexOf(`token:${child.accessor}`))
    assert.ok(order.indexOf('lease:1') < order.indexOf(`token:${parent.accessor}`))
  })

  test("revokeOrphan(): the token's own leases go (reason orphan); its children's stay", async () => {
    const { store, root, events } = await setup()
    const parent = await store.create({ parent: root })
    const child = await store.create({ parent: parent.clientToken })
    const own = await store.createLease(parent.clientToken, { path: 'a/b' })
    const kept = await store.createLease(child.clientToken, { path: 'a/c' })
    await store.revokeOrphan(parent.clientToken)
    assert.deepEqual(leaseEvents(events), [{ leaseId: own.leaseId, reason: 'orphan', data: null }])
    assert.ok(await store.lookupLease(kept.leaseId))
  })

  test('revokeAccessor(): leases go with reason explicit', async () => {
    const { store, root, events } = await setup()
    const token = await store.create({ parent: root })
    const lease = await store.createLease(token.clientToken, { path: 'a/b' })
    await store.revokeAccessor(token.accessor)
    assert.deepEqual(leaseEvents(events), [
      { leaseId: lease.leaseId, reason: 'explicit', data: null },
    ])
  })

  test("revokePrefix(): a token path prefix takes the tokens' leases; a lease prefix takes matching leases only", async () => {
    const { store, root, events } = await setup()
    const github = await store.create({ path: 'auth/github/login' })
    const viaGithub = await store.createLease(github.clientToken, { path: 'db/creds/ro' })
    const aws1 = await store.createLease(root, { path: 'aws/creds/deploy' })
    const aws2 = await store.createLease(root, { path: 'aws/sts/admin' })
    const awsLike = await store.createLease(root, { path: 'awsome/creds' })
    assert.equal(await store.revokePrefix('auth/github'), 2)
    assert.deepEqual(leaseEvents(events), [
      { leaseId: viaGithub.leaseId, reason: 'prefix', data: null },
    ])
    assert.equal(await store.revokePrefix('aws/'), 2)
    assert.deepEqual(
      leaseEvents(events)
        .slice(1)
        .map((event) => event.leaseId)
        .sort(),
      [aws1.leaseId, aws2.leaseId].sort(),
    )
    assert.ok(
      leaseEvents(events)
        .slice(1)
        .every((event) => event.reason === 'prefix'),
    )
    assert.ok(await store.lookupLease(awsLike.leaseId))
  })

  test("authenticate(): the last use takes the token's leases, reason uses_exhausted", async () => {
    const { store, events } = await setup()
    const token = await store.create({ numUses: 1 })
    const lease = await store.createLease(token.clientToken, { path: 'a/b' })
    await store.authenticate(token.clientToken)
    assert.deepEqual(leaseEvents(events), [
      { leaseId: lease.leaseId, reason: 'uses_exhausted', data: null },
    ])
  })

  test("expiry: a token's leases go with reason expired; its children's leases with reason parent", async () => {
    const { store, clock, root, events } = await setup()
    const parent = await store.create({ parent: root, ttl: '1h' })
    const child = await store.create({ parent: parent.clientToken, ttl: '10h' })
    const own = await store.createLease(parent.clientToken, { path: 'a/b', ttl: '5h' })
    const below = await store.createLease(child.clientToken, { path: 'a/c', ttl: '5h' })
    await clock.advance('1h')
    assert.deepEqual(
      leaseEvents(events).sort((x, y) => x.reason.localeCompare(y.reason)),
      [
        { leaseId: own.leaseId, reason: 'expired', data: null },
        { leaseId: below.leaseId, reason: 'parent', data: null },
      ].sort((x, y) => x.reason.localeCompare(y.reason)),
    )
  })

  test('expiry: a lease that expires on its own goes with reason expired; its token stays', async () => {
    const { store, clock, root, events } = await setup()
    const lease = await store.createLease(root, { path: 'a/b', ttl: '10m' })
    await clock.advance('10m')
    assert.deepEqual(leaseEvents(events), [
      { leaseId: lease.leaseId, reason: 'expired', data: null },
    ])
    assert.ok(await store.lookup(root))
  })
})
