import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import { TokenStoreError, type TokenAuth } from '../src/index.js'
import { isUsable, recordRevoked, seeded, spyHarness } from './helpers/index.js'

/** Interleavings tried per scenario: each seed gives a different (reproducible) schedule. */
const SEEDS = Array.from({ length: 32 }, (_, i) => i + 1)

/** More schedules, for races whose window is narrow. */
const MANY_SEEDS = Array.from({ length: 400 }, (_, i) => i + 1)

/** The error code of a rejected call, or `ok`. */
async function outcome(promise: Promise<unknown>): Promise<string> {
  try {
    await promise
    return 'ok'
  } catch (error) {
    if (error instanceof TokenStoreError) return error.code
    throw error
  }
}

function jittered(seed: number) {
  const h = spyHarness()
  h.spy.jitter = seeded(seed, 8)
  return h
}

describe('concurrent authenticate', () => {
  for (const uses of [1, 2, 7, 49, 50]) {
    test(`concurrency: exactly ${uses} of 50 concurrent authenticate calls succeed on a ${uses}-use token`, async () => {
      for (const seed of SEEDS.slice(0, 4)) {
        const { store, memory } = jittered(seed)
        const auth = await store.create({ numUses: uses })
        const revoked = recordRevoked(store)
        const results = await Promise.all(
          Array.from({ length: 50 }, () => outcome(store.authenticate(auth.clientToken))),
        )
        assert.equal(results.filter((r) => r === 'ok').length, uses, `seed ${seed}`)
        assert.equal(results.filter((r) => r === 'invalid_token').length, 50 - uses, `seed ${seed}`)
        assert.equal(revoked.length, 1, `seed ${seed}`)
        assert.equal(revoked[0]?.reason, 'uses_exhausted')
        assert.equal(memory.size, 0)
      }
    })
  }

  test('concurrency: the last use and a revoke racing report the token once', async () => {
    for (const seed of SEEDS) {
      const { store, memory } = jittered(seed)
      const auth = await store.create({ numUses: 1 })
      const revoked = recordRevoked(store)
      const [used] = await Promise.all([
        outcome(store.authenticate(auth.clientToken)),
        store.revoke(auth.clientToken),
      ])
      assert.ok(used === 'ok' || used === 'invalid_token')
      assert.equal(revoked.length, 1, `seed ${seed}`)
      assert.equal(memory.size, 0)
    }
  })
})

describe('concurrent renew and revoke', () => {
  test('concurrency: renew racing revoke leaves the token revoked, and renew either succeeds or is invalid_token', async () => {
    const seen = new Set<string>()
    for (const seed of SEEDS) {
      const { store, clock, memory } = jittered(seed)
      const parent = await store.create({ ttl: '1h' })
      const child = await store.create({ parent: parent.clientToken, ttl: '1h' })
      const revoked = recordRevoked(store)
      clock.advance(60)
      const results = await Promise.all([
        outcome(store.renew(child.clientToken, '2h')),
        outcome(store.renew(parent.clientToken, '2h')),
        store.revoke(parent.clientToken).then(() => 'revoked'),
        outcome(store.renew(child.clientToken)),
      ])
      for (const result of [results[0], results[1], results[3]]) {
        assert.ok(result === 'ok' || result === 'invalid_token', result)
        seen.add(result)
      }
      assert.equal(await isUsable(store, parent.clientToken), false)
      assert.equal(await isUsable(store, child.clientToken), false)
      assert.equal(revoked.length, 2)
      assert.equal(memory.size, 0, `seed ${seed}: a renewal resurrected a record`)
    }
  })
})

describe('concurrent create and revoke', () => {
  test('concurrency: creating under a parent being revoked never leaves a usable child', async () => {
    for (const seed of SEEDS) {
      const { store, memory } = jittered(seed)
      const bystander = await store.create()
      const parent = await store.create({ policies: ['a'] })
      await store.create({ parent: parent.clientToken })
      const creating = Array.from({ length: 20 }, () =>
        store.create({ parent: parent.clientToken }).then(
          (auth) => auth,
          (error: unknown) => {
            assert.ok(
              error instanceof TokenStoreError && error.code === 'invalid_token',
              String(error),
            )
            return null
          },
        ),
      )
      const [children] = await Promise.all([
        Promise.all(creating),
        store.revoke(parent.clientToken),
      ])
      for (const child of children) {
        if (child !== null)
          assert.equal(await isUsable(store, child.clientToken), false, `seed ${seed}`)
      }
      assert.equal(memory.size, 1, `seed ${seed}: records left behind`)
      assert.ok(await isUsable(store, bystander.clientToken))
    }
  })

  test('concurrency: creating under a descendant of a token being revoked never leaves a usable child, nor a stray record', async () => {
    for (const seed of MANY_SEEDS) {
      const { store, memory } = jittered(seed)
      const top = await store.create({ policies: ['a'] })
      const middle = await store.create({ parent: top.clientToken })
      const lower = await store.create({ parent: middle.clientToken })
      const creating = [middle, lower, middle, lower, middle, lower].map((parent) =>
        store.create({ parent: parent.clientToken }).catch(() => null),
      )
      const [children] = await Promise.all([Promise.all(creating), store.revoke(top.clientToken)])
      for (const child of children) {
        if (child !== null)
          assert.equal(await isUsable(store, child.clientToken), false, `seed ${seed}`)
      }
      assert.equal(memory.size, 0, `seed ${seed}: records left behind`)
    }
  })

  test('concurrency: of several creates with one custom id, exactly one succeeds', async () => {
    for (const seed of SEEDS.slice(0, 4)) {
      const { store, memory } = jittered(seed)
      const results = await Promise.all(
        Array.from({ length: 10 }, () => outcome(store.create({ id: 'one-and-only' }))),
      )
      assert.equal(results.filter((r) => r === 'ok').length, 1)
      assert.equal(results.filter((r) => r === 'conflict').length, 9)
      assert.equal(memory.size, 1)
    }
  })
})

describe('concurrent revocations', () => {
  test('concurrency: overlapping revocations emit each revoked event exactly once', async () => {
    for (const seed of SEEDS) {
      const { store, clock, memory } = jittered(seed)
      const root = await store.create({ policies: ['a'], path: 'auth/github/login', ttl: '1h' })
      const tokens: TokenAuth[] = [root]
      for (let i = 0; i < 30; i++) {
        const parent = tokens[Math.floor(i / 3)] ?? root
        tokens.push(
          await store.create({ parent: parent.clientToken, ttl: i % 2 === 0 ? '10m' : '2h' }),
        )
      }
      const revoked = recordRevoked(store)
      clock.advance(15 * 60)
      await Promise.all([
        store.revoke(tokens[3]?.clientToken ?? ''),
        store.revoke(root.clientToken),
        store.revokeAccessor(tokens[1]?.accessor ?? ''),
        store.revokePrefix('auth/token/create'),
        store.revokeExpired(),
        store.revokeOrphan(tokens[5]?.clientToken ?? ''),
        store.revoke(tokens[3]?.clientToken ?? ''),
        store.revokePrefix('auth/github'),
      ])
      const accessors = revoked.map((event) => event.accessor)
      assert.equal(
        new Set(accessors).size,
        accessors.length,
        `seed ${seed}: a token was reported twice`,
      )
      // Everything was reachable from root, except what revokeOrphan may have detached first.
      const survivors = tokens.filter((auth) => !accessors.includes(auth.accessor))
      assert.equal(memory.size, survivors.length, `seed ${seed}`)
      for (const auth of survivors) {
        assert.equal((await store.lookup(auth.clientToken))?.orphan, true, `seed ${seed}`)
      }
    }
  })

  test('concurrency: the same revocation started twice reports each token once', async () => {
    for (const seed of SEEDS) {
      const { store, memory } = jittered(seed)
      const top = await store.create()
      let parent = top
      for (let i = 0; i < 10; i++) parent = await store.create({ parent: parent.clientToken })
      const revoked = recordRevoked(store)
      await Promise.all([
        store.revoke(top.clientToken),
        store.revoke(top.clientToken),
        store.revokeExpired(),
      ])
      assert.equal(revoked.length, 11, `seed ${seed}`)
      assert.equal(memory.size, 0)
    }
  })
})
