/**
 * Tracing: every public operation of a `TokenStore` is published on a `node:diagnostics_channel` tracing channel
 * named `tokentree:<operation>` (the `audit` event's `operation`), for APMs and `tokentree/otel`.
 *
 * With no subscriber the cost is one property read and one `hasSubscribers` check per call: no context object is
 * built and nothing is published.
 *
 * @packageDocumentation
 */
import type { AsyncLocalStorage } from 'node:async_hooks'
import { tracingChannel } from 'node:diagnostics_channel'

import type { TokenStoreError, TokenStoreErrorCode } from './errors.js'
import type { AuditOperation } from './events.js'
import type { Accessor } from './types.js'

/** Prefix of every tracing channel's name: `tokentree:authenticate`, `tokentree:roles.write`, … */
export const TRACING_CHANNEL_PREFIX = 'tokentree:'

/**
 * Every operation, as a record so that a new `AuditOperation` fails to compile until it has a channel here.
 */
const OPERATIONS: Readonly<Record<AuditOperation, true>> = {
  create: true,
  createRoot: true,
  lookup: true,
  lookupAccessor: true,
  list: true,
  authenticate: true,
  renew: true,
  renewAccessor: true,
  revoke: true,
  revokeOrphan: true,
  revokeAccessor: true,
  revokePrefix: true,
  revokeExpired: true,
  createLease: true,
  lookupLease: true,
  listLeaseKeys: true,
  renewLease: true,
  revokeLease: true,
  'roles.write': true,
  'roles.read': true,
  'roles.list': true,
  'roles.delete': true,
  'policies.write': true,
  'policies.read': true,
  'policies.list': true,
  'policies.delete': true,
  authorize: true,
  capabilities: true,
  capabilitiesAccessor: true,
  tidy: true,
  wrap: true,
  unwrap: true,
  lookupWrapping: true,
  rewrap: true,
}

/** Every operation that is traced: the values of `AuditOperation`, each with a `tokentree:<operation>` channel. */
export const TRACED_OPERATIONS: readonly AuditOperation[] = Object.freeze(
  Object.keys(OPERATIONS) as AuditOperation[],
)

/**
 * The context object published on a `tokentree:<operation>` tracing channel. The same object goes to `start`,
 * `end`, then `asyncStart`/`asyncEnd` (and `error` first on failure), filled in as the operation proceeds, as
 * `TracingChannel.tracePromise` does. It never holds a token id, nor the operation's arguments or result.
 */
export interface OperationContext {
  /** The operation, as in the `audit` event. */
  readonly operation: AuditOperation
  /** The store that ran it: tell instances apart, or read its `storage`. */
  readonly store: object
  /** When it started, by `performance.now()`: measure latency against the `asyncEnd` time. */
  readonly startTime: number
  /** The accessor of the token acted on, once known (set before `asyncStart`); `null` when none or unknown. */
  accessor: Accessor | null
  /** Set before `asyncStart`: `ok` or `error`. */
  outcome?: 'ok' | 'error'
  /** The error code, on failure. */
  code?: TokenStoreErrorCode
  /** The error, on failure: a `TokenStoreError`, whose message never contains a token. */
  error?: TokenStoreError
}

/** The handlers of an {@link OperationChannel}'s five events, each given the operation's context. */
export interface OperationChannelSubscribers {
  /** The operation started (its synchronous part runs next). */
  start(context: OperationContext): void
  /** Its synchronous part returned. */
  end(context: OperationContext): void
  /** It failed: `context.error` and `context.code` are set (before `asyncStart`). */
  error(context: OperationContext): void
  /** It settled: `context.outcome` and `context.accessor` are set. */
  asyncStart(context: OperationContext): void
  /** Right after `asyncStart`: measure latency here against `context.startTime`. */
  asyncEnd(context: OperationContext): void
}

/**
 * One of the five channels of an {@link OperationChannel} (Node's `Channel`), as a subscriber uses it, or an APM that
 * binds its context store (an `AsyncLocalStorage`) to `start` so that the operation runs inside its span.
 */
export interface OperationEventChannel {
  /** Whether it has a subscriber or a bound store. */
  readonly hasSubscribers: boolean
  /** Calls `onMessage` with the context of each operation that reaches this event. */
  subscribe(onMessage: (context: OperationContext, name: string | symbol) => void): void
  /** Removes `onMessage`; `true` when it was subscribed. */
  unsubscribe(onMessage: (context: OperationContext, name: string | symbol) => void): boolean
  /** Runs what follows this event with `store` set to `transform(context)` (to the context itself without one). */
  bindStore<T>(store: AsyncLocalStorage<T>, transform?: (context: OperationContext) => T): void
  /** Undoes {@link OperationEventChannel.bindStore}; `true` when `store` was bound. */
  unbindStore(store: AsyncLocalStorage<unknown>): boolean
}

/**
 * The tracing channel of an operation: Node's `TracingChannel` (the object is one), as far as subscribers and APMs
 * use it, typed with {@link OperationContext}. Declared here rather than as `TracingChannel<…>` of `@types/node`,
 * whose type parameters changed order between its major versions (store then context in 20, context then store in
 * 26): a declaration that names them fails the type check of every project on the other side.
 */
export interface OperationChannel {
  /** Whether any of the five events has a subscriber. */
  readonly hasSubscribers: boolean
  /** Adds handlers for any of the five events. */
  subscribe(subscribers: Partial<OperationChannelSubscribers>): void
  /** Removes handlers added by {@link OperationChannel.subscribe}; `true` when every one was found. */
  unsubscribe(subscribers: Partial<OperationChannelSubscribers>): boolean
  /** Published when the operation starts; bind an `AsyncLocalStorage` here to run it inside a span. */
  readonly start: OperationEventChannel
  /** Published when its synchronous part returns. */
  readonly end: OperationEventChannel
  /** Published when it fails, before `asyncStart`. */
  readonly error: OperationEventChannel
  /** Published when it settles. */
  readonly asyncStart: OperationEventChannel
  /** Published right after `asyncStart`. */
  readonly asyncEnd: OperationEventChannel
}

/** Node's tracing channel, as this module publishes on it (its type parameters are left as Node declares them). */
type NodeTracingChannel = ReturnType<typeof tracingChannel>

/** The tracing channel of each operation, created once: the hot path reads a property, it never looks one up. */
const CHANNELS: Readonly<Record<AuditOperation, NodeTracingChannel>> = Object.freeze(
  Object.fromEntries(
    TRACED_OPERATIONS.map((operation) => [
      operation,
      tracingChannel(`${TRACING_CHANNEL_PREFIX}${operation}`),
    ]),
  ) as Record<AuditOperation, NodeTracingChannel>,
)

/**
 * The tracing channel of `operation` (`tokentree:<operation>`): subscribe to it with `subscribe({ start, end,
 * asyncStart, asyncEnd, error })`, or by name through `diagnostics_channel.tracingChannel('tokentree:create')`.
 */
export function operationChannel(operation: AuditOperation): OperationChannel {
  // Node's declaration knows neither the context nor unsubscribe's answer; the object is what the interface says.
  return CHANNELS[operation] as unknown as OperationChannel
}

/** One operation being traced; `null` from {@link startTrace} when nobody listens. */
export interface OperationTrace {
  /**
   * Runs the operation's synchronous part, `fn(argument)`, between `start` and `end`, with the channel's bound
   * stores. The argument is passed through rather than closed over: one allocation less per traced call. `fn`'s
   * answer (a value, or a promise of one) is returned as it is.
   */
  run<A, T>(fn: (argument: A) => T, argument: A): T
  /** Publishes the outcome: `error` (on failure), `asyncStart`, `asyncEnd`. */
  finish(accessor: Accessor | null, error: TokenStoreError | undefined): void
}

/**
 * Starts tracing an operation, or returns `null` (building nothing) when its channel has no subscriber.
 * `hasSubscribers` is read once per call: a subscriber added mid-operation sees the next call.
 */
export function startTrace(operation: AuditOperation, store: object): OperationTrace | null {
  const channel = CHANNELS[operation]
  return channel.hasSubscribers ? new Trace(channel, operation, store) : null
}

/**
 * Whether a store (an `AsyncLocalStorage` of an APM) is bound to `channel`, so that the operation must run inside
 * `runStores`. Node keeps the bound stores in the channel's `_stores` map and has no public way to ask; when that
 * field has no size (a Node that keeps them otherwise), the answer is yes, and `runStores` runs as before.
 */
function storesBound(channel: NodeTracingChannel['start']): boolean {
  // Node's own map class, which is not an `instanceof Map`: read its size.
  const stores = (channel as unknown as { _stores?: { size?: unknown } })._stores
  return typeof stores?.size !== 'number' || stores.size > 0
}

/**
 * A class rather than an object of closures: this runs on every traced call, and a class allocates one object
 * where closures cost one each (and, under loaders that keep function names, a `defineProperty` each).
 */
class Trace implements OperationTrace {
  readonly #channel: NodeTracingChannel
  readonly #context: OperationContext

  constructor(channel: NodeTracingChannel, operation: AuditOperation, store: object) {
    this.#channel = channel
    this.#context = { operation, store, startTime: performance.now(), accessor: null }
  }

  run<A, T>(fn: (argument: A) => T, argument: A): T {
    const start = this.#channel.start
    try {
      if (storesBound(start)) return start.runStores(this.#context, fn, undefined, argument)
      // What `runStores` does when no store is bound, without its closure, argument array and iterator.
      start.publish(this.#context)
      return fn(argument)
    } finally {
      this.#channel.end.publish(this.#context)
    }
  }

  finish(accessor: Accessor | null, error: TokenStoreError | undefined): void {
    const context = this.#context
    const channel = this.#channel
    context.accessor = accessor
    if (error === undefined) context.outcome = 'ok'
    else {
      context.outcome = 'error'
      context.code = error.code
      context.error = error
      channel.error.publish(context)
    }
    channel.asyncStart.publish(context)
    channel.asyncEnd.publish(context)
  }
}
