/**
 * tokentree/otel without a tracer or meter: the global providers' `tokentree` tracer and meter. A file of its own,
 * because it registers global providers (node:test runs each file in its own process).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { metrics, trace } from '@opentelemetry/api'
import { TokenStore } from 'tokentree'
import { INSTRUMENTATION_SCOPE, METRICS, instrument } from 'tokentree/otel'

import { memoryMeter, memoryTracer } from './helpers.js'

test('instrument(store): uses trace.getTracer and metrics.getMeter of the global providers', async () => {
  const { provider: tracerProvider, spans } = memoryTracer()
  const { provider: meterProvider, collectScopes } = memoryMeter()
  assert.ok(trace.setGlobalTracerProvider(tracerProvider))
  assert.ok(metrics.setGlobalMeterProvider(meterProvider))
  const store = new TokenStore({ timers: false })
  const instrumentation = instrument(store)
  await store.create()
  instrumentation.close()
  await store.close()

  const [span] = spans()
  assert.equal(span?.name, 'tokentree.create')
  assert.equal(span.instrumentationScope.name, INSTRUMENTATION_SCOPE)
  assert.equal(span.instrumentationScope.name, 'tokentree')
  // From the sources the version is `dev`; the build compiles in package.json's.
  assert.equal(typeof span.instrumentationScope.version, 'string')
  const scope = (await collectScopes()).find((s) => s.scope.name === 'tokentree')
  assert.ok(scope, 'no tokentree meter')
  assert.ok(scope.metrics.some((metric) => metric.descriptor.name === METRICS.operations))
})
