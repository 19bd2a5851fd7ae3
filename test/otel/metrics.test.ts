/**
 * tokentree/otel metrics: operations by outcome and code, durations, revocations by kind/reason/origin, expiry
 * sweeps, notice lag and the subscription gauge; none after close().
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { MemoryStorage, TokenStore, type RevocationNotice, type StorageNotice } from 'tokentree'
import { ATTRIBUTES, METRICS, instrument } from 'tokentree/otel'
import { ManualClock, createTestStore } from 'tokentree/testing'

import { overrideStorage } from '../helpers/storage.js'
import { memoryMeter, runEveryMethod, type HistogramValue } from './helpers.js'

const { operation, outcome, errorType } = ATTRIBUTES

test('instrument(): tokentree.operations counts by operation, outcome and code; durations in seconds', async () => {
  const { meter, collect } = memoryMeter()
  const store = new TokenStore({ timers: false })
  const instrumentation = instrument(store, { meter, tracer: false })
  const token = await store.create({ numUses: 2 })
  await store.create()
  await store.authenticate(token.clientToken)
  await store.authenticate(token.clientToken)
  await assert.rejects(store.authenticate(token.clientToken), { code: 'invalid_token' })
  await assert.rejects(store.create({ ttl: 'soon' }), { code: 'invalid_request' })

  const metrics = await collect()
  assert.equal(metrics.value(METRICS.operations, { [operation]: 'create', [outcome]: 'ok' }), 2)
  assert.equal(
    metrics.value(METRICS.operations, {
      [operation]: 'create',
      [outcome]: 'error',
      [errorType]: 'invalid_request',
    }),
    1,
  )
  assert.equal(
    metrics.value(METRICS.operations, { [operation]: 'authenticate', [outcome]: 'ok' }),
    2,
  )
  assert.equal(
    metrics.value(METRICS.operations, {
      [operation]: 'authenticate',
      [outcome]: 'error',
      [errorType]: 'invalid_token',
    }),
    1,
  )
  assert.equal(metrics.points(METRICS.operations).length, 4)

  const duration = metrics.metric(METRICS.operationDuration)
  assert.equal(duration?.descriptor.unit, 's')
  const ok = metrics.value(METRICS.operationDuration, {
    [operation]: 'authenticate',
    [outcome]: 'ok',
  }) as HistogramValue
  assert.equal(ok.count, 2)
  // Seconds, not milliseconds: an in-memory authenticate takes well under a second, and more than nothing.
  assert.ok((ok.sum ?? 0) > 0 && (ok.max ?? 1) < 1, `sum ${String(ok.sum)}, max ${String(ok.max)}`)

  instrumentation.close()
  await store.authenticate((await store.create()).clientToken)
  const after = await collect()
  assert.equal(after.value(METRICS.operations, { [operation]: 'create', [outcome]: 'ok' }), 2)
  await store.close()
})

test('instrument(): two stores on one meter are summed; a failed call in one does not count in the other', async () => {
  const { meter, collect } = memoryMeter()
  const first = new TokenStore({ timers: false })
  const second = new TokenStore({ timers: false })
  const a = instrument(first, { meter, tracer: false })
  const b = instrument(second, { meter, tracer: false })
  await first.create()
  await second.create()
  await second.create()
  await assert.rejects(first.authenticate('hvs.nothing-of-the-sort-0000'), {
    code: 'invalid_token',
  })
  const metrics = await collect()
  assert.equal(metrics.value(METRICS.operations, { [operation]: 'create', [outcome]: 'ok' }), 3)
  assert.equal(
    (
      metrics.value(METRICS.operationDuration, {
        [operation]: 'create',
        [outcome]: 'ok',
      }) as HistogramValue
    ).count,
    3,
  )
  assert.equal(
    metrics.value(METRICS.operations, {
      [operation]: 'authenticate',
      [outcome]: 'error',
      [errorType]: 'invalid_token',
    }),
    1,
  )
  a.close()
  b.close()
  await first.close()
  await second.close()
})

test('instrument(): every public method is counted as its audit event, and no attribute holds a token id', async () => {
  const { meter, collect } = memoryMeter()
  const store = new TokenStore({ timers: false })
  const audited = new Map<string, number>()
  store.on('audit', (event) => {
    const key = JSON.stringify([event.operation, event.outcome, event.code ?? null])
    audited.set(key, (audited.get(key) ?? 0) + 1)
  })
  const instrumentation = instrument(store, { meter, tracer: false })
  const tokens = await runEveryMethod(store)
  const metrics = await collect()
  instrumentation.close()
  await store.close()

  const text = JSON.stringify(
    metrics.all.map((metric) => metric.dataPoints.map((p) => p.attributes)),
  )
  for (const token of tokens)
    assert.ok(!text.includes(token.slice(4, 24)), 'a metric holds a token id')
  const key = (attributes: Record<string, unknown>) =>
    JSON.stringify([attributes[operation], attributes[outcome], attributes[errorType] ?? null])
  const counted = new Map(
    metrics.points(METRICS.operations).map((point) => [key(point.attributes), point.value]),
  )
  const timed = new Map(
    metrics
      .points(METRICS.operationDuration)
      .map((point) => [key(point.attributes), (point.value as HistogramValue).count]),
  )
  assert.deepEqual(counted, audited)
  assert.deepEqual(timed, audited)
  assert.ok(audited.size >= 34, `only ${audited.size} kinds of calls`)
})

test('instrument(): tokentree.revocations by kind, reason and origin (local, or remote from a notice)', async () => {
  let deliver: ((notice: StorageNotice) => void) | null = null
  const storage = overrideStorage(new MemoryStorage(), {
    subscribe: (listener) => {
      deliver = listener
      return Promise.resolve(() => Promise.resolve())
    },
  })
  const { store, clock } = createTestStore({ storage })
  const { meter, collect } = memoryMeter()
  const instrumentation = instrument(store, { meter, tracer: false })
  const parent = await store.create({ policies: ['app'] })
  await store.create({ parent: parent.clientToken })
  await store.create({ parent: parent.clientToken })
  await store.createLease(parent.clientToken, { path: 'db/creds/app', ttl: 60 })
  const lease = await store.createLease(parent.clientToken, { path: 'db/creds/app', ttl: 60 })
  await store.revokeLease(lease.leaseId)
  await store.revoke(parent.clientToken)
  await clock.advance(0)
  assert.ok(deliver, 'not subscribed')
  const notice: RevocationNotice = {
    kind: 'token',
    accessor: 'remote-accessor',
    path: 'auth/token/create',
    reason: 'explicit',
    time: clock.now() - 1500,
  }
  ;(deliver as (notice: StorageNotice) => void)(notice)
  ;(deliver as (notice: StorageNotice) => void)({
    kind: 'policy',
    name: 'app',
    time: clock.now() - 250,
  })
  // A notice from a clock ahead of ours: no negative lag.
  ;(deliver as (notice: StorageNotice) => void)({ ...notice, time: clock.now() + 60_000 })

  const metrics = await collect()
  const revocations = (kind: string, reason: string, origin: string) =>
    metrics.value(METRICS.revocations, {
      [ATTRIBUTES.revocationKind]: kind,
      [ATTRIBUTES.revocationReason]: reason,
      [ATTRIBUTES.revocationOrigin]: origin,
    })
  assert.equal(revocations('token', 'explicit', 'local'), 1)
  assert.equal(revocations('token', 'parent', 'local'), 2)
  // A lease that goes with its token takes the token's reason: both leases were revoked `explicit`ly.
  assert.equal(revocations('lease', 'explicit', 'local'), 2)
  assert.equal(revocations('token', 'explicit', 'remote'), 2)
  assert.equal(metrics.points(METRICS.revocations).length, 4)

  const tokenLag = metrics.value(METRICS.noticeLag, {
    [ATTRIBUTES.noticeKind]: 'token',
  }) as HistogramValue
  assert.deepEqual([tokenLag.count, tokenLag.sum, tokenLag.min, tokenLag.max], [2, 1.5, 0, 1.5])
  const policyLag = metrics.value(METRICS.noticeLag, {
    [ATTRIBUTES.noticeKind]: 'policy',
  }) as HistogramValue
  assert.deepEqual([policyLag.count, policyLag.sum], [1, 0.25])
  assert.equal(metrics.metric(METRICS.noticeLag)?.descriptor.unit, 's')

  instrumentation.close()
  ;(deliver as (notice: StorageNotice) => void)(notice)
  const after = await collect()
  assert.equal(
    after.value(METRICS.revocations, {
      [ATTRIBUTES.revocationKind]: 'token',
      [ATTRIBUTES.revocationReason]: 'explicit',
      [ATTRIBUTES.revocationOrigin]: 'remote',
    }),
    2,
  )
  await store.close()
})

test('instrument(): expiry sweeps record their duration and lag; a failed sweep its error code', async () => {
  const clock = new ManualClock()
  const base = new MemoryStorage()
  let failing = false
  // Both ways a sweep reads storage fail: the batched `sweepExpired`, and the token-by-token listing it falls
  // back to on a storage without it.
  const refused = (): Promise<never> => Promise.reject(new Error('connection refused'))
  const storage = overrideStorage(base, {
    listExpiredTokens: (now, limit) => (failing ? refused() : base.listExpiredTokens(now, limit)),
    sweepExpired: (now, limit) => (failing ? refused() : base.sweepExpired(now, limit)),
  })
  const store = new TokenStore({
    storage,
    clock: clock.now,
    // Timers that fire 2 s late, as an overloaded event loop would.
    timers: {
      setTimeout: (callback, delay) => clock.setTimeout(callback, delay + 2000),
      clearTimeout: (handle) => {
        clock.clearTimeout(handle)
      },
    },
  })
  const errors: unknown[] = []
  store.on('error', (error) => errors.push(error))
  const { meter, collect } = memoryMeter()
  const instrumentation = instrument(store, { meter, tracer: false })
  await store.create({ ttl: 60 })
  await clock.advance('1m')
  let metrics = await collect()
  assert.equal(metrics.metric(METRICS.sweepLag), undefined, 'swept before its (late) timer')
  await clock.advance('2s')
  metrics = await collect()
  const okLag = metrics.value(METRICS.sweepLag, { [outcome]: 'ok' }) as HistogramValue
  assert.deepEqual([okLag.count, okLag.sum], [1, 2])
  const okDuration = metrics.value(METRICS.sweepDuration, { [outcome]: 'ok' }) as HistogramValue
  assert.equal(okDuration.count, 1)
  assert.ok((okDuration.sum ?? -1) >= 0 && (okDuration.sum ?? 1) < 1)
  assert.equal(
    metrics.value(METRICS.revocations, {
      [ATTRIBUTES.revocationKind]: 'token',
      [ATTRIBUTES.revocationReason]: 'expired',
      [ATTRIBUTES.revocationOrigin]: 'local',
    }),
    1,
  )

  failing = true
  await store.create({ ttl: 60 })
  await clock.advance('62s')
  assert.equal(errors.length, 1)
  metrics = await collect()
  const failed = metrics.value(METRICS.sweepDuration, {
    [outcome]: 'error',
    [errorType]: 'storage_unavailable',
  }) as HistogramValue
  assert.equal(failed.count, 1)
  // A sweep runs revokeExpired, which is an operation too.
  assert.equal(
    metrics.value(METRICS.operations, {
      [operation]: 'revokeExpired',
      [outcome]: 'error',
      [errorType]: 'storage_unavailable',
    }),
    1,
  )
  instrumentation.close()
  await store.close()
})

test('instrument(): tokentree.subscription.up is 0 while down or closed, 1 when subscribed, absent when not shared', async (t) => {
  t.mock.method(Math, 'random', () => 0.5)
  let attempts = 0
  const storage = overrideStorage(new MemoryStorage(), {
    subscribe: () => {
      attempts += 1
      if (attempts === 1) return Promise.reject(new Error('connection refused'))
      return Promise.resolve(() => Promise.resolve())
    },
  })
  const { store, clock } = createTestStore({ storage })
  store.on('error', () => {})
  const { meter, collect } = memoryMeter()
  const instrumentation = instrument(store, { meter, tracer: false })
  await clock.advance(0)
  assert.equal(store.subscriptionState, 'down')
  assert.equal((await collect()).value(METRICS.subscriptionUp, {}), 0)
  await clock.advance('1s')
  assert.equal(store.subscriptionState, 'subscribed')
  assert.equal((await collect()).value(METRICS.subscriptionUp, {}), 1)
  await store.close()
  assert.equal(store.subscriptionState, 'closed')
  assert.equal((await collect()).value(METRICS.subscriptionUp, {}), 0)
  instrumentation.close()

  const memory = new TokenStore({ timers: false })
  assert.equal(memory.subscriptionState, 'unsupported')
  const fresh = memoryMeter()
  const other = instrument(memory, { meter: fresh.meter, tracer: false })
  assert.equal((await fresh.collect()).metric(METRICS.subscriptionUp), undefined)
  other.close()
  await memory.close()
})

test('instrument(): close() stops updating the gauge', async () => {
  const storage = overrideStorage(new MemoryStorage(), {
    subscribe: () => Promise.resolve(() => Promise.resolve()),
  })
  const { store, clock } = createTestStore({ storage })
  const { meter, collect } = memoryMeter()
  const instrumentation = instrument(store, { meter, tracer: false })
  await clock.advance(0)
  assert.equal((await collect()).value(METRICS.subscriptionUp, {}), 1)
  instrumentation.close()
  await store.close()
  // Not updated to 0: no callback reads the state any more (the SDK repeats the last value it had).
  assert.notEqual((await collect()).value(METRICS.subscriptionUp, {}), 0)
})
