/**
 * The cost of `tokentree/otel` on an in-memory `authenticate` (the fastest call, so the worst ratio), against the
 * same call without instrumentation in the same run; rounds alternate.
 *
 * Measured in CPU time (`process.cpuUsage`, all of the process's threads), not wall time: what instrumenting
 * costs is work done, and on a machine shared with other jobs, wall time mostly measures the wait for a core.
 *
 * - API only (no SDK registered: the tracer and meter do nothing): what a library user pays for calling
 *   `instrument(store)` in an app that exports nothing; mostly the tracing channels' own publishing. Goal: under
 *   50%.
 * - SDK: a recording tracer (every span sampled, batched to an exporter that drops them) and a meter with a
 *   reader. Goal: under 10 µs of CPU added per call, a fraction of one Redis or PostgreSQL round trip.
 */
import { pathToFileURL } from 'node:url'

import { metrics, trace } from '@opentelemetry/api'
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics'
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base'

import { TokenStore } from '../src/index.js'
import { instrument, type InstrumentOptions } from '../src/otel/index.js'
import { median, perOp, printTable, type Row } from './harness.js'

/** Tokens in the store, so lookups hit a realistically sized table. */
const TOKENS = 10_000
/** Operations per measured round. */
const OPS = 30_000
const ROUNDS = { warmup: 2, rounds: 7 }

/** Receives batches of spans and drops them: the export's own cost is the backend's, not ours. */
class DroppingExporter implements SpanExporter {
  exported = 0
  export(spans: ReadableSpan[], done: (result: { code: 0 }) => void): void {
    this.exported += spans.length
    done({ code: 0 })
  }
  shutdown(): Promise<void> {
    return Promise.resolve()
  }
}

/** A reader that never collects during the run: recording is what is measured. */
class IdleReader extends MetricReader {
  protected override onShutdown(): Promise<void> {
    return Promise.resolve()
  }
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve()
  }
}

export async function benchOtel(): Promise<Row[]> {
  const store = new TokenStore({ timers: false })
  const tokens: string[] = []
  for (let i = 0; i < TOKENS; i++) tokens.push((await store.create()).clientToken)
  /** CPU milliseconds per call. */
  const run = async (): Promise<number> => {
    const start = process.cpuUsage()
    for (let i = 0; i < OPS; i++) await store.authenticate(tokens[i % TOKENS] ?? '')
    const { user, system } = process.cpuUsage(start)
    return (user + system) / 1000 / OPS
  }

  /** Medians of alternating rounds: bare, then instrumented with `options`. */
  const compare = async (options: InstrumentOptions) => {
    const bare: number[] = []
    const instrumented: number[] = []
    for (let round = 0; round < ROUNDS.warmup + ROUNDS.rounds; round++) {
      const without = await run()
      const instrumentation = instrument(store, options)
      const withIt = await run()
      instrumentation.close()
      if (round < ROUNDS.warmup) continue
      bare.push(without)
      instrumented.push(withIt)
    }
    return { bare: median(bare), instrumented: median(instrumented) }
  }

  const api = await compare({
    tracer: trace.getTracer('bench'),
    meter: metrics.getMeter('bench'),
  })
  const exporter = new DroppingExporter()
  const spans = new BatchSpanProcessor(exporter, { maxQueueSize: 65_536 })
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [spans] })
  const reader = new IdleReader()
  const meterProvider = new MeterProvider({ readers: [reader] })
  const sdk = await compare({
    tracer: tracerProvider.getTracer('bench'),
    meter: meterProvider.getMeter('bench'),
  })
  await tracerProvider.shutdown()
  const { resourceMetrics } = await reader.collect()
  await meterProvider.shutdown()
  await store.close()
  if (exporter.exported === 0) throw new Error('the SDK exported no span')
  if (resourceMetrics.scopeMetrics.length === 0) throw new Error('the SDK recorded no metric')

  const apiCost = (api.instrumented / api.bare - 1) * 100
  const sdkAdded = sdk.instrumented - sdk.bare
  return [
    {
      scenario: 'otel, API only (no SDK)',
      subject: `authenticate: ${perOp(api.instrumented)}`,
      baseline: `authenticate: ${perOp(api.bare)}`,
      ratio: `${apiCost >= 0 ? '+' : ''}${apiCost.toFixed(1)}%`,
      goal: '< 50% (CPU)',
      met: apiCost < 50,
    },
    {
      scenario: 'otel, SDK spans + metrics',
      subject: `authenticate: ${perOp(sdk.instrumented)}`,
      baseline: `authenticate: ${perOp(sdk.bare)}`,
      ratio: `+${perOp(sdkAdded)} (${(sdk.instrumented / sdk.bare).toFixed(2)}×)`,
      goal: '< 10 µs/op added (CPU)',
      met: sdkAdded < 0.01,
    },
  ]
}

// Run alone: node --import tsx bench/otel.ts
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  printTable(await benchOtel())
}
