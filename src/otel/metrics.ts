/**
 * The metric instruments of `tokentree/otel` and how each message becomes a measurement.
 *
 * @packageDocumentation
 */
import type {
  Attributes,
  Counter,
  Histogram,
  Meter,
  ObservableGauge,
  ObservableResult,
} from '@opentelemetry/api'

import type { NoticeMessage, SweepMessage } from '../background-channels.js'
import type { RevokedEvent } from '../events.js'
import type { SubscriptionState } from '../revocation-subscription.js'
import type { OperationContext } from '../tracing.js'
import { ATTRIBUTES, BACKGROUND_BUCKETS, METRICS, OPERATION_BUCKETS } from './names.js'
import { operationTallies, type OperationTallies } from './operation-tallies.js'

/** Records one store's measurements on a meter's instruments. */
export class StoreMetrics {
  readonly #operations: OperationTallies
  readonly #operationDuration: Histogram
  readonly #revocations: Counter
  readonly #sweepDuration: Histogram
  readonly #sweepLag: Histogram
  readonly #noticeLag: Histogram
  readonly #subscriptionUp: ObservableGauge
  readonly #observe: (result: ObservableResult) => void

  /** Creates (or, on a meter that has them, reuses) the instruments; the gauge reads `subscriptionState`. */
  constructor(meter: Meter, subscriptionState: () => SubscriptionState) {
    this.#operations = operationTallies(meter)
    this.#operationDuration = meter.createHistogram(METRICS.operationDuration, {
      description: 'How long TokenStore operations took',
      unit: 's',
      advice: { explicitBucketBoundaries: [...OPERATION_BUCKETS] },
    })
    this.#revocations = meter.createCounter(METRICS.revocations, {
      description: 'Tokens and leases revoked, by kind, reason and origin',
      unit: '{revocation}',
    })
    this.#sweepDuration = meter.createHistogram(METRICS.sweepDuration, {
      description: 'How long each sweep of the expiration manager took',
      unit: 's',
      advice: { explicitBucketBoundaries: [...BACKGROUND_BUCKETS] },
    })
    this.#sweepLag = meter.createHistogram(METRICS.sweepLag, {
      description:
        'How late each sweep of the expiration manager started after the expiry it was aimed at',
      unit: 's',
      advice: { explicitBucketBoundaries: [...BACKGROUND_BUCKETS] },
    })
    this.#noticeLag = meter.createHistogram(METRICS.noticeLag, {
      description: "From another instance's change to this store's receipt of its notice",
      unit: 's',
      advice: { explicitBucketBoundaries: [...BACKGROUND_BUCKETS] },
    })
    this.#subscriptionUp = meter.createObservableGauge(METRICS.subscriptionUp, {
      description: "1 while the store follows other instances' revocation notices, else 0",
      unit: '1',
    })
    this.#observe = (result) => {
      const state = subscriptionState()
      // Storage that is not shared has nothing to follow: no value rather than a false alarm.
      if (state !== 'unsupported') result.observe(state === 'subscribed' ? 1 : 0)
    }
    this.#subscriptionUp.addCallback(this.#observe)
  }

  /** An operation settled (its `asyncEnd`, `performance.now()` being `now`). */
  operation(context: OperationContext, now: number): void {
    const tally = this.#operations.for(context)
    tally.count += 1
    this.#operationDuration.record(seconds(now - context.startTime), tally.attributes)
  }

  /** A `revoked` event: `remote` when it came from another instance's notice. */
  revoked(event: RevokedEvent, remote: boolean): void {
    this.#revocations.add(1, {
      [ATTRIBUTES.revocationKind]: event.kind,
      [ATTRIBUTES.revocationReason]: event.reason,
      [ATTRIBUTES.revocationOrigin]: remote ? 'remote' : 'local',
    })
  }

  /** A sweep of the expiration manager settled. */
  sweep(message: SweepMessage): void {
    const attributes: Attributes = {
      [ATTRIBUTES.outcome]: message.outcome,
      ...(message.error && { [ATTRIBUTES.errorType]: message.error.code }),
    }
    this.#sweepDuration.record(seconds(message.duration), attributes)
    // A timer may fire a little early (a hop of a very long wait); that is no lag.
    this.#sweepLag.record(seconds(Math.max(0, message.startTime - message.due)), attributes)
  }

  /** A notice from another instance arrived. */
  notice(message: NoticeMessage): void {
    // Histograms refuse negative values; a receipt "before" the write is clock skew.
    this.#noticeLag.record(seconds(Math.max(0, message.receivedAt - message.time)), {
      [ATTRIBUTES.noticeKind]: message.kind,
    })
  }

  /**
   * Stops observing the gauge (an SDK with cumulative temporality goes on exporting its last value). Counters and
   * histograms keep what they recorded.
   */
  close(): void {
    this.#subscriptionUp.removeCallback(this.#observe)
  }
}

function seconds(milliseconds: number): number {
  return milliseconds / 1000
}
