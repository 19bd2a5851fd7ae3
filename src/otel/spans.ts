/**
 * One span per operation of a store, from its `tokentree:<operation>` tracing channel.
 *
 * @packageDocumentation
 */
import { SpanKind, SpanStatusCode, context, type Span, type Tracer } from '@opentelemetry/api'

import type { OperationContext } from '../tracing.js'
import { ATTRIBUTES, spanName } from './names.js'

/** The spans of one store's operations in flight, keyed by their channel context (one object per call). */
export class OperationSpans {
  readonly #tracer: Tracer
  readonly #recordAccessor: boolean
  readonly #open = new Map<OperationContext, Span>()

  constructor(tracer: Tracer, recordAccessor: boolean) {
    this.#tracer = tracer
    this.#recordAccessor = recordAccessor
  }

  /**
   * `start`: runs synchronously in the caller's async context, before the operation's first await, so the active
   * context is the caller's and the span becomes a child of the caller's span.
   */
  start(message: OperationContext): void {
    const span = this.#tracer.startSpan(
      spanName(message.operation),
      { kind: SpanKind.INTERNAL, attributes: { [ATTRIBUTES.operation]: message.operation } },
      context.active(),
    )
    this.#open.set(message, span)
  }

  /**
   * `asyncEnd`: the operation settled (the promise's end, not the synchronous `end`, which comes at its first
   * await). Records the outcome, and on failure the error and status ERROR, then ends the span.
   */
  asyncEnd(message: OperationContext): void {
    const span = this.#open.get(message)
    if (span === undefined) return // started before this instrumentation
    this.#open.delete(message)
    span.setAttribute(ATTRIBUTES.outcome, message.outcome ?? 'ok')
    if (this.#recordAccessor && message.accessor !== null) {
      span.setAttribute(ATTRIBUTES.accessor, message.accessor)
    }
    const error = message.error
    if (error !== undefined) {
      span.setAttribute(ATTRIBUTES.errorType, error.code)
      // A TokenStoreError's message and stack never hold a token; its `cause` (a driver's error) is left out.
      span.recordException({ name: error.name, message: error.message, stack: error.stack ?? '' })
      span.setStatus({ code: SpanStatusCode.ERROR, message: error.message })
    }
    span.end()
  }

  /** Ends the spans of operations still in flight, without an outcome: for `close()`. */
  endAll(): void {
    for (const span of this.#open.values()) span.end()
    this.#open.clear()
  }
}
