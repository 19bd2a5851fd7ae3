import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import fc from 'fast-check'

import {
  MemoryStorage,
  type AuditEvent,
  type Storage,
  type TokenAuth,
  type TokenList,
  type TokenListOptions,
  type TokenStore,
} from '../src/index.js'
import { harness, rejectsWith } from './helpers/index.js'

/** Every accessor of a listing, page by page; fails on a page over `limit` or an endless listing. */
async function listAll(store: TokenStore, options: TokenListOptions = {}): Promise<string[]> {
  const accessors: string[] = []
  let cursor: string | null = null
  for (let page = 0; page < 10_000; page++) {
    const result: TokenList = await store.list({ ...options, cursor })
    assert.ok(result.tokens.length <= (options.limit ?? 100))
    accessors.push(...result.tokens.map((token) => token.accessor))
    cursor = result.cursor
    if (cursor === null) return accessors
  }
  assert.fail('the listing never ended')
}

describe('list()', () => {
  test("list(): a user's active keys by metadata, without ids, revoked and expired ones left out", async () => {
    const { store, clock } = harness()
    const root = await store.createRoot()
    const key = (user: string, ttl = '1h') =>
      store.create({ parent: root.clientToken, metadata: { user }, displayName: 'key', ttl })
    const ada1 = await key('ada')
    const ada2 = await key('ada', '10m')
    const revoked = await key('ada')
    const expiring = await key('ada', '1m')
    await key('bob')
    await store.revoke(revoked.clientToken)
    clock.advance(120)

    const page = await store.list({ metadata: { user: 'ada' } })
    assert.deepEqual(
      new Set(page.tokens.map((t) => t.accessor)),
      new Set([ada1.accessor, ada2.accessor]),
    )
    assert.equal(page.cursor, null)
    assert.ok(!page.tokens.map((t) => t.accessor).includes(expiring.accessor))
    const details = page.tokens.find((t) => t.accessor === ada2.accessor)
    assert.ok(details)
    assert.deepEqual(details, await store.lookupAccessor(ada2.accessor))
    assert.equal('id' in details, false)
    const json = JSON.stringify(page)
    for (const auth of [root, ada1, ada2]) assert.ok(!json.includes(auth.clientToken))
  })

  test('list(): by parent (token or accessor) lists the direct children only', async () => {
    const { store } = harness()
    const root = await store.createRoot()
    const parent = await store.create({ parent: root.clientToken })
    const children = []
    for (let i = 0; i < 5; i++) children.push(await store.create({ parent: parent.clientToken }))
    await store.create({ parent: children[0]?.clientToken ?? '' }) // a grandchild
    const expected = new Set(children.map((c) => c.accessor))
    assert.deepEqual(
      new Set(await listAll(store, { parent: parent.clientToken, limit: 2 })),
      expected,
    )
    assert.deepEqual(
      new Set(await listAll(store, { parentAccessor: parent.accessor, limit: 3 })),
      expected,
    )
    assert.deepEqual(await listAll(store, { parent: 'no-such-token' }), [])
    assert.deepEqual(await listAll(store, { parentAccessor: 'no-such-accessor' }), [])
    await store.revoke(parent.clientToken)
    assert.deepEqual(await listAll(store, { parentAccessor: parent.accessor }), [])
  })

  test('list(): by path prefix, as revokePrefix matches', async () => {
    const { store } = harness()
    await store.createRoot()
    const github = await store.create({ path: 'auth/github/login' })
    await store.create({ path: 'auth/github-old/login' })
    const tokens = await listAll(store, { path: 'auth/github' })
    assert.deepEqual(tokens, [github.accessor])
    assert.deepEqual(await listAll(store, { path: 'auth/github/' }), [github.accessor])
    assert.equal((await listAll(store, { path: 'auth' })).length, 3) // and the root, at auth/token/root
  })

  test('list(): pages of `limit` cover every live token once; the cursor is opaque and ends as null', async () => {
    const { store } = harness()
    const root = await store.createRoot()
    const created = new Set([root.accessor])
    for (let i = 0; i < 23; i++)
      created.add((await store.create({ parent: root.clientToken })).accessor)
    const first = await store.list({ limit: 7 })
    assert.equal(first.tokens.length, 7)
    assert.equal(typeof first.cursor, 'string')
    const all = await listAll(store, { limit: 7 })
    assert.equal(all.length, created.size)
    assert.deepEqual(new Set(all), created)
    assert.deepEqual(await listAll(store), [...all])
  })

  test('list(): ends even while tokens are created as fast as pages are read (MemoryStorage lists by insertion)', async () => {
    const { store } = harness()
    const root = await store.createRoot()
    const first = await store.create({ parent: root.clientToken })
    const seen: string[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const [page]: [TokenList, TokenAuth] = await Promise.all([
        store.list({ limit: 1, cursor }),
        store.create({ parent: root.clientToken }),
      ])
      seen.push(...page.tokens.map((token) => token.accessor))
      cursor = page.cursor
      pages += 1
    } while (cursor !== null && pages < 100)
    assert.equal(cursor, null, 'the listing ended')
    assert.ok(seen.includes(first.accessor) && seen.includes(root.accessor))
  })

  test('list(): pagination is stable under concurrent creates and revokes (property)', async () => {
    // Each run: a tree of tokens, then a listing whose every page races a batch of creates and revokes
    // (whole subtrees, orphans, expiries). A token live from start to end is listed exactly once; nothing is
    // listed twice; nothing revoked before the listing started is listed.
    const operation = fc.record({
      kind: fc.constantFrom('create', 'revoke', 'revokeOrphan', 'expire', 'none'),
      pick: fc.nat(),
    })
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 9 }),
        fc.array(fc.array(operation, { maxLength: 4 }), { maxLength: 30 }),
        async (size, limit, batches) => {
          const { store, clock } = harness()
          const root = await store.createRoot()
          const tokens = [root]
          for (let i = 0; i < size; i++) {
            const parent = tokens[(i * 7) % tokens.length] ?? root
            tokens.push(
              await store.create({ parent: parent.clientToken, ttl: i % 5 === 0 ? '30s' : '1h' }),
            )
          }
          const before = new Set(await listAll(store, { limit: 50 }))
          const created = new Set<string>()
          const seen: string[] = []
          let cursor: string | null = null
          let batch = 0
          do {
            const ops = (batches[batch % Math.max(1, batches.length)] ?? []).map(async (op) => {
              const target = tokens[op.pick % tokens.length] ?? root
              if (target === root && op.kind !== 'create') return
              switch (op.kind) {
                case 'create': {
                  const auth = await store.create({ parent: target.clientToken }).catch(() => null)
                  if (auth !== null) {
                    tokens.push(auth)
                    created.add(auth.accessor)
                  }
                  return
                }
                case 'revoke':
                  await store.revoke(target.clientToken)
                  return
                case 'revokeOrphan':
                  await store.revokeOrphan(target.clientToken)
                  return
                case 'expire':
                  clock.advance(10)
                  return
                case 'none':
                  return
              }
            })
            const [page]: [TokenList, ...unknown[]] = await Promise.all([
              store.list({ limit, cursor }),
              ...ops,
            ])
            seen.push(...page.tokens.map((t) => t.accessor))
            cursor = page.cursor
            batch += 1
          } while (cursor !== null && batch < 10_000)
          assert.equal(cursor, null)
          assert.equal(new Set(seen).size, seen.length, 'no token listed twice')
          // Revocation and expiry are final (the clock only advances), so a token live before and after the
          // listing was live throughout it: such a token must be listed.
          for (const accessor of before) {
            if ((await store.lookupAccessor(accessor)) !== null) {
              assert.ok(seen.includes(accessor), 'a token live throughout is listed')
            }
          }
          for (const accessor of seen) {
            assert.ok(before.has(accessor) || created.has(accessor), 'nothing unknown listed')
          }
        },
      ),
      { numRuns: 40 },
    )
  })

  test('list(): with no concurrent change, a listing equals the set of tokens lookupAccessor finds', async () => {
    const { store, clock } = harness()
    const root = await store.createRoot()
    const all = [root]
    for (let i = 0; i < 30; i++) {
      const parent = all[i % all.length] ?? root
      all.push(await store.create({ parent: parent.clientToken, ttl: i % 4 === 0 ? '1m' : '1h' }))
    }
    await store.revoke(all[3]?.clientToken ?? '')
    await store.revokeOrphan(all[5]?.clientToken ?? '')
    clock.advance(90)
    const live = new Set<string>()
    for (const auth of all)
      if ((await store.lookupAccessor(auth.accessor)) !== null) live.add(auth.accessor)
    assert.deepEqual(new Set(await listAll(store, { limit: 4 })), live)
  })

  test('list(): malformed options are invalid_request and change nothing', async () => {
    const { store } = harness()
    const root = await store.createRoot()
    const bad: unknown[] = [
      null,
      'path',
      [],
      { limit: 0 },
      { limit: 1001 },
      { limit: 1.5 },
      { limit: '10' },
      { cursor: 42 },
      { cursor: '' },
      { cursor: 'x'.repeat(5000) },
      { cursor: 'not-a-cursor' },
      { path: 'a b' },
      { path: 42 },
      { parent: 42 },
      { parentAccessor: {} },
      { parent: root.clientToken, parentAccessor: root.accessor },
      { metadata: { user: 42 } },
      { metadata: 'user=ada' },
      { owner: 'ada' },
    ]
    for (const options of bad) {
      await rejectsWith(store.list(options as TokenListOptions), 'invalid_request')
    }
    assert.ok(await store.lookup(root.clientToken))
    assert.equal((await store.list()).tokens.length, 1)
  })

  test('list(): a storage without listTokens is invalid_request', async () => {
    const memory = new MemoryStorage()
    const storage: Storage = new Proxy(memory, {
      get: (target, key) => {
        if (key === 'listTokens') return undefined
        const value: unknown = Reflect.get(target, key, target)
        return typeof value === 'function'
          ? (value as (...args: unknown[]) => unknown).bind(target)
          : value
      },
    })
    const { store } = harness({ storage })
    const error = await rejectsWith(store.list(), 'invalid_request')
    assert.match(error.message, /does not support list/)
  })

  test('list(): emits an audit event `list`', async () => {
    const { store } = harness()
    const events: AuditEvent[] = []
    store.on('audit', (event) => events.push(event))
    await store.list()
    await store.list({ limit: 0 }).catch(() => undefined)
    assert.deepEqual(
      events.map((e) => [e.operation, e.outcome, e.code]),
      [
        ['list', 'ok', undefined],
        ['list', 'error', 'invalid_request'],
      ],
    )
  })
})
