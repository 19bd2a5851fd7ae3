/**
 * OpenTelemetry SDK fixtures for the `tokentree/otel` tests: a tracer whose spans land in memory, a meter read on
 * demand, and a run of every public store method.
 */
import { context } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import {
  MeterProvider,
  MetricReader,
  type DataPoint,
  type MetricData,
  type ScopeMetrics,
} from '@opentelemetry/sdk-metrics'
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base'
import type { TokenAuth, TokenStore } from 'tokentree'

// Spans nest under the caller's only when a context manager carries the active span across awaits.
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())

/** A tracer and the spans it ended. */
export function memoryTracer(): {
  provider: BasicTracerProvider
  tracer: ReturnType<BasicTracerProvider['getTracer']>
  spans: () => ReadableSpan[]
} {
  const exporter = new InMemorySpanExporter()
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
  return { provider, tracer: provider.getTracer('test'), spans: () => exporter.getFinishedSpans() }
}

/** A metric reader that only collects when asked. */
class ManualReader extends MetricReader {
  protected override onShutdown(): Promise<void> {
    return Promise.resolve()
  }
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve()
  }
}

/** A meter, and a read of everything it has recorded so far. */
export function memoryMeter(): {
  provider: MeterProvider
  meter: ReturnType<MeterProvider['getMeter']>
  collect: () => Promise<Metrics>
  collectScopes: () => Promise<ScopeMetrics[]>
} {
  const reader = new ManualReader()
  const provider = new MeterProvider({ readers: [reader] })
  const collectScopes = async () => {
    const { resourceMetrics, errors } = await reader.collect()
    if (errors.length > 0) throw new AggregateError(errors, 'metric collection failed')
    return resourceMetrics.scopeMetrics
  }
  return {
    provider,
    meter: provider.getMeter('test'),
    collect: async () => new Metrics((await collectScopes()).flatMap((scope) => scope.metrics)),
    collectScopes,
  }
}

/** One collection of metrics, searchable by name and attributes. */
export class Metrics {
  constructor(readonly all: readonly MetricData[]) {}

  /** The metric called `name`, or `undefined` when it has no data. */
  metric(name: string): MetricData | undefined {
    return this.all.find(
      (metric) => metric.descriptor.name === name && metric.dataPoints.length > 0,
    )
  }

  /** The data points of `name` whose attributes include `attributes`. */
  points(name: string, attributes: Record<string, string> = {}): DataPoint<unknown>[] {
    const points = (this.metric(name)?.dataPoints ?? []) as DataPoint<unknown>[]
    return points.filter((point) =>
      Object.entries(attributes).every(([key, value]) => point.attributes[key] === value),
    )
  }

  /** The value of the one data point of `name` with exactly `attributes`, or `undefined`. */
  value(name: string, attributes: Record<string, string>): unknown {
    const matches = this.points(name).filter(
      (point) =>
        Object.keys(point.attributes).length === Object.keys(attributes).length &&
        Object.entries(attributes).every(([key, value]) => point.attributes[key] === value),
    )
    if (matches.length > 1) throw new Error(`${name}: ${matches.length} points match`)
    return matches[0]?.value
  }
}

/** A histogram data point's value. */
export interface HistogramValue {
  count: number
  sum?: number
  min?: number
  max?: number
}

/**
 * Calls every public method of `store` at least once (one `authenticate` fails), and returns every token and
 * wrapping token it saw, for the tests that search the telemetry for them.
 */
export async function runEveryMethod(store: TokenStore): Promise<string[]> {
  const tokens: string[] = []
  const keep = <T extends TokenAuth>(auth: T): T => {
    tokens.push(auth.clientToken)
    return auth
  }
  const root = keep(await store.createRoot())
  const parent = keep(await store.create({ parent: root.clientToken, policies: ['app'] }))
  const child = keep(await store.create({ parent: parent.clientToken, numUses: 3 }))
  const orphan = keep(await store.create({ parent: root.clientToken, ttl: '1h' }))
  const batch = keep(await store.create({ parent: parent.clientToken, type: 'batch', ttl: '5m' }))
  await store.lookup(child.clientToken)
  await store.lookupAccessor(child.accessor)
  await store.list()
  await store.authenticate(child.clientToken)
  await store.authenticate(batch.clientToken)
  await store.authenticate('hvs.not-a-real-token-0123456789').catch(() => undefined)
  tokens.push('hvs.not-a-real-token-0123456789')
  await store.renew(orphan.clientToken, '30m')
  await store.renewAccessor(orphan.accessor, '30m')
  const lease = await store.createLease(parent.clientToken, { path: 'db/creds/app', ttl: 60 })
  await store.lookupLease(lease.leaseId)
  await store.listLeaseKeys('db/')
  await store.renewLease(lease.leaseId, 60)
  await store.revokeLease(lease.leaseId)
  await store.roles.write('ci', { allowedPolicies: ['deploy'] })
  await store.roles.read('ci')
  await store.roles.list()
  keep(await store.create({ parent: root.clientToken, role: 'ci' }))
  await store.roles.delete('ci')
  await store.policies.write('app', 'path "apps/*" { capabilities = ["read"] }')
  await store.policies.read('app')
  await store.policies.list()
  await store.authorize(parent.clientToken, { path: 'apps/web', operation: 'read' })
  await store.capabilities(parent.clientToken, 'apps/web')
  await store.capabilitiesAccessor(parent.accessor, 'apps/web')
  await store.policies.delete('app')
  const wrapped = await store.wrap(
    { token: child.clientToken },
    { ttl: '5m', wrappedAccessor: child.accessor },
  )
  tokens.push(wrapped.token)
  await store.lookupWrapping(wrapped.token)
  const rewrapped = await store.rewrap(wrapped.token)
  tokens.push(rewrapped.token)
  await store.unwrap(rewrapped.token)
  await store.revokeOrphan(orphan.clientToken)
  const victim = keep(await store.create({ parent: root.clientToken }))
  await store.revokeAccessor(victim.accessor)
  await store.revokePrefix('auth/token/none')
  await store.revokeExpired()
  await store.tidy()
  await store.revoke(parent.clientToken)
  return tokens
}
