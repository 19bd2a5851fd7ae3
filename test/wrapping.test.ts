/**
 * Response wrapping in the library: `wrap`, `unwrap`, `lookupWrapping`, `rewrap`. The wrapping token is a real
 * token (single use, orphan, TTL, policy `response-wrapping`), so revocation, expiry and sweeps end it and the
 * value it holds.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { MAX_WRAP_TTL, TokenStore, TokenStoreError, type HashedTokenId } from '../src/index.js'
import { WrappingCodec } from '../src/wrapping.js'
import {
  WRITE_METHODS,
  harness,
  recordAudit,
  recordRevoked,
  rejectsWith,
  spyHarness,
  storedRecord,
} from './helpers/index.js'

const SECRET = { password: 'correct horse battery staple', n: 42, nested: { list: [1, 'two'] } }

test('wrap(): returns wrap info; the wrapping token is a single-use orphan with the response-wrapping policy', async () => {
  const { store, memory, clock } = harness()
  const info = await store.wrap(SECRET, { ttl: '5m', creationPath: 'auth/token/create' })
  assert.match(info.token, /^hvs\./)
  assert.equal(info.ttl, 300)
  assert.equal(info.creationPath, 'auth/token/create')
  assert.equal(info.creationTime.getTime(), clock.now)
  assert.equal(info.wrappedAccessor, undefined)
  const details = await store.lookup(info.token)
  assert.ok(details)
  assert.deepEqual(details.policies, ['response-wrapping'])
  assert.equal(details.numUses, 1)
  assert.equal(details.orphan, true)
  assert.equal(details.renewable, false)
  assert.equal(details.explicitMaxTtl, 300)
  assert.equal(details.path, 'auth/token/create')
  const record = await storedRecord(memory, info.accessor)
  assert.equal(typeof record.wrapped, 'string')
})

test('wrap(): defaults to the sys/wrapping/wrap path and echoes wrappedAccessor', async () => {
  const { store } = harness()
  const info = await store.wrap('text', { ttl: 60, wrappedAccessor: 'abc' })
  assert.equal(info.creationPath, 'sys/wrapping/wrap')
  assert.equal(info.wrappedAccessor, 'abc')
})

test('unwrap(): hands the value out once, then the wrapping token is gone', async () => {
  const { store, memory } = harness()
  const revoked = recordRevoked(store)
  const info = await store.wrap(SECRET, { ttl: '1h' })
  assert.deepEqual(await store.unwrap(info.token), SECRET)
  assert.equal(
    await memory.getTokenByAccessor(info.accessor),
    null,
    'record and ciphertext deleted',
  )
  assert.deepEqual(
    revoked.map((event) => [event.accessor, event.reason]),
    [[info.accessor, 'uses_exhausted']],
  )
  await rejectsWith(store.unwrap(info.token), 'invalid_token')
  assert.equal(await store.lookupWrapping(info.token), null)
})

test('unwrap(): of 20 concurrent calls exactly one gets the value', async () => {
  const { store } = harness()
  const info = await store.wrap(SECRET, { ttl: 60 })
  const results = await Promise.allSettled(
    Array.from({ length: 20 }, () => store.unwrap(info.token)),
  )
  const won = results.filter((result) => result.status === 'fulfilled')
  assert.equal(won.length, 1)
  assert.deepEqual(won[0]?.value, SECRET)
  for (const result of results) {
    if (result.status === 'rejected') {
      assert.ok(result.reason instanceof TokenStoreError)
      assert.equal(result.reason.code, 'invalid_token')
    }
  }
})

test('unwrap() and rewrap() racing: exactly one succeeds, and the value is never held twice', async () => {
  for (let round = 0; round < 10; round++) {
    const { store, memory } = harness()
    const info = await store.wrap(SECRET, { ttl: 60 })
    const [unwrapped, rewrapped] = await Promise.allSettled([
      store.unwrap(info.token),
      store.rewrap(info.token),
    ])
    const wins = [unwrapped, rewrapped].filter((result) => result.status === 'fulfilled')
    assert.equal(wins.length, 1, `round ${round}`)
    if (rewrapped.status === 'fulfilled') {
      assert.deepEqual(await store.unwrap(rewrapped.value.token), SECRET)
    }
    assert.equal(await memory.getTokenByAccessor(info.accessor), null)
  }
})

test('unwrap(): an expired wrapping token yields nothing; the sweep deletes it', async () => {
  const { store, memory, clock } = harness()
  const info = await store.wrap(SECRET, { ttl: 10 })
  clock.advance(10)
  await rejectsWith(store.unwrap(info.token), 'invalid_token')
  assert.equal(await store.lookupWrapping(info.token), null)
  assert.equal(await store.revokeExpired(), 1)
  assert.equal(await memory.getTokenByAccessor(info.accessor), null)
})

test('unwrap(): a revoked wrapping token (by token or accessor) yields nothing', async () => {
  const { store, memory } = harness()
  const first = await store.wrap(SECRET, { ttl: 60 })
  const second = await store.wrap(SECRET, { ttl: 60 })
  await store.revoke(first.token)
  await store.revokeAccessor(second.accessor)
  await rejectsWith(store.unwrap(first.token), 'invalid_token')
  await rejectsWith(store.unwrap(second.token), 'invalid_token')
  assert.equal(await memory.getTokenByAccessor(first.accessor), null)
  assert.equal(await memory.getTokenByAccessor(second.accessor), null)
})

test('unwrap(): revokePrefix on the creation path ends the wrapping token', async () => {
  const { store } = harness()
  const info = await store.wrap(SECRET, { ttl: 60, creationPath: 'auth/ci/login' })
  assert.equal(await store.revokePrefix('auth/ci'), 1)
  await rejectsWith(store.unwrap(info.token), 'invalid_token')
})

test('unwrap(): an ordinary token is refused and keeps its uses; unknown and batch tokens are refused', async () => {
  const { store } = harness()
  const root = await store.createRoot()
  const limited = await store.create({ parent: root.clientToken, numUses: 2 })
  await rejectsWith(store.unwrap(limited.clientToken), 'invalid_token')
  await rejectsWith(store.unwrap(root.clientToken), 'invalid_token')
  assert.equal((await store.lookup(limited.clientToken))?.numUses, 2)
  await rejectsWith(store.unwrap('hvs.unknown'), 'invalid_token')
  await rejectsWith(store.unwrap(''), 'invalid_token')
  const parent = await store.create({ parent: root.clientToken, policies: ['app'] })
  const batch = await store.create({ parent: parent.clientToken, type: 'batch' })
  await rejectsWith(store.unwrap(batch.clientToken), 'invalid_token')
  await rejectsWith(store.unwrap(42 as unknown as string), 'invalid_request')
})

test('unwrap(): authenticating with the wrapping token spends it, and the value is gone (tamper evidence)', async () => {
  const { store } = harness()
  const info = await store.wrap(SECRET, { ttl: 60 })
  await store.authenticate(info.token)
  await rejectsWith(store.unwrap(info.token), 'invalid_token')
})

test('unwrap(): another store with another secret cannot unwrap, even over the same storage', async () => {
  const { store, memory } = harness({ secret: 'a'.repeat(32) })
  const info = await store.wrap(SECRET, { ttl: 60 })
  const other = new TokenStore({ storage: memory, secret: 'b'.repeat(32), timers: false })
  await rejectsWith(other.unwrap(info.token), 'invalid_token')
  assert.deepEqual(await store.unwrap(info.token), SECRET, 'the failed attempt spent nothing')
})

test('WrappingCodec: a sealed value opens only with its token, its record id and its secret', () => {
  const codec = new WrappingCodec(['s'.repeat(32)])
  const id = 'hashed-id' as HashedTokenId
  const sealed = codec.seal('{"a":1}', 'hvs.token', id)
  assert.equal(codec.open(sealed, 'hvs.token', id), '{"a":1}')
  assert.equal(codec.open(sealed, 'hvs.tokeN', id), null)
  assert.equal(codec.open(sealed, 'hvs.token', 'other-id' as HashedTokenId), null)
  assert.equal(new WrappingCodec(['t'.repeat(32)]).open(sealed, 'hvs.token', id), null)
  const bytes = Buffer.from(sealed.slice(3), 'base64url')
  bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 1
  assert.equal(codec.open(`w1.${bytes.toString('base64url')}`, 'hvs.token', id), null)
  assert.equal(codec.open('w1.', 'hvs.token', id), null)
  const rotated = new WrappingCodec(['t'.repeat(32), 's'.repeat(32)])
  assert.equal(rotated.open(sealed, 'hvs.token', id), '{"a":1}', 'an older secret still opens it')
  assert.equal(codec.open('x', 'hvs.token', id), null)
  assert.ok(!sealed.includes('"a"'))
})

test('lookupWrapping(): creation ttl, time and path, without spending the use', async () => {
  const { store, clock } = harness()
  const info = await store.wrap(SECRET, { ttl: '2m', creationPath: 'auth/token/create' })
  clock.advance(30)
  for (let i = 0; i < 3; i++) {
    assert.deepEqual(await store.lookupWrapping(info.token), {
      creationTtl: 120,
      creationTime: info.creationTime,
      creationPath: 'auth/token/create',
    })
  }
  assert.deepEqual(await store.unwrap(info.token), SECRET)
  const root = await store.createRoot()
  assert.equal(await store.lookupWrapping(root.clientToken), null)
})

test('rewrap(): a new token with the same creation ttl and path holds the value; the old one is invalid', async () => {
  const { store, memory, clock } = harness()
  const info = await store.wrap(SECRET, { ttl: 100, creationPath: 'auth/token/create' })
  clock.advance(60)
  const next = await store.rewrap(info.token)
  assert.notEqual(next.token, info.token)
  assert.equal(next.ttl, 100)
  assert.equal(next.creationPath, 'auth/token/create')
  assert.equal(next.creationTime.getTime(), clock.now)
  assert.equal(await memory.getTokenByAccessor(info.accessor), null)
  await rejectsWith(store.unwrap(info.token), 'invalid_token')
  await rejectsWith(store.rewrap(info.token), 'invalid_token')
  clock.advance(60)
  assert.deepEqual(await store.unwrap(next.token), SECRET, 'the new token lives its full ttl')
})

test('wrap(): bad input is refused with invalid_request and writes nothing', async () => {
  const { store, spy } = spyHarness()
  const cyclic: Record<string, unknown> = {}
  cyclic.self = cyclic
  const bad: Array<[unknown, unknown]> = [
    [SECRET, { ttl: 0 }],
    [SECRET, { ttl: MAX_WRAP_TTL + 1 }],
    [SECRET, { ttl: '-1s' }],
    [SECRET, { ttl: 'soon' }],
    [SECRET, {}],
    [SECRET, null],
    [SECRET, { ttl: 60, creationPath: '/../x' }],
    [SECRET, { ttl: 60, wrappedAccessor: 7 }],
    [undefined, { ttl: 60 }],
    [() => 1, { ttl: 60 }],
    [cyclic, { ttl: 60 }],
    [10n, { ttl: 60 }],
    ['x'.repeat(1024 * 1024), { ttl: 60 }],
  ]
  for (const [payload, options] of bad) {
    await rejectsWith(store.wrap(payload, options as { ttl: number }), 'invalid_request')
  }
  assert.deepEqual(
    spy.calls.filter((method) => WRITE_METHODS.has(method)),
    [],
  )
})

test('wrap()/unwrap(): audit events carry the wrapping accessor, never the token', async () => {
  const { store } = harness()
  const audit = recordAudit(store)
  const info = await store.wrap(SECRET, { ttl: 60 })
  await store.lookupWrapping(info.token)
  await store.unwrap(info.token)
  await rejectsWith(store.unwrap(info.token), 'invalid_token')
  assert.deepEqual(
    audit.map((event) => [event.operation, event.outcome, event.accessor]),
    [
      ['wrap', 'ok', info.accessor],
      ['lookupWrapping', 'ok', info.accessor],
      ['unwrap', 'ok', info.accessor],
      ['unwrap', 'error', null],
    ],
  )
  assert.ok(!JSON.stringify(audit).includes(info.token))
})
