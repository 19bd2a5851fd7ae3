/**
 * Batching of `useToken` calls for `PostgresStorage`: while a few statements are in flight, the calls that arrive
 * meanwhile wait and then go together in one statement. Under load, each database round trip (and each wake-up of
 * a PostgreSQL backend, the larger part of its cost) then serves several requests; an idle store sends each call
 * at once, as before.
 *
 * @packageDocumentation
 */
import type { HashedTokenId, TokenRecord, UnixMillis } from '../../types.js'

/**
 * Statements in flight at once before calls start to wait: enough to keep a few pool connections busy, few enough
 * that a busy store sends batches rather than one statement per call (and leaves connections for the app).
 */
export const USE_BATCHES_IN_FLIGHT = 4

/** Most distinct tokens in one statement, so that one batch stays one short statement. */
export const MAX_USE_BATCH = 100

/** Spends one use of one token: the single-token statement. */
export type UseOne = (id: HashedTokenId, now: UnixMillis) => Promise<TokenRecord | null>

/** Spends one use of each of these distinct tokens in one statement: the records of those that were live. */
export type UseMany = (
  ids: readonly HashedTokenId[],
  now: UnixMillis,
) => Promise<ReadonlyMap<HashedTokenId, TokenRecord>>

/** A waiting call. */
interface PendingUse {
  readonly id: HashedTokenId
  readonly now: UnixMillis
  readonly resolve: (record: TokenRecord | null) => void
  readonly reject: (error: unknown) => void
}

/**
 * Queues `useToken` calls and sends them in batches of distinct tokens, each batch one statement.
 *
 * A batch is answered as the calls would have been one after another at its latest `now` (the time it is sent is
 * no earlier than any of its calls): a token that is not live answers `null` to all its callers; a live unlimited
 * token (`numUses` 0 and not being revoked) answers every caller with the same record; a limited token spends one
 * use for its first caller only, and its other callers wait for the next batch, each spending its own use.
 */
export class UseBatcher {
  readonly #one: UseOne
  readonly #many: UseMany
  #pending: PendingUse[] = []
  #inFlight = 0

  constructor(one: UseOne, many: UseMany) {
    this.#one = one
    this.#many = many
  }

  /** Spends one use of the token, alone or in the next batch. */
  use(id: HashedTokenId, now: UnixMillis): Promise<TokenRecord | null> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ id, now, resolve, reject })
      this.#send()
    })
  }

  /** Sends waiting calls while fewer than {@link USE_BATCHES_IN_FLIGHT} statements are in flight. */
  #send(): void {
    while (this.#inFlight < USE_BATCHES_IN_FLIGHT && this.#pending.length > 0) {
      const batch = this.#take()
      this.#inFlight += 1
      void this.#run(batch).finally(() => {
        this.#inFlight -= 1
        this.#send()
      })
    }
  }

  /** Takes the calls for up to {@link MAX_USE_BATCH} distinct tokens, in arrival order, grouped by token. */
  #take(): Map<HashedTokenId, PendingUse[]> {
    const batch = new Map<HashedTokenId, PendingUse[]>()
    const rest: PendingUse[] = []
    for (const call of this.#pending) {
      const calls = batch.get(call.id)
      if (calls !== undefined) calls.push(call)
      else if (batch.size < MAX_USE_BATCH) batch.set(call.id, [call])
      else rest.push(call)
    }
    this.#pending = rest
    return batch
  }

  async #run(batch: Map<HashedTokenId, PendingUse[]>): Promise<void> {
    let now = -Infinity
    for (const calls of batch.values()) for (const call of calls) now = Math.max(now, call.now)
    let records: ReadonlyMap<HashedTokenId, TokenRecord>
    try {
      if (batch.size === 1) {
        const id = batch.keys().next().value as HashedTokenId
        const record = await this.#one(id, now)
        records = record === null ? new Map() : new Map([[id, record]])
      } else records = await this.#many([...batch.keys()], now)
    } catch (error) {
      for (const calls of batch.values()) for (const call of calls) call.reject(error)
      return
    }
    const again: PendingUse[] = []
    for (const [id, calls] of batch) {
      const record = records.get(id) ?? null
      if (record === null || (record.numUses === 0 && record.revoking === null)) {
        // Not live, or unlimited: what one caller was told holds for all of them.
        for (const call of calls) call.resolve(record)
      } else {
        // A limited token: the statement spent one use, for the first caller; the others spend their own.
        ;(calls[0] as PendingUse).resolve(record)
        again.push(...calls.slice(1))
      }
    }
    if (again.length > 0) this.#pending = [...again, ...this.#pending]
  }
}
