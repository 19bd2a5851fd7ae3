/**
 * `tokentree/otel`: OpenTelemetry spans and metrics for a `TokenStore`, from its diagnostics channels and events.
 *
 * `@opentelemetry/api` is an optional peer dependency, imported by this subpath only. Bring your own SDK (or none:
 * without a registered provider, the API's tracer and meter do nothing).
 *
 * @packageDocumentation
 * @module tokentree/otel
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel'

import { metrics, trace, type Meter, type Tracer } from '@opentelemetry/api'

import {
  NOTICE_CHANNEL,
  SWEEP_CHANNEL,
  type NoticeMessage,
  type SweepMessage,
} from '../background-channels.js'
import type { RevokedEvent } from '../events.js'
import type { TokenStore } from '../token-store.js'
import { TRACED_OPERATIONS, TRACING_CHANNEL_PREFIX, type OperationContext } from '../tracing.js'
import { VERSION } from '../version.js'
import { StoreMetrics } from './metrics.js'
import { INSTRUMENTATION_SCOPE } from './names.js'
import { OperationSpans } from './spans.js'

export { ATTRIBUTES, INSTRUMENTATION_SCOPE, METRICS, spanName } from './names.js'

/** Options of {@link instrument}. */
export interface InstrumentOptions {
  /**
   * The tracer for the operations' spans, or `false` for no spans.
   *
   * @default trace.getTracer('tokentree', version): the global tracer provider's
   */
  readonly tracer?: Tracer | false
  /**
   * The meter for the metrics, or `false` for no metrics.
   *
   * @default metrics.getMeter('tokentree', version): the global meter provider's
   */
  readonly meter?: Meter | false
  /**
   * Puts the accessor of the token each operation acted on in its span (`tokentree.token.accessor`).
   *
   * Off by default. An accessor is not a token: it cannot authenticate, and Vault shows it in plain text to
   * whoever may look it up. But it names a token for `lookupAccessor`, `renewAccessor` and `revokeAccessor`, and
   * spans leave the process for a tracing backend with wider access than your audit log; Vault's own audit
   * devices likewise hash accessors unless told not to (`hmac_accessor`). Turn it on to follow one token's calls
   * across traces. Metrics never carry it (it would also make one series per token).
   *
   * @default false
   */
  readonly recordAccessor?: boolean
}

/** A store's instrumentation, as returned by {@link instrument}: call {@link Instrumentation.close} to stop it. */
export interface Instrumentation {
  /**
   * Stops instrumenting: no more spans or measurements from this store, and the gauge is no longer reported. Spans
   * of operations still in flight are ended at once, without an outcome. Idempotent; the store is not closed.
   */
  close(): void
}

/**
 * Instruments a `TokenStore` with OpenTelemetry: a span per operation, and metrics of operations, revocations,
 * the expiry sweeps, the notices from other instances and the subscription to them. No span or metric carries a
 * token id (nor, by default, an accessor).
 *
 * Spans are named `tokentree.<operation>` (`tokentree.authenticate`), of kind INTERNAL, children of the span
 * active when the method was called, and end when its promise settles. A failed operation's span has status
 * ERROR, the error recorded as an exception event, and `error.type` set to its `TokenStoreError` code. The
 * storage driver's own spans (from its instrumentation, if any) are siblings of the operation's span, not its
 * children: `tokentree/otel` observes the operation, it cannot enter the context it runs in.
 *
 * Metrics (names in {@link METRICS}; durations in seconds): `tokentree.operations` (counter) and
 * `tokentree.operation.duration` (histogram) by operation, outcome and `error.type`; `tokentree.revocations`
 * (counter) by kind, reason and origin; `tokentree.expiration.sweep.duration` and `.lag` (histograms);
 * `tokentree.notice.lag` (histogram); `tokentree.subscription.up` (gauge, 0 or 1).
 *
 * Instrumenting the same store twice records everything twice: keep one instrumentation per store.
 *
 * @example Export spans and metrics with the OpenTelemetry SDK
 * ```ts
 * import { NodeSDK } from '@opentelemetry/sdk-node'
 * import { TokenStore } from 'tokentree'
 * import { instrument } from 'tokentree/otel'
 *
 * new NodeSDK({ serviceName: 'api' }).start() // registers the global tracer and meter providers
 * const store = new TokenStore({ storage, secret })
 * const instrumentation = instrument(store)
 * // … on shutdown:
 * instrumentation.close()
 * await store.close()
 * ```
 */
export function instrument(store: TokenStore, options: InstrumentOptions = {}): Instrumentation {
  const tracer = options.tracer ?? trace.getTracer(INSTRUMENTATION_SCOPE, VERSION)
  const meter = options.meter ?? metrics.getMeter(INSTRUMENTATION_SCOPE, VERSION)
  const spans =
    tracer === false ? null : new OperationSpans(tracer, options.recordAccessor === true)
  const measures = meter === false ? null : new StoreMetrics(meter, () => store.subscriptionState)
  const stops: (() => void)[] = []

  // Operations: every store's calls go through the same channels; keep this store's. Only `start` and `asyncEnd`
  // are subscribed: a publish on a channel nobody listens to costs nothing, and this is every call's hot path.
  const onStart = (message: unknown): void => {
    const operation = message as OperationContext
    if (operation.store === store) spans?.start(operation)
  }
  const onSettled = (message: unknown): void => {
    const operation = message as OperationContext
    if (operation.store !== store) return
    spans?.asyncEnd(operation)
    measures?.operation(operation, performance.now())
  }
  for (const operation of TRACED_OPERATIONS) {
    // The names `TracingChannel` gives its five channels (Node's documented `tracing:<name>:<event>`).
    const start = `tracing:${TRACING_CHANNEL_PREFIX}${operation}:start`
    const asyncEnd = `tracing:${TRACING_CHANNEL_PREFIX}${operation}:asyncEnd`
    subscribe(start, onStart)
    subscribe(asyncEnd, onSettled)
    stops.push(() => {
      unsubscribe(start, onStart)
      unsubscribe(asyncEnd, onSettled)
    })
  }

  if (measures !== null) {
    // A revoked event is remote when a notice delivered it; the notice is published just before the event.
    const remote = new WeakSet<RevokedEvent>()
    const onNotice = (message: unknown): void => {
      const notice = message as NoticeMessage
      if (notice.store !== store) return
      if (notice.event !== null) remote.add(notice.event)
      measures.notice(notice)
    }
    const onSweep = (message: unknown): void => {
      const sweep = message as SweepMessage
      if (sweep.store === store) measures.sweep(sweep)
    }
    const onRevoked = (event: RevokedEvent): void => {
      measures.revoked(event, remote.has(event))
    }
    subscribe(NOTICE_CHANNEL, onNotice)
    subscribe(SWEEP_CHANNEL, onSweep)
    store.on('revoked', onRevoked)
    stops.push(() => {
      unsubscribe(NOTICE_CHANNEL, onNotice)
      unsubscribe(SWEEP_CHANNEL, onSweep)
      store.off('revoked', onRevoked)
      measures.close()
    })
  }

  let closed = false
  return {
    close() {
      if (closed) return
      closed = true
      for (const stop of stops) stop()
      spans?.endAll()
    },
  }
}
