import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import { MemoryStorage, TokenStore, TokenStoreError } from 'tokentree'
import { createTestStore } from 'tokentree/testing'

function code(expected: TokenStoreError['code']) {
  return (error: unknown) => error instanceof TokenStoreError && error.code === expected
}

async function setup() {
  const { store, clock } = createTestStore({ defaultTtl: '1h' })
  const root = (await store.createRoot()).clientToken
  const parent = (await store.create({ parent: root, policies: ['app'] })).clientToken
  return { store, clock, root, parent }
}

describe('batch tokens (Vault TestTokenStore_Batch*)', () => {
  test('create({ type: batch }): nothing is written to storage; the token authenticates and looks up', async () => {
    const memory = new MemoryStorage()
    const store = new TokenStore({ storage: memory, timers: false })
    const root = (await store.createRoot()).clientToken
    const stored = memory.size
    const batch = await store.create({
      parent: root,
      type: 'batch',
      policies: ['app'],
      metadata: { job: '7' },
    })
    assert.equal(memory.size, stored)
    assert.match(batch.clientToken, /^hvb\./)
    assert.equal(batch.renewable, false)
    assert.equal(batch.accessor, '')
    const info = await store.authenticate(batch.clientToken)
    assert.equal(info.type, 'batch')
    assert.deepEqual(info.policies, ['app', 'default'])
    assert.deepEqual(info.metadata, { job: '7' })
    assert.equal(info.orphan, false)
    assert.equal(info.path, 'auth/token/create')
    assert.deepEqual(await store.lookup(batch.clientToken), info)
    await store.close()
  })

  test("the token's entry cannot be read: neither policies nor metadata appear in it", async () => {
    const { store, root } = await setup()
    const batch = await store.create({
      parent: root,
      type: 'batch',
      policies: ['visible-policy'],
      metadata: { user: 'alice' },
    })
    const body = Buffer.from(batch.clientToken.slice(4), 'base64url').toString('latin1')
    assert.ok(!body.includes('visible-policy'))
    assert.ok(!body.includes('alice'))
  })

  test('a forged or altered batch token is refused, as is one from a store with another secret', async () => {
    const { store, root } = await setup()
    const batch = (await store.create({ parent: root, type: 'batch', policies: ['app'] }))
      .clientToken
    const bytes = Buffer.from(batch.slice(4), 'base64url')
    for (const index of [0, 12, Math.floor(bytes.length / 2), bytes.length - 1]) {
      const altered = Buffer.from(bytes)
      altered[index] = (altered[index] ?? 0) ^ 1
      await assert.rejects(
        store.authenticate(`hvb.${altered.toString('base64url')}`),
        code('invalid_token'),
      )
    }
    await assert.rejects(store.authenticate('hvb.'), code('invalid_token'))
    await assert.rejects(store.authenticate('hvb.not-base64-!!'), code('invalid_token'))
    const other = new TokenStore({
      timers: false,
      secret: 'another secret of at least thirty-two bytes',
    })
    const foreign = (await other.create({ type: 'batch' })).clientToken
    await assert.rejects(store.authenticate(foreign), code('invalid_token'))
    await other.close()
  })

  test('every character of a batch token, altered, is refused with the same error; so is every byte', async () => {
    const { store, root } = await setup()
    const batch = (await store.create({ parent: root, type: 'batch', policies: ['app'] }))
      .clientToken
    const messages = new Set<string>()
    const refuse = async (variant: string): Promise<void> => {
      await assert.rejects(store.authenticate(variant), (error: unknown) => {
        assert.ok(code('invalid_token')(error), variant)
        messages.add((error as TokenStoreError).message)
        return true
      })
    }
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    for (let i = 4; i < batch.length; i++) {
      const char = batch[i] as string
      const other = alphabet[(alphabet.indexOf(char) + 17) % alphabet.length] as string
      await refuse(batch.slice(0, i) + other + batch.slice(i + 1))
    }
    const bytes = Buffer.from(batch.slice(4), 'base64url')
    for (let index = 0; index < bytes.length; index++) {
      const altered = Buffer.from(bytes)
      altered[index] = (altered[index] as number) ^ 0x80
      await refuse(`hvb.${altered.toString('base64url')}`)
    }
    assert.equal(messages.size, 1, [...messages].join(' | '))
    assert.equal((await store.authenticate(batch)).type, 'batch')
  })

  test('big metadata and 256 policies read back exactly through authenticate, under a rotated secret too', async () => {
    const secret = 'the first secret, of at least thirty-two bytes'
    const before = new TokenStore({ timers: false, secret })
    const metadata = Object.fromEntries(
      Array.from({ length: 64 }, (_, i) => [
        `kéy-${i}`.padEnd(128, 'k'),
        `välue-${i} 😀`.padEnd(512, 'v'),
      ]),
    )
    const policies = Array.from({ length: 256 }, (_, i) => `policy-${i}`)
    const batch = (await before.create({ type: 'batch', policies, metadata })).clientToken
    const rotated = new TokenStore({
      timers: false,
      secret: ['a new secret, also of at least thirty-two bytes', secret],
    })
    for (const store of [before, rotated]) {
      const info = await store.authenticate(batch)
      assert.deepEqual(info.metadata, metadata)
      assert.deepEqual(info.policies, [...policies, 'default'].sort())
    }
    const other = new TokenStore({
      timers: false,
      secret: 'yet another secret of thirty-two bytes or more',
    })
    await assert.rejects(other.authenticate(batch), code('invalid_token'))
    await Promise.all([before.close(), rotated.close(), other.close()])
  })

  test('only the exact string issued is valid: padding, junk, inserted characters, +/ for -_ and unused bits are refused', async () => {
    const { store, root } = await setup()
    let batch = ''
    // A token with both '-' and '_' in it, to swap them for '+' and '/'.
    while (!(batch.slice(4).includes('-') && batch.slice(4).includes('_'))) {
      batch = (await store.create({ parent: root, type: 'batch', policies: ['app'] })).clientToken
    }
    const middle = Math.floor(batch.length / 2)
    const variants = [
      batch + '=',
      batch + '==',
      batch + '====junk',
      `${batch.slice(0, middle)} ${batch.slice(middle)}`,
      `${batch.slice(0, middle)}!${batch.slice(middle)}`,
      `${batch.slice(0, middle)}\n${batch.slice(middle)}`,
      batch.replace('-', '+'),
      batch.replace('_', '/'),
      batch.replaceAll('-', '+').replaceAll('_', '/'),
    ]
    // The last character's unused low bits: other characters that decode to the same bytes.
    const body = batch.slice(4)
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    const bytes = Buffer.from(body, 'base64url')
    for (const last of alphabet) {
      const other = body.slice(0, -1) + last
      if (other !== body && Buffer.from(other, 'base64url').equals(bytes))
        variants.push(`hvb.${other}`)
    }
    if (bytes.length % 3 !== 0) assert.ok(variants.length > 9, 'the last character has unused bits')
    for (const variant of variants) {
      assert.notEqual(variant, batch)
      await assert.rejects(
        store.authenticate(variant),
        code('invalid_token'),
        JSON.stringify(variant),
      )
      assert.equal(await store.lookup(variant), null)
      await assert.rejects(
        store.createLease(variant, { path: 'aws/creds/x', ttl: 60 }),
        code('invalid_token'),
      )
    }
    assert.equal((await store.authenticate(batch)).type, 'batch')
  })

  test('a batch token stops working when it expires, and when its parent is revoked', async () => {
    const { store, clock, root } = await setup()
    const parent = (await store.create({ parent: root, policies: ['app'] })).clientToken
    const shortLived = (
      await store.create({ parent: root, type: 'batch', policies: ['app'], ttl: '10m' })
    ).clientToken
    const child = (await store.create({ parent, type: 'batch' })).clientToken
    await clock.advance('10m')
    await assert.rejects(store.authenticate(shortLived), code('invalid_token'))
    assert.equal(await store.lookup(shortLived), null)
    assert.ok(await store.authenticate(child))
    await store.revoke(parent)
    await assert.rejects(store.authenticate(child), code('invalid_token'))
  })

  test("an orphan batch token survives its creator's revocation", async () => {
    const { store, root } = await setup()
    const orphan = (
      await store.create({ parent: root, type: 'batch', policies: ['app'], noParent: true })
    ).clientToken
    await store.revoke(root)
    assert.equal((await store.authenticate(orphan)).orphan, true)
  })

  test('not renewable, no children, no numUses, no custom id, no period, no explicit max, no root', async () => {
    const { store, root, parent } = await setup()
    const batch = (await store.create({ parent: root, type: 'batch', policies: ['app'] }))
      .clientToken
    await assert.rejects(store.renew(batch), code('not_renewable'))
    await assert.rejects(store.create({ parent: batch }), code('permission_denied'))
    await assert.rejects(
      store.create({ parent: root, type: 'batch', numUses: 2 }),
      code('invalid_request'),
    )
    await assert.rejects(
      store.create({ parent: root, type: 'batch', id: 'custom' }),
      code('invalid_request'),
    )
    await assert.rejects(
      store.create({ parent: root, type: 'batch', period: 60 }),
      code('invalid_request'),
    )
    await assert.rejects(
      store.create({ parent: root, type: 'batch', explicitMaxTtl: 60 }),
      code('invalid_request'),
    )
    await assert.rejects(
      store.create({ parent: root, type: 'batch', policies: ['root'] }),
      code('invalid_request'),
    )
    // A root parent's child inherits root unless given policies, and a batch token cannot be root.
    await assert.rejects(store.create({ parent: root, type: 'batch' }), code('invalid_request'))
    await assert.rejects(
      store.create({ parent, type: 'batch', policies: ['other'] }),
      code('permission_denied'),
    )
    await assert.rejects(store.create({ type: 'jwt' as never }), code('invalid_request'))
  })

  test('cannot be revoked one by one', async () => {
    const { store, root } = await setup()
    const batch = (await store.create({ parent: root, type: 'batch', policies: ['app'] }))
      .clientToken
    await assert.rejects(store.revoke(batch), code('invalid_request'))
    await assert.rejects(store.revokeOrphan(batch), code('invalid_request'))
    assert.ok(await store.authenticate(batch))
  })

  test('leases under a non-orphan batch token hang off its parent; an orphan batch token holds none', async () => {
    const { store, root } = await setup()
    const events: string[] = []
    store.on('revoked', (event) => {
      if (event.kind === 'lease') events.push(`${event.leaseId}:${event.reason}`)
    })
    const parent = await store.create({ parent: root, policies: ['app'] })
    const batch = (await store.create({ parent: parent.clientToken, type: 'batch' })).clientToken
    const lease = await store.createLease(batch, { path: 'db/creds' })
    assert.ok(await store.lookupLease(lease.leaseId))
    await store.revoke(parent.clientToken)
    assert.deepEqual(events, [`${lease.leaseId}:explicit`])
    const orphan = (await store.create({ type: 'batch' })).clientToken
    await assert.rejects(store.createLease(orphan, { path: 'db/creds' }), code('invalid_request'))
  })
})
