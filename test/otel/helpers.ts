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

export { runEveryMethod } from '../helpers/every-method.js'

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
