import assert from 'node:assert/strict'
import { describe, test } from 'node:test'

import {
  MemoryStorage,
  TokenStore,
  type HashedTokenId,
  type Storage,
  type TokenAuth,
  type TokenRecord,
} from '../src/index.js'
import { SUBTREE_BATCH } from '../src/revoke.js'
import {
  SpyStorage,
  VirtualClock,
  harness,
  isUsable,
  recordAudit,
  recordRevoked,
  rejectsWith,
  spyHarness,
  storedRecord,
  type Harness,
} from './helpers/index.js'

/**
 * A spy harness whose store sees a storage without `deleteSubtree`, so that revocation walks the tree one call
 * per step: the fallback for storages without it, which these tests interrupt at each call.
 */
function walkHarness(): ReturnType<typeof spyHarness> {
  const spy = new SpyStorage()
  const clock = new VirtualClock()
  const storage = new Proxy(spy.storage, {
    get: (target, property, receiver) =>
      property === 'deleteSubtree'
        ? undefined
        : (Reflect.get(target, property, receiver) as unknown),
  })
  const store = new TokenStore({ timers: false, storage, clock: clock.read })
  return { store, memory: spy.inner, clock, spy }
}

/** A small tree: root → a, b; a → a1, a2; a1 → a1x; b → b1. */
async function buildTree(store: TokenStore): Promise<Record<string, TokenAuth>> {
  const root = await store.create({ policies: ['admin'], path: 'auth/github/login' })
  const a = await store.create({ parent: root.clientToken })
  const b = await store.create({ parent: root.clientToken })
  const a1 = await store.create({ parent: a.clientToken })
  const a2 = await store.create({ parent: a.clientToken })
  const a1x = await store.create({ parent: a1.clientToken })
  const b1 = await store.create({ parent: b.clientToken })
  return { root, a, b, a1, a2, a1x, b1 }
}

/** The parent of each node of `buildTree`'s tree, by name. */
const TREE_PARENT: Record<string, string | null> = {
  root: null,
  a: 'root',
  b: 'root',
  a1: 'a',
  a2: 'a',
  a1x: 'a1',
  b1: 'b',
}

describe('revoke()', () => {
  test('revoke(): revokes the token and its whole subtree, and nothing else', async () => {
    const { store, memory } = harness()
    const tree = await buildTree(store)
    const other = await store.create()
    await store.revoke(tree.a?.clientToken ?? '')
    for (const name of ['a', 'a1', 'a2', 'a1x']) {
      assert.equal(await isUsable(store, tree[name]?.clientToken ?? ''), false, name)
      assert.equal(await memory.getTokenByAccessor(tree[name]?.accessor ?? ''), null, name)
    }
    for (const name of ['root', 'b', 'b1']) {
      assert.equal(await isUsable(store, tree[name]?.clientToken ?? ''), true, name)
    }
    assert.equal(await isUsable(store, other.clientToken), true)
    assert.equal(memory.size, 4)
  })

  test('revoke(): revoked events come children first, with reason explicit for the top and parent for the rest, before the promise settles', async () => {
    const { store } = harness()
    const tree = await buildTree(store)
    const events = recordRevoked(store)
    const settled = store.revoke(tree.root?.clientToken ?? '').then(() => events.length)
    assert.equal(await settled, 7)
    const byAccessor = new Map(Object.entries(tree).map(([name, auth]) => [auth.accessor, name]))
    const order = events.map((event) => byAccessor.get(event.accessor) ?? '?')
    assert.equal(new Set(order).size, 7)
    for (const [name, parent] of Object.entries(TREE_PARENT)) {
      if (parent !== null) {
        assert.ok(
          order.indexOf(name) < order.indexOf(parent),
          `${name} before ${parent}: ${order.join()}`,
        )
      }
    }
    for (const event of events) {
      const name = byAccessor.get(event.accessor)
      assert.equal(event.kind, 'token')
      assert.equal(event.reason, name === 'root' ? 'explicit' : 'parent')
      assert.equal(event.path, name === 'root' ? 'auth/github/login' : 'auth/token/create')
      assert.ok(event.time instanceof Date)
    }
  })

  test('revoke(): children are unusable before the parent is deleted (the walk)', async () => {
    const { store, spy, clock } = walkHarness()
    const tree = await buildTree(store)
    const ids = await Promise.all(
      Object.values(tree).map(async (auth) => (await storedRecord(spy.inner, auth.accessor)).id),
    )
    const checks: Array<Promise<unknown>> = []
    // At every deletion, no token of the tree may be live. MemoryStorage answers synchronously, so each check
    // sees the state at the moment of the deletion call.
    spy.failWhen = (method) => {
      if (method === 'deleteToken') {
        for (const id of ids) checks.push(spy.inner.getLiveToken(id, clock.now))
      }
      return false
    }
    await store.revoke(tree.root?.clientToken ?? '')
    assert.equal(checks.length, 7 * 7)
    assert.deepEqual(await Promise.all(checks), new Array<null>(49).fill(null))
  })

  test('revoke(): an unknown token is a silent no-op', async () => {
    const { store, memory } = harness()
    await store.create()
    const events = recordRevoked(store)
    await store.revoke('hvs.no-such-token')
    await store.revoke('')
    assert.equal(events.length, 0)
    assert.equal(memory.size, 1)
  })

  test('revoke(): revoking twice reports each token once', async () => {
    const { store } = harness()
    const tree = await buildTree(store)
    const events = recordRevoked(store)
    await store.revoke(tree.a?.clientToken ?? '')
    await store.revoke(tree.a?.clientToken ?? '')
    assert.equal(events.length, 4)
  })

  test('revoke(): an expired token and its subtree can still be revoked', async () => {
    const { store, clock, memory } = harness()
    const parent = await store.create({ ttl: 60 })
    await store.create({ parent: parent.clientToken, ttl: 3600 })
    clock.advance(120)
    const events = recordRevoked(store)
    await store.revoke(parent.clientToken)
    assert.equal(events.length, 2)
    assert.equal(memory.size, 0)
  })

  test('revoke(): a 100,000-deep chain revokes without stack overflow (the walk)', async () => {
    const { store, storage, chain } = await deepChain(100_000)
    let revoked = 0
    store.on('revoked', () => {
      revoked += 1
    })
    await store.revoke(chain.clientToken)
    assert.equal(revoked, 100_001)
    assert.equal(await storage.getToken(chain.deepest), null)
    assert.equal(await isUsable(store, chain.clientToken), false)
  })
})

describe('revokeOrphan()', () => {
  test('revokeOrphan(): revokes only the token; its direct children become orphans and keep working', async () => {
    const { store } = harness()
    const tree = await buildTree(store)
    const events = recordRevoked(store)
    await store.revokeOrphan(tree.a?.clientToken ?? '')
    assert.equal(events.length, 1)
    assert.equal(events[0]?.accessor, tree.a?.accessor)
    assert.equal(events[0]?.reason, 'orphan')
    assert.equal(await isUsable(store, tree.a?.clientToken ?? ''), false)
    const a1 = await store.lookup(tree.a1?.clientToken ?? '')
    const a2 = await store.lookup(tree.a2?.clientToken ?? '')
    const a1x = await store.lookup(tree.a1x?.clientToken ?? '')
    assert.equal(a1?.orphan, true)
    assert.equal(a2?.orphan, true)
    // Only direct children are re-parented: the grandchild keeps its parent.
    assert.equal(a1x?.orphan, false)
    // The former children are now independent of the rest of the tree.
    await store.revoke(tree.root?.clientToken ?? '')
    assert.equal(await isUsable(store, tree.a1?.clientToken ?? ''), true)
    assert.equal(await isUsable(store, tree.a1x?.clientToken ?? ''), true)
    assert.equal(await isUsable(store, tree.b1?.clientToken ?? ''), false)
    await store.revoke(tree.a1?.clientToken ?? '')
    assert.equal(await isUsable(store, tree.a1x?.clientToken ?? ''), false)
  })

  test('revokeOrphan(): an unknown token is a silent no-op', async () => {
    const { store, memory } = harness()
    await store.create()
    const events = recordRevoked(store)
    await store.revokeOrphan('hvs.no-such-token')
    assert.equal(events.length, 0)
    assert.equal(memory.size, 1)
  })

  test('revokeOrphan(): orphaning the children of an expired parent does not make them usable again', async () => {
    const { store, clock } = harness()
    const parent = await store.create({ ttl: 60 })
    const child = await store.create({ parent: parent.clientToken, ttl: 3600 })
    clock.advance(60)
    assert.equal(await isUsable(store, child.clientToken), false)
    await store.revokeOrphan(parent.clientToken)
    assert.equal(await isUsable(store, child.clientToken), false)
  })
})

describe('revokeAccessor()', () => {
  test('revokeAccessor(): revokes the token with that accessor and its subtree', async () => {
    const { store } = harness()
    const tree = await buildTree(store)
    const events = recordRevoked(store)
    await store.revokeAccessor(tree.b?.accessor ?? '')
    assert.equal(events.length, 2)
    assert.equal(events.find((e) => e.accessor === tree.b?.accessor)?.reason, 'explicit')
    assert.equal(events.find((e) => e.accessor === tree.b1?.accessor)?.reason, 'parent')
    assert.equal(await isUsable(store, tree.b1?.clientToken ?? ''), false)
    assert.equal(await isUsable(store, tree.a?.clientToken ?? ''), true)
  })

  test('revokeAccessor(): an unknown accessor is a silent no-op', async () => {
    const { store, memory } = harness()
    await store.create()
    const events = recordRevoked(store)
    await store.revokeAccessor('no-such-accessor')
    assert.equal(events.length, 0)
    assert.equal(memory.size, 1)
  })
})

describe('revokePrefix()', () => {
  async function pathTokens(h: Harness): Promise<Record<string, TokenAuth>> {
    const { store } = h
    return {
      login: await store.create({ path: 'auth/github/login' }),
      exact: await store.create({ path: 'auth/github' }),
      deeper: await store.create({ path: 'auth/github/login/team/x' }),
      old: await store.create({ path: 'auth/github-old/login' }),
      similar: await store.create({ path: 'auth/githubx' }),
      other: await store.create({ path: 'auth/approle/login' }),
    }
  }

  test('revokePrefix(): matches whole path segments: the prefix itself and paths below it, not siblings that share its letters', async () => {
    const h = harness()
    const tokens = await pathTokens(h)
    const revoked = await h.store.revokePrefix('auth/github')
    assert.equal(revoked, 3)
    for (const name of ['login', 'exact', 'deeper']) {
      assert.equal(await isUsable(h.store, tokens[name]?.clientToken ?? ''), false, name)
    }
    for (const name of ['old', 'similar', 'other']) {
      assert.equal(await isUsable(h.store, tokens[name]?.clientToken ?? ''), true, name)
    }
  })

  test('revokePrefix(): tokens still appearing under the prefix after the last scan: what was found is revoked, then conflict', async () => {
    // A storage under which a holder mints one more token under the prefix before every scan (a chain of orphans,
    // each from the last, faster than the scans): the scans never catch up.
    class Minting extends MemoryStorage {
      mint: (() => Promise<unknown>) | null = null
      override async findByPathPrefix(prefix: string): Promise<HashedTokenId[]> {
        await this.mint?.()
        return super.findByPathPrefix(prefix)
      }
    }
    const storage = new Minting()
    const h = harness({ storage })
    const first = await h.store.create({ path: 'auth/chain/login' })
    const minted: TokenAuth[] = []
    storage.mint = async () => {
      minted.push(await h.store.create({ path: 'auth/chain/login' }))
    }
    const refused = await rejectsWith(h.store.revokePrefix('auth/chain'), 'conflict')
    storage.mint = null
    assert.match(
      refused.message,
      /still being created after 6 scans: 6 tokens and leases were revoked, 1 found/,
    )
    assert.equal(await isUsable(h.store, first.clientToken), false)
    const usable = await Promise.all(minted.map((token) => isUsable(h.store, token.clientToken)))
    assert.deepEqual(
      usable,
      [false, false, false, false, false, true],
      'only the last one minted is live',
    )
    // Once nothing is minting, a second call revokes the rest.
    assert.equal(await h.store.revokePrefix('auth/chain'), 1)
  })

  test('revokePrefix(): a trailing slash is the same prefix', async () => {
    const h = harness()
    const tokens = await pathTokens(h)
    assert.equal(await h.store.revokePrefix('auth/github/'), 3)
    assert.equal(await isUsable(h.store, tokens.old?.clientToken ?? ''), true)
  })

  test('revokePrefix(): revokes the subtrees of matched tokens, reason prefix for matches and parent below', async () => {
    const h = harness()
    const { store } = h
    const tokens = await pathTokens(h)
    const child = await store.create({ parent: tokens.login?.clientToken ?? '' })
    const grandchild = await store.create({ parent: child.clientToken })
    const events = recordRevoked(store)
    assert.equal(await store.revokePrefix('auth/github/login'), 4)
    assert.equal(await isUsable(store, grandchild.clientToken), false)
    const reasons = new Map(events.map((e) => [e.accessor, e.reason]))
    assert.equal(reasons.get(tokens.login?.accessor ?? ''), 'prefix')
    assert.equal(reasons.get(tokens.deeper?.accessor ?? ''), 'prefix')
    assert.equal(reasons.get(child.accessor), 'parent')
    assert.equal(reasons.get(grandchild.accessor), 'parent')
    assert.equal(events.length, 4)
  })

  test('revokePrefix(): auth/token/create covers children made with a parent, not create-orphan tokens nor the root token', async () => {
    const { store } = harness()
    const root = await store.createRoot()
    const hostToken = await store.create()
    const child = await store.create({ parent: hostToken.clientToken })
    const rootChild = await store.create({ parent: root.clientToken, ttl: '1h' })
    assert.equal(await store.revokePrefix('auth/token/create'), 2)
    assert.equal(await isUsable(store, child.clientToken), false)
    assert.equal(await isUsable(store, rootChild.clientToken), false)
    assert.equal(await isUsable(store, hostToken.clientToken), true)
    assert.equal(await isUsable(store, root.clientToken), true)
  })

  test('revokePrefix(): a prefix that matches nothing revokes nothing', async () => {
    const h = harness()
    await pathTokens(h)
    const events = recordRevoked(h.store)
    assert.equal(await h.store.revokePrefix('auth/ldap'), 0)
    assert.equal(events.length, 0)
    assert.equal(h.memory.size, 6)
  })
})

describe('revokeExpired()', () => {
  test('revokeExpired(): revokes expired tokens with their whole subtree, children included whatever their TTL; orphans survive', async () => {
    const { store, clock, memory } = harness()
    const root = await store.createRoot()
    const parent = await store.create({ parent: root.clientToken, policies: ['a'], ttl: 60 })
    const child = await store.create({ parent: parent.clientToken, ttl: 3600 })
    const orphan = await store.create({ parent: root.clientToken, noParent: true, ttl: 3600 })
    const live = await store.create({ ttl: 3600 })
    clock.advance(60)
    const events = recordRevoked(store)
    assert.equal(await store.revokeExpired(), 1)
    const reasons = new Map(events.map((e) => [e.accessor, e.reason]))
    assert.equal(reasons.get(parent.accessor), 'expired')
    assert.equal(reasons.get(child.accessor), 'parent')
    assert.equal(events.length, 2)
    assert.equal(events[0]?.accessor, child.accessor)
    assert.equal(await isUsable(store, orphan.clientToken), true)
    assert.equal(await isUsable(store, live.clientToken), true)
    assert.equal(memory.size, 3)
    assert.equal(await store.revokeExpired(), 0)
  })

  test('revokeExpired(): does nothing before the expiry', async () => {
    const { store, clock, memory } = harness()
    await store.create({ ttl: 60 })
    clock.now += 59_999
    assert.equal(await store.revokeExpired(), 0)
    assert.equal(memory.size, 1)
  })
})

describe('interrupted revocation', () => {
  /** Revokes the tree with the k-th deletion failing; returns what is needed to check the aftermath. */
  async function interrupted(k: number, method = 'deleteToken') {
    const h = walkHarness()
    const tree = await buildTree(h.store)
    const bystander = await h.store.create({ policies: ['x'] })
    const events = recordRevoked(h.store)
    const base = h.spy.counts.get(method) ?? 0
    h.spy.failWhen = (name, n) => name === method && n === base + k
    const error = await rejectsWith(
      h.store.revoke(tree.root?.clientToken ?? ''),
      'storage_unavailable',
    )
    h.spy.failWhen = null
    return { ...h, tree, bystander, events, error }
  }

  test('revoke(): a storage failure half-way is storage_unavailable, and no descendant authenticates afterwards (every cut-off point)', async () => {
    for (let k = 1; k <= 7; k++) {
      const { store, tree, bystander, error } = await interrupted(k)
      assert.ok(error.cause instanceof Error, 'the driver error is the cause')
      for (const [name, auth] of Object.entries(tree)) {
        await rejectsWith(store.authenticate(auth.clientToken), 'invalid_token').catch(
          (e: unknown) => {
            throw new Error(`k=${k}: ${name} still authenticates`, { cause: e })
          },
        )
        assert.equal(await store.lookup(auth.clientToken), null, `k=${k}: ${name}`)
      }
      await store.authenticate(bystander.clientToken)
    }
  })

  test('revoke(): a second revoke finishes an interrupted revocation, reporting each token once', async () => {
    for (let k = 1; k <= 7; k++) {
      const { store, memory, tree, events } = await interrupted(k)
      assert.equal(
        events.length,
        k - 1,
        `k=${k}: deletions written before the failure are reported`,
      )
      await store.revoke(tree.root?.clientToken ?? '')
      assert.equal(memory.size, 1, `k=${k}: only the bystander is left`)
      const accessors = events.map((e) => e.accessor).sort()
      const expected = Object.values(tree)
        .map((auth) => auth.accessor)
        .sort()
      assert.deepEqual(accessors, expected, `k=${k}`)
    }
  })

  test('revokeExpired(): finishes an interrupted revocation', async () => {
    for (let k = 1; k <= 7; k++) {
      const { store, memory, tree, events } = await interrupted(k)
      await store.revokeExpired()
      assert.equal(memory.size, 1, `k=${k}`)
      assert.equal(events.length, 7, `k=${k}`)
      assert.equal(await store.lookup(tree.root?.clientToken ?? ''), null)
    }
  })

  test('revoke(): a failure while listing children leaves the tree unusable and resumable', async () => {
    for (let k = 1; k <= 4; k++) {
      const { store, memory, tree } = await interrupted(k, 'listChildren')
      for (const auth of Object.values(tree)) {
        assert.equal(await isUsable(store, auth.clientToken), false, `k=${k}`)
      }
      await store.revoke(tree.root?.clientToken ?? '')
      assert.equal(memory.size, 1, `k=${k}`)
    }
  })

  test('revoke(): a failure before anything was written leaves the tree as it was', async () => {
    const h = spyHarness()
    const tree = await buildTree(h.store)
    h.spy.failWhen = (name) => name === 'markRevoking'
    await rejectsWith(h.store.revoke(tree.a?.clientToken ?? ''), 'storage_unavailable')
    h.spy.failWhen = null
    for (const auth of Object.values(tree))
      assert.equal(await isUsable(h.store, auth.clientToken), true)
  })

  test('revokeAccessor() and revokePrefix(): a failure half-way leaves no descendant usable', async () => {
    for (const run of ['accessor', 'prefix'] as const) {
      const h = walkHarness()
      const tree = await buildTree(h.store)
      h.spy.failWhen = (name, n) => name === 'deleteToken' && n === 2
      const revoking =
        run === 'accessor'
          ? h.store.revokeAccessor(tree.root?.accessor ?? '')
          : h.store.revokePrefix('auth/github')
      await rejectsWith(revoking, 'storage_unavailable')
      h.spy.failWhen = null
      for (const auth of Object.values(tree)) {
        assert.equal(await isUsable(h.store, auth.clientToken), false, run)
      }
      await h.store.revokeExpired()
      assert.equal(h.memory.size, 0, run)
    }
  })

  test('revokeOrphan(): under an ancestor whose revocation was cut off, orphaning does not make the children usable', async () => {
    const h = walkHarness()
    const top = await h.store.create()
    const middle = await h.store.create({ parent: top.clientToken })
    const leaf = await h.store.create({ parent: middle.clientToken })
    h.spy.failWhen = (name) => name === 'deleteToken'
    await rejectsWith(h.store.revoke(top.clientToken), 'storage_unavailable')
    h.spy.failWhen = null
    assert.equal(await isUsable(h.store, leaf.clientToken), false)
    await h.store.revokeOrphan(middle.clientToken)
    assert.equal(await isUsable(h.store, leaf.clientToken), false)
  })

  test('revoke(): after a revokeOrphan that failed, revoke still revokes the children', async () => {
    const h = spyHarness()
    const parent = await h.store.create()
    const child = await h.store.create({ parent: parent.clientToken })
    h.spy.failWhen = (name) => name === 'orphanChildren'
    await rejectsWith(h.store.revokeOrphan(parent.clientToken), 'storage_unavailable')
    h.spy.failWhen = null
    await h.store.revoke(parent.clientToken)
    assert.equal(await isUsable(h.store, child.clientToken), false)
  })
})

describe('revocation in deleteSubtree batches', () => {
  /** A top token with `width` children of `width` children each: more tokens than one batch holds. */
  async function wideTree(store: TokenStore, width: number): Promise<TokenAuth[]> {
    const top = await store.create({ path: 'auth/github/login' })
    const all = [top]
    for (let i = 0; i < width; i++) {
      const child = await store.create({ parent: top.clientToken })
      all.push(child)
      for (let j = 0; j < width; j++) all.push(await store.create({ parent: child.clientToken }))
    }
    return all
  }

  test('revoke(): a subtree larger than a batch goes in batches, children first, nothing usable in between', async () => {
    const { store, spy, clock } = spyHarness()
    const tree = await wideTree(store, 40)
    assert.ok(tree.length > 3 * SUBTREE_BATCH)
    const ids = await Promise.all(
      tree.map(async (t) => (await storedRecord(spy.inner, t.accessor)).id),
    )
    const stillLive: Array<Promise<TokenRecord | null>> = []
    spy.failWhen = (method) => {
      if (method === 'deleteSubtree') {
        for (const id of ids) stillLive.push(spy.inner.getLiveToken(id, clock.now))
      }
      return false
    }
    const events = recordRevoked(store)
    await store.revoke(tree[0]?.clientToken ?? '')
    assert.equal(spy.counts.get('deleteSubtree'), Math.ceil(tree.length / SUBTREE_BATCH))
    assert.equal(spy.counts.get('deleteToken') ?? 0, 0)
    assert.deepEqual(
      (await Promise.all(stillLive)).filter((r) => r !== null),
      [],
    )
    assert.equal(events.length, tree.length)
    assert.equal(events.at(-1)?.accessor, tree[0]?.accessor)
    assert.equal(events.at(-1)?.reason, 'explicit')
    assert.ok(events.slice(0, -1).every((e) => e.reason === 'parent'))
    assert.equal(spy.inner.size, 0)
  })

  test('revoke(): a batch that fails leaves nothing usable; a second revoke or revokeExpired() finishes, each token reported once', async () => {
    for (const finish of ['revoke', 'revokeExpired'] as const) {
      for (let k = 1; k <= 3; k++) {
        const h = spyHarness()
        const tree = await wideTree(h.store, 40)
        const bystander = await h.store.create()
        const events = recordRevoked(h.store)
        h.spy.failWhen = (name, n) => name === 'deleteSubtree' && n === k
        await rejectsWith(h.store.revoke(tree[0]?.clientToken ?? ''), 'storage_unavailable')
        h.spy.failWhen = null
        assert.equal(events.length, (k - 1) * SUBTREE_BATCH, `k=${k}`)
        for (const auth of tree) {
          assert.equal(
            await h.store.lookup(auth.clientToken),
            null,
            `k=${k}: usable after the failure`,
          )
        }
        if (finish === 'revoke') await h.store.revoke(tree[0]?.clientToken ?? '')
        else await h.store.revokeExpired()
        assert.equal(h.memory.size, 1, `${finish} k=${k}: only the bystander is left`)
        assert.deepEqual(
          events.map((e) => e.accessor).sort(),
          tree.map((t) => t.accessor).sort(),
          `${finish} k=${k}: each token reported once`,
        )
        assert.ok(await h.store.lookup(bystander.clientToken))
      }
    }
  })

  test('revoke(): a 5,000-deep chain goes in batches without recursion', async () => {
    const memory = new MemoryStorage()
    const { store } = harness({ storage: memory })
    const top = await store.create()
    const topRecord = await storedRecord(memory, top.accessor)
    let parent = topRecord.id
    for (let i = 0; i < 5000; i++) {
      const id = `deep-${i}` as HashedTokenId
      const result = await memory.insertToken({
        ...topRecord,
        id,
        accessor: `deep-accessor-${i}`,
        parent,
      })
      assert.equal(result, 'inserted')
      parent = id
    }
    const events = recordRevoked(store)
    await store.revoke(top.clientToken)
    assert.equal(events.length, 5001)
    assert.equal(events[0]?.accessor, 'deep-accessor-4999')
    assert.equal(events.at(-1)?.accessor, top.accessor)
    assert.equal(memory.size, 0)
  })

  test('revokePrefix(): a named token under another named one gets its own mark as reason', async () => {
    const { store } = harness()
    const admin = await store.createRoot()
    await store.roles.write('ldap')
    const top = await store.create({ parent: admin.clientToken, role: 'ldap' })
    const inner = await store.create({ parent: top.clientToken, role: 'ldap' })
    const leaf = await store.create({ parent: inner.clientToken })
    const events = recordRevoked(store)
    assert.equal(await store.revokePrefix('auth/token/create/ldap'), 3)
    const reasons = new Map(events.map((e) => [e.accessor, e.reason]))
    assert.equal(reasons.get(top.accessor), 'prefix')
    assert.equal(reasons.get(inner.accessor), 'prefix')
    assert.equal(reasons.get(leaf.accessor), 'parent')
  })
})

describe('audit of revocations', () => {
  test('revoke(): the audit event names the revoked token accessor', async () => {
    const { store } = harness()
    const auth = await store.create()
    const audits = recordAudit(store)
    await store.revoke(auth.clientToken)
    assert.equal(audits.length, 1)
    assert.equal(audits[0]?.operation, 'revoke')
    assert.equal(audits[0].accessor, auth.accessor)
    assert.equal(audits[0].outcome, 'ok')
  })
})

/**
 * A chain `depth` tokens deep under a token the store issued. Building it with `create` costs O(depth²) (each
 * creation checks every ancestor), so the chain lives in an overlay: a Storage that answers for the chain's
 * records itself and forwards everything else to a MemoryStorage. The store's revocation walk sees one storage.
 */
async function deepChain(depth: number): Promise<{
  store: TokenStore
  storage: Storage
  chain: TokenAuth & { deepest: HashedTokenId }
}> {
  const memory = new MemoryStorage()
  const overlay = new Map<HashedTokenId, TokenRecord>()
  const children = new Map<HashedTokenId, HashedTokenId[]>()
  const target = memory as unknown as Record<string | symbol, unknown>
  const own: Record<string, (...args: never[]) => Promise<unknown>> = {
    getToken: async (id: HashedTokenId) => overlay.get(id) ?? memory.getToken(id),
    markRevoking: async (id: HashedTokenId, reason: TokenRecord['revoking']) => {
      const record = overlay.get(id)
      if (record === undefined) return memory.markRevoking(id, reason ?? 'explicit')
      const marked = record.revoking === null ? { ...record, revoking: reason } : record
      overlay.set(id, marked)
      return marked
    },
    listChildren: async (id: HashedTokenId) => [
      ...(children.get(id) ?? []),
      ...(overlay.has(id) ? [] : await memory.listChildren(id)),
    ],
    deleteToken: async (id: HashedTokenId, ...rest: never[]) => {
      const record = overlay.get(id)
      if (record === undefined) {
        return (memory.deleteToken as (...args: unknown[]) => Promise<unknown>)(id, ...rest)
      }
      overlay.delete(id)
      return record
    },
    listLeases: async (id: HashedTokenId) =>
      overlay.has(id)
        ? []
        : (target.listLeases as (id: HashedTokenId) => Promise<unknown[]>).call(memory, id),
  }
  const storage = new Proxy(memory, {
    get(_t, property) {
      // The overlay answers the walk's calls; memory's deleteSubtree would not see it.
      if (property === 'deleteSubtree') return undefined
      if (typeof property === 'string' && property in own) return own[property]
      const value = target[property]
      return typeof value === 'function' ? (value as () => unknown).bind(memory) : value
    },
  }) as unknown as Storage
  const store = new TokenStore({ storage, clock: new VirtualClock().read, timers: false })
  const top = await store.create({ ttl: '1h' })
  const topRecord = await storedRecord(storage, top.accessor)
  let parent = topRecord.id
  for (let i = 0; i < depth; i++) {
    const id = `chain-${i}` as HashedTokenId
    overlay.set(id, {
      ...topRecord,
      id,
      accessor: `chain-accessor-${i}`,
      parent,
      path: 'auth/token/create',
    })
    children.set(parent, [id])
    parent = id
  }
  return { store, storage, chain: { ...top, deepest: parent } }
}
