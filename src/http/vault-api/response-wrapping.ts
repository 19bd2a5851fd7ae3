/**
 * Response wrapping of any answer of the Vault API, in one place: the `X-Vault-Wrap-TTL` header is read and checked
 * before anything runs, and an answer carrying `data` or `auth` is replaced by Vault's `wrap_info` while the whole
 * answer is held for a single-use wrapping token (`store.wrap`), to be handed out by `sys/wrapping/unwrap`.
 *
 * The header is never ignored: on an endpoint whose answer cannot be wrapped (every revoke, role writes), or with a
 * TTL out of range, the request is refused with 400 before it changes anything.
 *
 * @packageDocumentation
 */
import { randomUUID } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'

import { TokenStoreError, invalidRequest } from '../../errors.js'
import type { TokenStore } from '../../token-store.js'
import type { Seconds } from '../../types.js'
import { isWrappingPolicies, parseWrapTtl, type WrapInfo } from '../../wrapping.js'
import type { HttpResult } from '../bearer.js'
import type { LogicalOperation, Route } from './route.js'
import type { VaultOperation } from './types.js'

/** The operations whose answer carries `data` or `auth`, and so can be wrapped. */
const WRAPPABLE: ReadonlySet<VaultOperation> = new Set<VaultOperation>([
  'create',
  'create-orphan',
  'create-with-role',
  'lookup',
  'lookup-self',
  'lookup-accessor',
  'renew',
  'renew-self',
  'renew-accessor',
  'list-accessors',
  'list-leases',
  'list-roles',
  'read-role',
  'lookup-lease',
  'renew-lease',
  'wrap',
  'unwrap',
  'lookup-wrapping',
])

/** The operations that create the token in their `auth` block: it is revoked if wrapping their answer fails. */
const CREATING: ReadonlySet<VaultOperation> = new Set<VaultOperation>([
  'create',
  'create-orphan',
  'create-with-role',
])

/** Vault's message for a wrapping token that is unknown, expired, used or not a wrapping token. */
export const INVALID_WRAPPING_TOKEN = 'wrapping token is not valid or does not exist'

/**
 * The TTL the request asks its answer to be wrapped for, or `null` when it asks for none (no header, or an empty
 * one, as Vault reads it). Seconds (`300`) or a duration (`5m`), between 1 second and 32 days.
 *
 * @throws {@link TokenStoreError} `invalid_request` for a malformed or out-of-range TTL, JWT wrapping (not
 * supported), or an endpoint whose answer cannot be wrapped.
 */
export function requestedWrapTtl(
  headers: IncomingHttpHeaders,
  route: Route,
  operation: LogicalOperation,
): Seconds | null {
  const text = wrapTtlHeader(headers)
  if (text === '') return null
  let ttl: Seconds
  try {
    ttl = parseWrapTtl(/^\d+$/.test(text) ? Number(text) : text, 'X-Vault-Wrap-TTL')
  } catch (error) {
    if (error instanceof TokenStoreError) {
      throw invalidRequest(`error parsing X-Vault-Wrap-TTL header: ${error.message}`)
    }
    throw error
  }
  const format = headers['x-vault-wrap-format']
  if (typeof format === 'string' && format.trim().toLowerCase() === 'jwt') {
    throw invalidRequest('JWT wrapping tokens (X-Vault-Wrap-Format: jwt) are not supported')
  }
  const named = route.operationFor?.[operation] ?? route.operation
  if (!WRAPPABLE.has(named)) {
    throw invalidRequest(
      `X-Vault-Wrap-TTL was sent, but the answer of this endpoint (${named}) carries nothing to wrap`,
    )
  }
  return ttl
}

/**
 * Refuses `X-Vault-Wrap-TTL` on an endpoint outside the routes (`sys/health`), whose answer is never wrapped.
 *
 * @throws {@link TokenStoreError} `invalid_request` when the header is present and not empty.
 */
export function refuseWrapTtl(headers: IncomingHttpHeaders): void {
  if (wrapTtlHeader(headers) !== '') {
    throw invalidRequest(
      'X-Vault-Wrap-TTL was sent, but the answer of this endpoint cannot be wrapped',
    )
  }
}

function wrapTtlHeader(headers: IncomingHttpHeaders): string {
  const header = headers['x-vault-wrap-ttl']
  return (Array.isArray(header) ? header.join(',') : (header ?? '')).trim()
}

/**
 * Wraps an answer: a 200 with a JSON body is held whole (as Vault holds the HTTP response) for a new wrapping token,
 * and replaced by Vault's envelope with only `wrap_info`. Errors and empty answers pass unchanged. When wrapping
 * fails after a token was created for the answer, that token is revoked, so it is never left live and unseen.
 */
export async function wrapAnswer(
  store: TokenStore,
  result: HttpResult,
  ttl: Seconds,
  path: string,
  operation: VaultOperation,
): Promise<HttpResult> {
  const body = result.body
  if (result.status !== 200 || typeof body !== 'object' || body === null) return result
  const auth = (body as { auth?: unknown }).auth
  const created = authToken(auth)
  const accessor = authAccessor(auth)
  let info: WrapInfo
  try {
    info = await store.wrap(body, {
      ttl,
      creationPath: path,
      ...(accessor === null ? {} : { wrappedAccessor: accessor }),
    })
  } catch (error) {
    if (created !== null && CREATING.has(operation)) await store.revoke(created).catch(() => null)
    throw error
  }
  const mountType = (body as { mount_type?: unknown }).mount_type
  return {
    status: 200,
    ...(result.headers === undefined ? {} : { headers: result.headers }),
    body: wrappedEnvelope(info, typeof mountType === 'string' ? mountType : ''),
  }
}

/** Vault's envelope of a wrapped answer: nothing but `wrap_info`. */
export function wrappedEnvelope(info: WrapInfo, mountType = 'system'): Record<string, unknown> {
  const wrapInfo: Record<string, unknown> = {
    token: info.token,
    accessor: info.accessor,
    ttl: info.ttl,
    creation_time: info.creationTime.toISOString(),
    creation_path: info.creationPath,
  }
  if (info.wrappedAccessor !== undefined) wrapInfo.wrapped_accessor = info.wrappedAccessor
  return {
    request_id: randomUUID(),
    lease_id: '',
    renewable: false,
    lease_duration: 0,
    data: null,
    wrap_info: wrapInfo,
    warnings: null,
    auth: null,
    mount_type: mountType,
  }
}

/** Whether a caller is a wrapping token, which may do nothing but unwrap, look up or rewrap itself. */
export function isWrappingCaller(policies: readonly string[]): boolean {
  return isWrappingPolicies(policies)
}

function authToken(auth: unknown): string | null {
  const token = (auth as { client_token?: unknown } | null | undefined)?.client_token
  return typeof token === 'string' && token !== '' ? token : null
}

function authAccessor(auth: unknown): string | null {
  const accessor = (auth as { accessor?: unknown } | null | undefined)?.accessor
  return typeof accessor === 'string' && accessor !== '' ? accessor : null
}
