import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { describe, test } from 'node:test'

import { MemoryStorage, TokenStore } from '../src/index.js'
import {
  VirtualClock,
  harness,
  recordAudit,
  recordRevoked,
  rejectsWith,
  spyHarness,
  storedRecord,
} from './helpers/index.js'

const SECRET_A = 'a'.repeat(32)
const SECRET_B = 'b'.repeat(32)

/** Bits of randomness of `count` strings drawn from one alphabet, judged from the strings themselves. */
function estimateBits(samples: readonly string[]): {
  alphabet: Set<string>
  bitsPerString: number
} {
  const alphabet = new Set<string>()
  for (const sample of samples) for (const char of sample) alphabet.add(char)
  const minLength = Math.min(...samples.map((s) => s.length))
  return { alphabet, bitsPerString: minLength * Math.log2(alphabet.size) }
}

/** Awaits a rejection of `p` and adds what it shows (its text, JSON and stack) to `messages`. */
async function collectRejection(p: Promise<unknown>, messages: string[]): Promise<void> {
  await p.then(
    () => assert.fail('expected a rejection'),
    (error: unknown) => {
      messages.push(String(error), JSON.stringify(error), (error as Error).stack ?? '')
    },
  )
}

describe('token ids and accessors', () => {
  test('security: token ids are hvs.-prefixed and carry at least 128 random bits', async () => {
    const { store } = harness()
    const ids: string[] = []
    for (let i = 0; i < 2000; i++) ids.push((await store.create()).clientToken)
    assert.equal(new Set(ids).size, ids.length)
    for (const id of ids) assert.match(id, /^hvs\.[A-Za-z0-9_-]+$/)
    const random = ids.map((id) => id.slice('hvs.'.length))
    const { alphabet, bitsPerString } = estimateBits(random)
    assert.ok(alphabet.size >= 62, `alphabet of ${alphabet.size} characters`)
    assert.ok(bitsPerString >= 128, `${bitsPerString} bits`)
    // Every character position varies: no fixed or counter-like parts.
    const length = Math.min(...random.map((s) => s.length))
    for (let position = 0; position < length; position++) {
      const seen = new Set(random.map((s) => s[position]))
      assert.ok(seen.size > 40, `position ${position} takes only ${seen.size} values`)
    }
  })

  test('security: accessors are unique, carry at least 128 random bits, and are unrelated to the ids', async () => {
    const { store } = harness()
    const pairs: Array<[string, string]> = []
    for (let i = 0; i < 2000; i++) {
      const auth = await store.create()
      pairs.push([auth.clientToken, auth.accessor])
    }
    const accessors = pairs.map(([, accessor]) => accessor)
    assert.equal(new Set(accessors).size, accessors.length)
    const { alphabet, bitsPerString } = estimateBits(accessors)
    assert.ok(alphabet.size >= 62, `alphabet of ${alphabet.size} characters`)
    assert.ok(bitsPerString >= 128, `${bitsPerString} bits`)
    for (const [id, accessor] of pairs) {
      assert.equal(id.includes(accessor), false)
      assert.equal(accessor.startsWith('hvs.'), false)
    }
  })
})

describe('what storage holds', () => {
  test('security: no token id ever reaches storage, in any record written or read', async () => {
    const { store, spy, clock } = spyHarness()
    const tokens: string[] = []
    const root = await store.createRoot({ id: 'custom-root-token-value' })
    tokens.push(root.clientToken)
    const parent = await store.create({ parent: root.clientToken, policies: ['a'], ttl: '1h' })
    const child = await store.create({
      parent: parent.clientToken,
      numUses: 2,
      metadata: { k: 'v' },
    })
    const custom = await store.create({ parent: root.clientToken, id: 'custom-child-token-value' })
    tokens.push(parent.clientToken, child.clientToken, custom.clientToken)
    await store.lookup(parent.clientToken)
    await store.authenticate(child.clientToken)
    await store.renew(parent.clientToken, '2h')
    await store.lookupAccessor(child.accessor)
    await store.revokeOrphan(custom.clientToken)
    await store.authenticate(child.clientToken)
    clock.advance(3 * 3600)
    await store.revokeExpired()
    assert.ok(spy.seen.length > 20)
    const dump = JSON.stringify(spy.seen)
    for (const token of tokens) {
      assert.equal(dump.includes(token), false, 'a token id reached storage')
      const randomPart = token.startsWith('hvs.') ? token.slice(4) : token
      assert.equal(
        dump.includes(randomPart),
        false,
        'the random part of a token id reached storage',
      )
    }
  })

  test('security: a stored record, read through store.storage, holds a keyed hash rather than the id or its plain hash', async () => {
    const { store, memory } = harness()
    assert.equal(store.storage, memory)
    const auth = await store.create({ policies: ['a'] })
    const record = await storedRecord(store.storage, auth.accessor)
    const text = JSON.stringify(record)
    assert.equal(text.includes(auth.clientToken), false)
    assert.equal(text.includes(auth.clientToken.slice(4)), false)
    for (const encoding of ['hex', 'base64', 'base64url'] as const) {
      const plain = createHash('sha256').update(auth.clientToken).digest(encoding)
      assert.notEqual(record.id, plain)
      assert.equal(text.includes(plain), false)
    }
    // 256 bits of hash, whatever the encoding: at least 43 characters.
    assert.ok(record.id.length >= 43)
  })

  test('security: two stores with different secrets over one storage cannot read, use, renew or revoke each other tokens', async () => {
    const storage = new MemoryStorage()
    const clock = new VirtualClock()
    const a = new TokenStore({ storage, secret: SECRET_A, clock: clock.read, timers: false })
    const b = new TokenStore({ storage, secret: SECRET_B, clock: clock.read, timers: false })
    const token = await a.create({ policies: ['x'], ttl: '1h' })
    assert.equal(await b.lookup(token.clientToken), null)
    await rejectsWith(b.authenticate(token.clientToken), 'invalid_token')
    await rejectsWith(b.renew(token.clientToken), 'invalid_token')
    await rejectsWith(b.create({ parent: token.clientToken }), 'invalid_token')
    await b.revoke(token.clientToken)
    await b.revokeOrphan(token.clientToken)
    assert.ok(await a.authenticate(token.clientToken))
    assert.equal(storage.size, 1)
  })

  test('security: the same custom id under two secrets makes two distinct stored tokens', async () => {
    const storage = new MemoryStorage()
    const a = new TokenStore({ storage, secret: SECRET_A, timers: false })
    const b = new TokenStore({ storage, secret: new Uint8Array(32).fill(7), timers: false })
    await a.create({ id: 'shared-custom-id', policies: ['a'] })
    const fromB = await b.create({ id: 'shared-custom-id', policies: ['b'] })
    assert.deepEqual((await b.lookup('shared-custom-id'))?.policies, fromB.policies)
    assert.deepEqual((await a.lookup('shared-custom-id'))?.policies, ['a', 'default'])
    assert.equal(storage.size, 2)
  })

  test('security: two stores with the same secret over one storage share every token', async () => {
    const storage = new MemoryStorage()
    const clock = new VirtualClock()
    const a = new TokenStore({ storage, secret: SECRET_A, clock: clock.read, timers: false })
    const b = new TokenStore({ storage, secret: SECRET_A, clock: clock.read, timers: false })
    const token = await a.create({ policies: ['x'], numUses: 2 })
    assert.deepEqual((await b.lookup(token.clientToken))?.policies, ['default', 'x'])
    await b.authenticate(token.clientToken)
    assert.equal((await a.lookup(token.clientToken))?.numUses, 1)
    await rejectsWith(
      b.create({ id: 'dup' }).then(() => a.create({ id: 'dup' })),
      'conflict',
    )
    await b.revoke(token.clientToken)
    assert.equal(await a.lookup(token.clientToken), null)
  })

  test('security: without a secret, each store draws its own, so two default stores share nothing', async () => {
    const storage = new MemoryStorage()
    const a = new TokenStore({ storage, timers: false })
    const b = new TokenStore({ storage, timers: false })
    const token = await a.create()
    assert.equal(await b.lookup(token.clientToken), null)
  })
})

describe('what callers hold', () => {
  test('security: mutating the input metadata, or what create and lookup return, changes nothing stored', async () => {
    const { store } = harness()
    const metadata: Record<string, string> = { role: 'reader' }
    const policies = ['read']
    const auth = await store.create({ metadata, policies })
    metadata.role = 'admin'
    policies.push('root')
    const attempts: Array<() => void> = [
      () => (auth.policies as string[]).push('root'),
      () => {
        ;(auth.metadata as Record<string, string>).role = 'admin'
      },
    ]
    const info = await store.lookup(auth.clientToken)
    assert.ok(info)
    attempts.push(
      () => (info.policies as string[]).push('root'),
      () => {
        ;(info.metadata as Record<string, string>).role = 'admin'
      },
    )
    for (const attempt of attempts) {
      try {
        attempt()
      } catch {
        // Frozen: refusing is as good as ignoring.
      }
    }
    const after = await store.lookup(auth.clientToken)
    assert.deepEqual(after?.policies, ['default', 'read'])
    assert.deepEqual(after.metadata, { role: 'reader' })
  })
})

describe('what errors and events say', () => {
  test('security: error messages never contain a token id', async () => {
    const { store } = harness()
    const real = await store.create({ id: 'a-real-custom-token-id', numUses: 1 })
    const guessed = 'hvs.guessed-token-value-1234567890'
    const messages: string[] = []
    const collect = (p: Promise<unknown>): Promise<void> => collectRejection(p, messages)
    await collect(store.authenticate(guessed))
    await collect(store.renew(guessed))
    await collect(store.create({ parent: guessed }))
    await collect(store.create({ id: real.clientToken }))
    await collect(store.create({ id: 'with.a.dot-secret-value' }))
    await collect(store.create({ parent: real.clientToken }))
    await store.authenticate(real.clientToken)
    await collect(store.authenticate(real.clientToken))
    const text = messages.join('\n')
    for (const secret of [guessed, real.clientToken, 'with.a.dot-secret-value']) {
      assert.equal(text.includes(secret), false, 'an error message names a token id')
    }
  })

  test('security: a token put where a name belongs is not echoed by the error that refuses it, in any case', async () => {
    const { store } = harness()
    const root = await store.createRoot()
    const parent = await store.create({ parent: root.clientToken, policies: ['web'] })
    await store.roles.write('narrow', { allowedPolicies: ['web'] })
    const child = await store.create({ parent: parent.clientToken, numUses: 2 })
    const batch = await store.create({ parent: parent.clientToken, type: 'batch' })
    const messages: string[] = []
    const collect = (p: Promise<unknown>): Promise<void> => collectRejection(p, messages)
    for (const secret of [child.clientToken, batch.clientToken]) {
      await collect(store.create({ parent: parent.clientToken, policies: [secret] }))
      await collect(
        store.create({ parent: parent.clientToken, role: 'narrow', policies: [secret] }),
      )
      await collect(store.create({ parent: parent.clientToken, role: secret }))
      await collect(store.policies.write('p', `path "x" { capabilities = ["${secret}"] }`))
      await collect(store.policies.write('p', `path "x" { ${secret} = 1 }`))
    }
    const text = messages.join('\n').toLowerCase()
    for (const secret of [child.clientToken, batch.clientToken]) {
      assert.equal(text.includes(secret.toLowerCase()), false, `echoed: ${text}`)
    }
    assert.match(text, /\[redacted\]/)
  })

  test('security: audit and revoked events never contain a token id', async () => {
    const { store } = harness()
    const audits = recordAudit(store)
    const revoked = recordRevoked(store)
    const auth = await store.create({ numUses: 1 })
    await store.lookup(auth.clientToken)
    await store.authenticate(auth.clientToken)
    await store.authenticate(auth.clientToken).catch(() => undefined)
    const text = JSON.stringify([audits, revoked])
    assert.equal(revoked.length, 1)
    assert.equal(text.includes(auth.clientToken), false)
    assert.equal(text.includes(auth.clientToken.slice(4)), false)
  })
})
