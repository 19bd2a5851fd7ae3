/**
 * The names `tokentree/otel` gives its spans, metrics and attributes: stable, so dashboards and alerts can rely on
 * them. Attribute values are low-cardinality (operation, outcome, error code, kind, reason), never a token id.
 *
 * @packageDocumentation
 */
import type { AuditOperation } from '../events.js'

/** The instrumentation scope name of the default tracer and meter (`trace.getTracer('tokentree', version)`). */
export const INSTRUMENTATION_SCOPE = 'tokentree'

/** The name of an operation's span: `tokentree.<operation>`, e.g. `tokentree.authenticate`, `tokentree.roles.write`. */
export function spanName(operation: AuditOperation): string {
  return `tokentree.${operation}`
}

/** The attribute keys, on spans and metrics alike. */
export const ATTRIBUTES = Object.freeze({
  /** The operation: the `audit` event's `operation` (`authenticate`, `roles.write`, …). */
  operation: 'tokentree.operation',
  /** `ok` or `error`. */
  outcome: 'tokentree.outcome',
  /** On failure, the `TokenStoreError` code (`invalid_token`, `storage_unavailable`, …): OpenTelemetry's `error.type`. */
  errorType: 'error.type',
  /** The accessor of the token acted on: spans only, and only with `recordAccessor: true`. */
  accessor: 'tokentree.token.accessor',
  /** What was revoked: `token` or `lease`. */
  revocationKind: 'tokentree.revocation.kind',
  /** Why it was revoked: the `revoked` event's `reason` (`explicit`, `parent`, `expired`, …). */
  revocationReason: 'tokentree.revocation.reason',
  /** `local` when this store revoked it, `remote` when a notice from another instance reported it. */
  revocationOrigin: 'tokentree.revocation.origin',
  /** What a notice from another instance is about: `token`, `lease` or `policy`. */
  noticeKind: 'tokentree.notice.kind',
} as const)

/** The metric names, with their instrument and unit. */
export const METRICS = Object.freeze({
  /**
   * Counter (an observable one, summed per meter across stores and read at collection): operations settled, by
   * `tokentree.operation`, `tokentree.outcome` and `error.type`.
   */
  operations: 'tokentree.operations',
  /** Histogram, seconds: how long operations took, with the same attributes as `tokentree.operations`. */
  operationDuration: 'tokentree.operation.duration',
  /**
   * Counter: tokens and leases revoked (each once; a subtree counts every token), by `tokentree.revocation.kind`,
   * `.reason` and `.origin`.
   */
  revocations: 'tokentree.revocations',
  /** Histogram, seconds: how long each sweep of the expiration manager took, by `tokentree.outcome`. */
  sweepDuration: 'tokentree.expiration.sweep.duration',
  /** Histogram, seconds: how late each sweep started after the expiry it was aimed at, by `tokentree.outcome`. */
  sweepLag: 'tokentree.expiration.sweep.lag',
  /**
   * Histogram, seconds: from another instance's change to this store's receipt of its notice (clock skew included;
   * never below 0), by `tokentree.notice.kind`.
   */
  noticeLag: 'tokentree.notice.lag',
  /**
   * Gauge: 1 while the store follows other instances' notices, 0 while that subscription is starting, down, or
   * closed with the store. Not reported for storage that is not shared (`subscriptionState` `unsupported`).
   */
  subscriptionUp: 'tokentree.subscription.up',
} as const)

/**
 * Histogram buckets for operations, in seconds: from 50 µs (an in-memory `authenticate` takes about 10 µs) up to
 * 2.5 s (a storage timing out). OpenTelemetry's default buckets (0, 5, 10, 25, … 10 000) suit milliseconds: in
 * seconds, every call would fall in the first one. A View in the SDK may override these.
 */
export const OPERATION_BUCKETS: readonly number[] = Object.freeze([
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
])

/** Histogram buckets for sweeps and notice lags, in seconds: 1 ms up to 5 min. */
export const BACKGROUND_BUCKETS: readonly number[] = Object.freeze([
  0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300,
])
