/**
 * Type-level tests: compiled by `npm run typecheck` (part of `npm test`), never run. They pin the public API's
 * inferred types, and that storage cannot be handed a plain token id.
 */
import type { MemoryStorage, TokenStore, TokenStoreError } from 'tokentree'
import {
  type HashedTokenId,
  type LeaseGrant,
  type RevokedEvent,
  type TokenAuth,
  type TokenDetails,
  type TokenInfo,
  type TokenStoreErrorCode,
} from 'tokentree'
import type { Tracer } from '@opentelemetry/api'
import type { SubscriptionState } from 'tokentree'
import { instrument, type Instrumentation } from 'tokentree/otel'
import type { createTestStore } from 'tokentree/testing'
import { type TestStore } from 'tokentree/testing'

/** Compiles only when `A` and `B` are the same type. */
type Equal<A, B> =
  (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
function expectType<T extends true>(): T | undefined {
  return undefined
}

declare const store: TokenStore
declare const token: string

export async function inferredReturnTypes(): Promise<void> {
  expectType<Equal<Awaited<ReturnType<typeof store.create>>, TokenAuth>>()
  expectType<Equal<Awaited<ReturnType<typeof store.lookup>>, TokenInfo | null>>()
  expectType<Equal<Awaited<ReturnType<typeof store.lookupAccessor>>, TokenDetails | null>>()
  expectType<Equal<Awaited<ReturnType<typeof store.authenticate>>, TokenInfo>>()
  expectType<Equal<Awaited<ReturnType<typeof store.revoke>>, void>>()
  expectType<Equal<Awaited<ReturnType<typeof store.revokePrefix>>, number>>()
  expectType<Equal<Awaited<ReturnType<typeof store.createLease>>, LeaseGrant>>()
  expectType<Equal<ReturnType<typeof createTestStore>, TestStore>>()

  const info = await store.authenticate(token)
  // @ts-expect-error TokenInfo is read-only
  info.policies = []
  // @ts-expect-error lookupAccessor's result has no id: an accessor holder must not learn the token
  ;(await store.lookupAccessor('accessor'))?.id
}

export function brandedIds(storage: MemoryStorage, hashed: HashedTokenId): void {
  void storage.getToken(hashed)
  // @ts-expect-error a plain string (a token id) cannot reach storage: only its keyed hash can
  void storage.getToken(token)
}

export function typedEvents(): void {
  store.on('revoked', (event: RevokedEvent) => {
    if (event.kind === 'lease') expectType<Equal<typeof event.leaseId, string>>()
    // @ts-expect-error token events have no leaseId
    else void event.leaseId
  })
  // @ts-expect-error no such event
  store.on('revokd', () => {})
}

export function errorCodes(error: TokenStoreError): void {
  expectType<Equal<typeof error.code, TokenStoreErrorCode>>()
  // @ts-expect-error the codes are a closed union
  if (error.code === 'not_found') return
  // @ts-expect-error unknown create options do not compile
  void store.create({ numuses: 1 })
}

export function otel(tracer: Tracer): void {
  expectType<Equal<ReturnType<typeof instrument>, Instrumentation>>()
  expectType<Equal<ReturnType<Instrumentation['close']>, void>>()
  expectType<Equal<typeof store.subscriptionState, SubscriptionState>>()
  instrument(store, { tracer, meter: false, recordAccessor: true })
  // @ts-expect-error a tracer, false, or nothing
  instrument(store, { tracer: true })
  // @ts-expect-error subscriptionState is read-only
  store.subscriptionState = 'subscribed'
}
