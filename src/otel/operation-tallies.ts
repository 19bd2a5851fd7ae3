/**
 * The `tokentree.operations` counter, kept as plain numbers and reported at collection through an observable
 * counter: an SDK's synchronous `counter.add()` hashes the attributes on every call (sort, then JSON), which cost
 * as much as the rest of an in-memory `authenticate`'s instrumentation, while a tally costs an increment.
 *
 * @packageDocumentation
 */
import type { Attributes, Meter, ObservableResult } from '@opentelemetry/api'

import type { OperationContext } from '../tracing.js'
import { ATTRIBUTES, METRICS } from './names.js'

/** One attribute set's count, and the attributes themselves (frozen, reused for the duration histogram too). */
export interface Tally {
  readonly attributes: Attributes
  count: number
}

/**
 * The tallies of every store instrumented with a meter. Shared per meter, because an observable counter reports
 * each attribute set once per collection: two callbacks, one per store, would each report their own count for the
 * same set, and the SDK would keep only the last.
 */
const BY_METER = new WeakMap<Meter, OperationTallies>()

/** The operation counts reported on `meter`, created with its observable counter on first use. */
export function operationTallies(meter: Meter): OperationTallies {
  let tallies = BY_METER.get(meter)
  if (tallies === undefined) {
    tallies = new OperationTallies(meter)
    BY_METER.set(meter, tallies)
  }
  return tallies
}

/** Counts of settled operations by operation, outcome and code; cumulative for the meter's lifetime. */
export class OperationTallies {
  /** Successes by operation: the hot path, found without building a key. */
  readonly #ok = new Map<string, Tally>()
  /** Failures by operation and code. */
  readonly #failed = new Map<string, Tally>()

  constructor(meter: Meter) {
    meter
      .createObservableCounter(METRICS.operations, {
        description: 'TokenStore operations settled, by operation, outcome and error code',
        unit: '{operation}',
      })
      .addCallback((result) => {
        this.#report(result)
      })
  }

  /** The tally of a settled operation's attribute set: the caller increments `count`. */
  for(context: OperationContext): Tally {
    const code = context.code
    if (code === undefined) {
      let tally = this.#ok.get(context.operation)
      if (tally === undefined) {
        tally = newTally({
          [ATTRIBUTES.operation]: context.operation,
          [ATTRIBUTES.outcome]: 'ok',
        })
        this.#ok.set(context.operation, tally)
      }
      return tally
    }
    const key = `${context.operation} ${code}`
    let tally = this.#failed.get(key)
    if (tally === undefined) {
      tally = newTally({
        [ATTRIBUTES.operation]: context.operation,
        [ATTRIBUTES.outcome]: 'error',
        [ATTRIBUTES.errorType]: code,
      })
      this.#failed.set(key, tally)
    }
    return tally
  }

  #report(result: ObservableResult): void {
    for (const tally of this.#ok.values()) result.observe(tally.count, tally.attributes)
    for (const tally of this.#failed.values()) result.observe(tally.count, tally.attributes)
  }
}

function newTally(attributes: Attributes): Tally {
  return { attributes: Object.freeze(attributes), count: 0 }
}
