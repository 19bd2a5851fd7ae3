/**
 * tokentree/otel spans: one per operation, named `tokentree.<operation>`, nested under the caller's span, errors
 * recorded, never a token id, and none once the instrumentation is closed.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api'
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base'
import { TRACED_OPERATIONS, TokenStore } from 'tokentree'
import { ATTRIBUTES, instrument, spanName } from 'tokentree/otel'

import { memoryTracer, runEveryMethod } from './helpers.js'

/** Everything a span carries that could leak: name, attributes, status, events and their attributes. */
function serialize(span: ReadableSpan): string {
  return JSON.stringify({
    name: span.name,
    attributes: span.attributes,
    status: span.status,
    events: span.events.map((event) => ({ name: event.name, attributes: event.attributes })),
    links: span.links,
  })
}

test('instrument(): a span per public method, none holding a token id, even with recordAccessor', async () => {
  const { tracer, spans } = memoryTracer()
  const store = new TokenStore({ timers: false })
  const instrumentation = instrument(store, { tracer, meter: false, recordAccessor: true })
  let tokens: string[]
  try {
    tokens = await runEveryMethod(store)
  } finally {
    instrumentation.close()
    await store.close()
  }

  const names = new Set(spans().map((span) => span.name))
  assert.deepEqual(
    TRACED_OPERATIONS.map(spanName).filter((name) => !names.has(name)),
    [],
    'operations without a span',
  )
  for (const span of spans()) {
    assert.equal(span.kind, SpanKind.INTERNAL)
    assert.equal(span.name, `tokentree.${String(span.attributes[ATTRIBUTES.operation])}`)
    assert.ok(span.ended)
    const text = serialize(span)
    for (const token of tokens) {
      assert.ok(!text.includes(token), `${span.name} holds a token id`)
      // Batch and wrapping tokens are long; a fragment is as bad as the whole.
      assert.ok(!text.includes(token.slice(4, 24)), `${span.name} holds part of a token id`)
    }
  }
})

test('instrument(): attributes of a successful span; the accessor only with recordAccessor', async () => {
  const { tracer, spans } = memoryTracer()
  const store = new TokenStore({ timers: false })
  const plain = instrument(store, { tracer, meter: false })
  const token = await store.create({ policies: ['app'] })
  await store.authenticate(token.clientToken)
  plain.close()
  const withAccessor = instrument(store, { tracer, meter: false, recordAccessor: true })
  await store.authenticate(token.clientToken)
  withAccessor.close()
  await store.close()

  const [create, first, second] = spans()
  assert.equal(spans().length, 3)
  assert.equal(create?.name, 'tokentree.create')
  assert.equal(first?.name, 'tokentree.authenticate')
  assert.deepEqual(first.attributes, {
    [ATTRIBUTES.operation]: 'authenticate',
    [ATTRIBUTES.outcome]: 'ok',
  })
  assert.equal(first.status.code, SpanStatusCode.UNSET)
  assert.deepEqual(second?.attributes, {
    [ATTRIBUTES.operation]: 'authenticate',
    [ATTRIBUTES.outcome]: 'ok',
    [ATTRIBUTES.accessor]: token.accessor,
  })
})

test('instrument(): a failed operation has status ERROR, error.type and an exception event', async () => {
  const { tracer, spans } = memoryTracer()
  const store = new TokenStore({ timers: false })
  const instrumentation = instrument(store, { tracer, meter: false })
  await assert.rejects(store.authenticate('hvs.unknown-token-abcdefghijklmnop'), {
    code: 'invalid_token',
  })
  await assert.rejects(store.create({ numUses: -1 }), { code: 'invalid_request' })
  instrumentation.close()
  await store.close()

  const [authenticate, create] = spans()
  assert.equal(authenticate?.name, 'tokentree.authenticate')
  assert.equal(authenticate.status.code, SpanStatusCode.ERROR)
  assert.match(authenticate.status.message ?? '', /unknown, expired, revoked or used up/)
  assert.equal(authenticate.attributes[ATTRIBUTES.outcome], 'error')
  assert.equal(authenticate.attributes[ATTRIBUTES.errorType], 'invalid_token')
  const exception = authenticate.events.find((event) => event.name === 'exception')
  assert.ok(exception, 'no exception event')
  assert.equal(exception.attributes?.['exception.type'], 'TokenStoreError')
  assert.ok(!JSON.stringify(exception).includes('unknown-token-abcdefghijklmnop'))
  assert.equal(create?.attributes[ATTRIBUTES.errorType], 'invalid_request')
  assert.equal(create.status.code, SpanStatusCode.ERROR)
})

test("instrument(): spans are children of the caller's active span, also for concurrent calls", async () => {
  const { tracer, spans } = memoryTracer()
  const store = new TokenStore({ timers: false })
  const instrumentation = instrument(store, { tracer, meter: false })
  const token = await store.create()

  // Two requests at once, each with its own active span: each store call must nest under its own request.
  const request = (name: string) =>
    tracer.startActiveSpan(name, async (span) => {
      await store.authenticate(token.clientToken)
      await store.lookup(token.clientToken)
      span.end()
      return span.spanContext().spanId
    })
  const [a, b] = await Promise.all([request('request a'), request('request b')])
  // Outside any span: a root span.
  await store.lookupAccessor(token.accessor)
  instrumentation.close()
  await store.close()

  const children = (parent: string) =>
    spans()
      .filter((span) => span.parentSpanContext?.spanId === parent)
      .map((span) => span.name)
      .sort()
  assert.deepEqual(children(a), ['tokentree.authenticate', 'tokentree.lookup'])
  assert.deepEqual(children(b), ['tokentree.authenticate', 'tokentree.lookup'])
  const lookupAccessor = spans().find((span) => span.name === 'tokentree.lookupAccessor')
  assert.equal(lookupAccessor?.parentSpanContext, undefined)
  const create = spans().find((span) => span.name === 'tokentree.create')
  assert.equal(create?.parentSpanContext, undefined)
  // The span ends when the call settles, before the caller's span (the exporter gets spans as they end).
  const order = spans().map((span) => span.spanContext().spanId)
  for (const child of spans().filter((span) => span.parentSpanContext?.spanId === a)) {
    assert.ok(order.indexOf(child.spanContext().spanId) < order.indexOf(a), child.name)
  }
  assert.equal(trace.getActiveSpan(), undefined)
})

test('instrument(): only the instrumented store; close() stops the spans', async () => {
  const { tracer, spans } = memoryTracer()
  const store = new TokenStore({ timers: false })
  const other = new TokenStore({ timers: false })
  const instrumentation = instrument(store, { tracer, meter: false })
  await other.create()
  const token = await store.create()
  assert.deepEqual(
    spans().map((span) => span.name),
    ['tokentree.create'],
  )
  instrumentation.close()
  instrumentation.close() // idempotent
  await store.authenticate(token.clientToken)
  await store.revoke(token.clientToken)
  assert.equal(spans().length, 1)
  await store.close()
  await other.close()
})

test('instrument(): close() ends the span of an operation in flight', async () => {
  const { tracer, spans } = memoryTracer()
  const store = new TokenStore({ timers: false })
  const instrumentation = instrument(store, { tracer, meter: false })
  const pending = store.create()
  instrumentation.close()
  await pending
  assert.deepEqual(
    spans().map((span) => [span.name, span.attributes[ATTRIBUTES.outcome]]),
    [['tokentree.create', undefined]],
  )
  await store.close()
})
