import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import { TokenStore, TokenStoreError } from '../src/index.js'
import { rejectsWith, spyHarness, throwsWith } from './helpers/index.js'

/** Lets a test pass values the types forbid, as JavaScript callers can. */
const loose = (value: unknown): never => value as never

/** A populated store: bad input must leave all of it exactly as it was. */
async function populated() {
  const h = spyHarness()
  const root = await h.store.createRoot()
  const parent = await h.store.create({ parent: root.clientToken, policies: ['a'], ttl: '1h' })
  const child = await h.store.create({ parent: parent.clientToken, numUses: 3 })
  const fixed = await h.store.create({ renewable: false, ttl: '1h', id: 'fixed-id' })
  return { ...h, root, parent, child, fixed }
}

type Populated = Awaited<ReturnType<typeof populated>>

/** Bad calls per public method: each must reject with invalid_request and change nothing. */
const BAD_CALLS: Array<[string, (p: Populated) => Promise<unknown>]> = [
  ['createRoot(null)', (p) => p.store.createRoot(loose(null))],
  ['createRoot("x")', (p) => p.store.createRoot(loose('x'))],
  ['createRoot() with an unknown option', (p) => p.store.createRoot(loose({ policies: ['x'] }))],
  ['createRoot() with an id holding a dot', (p) => p.store.createRoot({ id: 'a.b' })],
  ['createRoot() with an empty id', (p) => p.store.createRoot({ id: '' })],
  ['createRoot() with a numeric id', (p) => p.store.createRoot(loose({ id: 5 }))],
  [
    'createRoot() with non-string metadata',
    (p) => p.store.createRoot(loose({ metadata: { a: 1 } })),
  ],
  ['createRoot() with a numeric displayName', (p) => p.store.createRoot(loose({ displayName: 5 }))],
  ['create(null)', (p) => p.store.create(loose(null))],
  ['create([])', (p) => p.store.create(loose([]))],
  ['create() with an unknown option', (p) => p.store.create(loose({ meta: {} }))],
  ['create() with a numeric parent', (p) => p.store.create(loose({ parent: 5 }))],
  ['create() with an id holding a dot', (p) => p.store.create({ id: 'hvs.abc' })],
  ['create() with an empty id', (p) => p.store.create({ id: '' })],
  ['create() with an id of control characters', (p) => p.store.create({ id: 'a\nb' })],
  ['create() with policies not an array', (p) => p.store.create(loose({ policies: 'a' }))],
  ['create() with a numeric policy', (p) => p.store.create(loose({ policies: ['a', 1] }))],
  ['create() with a null policy', (p) => p.store.create(loose({ policies: [null] }))],
  ['create() with metadata not an object', (p) => p.store.create(loose({ metadata: 'x' }))],
  ['create() with metadata an array', (p) => p.store.create(loose({ metadata: ['x'] }))],
  ['create() with a numeric metadata value', (p) => p.store.create(loose({ metadata: { a: 1 } }))],
  ['create() with a null metadata value', (p) => p.store.create(loose({ metadata: { a: null } }))],
  ['create() with a non-boolean noParent', (p) => p.store.create(loose({ noParent: 'yes' }))],
  ['create() with a negative ttl', (p) => p.store.create({ ttl: -1 })],
  ['create() with a fractional numeric ttl', (p) => p.store.create({ ttl: 1.5 })],
  ['create() with a NaN ttl', (p) => p.store.create({ ttl: Number.NaN })],
  ['create() with an infinite ttl', (p) => p.store.create({ ttl: Number.POSITIVE_INFINITY })],
  ['create() with a boolean ttl', (p) => p.store.create(loose({ ttl: true }))],
  ['create() with a malformed ttl', (p) => p.store.create({ ttl: 'soon' })],
  ['create() with a negative duration string', (p) => p.store.create({ ttl: '-1h' })],
  ['create() with a malformed explicitMaxTtl', (p) => p.store.create({ explicitMaxTtl: '1x' })],
  ['create() with a negative period', (p) => p.store.create({ period: -5 })],
  ['create() with a numeric displayName', (p) => p.store.create(loose({ displayName: 5 }))],
  ['create() with a negative numUses', (p) => p.store.create({ numUses: -1 })],
  ['create() with a fractional numUses', (p) => p.store.create({ numUses: 1.5 })],
  ['create() with a string numUses', (p) => p.store.create(loose({ numUses: '3' }))],
  ['create() with numUses past 2^31 - 1', (p) => p.store.create({ numUses: 2 ** 31 })],
  [
    'create() with a NUL in a metadata value',
    (p) => p.store.create({ metadata: { a: 'b\u0000' } }),
  ],
  [
    'create() with a NUL in a metadata key',
    (p) => p.store.create({ metadata: { 'a\u0000': 'b' } }),
  ],
  [
    'create() with a lone surrogate in a metadata value',
    (p) => p.store.create({ metadata: { a: 'b\ud800c' } }),
  ],
  [
    'create() with a lone surrogate in a metadata key',
    (p) => p.store.create({ metadata: { '\udc00': 'b' } }),
  ],
  [
    'createRoot() with a lone surrogate in its displayName',
    (p) => p.store.createRoot({ displayName: 'r\ud800' }),
  ],
  [
    'policies.write() with a lone surrogate in the text',
    (p) => p.store.policies.write('odd', 'path "a\ud800" { capabilities = ["read"] }'),
  ],
  [
    'createLease() with a lone surrogate in its data',
    (p) =>
      p.store.createLease(p.parent.clientToken, { path: 'aws/creds/x', data: { u: '\udc00' } }),
  ],
  [
    'createLease() with a NUL in a key of its data',
    (p) =>
      p.store.createLease(p.parent.clientToken, { path: 'aws/creds/x', data: { 'k\u0000': 1 } }),
  ],
  ['create() with a NaN numUses', (p) => p.store.create({ numUses: Number.NaN })],
  ['create() with a non-boolean renewable', (p) => p.store.create(loose({ renewable: 'no' }))],
  [
    'create() with a non-boolean noDefaultPolicy',
    (p) => p.store.create(loose({ noDefaultPolicy: 1 })),
  ],
  [
    'create() with more than 64 metadata keys',
    (p) =>
      p.store.create({
        metadata: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v'])),
      }),
  ],
  [
    'create() with an overlong metadata key',
    (p) => p.store.create({ metadata: { ['k'.repeat(129)]: 'v' } }),
  ],
  [
    'create() with an overlong metadata value',
    (p) => p.store.create({ metadata: { k: 'v'.repeat(513) } }),
  ],
  ['create() with an empty metadata key', (p) => p.store.create({ metadata: { '': 'v' } })],
  [
    'create() with more than 256 policies',
    (p) => p.store.create({ policies: Array.from({ length: 257 }, (_, i) => `p${i}`) }),
  ],
  ['create() with an overlong policy name', (p) => p.store.create({ policies: ['p'.repeat(257)] })],
  ['create() with a policy name holding NUL', (p) => p.store.create({ policies: ['a\u0000b'] })],
  [
    'create() with a policy name holding an escape sequence',
    (p) => p.store.create({ policies: ['\u001b[31mred'] }),
  ],
  [
    'roles.write() with an allowed policy holding a control character',
    (p) => p.store.roles.write('odd', { allowedPolicies: ['a\nb'] }),
  ],
  [
    'create() with a policy name holding a lone surrogate',
    (p) => p.store.create({ policies: ['a\ud800'] }),
  ],
  [
    'create() with an overlong displayName',
    (p) => p.store.create({ displayName: 'd'.repeat(257) }),
  ],
  ['create() with an empty path', (p) => p.store.create({ path: '' })],
  ['create() with a path holding a space', (p) => p.store.create({ path: 'auth/git hub' })],
  ['create() with an empty path segment', (p) => p.store.create({ path: 'auth//github' })],
  ['create() with a numeric path', (p) => p.store.create(loose({ path: 5 }))],
  [
    'create() with a valid parent and a bad numUses',
    (p) => p.store.create({ parent: p.parent.clientToken, numUses: -1 }),
  ],
  [
    'create() with a valid parent and bad policies',
    (p) => p.store.create(loose({ parent: p.parent.clientToken, policies: [{}] })),
  ],
  ['lookup(5)', (p) => p.store.lookup(loose(5))],
  ['lookup(null)', (p) => p.store.lookup(loose(null))],
  ['lookup(undefined)', (p) => p.store.lookup(loose(undefined))],
  ['lookupAccessor(5)', (p) => p.store.lookupAccessor(loose(5))],
  ['lookupAccessor({})', (p) => p.store.lookupAccessor(loose({}))],
  ['authenticate(5)', (p) => p.store.authenticate(loose(5))],
  ['authenticate(null)', (p) => p.store.authenticate(loose(null))],
  ['authenticate([token])', (p) => p.store.authenticate(loose([p.child.clientToken]))],
  ['renew(5)', (p) => p.store.renew(loose(5))],
  ['renew() with a negative increment', (p) => p.store.renew(p.child.clientToken, -1)],
  ['renew() with a fractional increment', (p) => p.store.renew(p.child.clientToken, 1.5)],
  ['renew() with a malformed increment', (p) => p.store.renew(p.child.clientToken, 'later')],
  ['renew() with an object increment', (p) => p.store.renew(p.child.clientToken, loose({}))],
  ['renewAccessor(5)', (p) => p.store.renewAccessor(loose(5))],
  [
    'renewAccessor() with a malformed increment',
    (p) => p.store.renewAccessor(p.child.accessor, 'x'),
  ],
  ['revoke(5)', (p) => p.store.revoke(loose(5))],
  ['revoke(null)', (p) => p.store.revoke(loose(null))],
  ['revokeOrphan(5)', (p) => p.store.revokeOrphan(loose(5))],
  ['revokeAccessor(5)', (p) => p.store.revokeAccessor(loose(5))],
  ['revokePrefix("")', (p) => p.store.revokePrefix('')],
  ['revokePrefix("/")', (p) => p.store.revokePrefix('/')],
  ['revokePrefix("a//b")', (p) => p.store.revokePrefix('auth//token')],
  ['revokePrefix("a b")', (p) => p.store.revokePrefix('auth/tok en')],
  ['revokePrefix(5)', (p) => p.store.revokePrefix(loose(5))],
  ['revokePrefix(overlong)', (p) => p.store.revokePrefix('a'.repeat(10_000))],
]

describe('invalid_request', () => {
  for (const [title, call] of BAD_CALLS) {
    test(`errors: ${title} rejects with invalid_request and changes nothing`, async () => {
      const p = await populated()
      const before = await p.spy.snapshot()
      const writes = p.spy.writes()
      let result: Promise<unknown> | undefined
      assert.doesNotThrow(() => {
        result = call(p)
      }, 'public methods reject; they never throw synchronously')
      const error = await rejectsWith(result ?? Promise.resolve(), 'invalid_request')
      assert.ok(error instanceof Error)
      assert.equal(error.name, 'TokenStoreError')
      assert.ok(error.message.length > 0)
      assert.equal(p.spy.writes(), writes, 'no storage write was attempted')
      assert.equal(await p.spy.snapshot(), before)
      // The tokens still work as before.
      assert.equal((await p.store.lookup(p.child.clientToken))?.numUses, 3)
    })
  }

  test('errors: messages describe what was received without echoing it', async () => {
    const p = await populated()
    const secretish = 'hvs.looks-like-a-secret.value'
    const error = await rejectsWith(p.store.create({ id: secretish }), 'invalid_request')
    assert.equal(error.message.includes(secretish), false)
    const numUses = await rejectsWith(p.store.create({ numUses: 1.5 }), 'invalid_request')
    assert.match(numUses.message, /numUses/)
  })
})

describe('new TokenStore()', () => {
  const BAD_OPTIONS: Array<[string, unknown]> = [
    ['null options', null],
    ['an unknown option', { ttl: '1h' }],
    ['a malformed defaultTtl', { defaultTtl: 'x' }],
    ['a negative maxTtl', { maxTtl: -1 }],
    ['a zero maxTtl', { maxTtl: 0 }],
    ['a zero defaultTtl', { defaultTtl: '0s' }],
    ['a defaultTtl above maxTtl', { defaultTtl: '2h', maxTtl: '1h' }],
    ['a secret shorter than 32 bytes', { secret: 'short' }],
    ['a numeric secret', { secret: 5 }],
    ['a clock that is not a function', { clock: 5 }],
  ]
  for (const [title, options] of BAD_OPTIONS) {
    test(`new TokenStore(): ${title} throws invalid_request`, () => {
      throwsWith(() => new TokenStore(loose(options)), 'invalid_request')
    })
  }
})

describe('other refusals change nothing', () => {
  const REFUSALS: Array<[string, string, (p: Populated) => Promise<unknown>]> = [
    [
      'a policy escalation',
      'permission_denied',
      (p) => p.store.create({ parent: p.parent.clientToken, policies: ['b'] }),
    ],
    [
      'a limited-use parent',
      'permission_denied',
      (p) => p.store.create({ parent: p.child.clientToken }),
    ],
    [
      'an orphan from a non-root parent',
      'permission_denied',
      (p) => p.store.create({ parent: p.parent.clientToken, noParent: true }),
    ],
    ['a duplicate id', 'conflict', (p) => p.store.create({ id: 'fixed-id' })],
    ['a non-renewable token', 'not_renewable', (p) => p.store.renew(p.fixed.clientToken)],
    ['a token that never expires', 'not_renewable', (p) => p.store.renew(p.root.clientToken)],
    ['an unknown parent', 'invalid_token', (p) => p.store.create({ parent: 'hvs.unknown' })],
    ['an unknown token', 'invalid_token', (p) => p.store.authenticate('hvs.unknown')],
    ['renewing an unknown token', 'invalid_token', (p) => p.store.renew('hvs.unknown')],
  ]
  for (const [title, code, call] of REFUSALS) {
    test(`errors: ${title} is ${code} and leaves storage unchanged`, async () => {
      const p = await populated()
      const before = await p.spy.snapshot()
      await rejectsWith(call(p), code as TokenStoreError['code'])
      assert.equal(await p.spy.snapshot(), before)
    })
  }
})

describe('storage_unavailable', () => {
  test('errors: a storage failure rejects with storage_unavailable, the driver error as cause', async () => {
    const p = await populated()
    const cases: Array<[string, () => Promise<unknown>]> = [
      ['insertToken', () => p.store.create()],
      ['useToken', () => p.store.authenticate(p.child.clientToken)],
      ['getLiveToken', () => p.store.lookup(p.child.clientToken)],
      ['renewToken', () => p.store.renew(p.parent.clientToken)],
      ['markRevoking', () => p.store.revoke(p.parent.clientToken)],
    ]
    for (const [method, call] of cases) {
      p.spy.failWhen = (name) => name === method
      const error = await rejectsWith(call(), 'storage_unavailable')
      assert.ok(error.cause instanceof Error, method)
      assert.match(error.cause.message, new RegExp(method))
      p.spy.failWhen = null
    }
    assert.ok(await p.store.authenticate(p.child.clientToken))
  })
})

test('TokenStoreError: a token-shaped word in a message is redacted, in any case; prefixes alone and other dots are not', () => {
  const cases: [string, string][] = [
    ['unknown role hvs.ABCdef123456789xyz', 'unknown role [redacted]'],
    ["the parent lacks 'HVS.abcdefgh-_12'", "the parent lacks '[redacted]'"],
    ['bad capability "hvb.AAAAAAAAAAAAAAAAAAAA_-x" in x', 'bad capability "[redacted]" in x'],
    [
      "Expected an id such as 'hvs.…', got a string of length 3",
      "Expected an id such as 'hvs.…', got a string of length 3",
    ],
    ['path a.b.c and hvs.short', 'path a.b.c and hvs.short'],
    // Glued to a word, still a token.
    ['unknown policy x_hvs.ABCdef123456789xyz', 'unknown policy x_[redacted]'],
    ['unknown policy ahvb.AAAAAAAAAAAAAAAA', 'unknown policy a[redacted]'],
  ]
  for (const [message, expected] of cases) {
    assert.equal(new TokenStoreError('invalid_request', message).message, expected)
  }
})
